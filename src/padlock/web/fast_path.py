"""Endpoints that answer ahead of the app's middleware and route list.

Starlette tries the route list in order inside its error and exception middleware;
for the few endpoints that carry the load (ACME, OCSP, REST submission) that costs
more than the work itself. Each such endpoint is a bare ASGI callable that answers
every error itself; :func:`install` puts a dispatcher in front of the app that hands
it the requests it claims and counts them in the same per-worker counters ``/metrics``
reads. Everything else goes through the app as before; without the lifespan (a bare
test client) the app's ordinary routes serve the same requests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from padlock.web.hsts import secure
from padlock.web.limits import bound

Picker = Callable[[Scope], ASGIApp | None]
"""Given a request's scope: the endpoint that answers it, or None for the app."""


def install(app: Any, pick: Picker, *, timed: bool = False) -> None:
    """Put ``pick``'s endpoints in front of ``app``'s middleware stack.

    ``timed`` adds an ``X-Response-Time-Ms`` header to their answers. Called from a
    front end's lifespan, after Starlette has built the stack; several front ends
    may install, each in front of the last.
    """
    inner = app.middleware_stack
    if inner is None:  # pragma: no cover - Starlette builds it before running the lifespan
        inner = app.middleware_stack = app.build_middleware_stack()
    counters: dict[str, int] = app.state.services.counters

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = pick(scope) if scope["type"] == "http" else None
        if scope["type"] == "http":
            receive = bound(scope, receive)  # every body, these endpoints' too (web/limits.py)
            send = secure(scope, send)  # HSTS over TLS (web/hsts.py)
        if endpoint is None:
            await inner(scope, receive, send)
            return
        scope["app"] = app
        started = time.perf_counter()
        status = 500

        async def counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if timed:
                    elapsed = f"{(time.perf_counter() - started) * 1000:.1f}".encode()
                    message["headers"].append((b"x-response-time-ms", elapsed))
            await send(message)

        await endpoint(scope, receive, counted)
        key = f"{scope['method']} {status}"
        counters[key] = counters.get(key, 0) + 1

    app.middleware_stack = dispatch
