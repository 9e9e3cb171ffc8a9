"""One exclusive ``flock`` on a lock file: the one helper behind every lock padlock takes
between processes (the site tools' state directories, SQLite's writer lock, the upkeep
turn of the server's workers, the OCSP responder made at start).

``flock`` (not ``fcntl``/``lockf``) because it belongs to the open file: two open files
in one process exclude each other (so threads with a lock each do too), and a process
that dies lets go of it with its files. A lock is tried without blocking, again after a
pause that grows up to ``max_pause``, until ``wait`` seconds are spent; ``wait=None``
blocks in the kernel instead.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

_BUSY = (errno.EAGAIN, errno.EACCES)


class FileLock:
    """An exclusive lock on ``path``; the file stays open between takes (cheap retakes).

    Opening the file (made with mode 0600, its directory with 0700 when ``make_parent``)
    raises ``OSError``; each caller decides what an unusable lock file means."""

    def __init__(self, path: Path | str, *, make_parent: bool = False) -> None:
        self.path = Path(path)
        self._make_parent = make_parent
        self._fd: int | None = None

    def _open(self) -> int:
        if self._fd is None:
            if self._make_parent:
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return self._fd

    def acquire(
        self, wait: float | None = 0.0, *, pause: float = 0.1, max_pause: float | None = None
    ) -> bool:
        """Take the lock; False if it was still held elsewhere after ``wait`` seconds.

        ``wait=None`` blocks until it is free. Otherwise the first try is immediate, and
        the next ones come after ``pause`` seconds, doubling up to ``max_pause`` (default:
        ``pause``, a steady rhythm)."""
        fd = self._open()
        if wait is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
            return True
        ceiling = pause if max_pause is None else max_pause
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except OSError as exc:
                if exc.errno not in _BUSY:
                    raise
            if time.monotonic() > deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, ceiling)

    def release(self) -> None:
        """Let go, keeping the file open for the next take."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the file (which lets go of the lock too)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __del__(self) -> None:
        self.close()


@contextlib.contextmanager
def held(
    path: Path | str,
    *,
    wait: float | None = None,
    pause: float = 0.1,
    busy: Callable[[], Exception] | None = None,
    make_parent: bool = False,
) -> Iterator[None]:
    """Hold the lock on ``path`` for a ``with`` block; closed (and so let go) after it.

    With a bounded ``wait`` that runs out, raise ``busy()`` (a ``TimeoutError`` without
    one)."""
    lock = FileLock(path, make_parent=make_parent)
    try:
        if not lock.acquire(wait, pause=pause):
            raise busy() if busy is not None else TimeoutError(f"{path} is locked")
        yield
    finally:
        lock.close()
