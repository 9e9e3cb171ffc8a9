"""Free loopback ports for the servers tests start.

Two ``bind(0)`` calls in a row may get the same port from the kernel once the first socket is
closed: a test's Apache was once given one port for both HTTP and HTTPS, so its TLS probe met
plain HTTP (WRONG_VERSION_NUMBER). A port is therefore handed out at most once per process,
and each pytest-xdist worker takes only its own share of the ports, so two workers are never
given the same port either. The share is of ``port // 2``: Linux hands out odd ports for
``bind(0)`` and keeps the even ones for ``connect()``, so ``port % 2`` would starve a worker.
"""

from __future__ import annotations

import os
import socket
import threading

_given: set[int] = set()
_lock = threading.Lock()
_TRIES = 1000


def _share() -> tuple[int, int]:
    """(this worker's index, the number of workers); (0, 1) outside xdist."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = os.environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    if worker.startswith("gw") and worker[2:].isdigit() and count.isdigit() and int(count) > 0:
        return int(worker[2:]) % int(count), int(count)
    return 0, 1


def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on now, never returned before in this process."""
    index, workers = _share()
    with _lock:
        for _ in range(_TRIES):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = int(s.getsockname()[1])
            if (port >> 1) % workers == index and port not in _given:
                _given.add(port)
                return port
    raise RuntimeError(f"no unused loopback port after {_TRIES} tries")
