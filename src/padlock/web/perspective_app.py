"""The HTTP front of one remote perspective (``padlock perspective serve``): a bare ASGI app.

- ``POST /check``: a signed request of the CA (``ca/mpic/signing.py``) in, the signed
  evidence out; a request not signed by the CA, stale, replayed or malformed is answered
  with a problem document (401/400), never a traceback.
- ``GET /healthz``: 200 while the process serves.

The checks block on sockets, so each runs in a worker thread; bodies are bounded by
``padlock.bodies``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio

from padlock import bodies
from padlock.bodies import Receive
from padlock.ca.mpic.perspective import Perspective
from padlock.ca.mpic.signing import MAX_MESSAGE
from padlock.errors import PadlockError

log = logging.getLogger("padlock.perspective")


async def _send(send: Any, status: int, doc: Any, kind: bytes = b"application/json") -> None:
    body = json.dumps(doc).encode() if kind != b"text/plain" else str(doc).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def perspective_app(perspective: Perspective) -> Any:
    """The ASGI app of ``perspective``."""

    async def app(scope: dict[str, Any], receive: Receive, send: Any) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path, method = scope.get("path", ""), scope.get("method", "")
        if path == "/healthz" and method in ("GET", "HEAD"):
            await _send(send, 200, "ok", b"text/plain")
            return
        if path != "/check":
            await _send(send, 404, {"type": "about:blank", "title": "Not Found"})
            return
        if method != "POST":
            await _send(send, 405, {"type": "about:blank", "title": "Method Not Allowed"})
            return
        try:
            bodies.check_length(bodies.header(scope, b"content-length"), MAX_MESSAGE * 2)
            raw = await bodies.read_body(receive, MAX_MESSAGE * 2)
            message = bodies.loads(raw, "The request")
            answer = await anyio.to_thread.run_sync(perspective.answer, message)
        except PadlockError as exc:
            problem = exc.to_problem()
            await _send(send, exc.problem_type.status, problem, b"application/problem+json")
            return
        await _send(send, 200, answer)

    return app
