"""Every request body the web front ends read is bounded here, by :mod:`padlock.bodies`.

- :class:`LimitBodies` (installed by ``web/app.py``) and ``web/fast_path.py`` (for the
  endpoints ahead of the framework) wrap each request's ``receive`` with
  :func:`bound`: a body past its media type's limit is a 413 problem, whichever parser
  reads it (a form, a multipart upload, JSON, a JWS, an OCSP request).
- :class:`LimitedRoute` is the route class of the JSON APIs: the media type is checked
  first, the body read up to the route's own limit, and JSON parsed by
  :func:`padlock.bodies.loads` before FastAPI's own parser would run.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from padlock import bodies
from padlock.errors import UnsupportedMediaType

JSON_LIMIT = 64 * 1024  # the REST API's JSON bodies
UPLOAD_LIMIT = bodies.MAX_UPLOAD
_BOUNDED = "padlock.bounded"


def bound(scope: Scope, receive: Receive) -> Receive:
    """``receive`` bounded by the body's media type (once per request)."""
    if scope.get(_BOUNDED):
        return receive
    scope[_BOUNDED] = True
    limit = bodies.limit_for(bodies.header(scope, b"content-type"))
    return bodies.limited(receive, limit, bodies.header(scope, b"content-length"))


class LimitBodies:
    """A bare ASGI middleware: every HTTP request's body is bounded (see :func:`bound`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            receive = bound(scope, receive)
        await self.app(scope, receive, send)


async def read_limited(request: Request, limit: int) -> None:
    """Read the body up to ``limit`` bytes, refusing more before it is parsed or kept."""
    bodies.check_length(request.headers.get("content-length"), limit)
    # Starlette keeps the body here; FastAPI's parsing reads it from this cache.
    request._body = await bodies.read_body(request.receive, limit)


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def is_json(media: str) -> bool:
    return media == "application/json" or media.endswith("+json")


def check_media_type(request: Request, body: str | None) -> None:
    media = media_type(request)
    if body == "json" and not is_json(media):
        raise UnsupportedMediaType(
            f"This endpoint takes JSON, not {media or 'a body without a type'}.",
            hint="Send Content-Type: application/json.",
        )
    if body == "multipart" and media != "multipart/form-data":
        raise UnsupportedMediaType(
            f"Upload documents as multipart/form-data, not {media or 'untyped'}.",
            hint="Send the file in a form field named file (curl -F file=@doc.pdf).",
        )


class LimitedRoute(APIRoute):
    """Routes whose bodies are size-limited, media type checked and JSON bounded first.

    ``openapi_extra={"x-padlock-body": "json" | "multipart" | "none"}`` names what a
    route takes; JSON is parsed here (:func:`padlock.bodies.loads`) and handed to
    FastAPI through Starlette's cache, so FastAPI's unbounded parser never runs.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        extra = self.openapi_extra or {}
        body: str | None = extra.get("x-padlock-body")
        limit = UPLOAD_LIMIT if body == "multipart" else JSON_LIMIT

        async def limited(request: Request) -> Response:
            if request.method in ("POST", "PUT", "PATCH"):
                check_media_type(request, body)
                await read_limited(request, limit)
                if request._body and is_json(media_type(request)):
                    request._json = bodies.loads(request._body)
            return await handler(request)

        return limited
