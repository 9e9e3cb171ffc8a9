"""Free loopback ports, only for external programs that cannot bind port 0 and say which.

Use ``free_port()`` only for a program that must be told its port in advance and cannot
report one it chose itself: Apache and nginx (Listen), certbot --standalone, lego and
dehydrated's hooks (the ports the CA's validation connects to, PADLOCK_VA_HTTP_PORT and
PADLOCK_VA_TLS_PORT), mod_md's MDPortMap, NSD and unbound. Everything else binds port 0
itself and reports the port: ``padlock serve`` and ``padlock ocsp-responder`` through
tests/support/padlock_server.py, the in-process servers in tests/support (DNS, HTTP files,
raw HTTP, TLS-ALPN, SMTP) and the in-process ACME server. A probed port can be taken by
another program before the server binds it; port 0 cannot.

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
