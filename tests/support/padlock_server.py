"""Start ``padlock serve`` (or ``padlock ocsp-responder``) on port 0 and wait until it is ready.

The server binds its own sockets (``--port 0``, and ``--pki-port 0`` with ``--tls``) and says
the ports it took on stderr; the tests read them there, so no port is probed free first and
then lost to another program before the server binds it. Ready means: it said its port(s) and
answers ``/healthz``. Every wait is a bounded poll.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

START_TIMEOUT_S = 90.0
POLL_S = 0.1

# serve: "padlock serving on http(s)://HOST:PORT (data in ...)";
# ocsp-responder: "padlock OCSP responder on http://HOST:PORT/ocsp/<issuer>".
SAID = re.compile(
    r"padlock (?:serving|OCSP responder) on (?P<scheme>https?)://"
    r"(?P<host>\[[^\]]+\]|[^:/\s]+):(?P<port>\d+)[\s/]"
)
PKI_SAID = re.compile(r"over plain HTTP on \S+:(\d+)\n")


@dataclass
class Launched:
    """A server process started by ``launch``, with the ports it said it took."""

    proc: subprocess.Popen[bytes]
    log: Path
    scheme: str
    host: str
    port: int
    pki_port: int | None

    @property
    def url(self) -> str:
        """Where it listens (a wildcard host reached on loopback)."""
        host = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]"}.get(self.host, self.host)  # noqa: S104
        return f"{self.scheme}://{host}:{self.port}"

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to its process group (its workers and PKI listener too), then SIGKILL."""
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=timeout)


def _tail(log: Path, since: int = 0) -> str:
    return log.read_bytes()[since:].decode(errors="replace")[-4000:]


def _said(
    log: Path, since: int, proc: subprocess.Popen[bytes], pki: bool, deadline: float
) -> tuple[re.Match[str], int | None]:
    """The announcement (and the PKI port, when ``pki``) in the log written after ``since``."""
    while time.monotonic() < deadline:
        text = log.read_bytes()[since:].decode(errors="replace")
        said, pki_said = SAID.search(text), PKI_SAID.search(text)
        if said and (pki_said or not pki):
            return said, int(pki_said.group(1)) if pki_said else None
        if proc.poll() is not None:
            pytest.fail(f"{proc.args!r} exited {proc.returncode}:\n{_tail(log, since)}")
        time.sleep(POLL_S)
    pytest.fail(f"{proc.args!r} never said its port:\n{_tail(log, since)}")


def wait_healthy(server: Launched, verify: Path | bool, deadline: float, since: int = 0) -> None:
    """Until ``/healthz`` answers 200 (``verify``: the root its TLS certificate chains to; True
    the system's roots; False readiness only, when the test's clients check the certificate)."""
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            pytest.fail(f"server exited {server.proc.returncode}:\n{_tail(server.log, since)}")
        try:
            trust: ssl.SSLContext | bool = verify
            if isinstance(verify, Path):
                trust = ssl.create_default_context(cafile=str(verify))
            if httpx.get(f"{server.url}/healthz", verify=trust, timeout=2).status_code == 200:
                return
        except (httpx.HTTPError, ssl.SSLError, OSError):
            pass
        time.sleep(POLL_S)
    server.stop()
    pytest.fail(f"server did not answer /healthz in time:\n{_tail(server.log, since)}")


def launch(
    args: Sequence[str | Path],
    *,
    env: Mapping[str, str],
    log: Path,
    cwd: Path | None = None,
    pki: bool = False,
    verify: Path | bool = True,
    timeout: float = START_TIMEOUT_S,
) -> Launched:
    """Run ``args`` (a ``padlock serve ... --port 0`` line) in a session of its own, its output
    appended to ``log``; return once it said its port (and its PKI port, when ``pki``) and
    answers ``/healthz``. A server that exits or stays silent fails the test with its log."""
    since = log.stat().st_size if log.exists() else 0
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(a) for a in args], env=dict(env), cwd=cwd, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + timeout
    try:
        said, pki_port = _said(log, since, proc, pki, deadline)
        server = Launched(proc, log, said["scheme"], said["host"], int(said["port"]), pki_port)
        wait_healthy(server, verify, deadline, since)
    except BaseException:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        raise
    return server


def refused_on_taken_port(
    args: Sequence[str | Path], *, env: Mapping[str, str], cwd: Path | None = None
) -> tuple[int, subprocess.CompletedProcess[str]]:
    """(port, result) of ``args --port PORT`` run while this process listens on PORT."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = int(taken.getsockname()[1])
        proc = subprocess.run(
            [*map(str, args), "--port", str(port)],
            cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    return port, proc
