"""padlock serve's HTTP protocol turns Nagle's algorithm off on every connection, also on
sockets that asyncio leaves alone (uvicorn's own listening socket has protocol number 0)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from padlock.web.tcp import NoDelayH11Protocol, protocol_class, set_nodelay


class _Transport(asyncio.BaseTransport):
    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._sock if name == "socket" else default


def test_tcp_nodelay_set_on_accepted_connection() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:  # proto 0, like uvicorn
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname()) as _client:
            conn, _addr = listener.accept()
            with conn:
                assert conn.proto == 0  # asyncio's own _set_nodelay would skip this socket
                assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
                set_nodelay(_Transport(conn))
                assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_tcp_protocol_is_uvicorns_with_nodelay() -> None:
    cls = protocol_class()
    assert issubclass(cls, asyncio.Protocol)
    assert cls is NoDelayH11Protocol or cls.__name__ == "NoDelayHttpToolsProtocol"
    assert issubclass(NoDelayH11Protocol, H11Protocol)
    set_nodelay(_Transport(None))  # type: ignore[arg-type]  # no socket: nothing to do
