"""Free loopback ports for the servers tests start.

Two ``bind(0)`` calls in a row may get the same port from the kernel once the first socket is
closed: a test's Apache was once given one port for both HTTP and HTTPS, so its TLS probe met
plain HTTP (WRONG_VERSION_NUMBER). A port is therefore handed out at most once per process.
"""

from __future__ import annotations

import socket
import threading

_given: set[int] = set()
_lock = threading.Lock()
_TRIES = 1000


def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on now, never returned before in this process."""
    with _lock:
        for _ in range(_TRIES):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = int(s.getsockname()[1])
            if port not in _given:
                _given.add(port)
                return port
    raise RuntimeError(f"no unused loopback port after {_TRIES} tries")
