"""The tests' port helper: a port is handed out once per process, so two servers of one test
never share it (a shared port once made Apache serve HTTP where TLS was probed)."""

from __future__ import annotations

import socket

import pytest

from tests.support import ports
from tests.support.ports import free_port


def test_free_port_never_repeats_in_one_process() -> None:
    given = [free_port() for _ in range(300)]
    assert len(set(given)) == len(given)


def test_free_port_is_bindable_on_loopback() -> None:
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_free_port_keeps_to_its_xdist_worker_share(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "3")
    assert ports._share() == (1, 3)
    assert all((free_port() >> 1) % 3 == 1 for _ in range(20))


def test_free_port_feeds_both_workers_of_two(monkeypatch: pytest.MonkeyPatch) -> None:
    """Linux gives bind(0) odd ports only: each of two workers still finds ports."""
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    for worker in ("gw0", "gw1"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        assert len({free_port() for _ in range(20)}) == 20


def test_free_port_share_outside_xdist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    assert ports._share() == (0, 1)
