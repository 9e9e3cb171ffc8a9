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

from padlock.cli import common
from padlock.errors import ConfigError

if TYPE_CHECKING:
    from padlock.config import Settings

READY_SECONDS = 15.0


def check_ca_pki_url(settings: Settings) -> str:
    """The CA's PKI base URL, warning when it is not what relying parties can use."""
    from padlock.ca.signer import pki_base_url_of, read_meta

    url = pki_base_url_of(read_meta(settings.ca_dir))
    if urlsplit(url).scheme != "http":
        common.say(
            f"WARNING: this CA writes {url} into its certificates (AIA, CRL DP, OCSP); only"
            " http:// is allowed there, so dv, ov and short-lived certificates are refused."
            " Repair it with: padlock ca set-pki-url http://" + (urlsplit(url).hostname or "HOST")
        )
    elif settings.pki_base_url and settings.pki_base_url.rstrip("/") != url:
        common.say(
            f"note: this CA's certificates point at {url}, not {settings.pki_base_url}"
            " (--pki-base-url applies to a new CA; padlock ca set-pki-url changes it)."
        )
    return url


def listen_port(settings: Settings, pki_url: str) -> int:
    return settings.pki_port or urlsplit(pki_url).port or 80


def _bind(host: str, port: int) -> socket.socket | OSError:
    """The listening socket, bound here and handed to the child (no race for the port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        return exc
    sock.set_inheritable(True)
    return sock


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """The listener ends when ``padlock serve`` ends, even by SIGKILL (PR_SET_PDEATHSIG)."""
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def start(settings: Settings, pki_url: str) -> subprocess.Popen[bytes] | None:
    """Start the listener; None (with a warning) when the default port cannot be bound."""
    port = listen_port(settings, pki_url)
    if port == settings.port:
        raise ConfigError(
            f"The PKI port {port} is the HTTPS port: relying parties need plain HTTP there.",
            hint="Give another --pki-port (and, for a new CA, --pki-base-url with that port).",
        )
    sock = _bind(settings.host, port)
    if isinstance(sock, OSError):
        error = sock
        message = (
            f"serve the PKI paths over plain HTTP on {settings.host}:{port}"
            f" ({error.strerror or error})"
        )
        if settings.pki_port is not None:
            raise ConfigError(f"Cannot {message}.", hint="Choose another --pki-port.")
        common.say(
            f"WARNING: cannot {message}; relying parties cannot fetch {pki_url}/crl/... or"
            " /ocsp/... from this host. Give --pki-port (and point the CA at it with padlock"
            " ca set-pki-url), or serve them with padlock ocsp-responder."
        )
        return None
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
    _wait_ready(child, settings.host, port)
    common.say(f"padlock PKI paths (/ca, /crl, /ocsp) over plain HTTP on {settings.host}:{port}")
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
