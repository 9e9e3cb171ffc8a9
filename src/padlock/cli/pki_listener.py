"""The plain-HTTP PKI listener of ``padlock serve --tls``.

Relying parties fetch the URLs in certificates (AIA caIssuers, CRL DP, OCSP) over plain
http (BR 7.1.2.7.7, 7.1.2.11.2; a TLS fetch to learn a certificate's status could need that
very status). With ``--tls`` the main port speaks HTTPS only, so a child process serves
those paths (``padlock.web.revocation_api.ResponderApp``) on the PKI port: default 80 when
this process may bind it, else the one given with ``--pki-port``.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from padlock.cli import console
from padlock.errors import ConfigError

if TYPE_CHECKING:
    from padlock.config import Settings

READY_SECONDS = 15.0


def check_ca_pki_url(settings: Settings) -> str:
    """The CA's PKI base URL, warning when it is not what relying parties can use."""
    from padlock.ca.signer import pki_base_url_of, read_meta

    url = pki_base_url_of(read_meta(settings.ca_dir))
    if urlsplit(url).scheme != "http":
        console.say(
            f"WARNING: this CA writes {url} into its certificates (AIA, CRL DP, OCSP); only"
            " http:// is allowed there, so dv, ov and short-lived certificates are refused."
            " Repair it with: padlock ca set-pki-url http://" + (urlsplit(url).hostname or "HOST")
        )
    elif settings.pki_base_url and settings.pki_base_url.rstrip("/") != url:
        console.say(
            f"note: this CA's certificates point at {url}, not {settings.pki_base_url}"
            " (--pki-base-url applies to a new CA; padlock ca set-pki-url changes it)."
        )
    return url


def planned_port(settings: Settings) -> int:
    """The PKI port: --pki-port, else that of the CA's PKI base URL (the one a new CA gets)."""
    from padlock.ca.signer import pki_base_url_of, read_meta

    if settings.pki_port is not None:
        return settings.pki_port
    if (settings.ca_dir / "ca.json").exists():
        url = pki_base_url_of(read_meta(settings.ca_dir))
    else:
        url = settings.effective_pki_base_url
    return urlsplit(url).port or 80


def bind(settings: Settings) -> socket.socket | None:
    """The plain-HTTP PKI socket (``--pki-port 0``: any free port), bound before the CA is made
    so that a new CA's PKI base URL names the port really served. None, with a warning, when
    the default port cannot be bound; a ConfigError when the port given cannot."""
    from padlock.web import serving

    port = planned_port(settings)
    try:
        return serving.bind_tcp(settings.host, port, "The plain-HTTP PKI listener")
    except ConfigError as exc:
        if settings.pki_port is not None:
            raise ConfigError(exc.message, hint="Choose another --pki-port.") from None
        console.say(
            f"WARNING: {exc.message} Relying parties cannot fetch /crl/... or /ocsp/... from"
            " this host. Give --pki-port (and point the CA at it with padlock ca set-pki-url),"
            " or serve them with padlock ocsp-responder."
        )
        return None


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """The listener ends when ``padlock serve`` ends, even by SIGKILL (PR_SET_PDEATHSIG)."""
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def start(sock: socket.socket | None, host: str) -> subprocess.Popen[bytes] | None:
    """Serve the PKI paths on ``sock`` in a child process (uvicorn ``--fd``)."""
    if sock is None:
        return None
    port = sock.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "padlock.web.revocation_api:responder_from_env",
        "--factory",
        "--fd",
        str(sock.fileno()),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    with sock:
        child = subprocess.Popen(command, pass_fds=(sock.fileno(),), preexec_fn=_die_with_parent)
    _wait_ready(child, host, port)
    console.say(f"padlock PKI paths (/ca, /crl, /ocsp) over plain HTTP on {host}:{port}")
    return child


def _wait_ready(child: subprocess.Popen[bytes], host: str, port: int) -> None:
    """Until the child answers /healthz (the socket accepts before the child serves)."""
    import httpx

    target = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104 - a lookup
    url = f"http://{f'[{target}]' if ':' in target else target}:{port}/healthz"
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise ConfigError(
                f"The plain-HTTP PKI listener on {host}:{port} stopped at start"
                f" (exit {child.returncode}).",
                hint="Its error is printed above.",
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        time.sleep(0.05)
    stop(child)
    raise ConfigError(f"The plain-HTTP PKI listener on {host}:{port} did not start in time.")


def stop(child: subprocess.Popen[bytes] | None) -> None:
    if child is None or child.poll() is not None:
        return
    child.terminate()
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
