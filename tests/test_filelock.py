"""The one file-lock helper: exclusive across open files and processes, bounded or blocking
waits, let go on close and when the holder dies."""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from pathlib import Path

import pytest

from padlock.errors import Conflict
from padlock.filelock import FileLock, held


def _hold(path: str, seconds: float, ready: object) -> None:
    lock = FileLock(path)
    assert lock.acquire()
    ready.set()  # type: ignore[attr-defined]
    time.sleep(seconds)


def test_filelock_excludes_another_open_file(tmp_path: Path) -> None:
    a, b = FileLock(tmp_path / "lock"), FileLock(tmp_path / "lock")
    assert a.acquire()
    assert not b.acquire(0.05, pause=0.01)
    a.release()
    assert b.acquire(0.0)  # a released lock is taken at the first try
    b.close()
    assert a.acquire(0.0)  # closing lets go too
    a.close()
    assert (tmp_path / "lock").stat().st_mode & 0o777 == 0o600


def test_filelock_backoff_grows_to_its_ceiling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    holder = FileLock(tmp_path / "lock")
    assert holder.acquire()
    pauses: list[float] = []
    monkeypatch.setattr("padlock.filelock.time.sleep", pauses.append)
    clock = iter(range(100))
    monkeypatch.setattr("padlock.filelock.time.monotonic", lambda: float(next(clock)) / 1000)
    assert not FileLock(tmp_path / "lock").acquire(0.005, pause=0.001, max_pause=0.004)
    assert pauses[:4] == [0.001, 0.002, 0.004, 0.004]
    holder.close()


def test_filelock_blocking_wait_ends_when_the_holder_dies(tmp_path: Path) -> None:
    path = str(tmp_path / "lock")
    ready = mp.get_context("spawn").Event()
    other = mp.get_context("spawn").Process(target=_hold, args=(path, 60, ready))
    other.start()
    try:
        assert ready.wait(30)
        mine = FileLock(path)
        assert not mine.acquire(0.0)
        other.kill()
        assert mine.acquire(None)  # blocks in the kernel until the dead holder's file closes
        mine.close()
    finally:
        other.kill()
        other.join(30)


def test_filelock_makes_its_directory_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "run" / "deeper" / "lock"
    with pytest.raises(FileNotFoundError):
        FileLock(path).acquire()
    lock = FileLock(path, make_parent=True)
    assert lock.acquire()
    assert path.parent.stat().st_mode & 0o777 == 0o700
    lock.close()


def test_held_raises_busy_after_a_bounded_wait(tmp_path: Path) -> None:
    path = tmp_path / "lock"

    def busy() -> Conflict:
        return Conflict("held elsewhere")

    with (
        held(path),
        pytest.raises(Conflict, match="held elsewhere"),
        held(path, wait=0.05, pause=0.01, busy=busy),
    ):
        pass  # pragma: no cover - never reached
    with held(path, wait=0.0):
        pass  # let go at the end of the first block
    with held(path), pytest.raises(TimeoutError), held(path, wait=0.0):
        pass  # pragma: no cover - never reached


def test_held_blocking_waits_for_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    order: list[str] = []
    inside = threading.Event()

    def second() -> None:
        inside.wait(10)
        with held(path):  # blocks until the first block ends
            order.append("second")

    thread = threading.Thread(target=second)
    thread.start()
    with held(path):
        inside.set()
        time.sleep(0.1)
        order.append("first")
    thread.join(10)
    assert order == ["first", "second"]
