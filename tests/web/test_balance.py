"""Keep-alive connections are kept even over ``padlock serve``'s workers (web/balance.py):
the share file's slots across real processes, and a real two-worker server."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import socket
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from padlock.web import balance
from padlock.web.balance import ConnectionShare, create_share
from tests.web.conftest import start_padlock_server

_fork = mp.get_context("fork")


def _hold(path: str, count: int, ready: Any, done: Any) -> None:
    """A worker: take a slot, hold ``count`` connections until told to stop."""
    share = ConnectionShare(Path(path))
    for _ in range(count):
        share.opened()
    ready.set()
    done.wait(30)
    share.close()


def _start(path: Path, count: int) -> tuple[Any, Any]:
    """Another worker (a process) holding ``count`` connections: (process, its stop event)."""
    ready, done = _fork.Event(), _fork.Event()
    proc = _fork.Process(target=_hold, args=(str(path), count, ready, done))
    proc.start()
    assert ready.wait(30)
    return proc, done


@contextlib.contextmanager
def _worker(path: Path, count: int) -> Iterator[Any]:
    proc, done = _start(path, count)
    try:
        yield proc
    finally:
        done.set()
        proc.join(30)


def _killed(path: Path, count: int) -> None:
    """A worker that held ``count`` connections, SIGKILLed and reaped (as uvicorn's
    supervisor reaps): its lock is gone, its slot still names it."""
    proc, _done = _start(path, count)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(30)


@contextlib.contextmanager
def _mine(path: Path, count: int = 0) -> Iterator[ConnectionShare]:
    """This process's share, holding ``count`` connections."""
    share = ConnectionShare(path)
    try:
        for _ in range(count):
            share.opened()
        yield share
    finally:
        share.close()


def _share(tmp_path: Path) -> Path:
    path = tmp_path / "share"
    create_share(path)
    return path


def test_balance_crowded_only_above_mean_plus_one(tmp_path: Path) -> None:
    path = _share(tmp_path)
    with _worker(path, 6), _mine(path) as mine:
        counts = []
        for _ in range(10):
            mine.opened()
            counts.append((mine.open_connections, mine.crowded()))
        # With 6 elsewhere: the mean of 2 workers plus one is exceeded from 9 on.
        assert [n for n, crowded in counts if crowded] == [9, 10]
        mine.closed()
        assert mine.open_connections == 9 and mine.crowded()


def test_balance_alone_is_never_crowded(tmp_path: Path) -> None:
    with _mine(_share(tmp_path), 50) as mine:
        assert not mine.crowded()


def test_balance_slot_of_a_stopped_worker_is_free(tmp_path: Path) -> None:
    path = _share(tmp_path)
    with _worker(path, 5):
        pass
    with _mine(path, 1) as mine:
        assert not mine.crowded()  # nobody else counts any more


def test_balance_killed_workers_slot_is_taken_over(tmp_path: Path) -> None:
    path = _share(tmp_path)
    _killed(path, 40)
    # The replacement takes the dead worker's slot (its lock went with it) and resets it.
    with _worker(path, 1), _mine(path, 4) as mine:
        # 4 against 1 is above the mean plus one: the dead worker's 40 no longer count.
        assert mine.crowded()


def test_balance_killed_worker_not_replaced_is_not_counted(tmp_path: Path) -> None:
    path = _share(tmp_path)
    _killed(path, 0)
    with _worker(path, 4), _mine(path, 4) as mine:
        # 4 and 4: even. Counting the dead worker's 0 would make both "crowded".
        assert not mine.crowded()
        for _ in range(3):
            mine.opened()
        assert mine.crowded()  # 7 against 4: above the mean (5.5) plus one


def test_balance_create_share_drops_an_earlier_run(tmp_path: Path) -> None:
    path = tmp_path / "run" / "connections-8080"
    create_share(path)
    path.write_bytes(b"\x01" * path.stat().st_size)  # slots an earlier run left behind
    create_share(path)
    assert path.read_bytes() == b"\x00" * path.stat().st_size
    assert path.stat().st_mode & 0o777 == 0o600


def test_balance_worker_share_needs_a_usable_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    bad = tmp_path / "short"
    bad.write_bytes(b"x")
    for value in ("", str(tmp_path / "missing"), str(bad)):
        monkeypatch.setattr(balance, "_looked", False)
        monkeypatch.setattr(balance, "_share", None)
        monkeypatch.setenv(balance.SHARE_ENV, value)
        assert balance.worker_share() is None  # served unbalanced, never refused
    assert caplog.text.count("will not be balanced") == 2


# --------------------------------------------------------------------------- a real server


def _server_side_split(port: int) -> Counter[int]:
    """How many established connections to ``port`` each process holds (from /proc)."""
    inodes: dict[str, bool] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                parts = line.split()
                local_port = int(parts[1].rsplit(":", 1)[1], 16)
                if local_port == port and parts[3] == "01":  # ESTABLISHED
                    inodes[parts[9]] = True
    split: Counter[int] = Counter()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                split[int(pid)] += 1
    return split


def _get(sock: socket.socket, host: str) -> tuple[int, bool]:
    """One GET /healthz on ``sock``: (status, whether the server closes the connection)."""
    sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before an answer"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    length = next(int(v.split(b":")[1]) for v in lines if v.startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(65536)
    close = any(v.startswith(b"connection:") and b"close" in v for v in lines)
    return int(lines[0].split()[1]), close


def test_balance_two_workers_end_with_even_connections(tmp_path: Path) -> None:
    server = start_padlock_server(tmp_path, workers=2)
    try:
        host = server.url.removeprefix("http://")
        port = int(host.rsplit(":", 1)[1])
        share = server.data_dir.resolve() / "run" / f"connections-{port}"
        assert share.stat().st_mode & 0o777 == 0o600
        # Both workers up (each holds its slot once it has served a connection).
        conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(16)]
        closes = rounds = 0
        deadline = time.monotonic() + 60
        try:
            while rounds < 200 and time.monotonic() < deadline:
                rounds += 1
                closed_now = 0
                for i, sock in enumerate(conns):
                    status, close = _get(sock, host)
                    assert status == 200
                    if close:
                        closed_now += 1
                        sock.close()
                        conns[i] = socket.create_connection(("127.0.0.1", port))
                closes += closed_now
                if closed_now == 0 and rounds > 1:
                    break  # a whole round with no worker above its share
            split = _server_side_split(port)
            workers = {pid: n for pid, n in split.items() if pid != server.pid}
            assert sum(workers.values()) == 16, workers
            # No worker holds more than the mean plus one (it would have closed one).
            assert max(workers.values()) <= 9, (workers, rounds, closes)
        finally:
            for sock in conns:
                sock.close()
    finally:
        server.stop()


def test_balance_unusable_share_serves_unbalanced(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir(mode=0o700)
    (tmp_path / "data" / "run").write_text("not a directory")  # no share can be made here
    server = start_padlock_server(tmp_path, workers=2)
    try:
        with server.client() as client:
            assert all(client.get("/healthz").status_code == 200 for _ in range(5))
        assert "connections will not be balanced over workers" in server.log()
    finally:
        server.stop()
