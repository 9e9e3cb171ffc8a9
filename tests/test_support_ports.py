"""The tests' port helper: a port is handed out once per process, so two servers of one test
never share it (a shared port once made Apache serve HTTP where TLS was probed)."""

from __future__ import annotations

import socket

from tests.support.ports import free_port


def test_free_port_never_repeats_in_one_process() -> None:
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)


def test_free_port_is_bindable_on_loopback() -> None:
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
