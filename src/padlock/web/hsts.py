"""``Strict-Transport-Security`` on every answer given over TLS (RFC 6797 section 7.1).

A browser that has once reached ``padlock serve --tls`` over https keeps to https for a
year, so a network attacker cannot strip it back to http. Answers over plain http (the
PKI listener of ``--pki-port``, a server without ``--tls``) never carry it: RFC 6797 7.2
says a host must not send it over http. ``web/app.py`` installs :class:`StrictTransport`;
``web/fast_path.py`` applies :func:`secure` to the endpoints ahead of the framework.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = (b"strict-transport-security", b"max-age=31536000")
_DONE = "padlock.hsts"


def secure(scope: Scope, send: Send) -> Send:
    """``send`` that adds the header to the answer of a request that came over TLS."""
    if scope.get("scheme") != "https" or scope.get(_DONE):
        return send
    scope[_DONE] = True

    async def with_header(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            if not any(k.lower() == HEADER[0] for k, _v in headers):
                headers.append(HEADER)
            message["headers"] = headers
        await send(message)

    return with_header


class StrictTransport:
    """A bare ASGI middleware applying :func:`secure` to every HTTP answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            send = secure(scope, send)
        await self.app(scope, receive, send)
