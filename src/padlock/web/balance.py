"""Keep-alive connections spread evenly over ``padlock serve``'s worker processes.

With ``--workers N`` every worker accepts from one shared listening socket, and whichever
wakes first takes what is waiting: a burst of new connections (a load balancer, a fleet of
ACME clients starting at once) often lands on one worker, and keep-alive keeps it there.
That worker then runs everything on one core while the others idle (measured: 16
connections over 2 workers split 16/0 in about one start in five; dv issuance then fell
from ~330/s to ~107/s). This is the "racing accept()" problem of gunicorn and uvicorn.

Each worker counts its open connections in its own slot of a small file that every worker
of the server maps (``ConnectionShare``). A worker holding more than its share (the mean,
plus one) answers the next request on a connection with ``Connection: close`` (RFC 9112
9.6): the client opens a new connection, which a less busy worker usually accepts first.
Balanced workers never close anything. ``padlock serve`` makes the file (one per port,
under DATA/run) before it starts the workers and names it in ``PADLOCK_CONNECTION_SHARE``.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import logging
import mmap
import os
import struct
import time
from pathlib import Path

log = logging.getLogger(__name__)

SHARE_ENV = "PADLOCK_CONNECTION_SHARE"
SLOTS = 64  # workers one server can have balanced
_SLOT = struct.Struct("<qq")  # the worker's pid (0: free), its open connections
_SIZE = SLOTS * _SLOT.size
DEAD_CHECK_S = 1.0  # how often the other slots' processes are checked for life


def share_path(data_dir: Path, port: int) -> Path:
    return data_dir / "run" / f"connections-{port}"


def create_share(path: Path) -> None:
    """A fresh, empty share for a server that is starting (what an earlier run left is
    dropped: its slots would count workers that are gone)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".new")
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.ftruncate(fd, _SIZE)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class ConnectionShare:
    """This worker's slot in the share, and what every slot says.

    A slot belongs to the process holding a ``lockf`` lock on its bytes; the kernel lets
    go of it when the process dies, and the next worker to start takes it over (until then
    the dead worker's pid, checked once a second, keeps its slot out of the mean). Only the
    owner writes a slot (from its event loop), so no lock is taken to count.
    """

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        try:
            if os.fstat(self._fd).st_size < _SIZE:
                raise OSError(f"{path} is not a connection share")
            self._map = mmap.mmap(self._fd, _SIZE)
            self._offset = self._claim()
        except BaseException:
            os.close(self._fd)
            raise
        self._open = 0
        self._pid = os.getpid()
        self._dead: frozenset[int] = frozenset()
        self._dead_checked = -DEAD_CHECK_S
        _SLOT.pack_into(self._map, self._offset, self._pid, 0)

    def _claim(self) -> int:
        for slot in range(SLOTS):
            offset = slot * _SLOT.size
            try:
                fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, _SLOT.size, offset)
            except OSError:
                continue
            return offset
        raise OSError(f"all {SLOTS} slots of the connection share are taken")

    @property
    def open_connections(self) -> int:
        return self._open

    def opened(self) -> None:
        self._open += 1
        _SLOT.pack_into(self._map, self._offset, self._pid, self._open)

    def closed(self) -> None:
        self._open = max(0, self._open - 1)
        _SLOT.pack_into(self._map, self._offset, self._pid, self._open)

    def crowded(self) -> bool:
        """Whether this worker holds more than the mean of its server's workers, plus one."""
        now = time.monotonic()
        if now >= self._dead_checked + DEAD_CHECK_S:
            self._dead = self._dead_pids()
            self._dead_checked = now
        workers = total = 0
        for pid, count in _SLOT.iter_unpack(self._map):
            if pid and pid not in self._dead:
                workers += 1
                total += count
        return workers > 1 and self._open * workers > total + workers

    def _dead_pids(self) -> frozenset[int]:
        """Slots of workers killed and not replaced yet (their counts would skew the mean)."""
        dead = set()
        for pid, _count in _SLOT.iter_unpack(self._map):
            if pid and pid != self._pid:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    dead.add(pid)
                except PermissionError:
                    pass  # alive, another user's
        return frozenset(dead)

    def close(self) -> None:
        if self._fd < 0:
            return
        with contextlib.suppress(ValueError, OSError):
            _SLOT.pack_into(self._map, self._offset, 0, 0)
            self._map.close()
        os.close(self._fd)  # also lets go of the slot's lock
        self._fd = -1


_share: ConnectionShare | None = None
_looked = False


def worker_share() -> ConnectionShare | None:
    """This worker's :class:`ConnectionShare`, or None when it runs alone (no share named,
    or the file cannot be used: then connections are just not balanced)."""
    global _share, _looked
    if not _looked:
        _looked = True
        path = os.environ.get(SHARE_ENV)
        if path:
            try:
                _share = ConnectionShare(Path(path))
            except OSError as err:
                log.warning("connections will not be balanced over workers: %s", err)
            else:
                atexit.register(_share.close)
    return _share
