"""uvicorn's HTTP protocol with TCP_NODELAY on every connection.

With ``--workers N`` uvicorn binds the listening socket itself as ``socket.socket(AF_INET)``
(protocol number 0), and asyncio turns Nagle's algorithm off only for sockets whose protocol
is ``IPPROTO_TCP``. Every answer uvicorn writes in two pieces (headers, then body) then
waits for the client's delayed ACK: about 40 ms per request on Linux, whatever the load.
``padlock serve`` passes :func:`protocol_class` to uvicorn so each connection sets it.

The httptools protocol also keeps the workers' connections even (``padlock.web.balance``).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import socket
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from padlock.web.balance import worker_share


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    sock: Any = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        set_nodelay(transport)
        super().connection_made(transport)


class NoDelayHttpToolsProtocol:
    """Made a subclass of uvicorn's httptools protocol on first use (httptools is optional)."""


def _httptools_class() -> type[asyncio.Protocol] | None:
    if importlib.util.find_spec("httptools") is None:
        return None
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    def connection_made(self: Any, transport: asyncio.Transport) -> None:
        set_nodelay(transport)
        HttpToolsProtocol.connection_made(self, transport)
        share = self._padlock_share = worker_share()
        if share is not None:
            share.opened()

    def connection_lost(self: Any, exc: Exception | None) -> None:
        share, self._padlock_share = self._padlock_share, None
        if share is not None:
            share.closed()
        HttpToolsProtocol.connection_lost(self, exc)

    def on_headers_complete(self: Any) -> None:
        HttpToolsProtocol.on_headers_complete(self)
        share = self._padlock_share
        cycle = self.cycle
        if share is not None and cycle is not None and cycle.keep_alive and share.crowded():
            # Answered with "Connection: close"; the client comes back, most likely to a
            # worker with fewer connections (padlock.web.balance).
            cycle.keep_alive = False

    globals()["NoDelayHttpToolsProtocol"] = cls = type(
        "NoDelayHttpToolsProtocol",
        (HttpToolsProtocol,),
        {
            "connection_made": connection_made,
            "connection_lost": connection_lost,
            "on_headers_complete": on_headers_complete,
            "_padlock_share": None,
            "__module__": __name__,
        },
    )
    return cls


# Made at import, so that a worker process unpickling uvicorn's config finds the same class.
_HTTPTOOLS = _httptools_class()


def protocol_class() -> type[asyncio.Protocol]:
    """The HTTP/1.1 protocol uvicorn would pick ("auto"), with TCP_NODELAY."""
    return _HTTPTOOLS or NoDelayH11Protocol
