"""Run uvicorn on a socket ``padlock serve`` bound itself.

Binding first (``--port 0`` included) lets ``serve`` say the port it really has before the
base URL, the CA and the TLS certificate are made from it, and leaves no gap between finding
a port free and taking it, in which another program could take it.
"""

from __future__ import annotations

import contextlib
import inspect
import signal
import socket
import sys
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from padlock.errors import ConfigError

STARTUP_FAILURE = 3  # uvicorn's exit status when its server did not start


def bind_tcp(host: str, port: int, what: str = "padlock") -> socket.socket:
    """A listening TCP socket on ``host:port`` (0: any free port), or a clear ConfigError."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"Cannot listen on {host!r}: {exc.strerror}.") from None
    family, kind, proto, _name, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"{what} cannot listen on {host}:{port}: {exc.strerror or exc}.",
            hint="Choose another port (0 takes any free one and says which)."
            if exc.errno in (98, 13)  # EADDRINUSE, EACCES
            else None,
        ) from None
    sock.set_inheritable(True)
    return sock


def _exit_on_sigterm() -> None:
    """SIGTERM ends the process through SystemExit, so the caller's ``finally`` runs (and
    stops its children). uvicorn catches the signal while it serves, then restores this
    handler and raises the signal again; with the default handler the process would die
    there, leaving a child it started unreaped."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminated)


def _terminated(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def run(sock: socket.socket, **options: Any) -> None:
    """``uvicorn.run(**options)`` on ``sock``, with its workers when ``options`` ask for more
    than one (uvicorn's own ``run`` would bind a socket of its own)."""
    config = uvicorn.Config(**options)
    server = uvicorn.Server(config)
    _exit_on_sigterm()
    if config.workers > 1:
        if "target" in inspect.signature(Multiprocess).parameters:  # uvicorn before 0.36
            Multiprocess(config, target=server.run, sockets=[sock]).run()  # type: ignore[call-arg]
        else:
            Multiprocess(config, sockets=[sock]).run()
        return
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends the server
        server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)
