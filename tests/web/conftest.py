"""A real ``padlock serve`` on 127.0.0.1 for the web tests, with loopback DNS, HTTP and SMTP.

``padlock_server`` (one per test module) is a subprocess with a temporary data dir, on any
free port (serve binds port 0 and says which; a restart may take another); validation looks
up names in ``va_dns`` (every name is 127.0.0.1 unless a test says otherwise), fetches HTTP
files from ``va_web`` and mails through ``smtp``. It has ``.url``, ``.data_dir``, ``.env``,
``.stop()``, ``.restart()``, ``.log()`` and ``.client()``. ``start_padlock_server(...)``
starts another with other settings (e.g. ``workers=2``).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from padlock.ca.enrollment.service import EnrollmentService
from tests.conftest import PADLOCK_BIN
from tests.support.dnsserver import TestDNS
from tests.support.httpfiles import FileServer
from tests.support.padlock_server import launch
from tests.support.smtpserver import TestSMTP

CAA_IDENTITY = "ca.padlock.example"
UNSTARTED = "http://127.0.0.1:0"  # a PadlockServer's url until serve says its port


@dataclass
class PadlockServer:
    url: str
    data_dir: Path
    env: dict[str, str]
    log_path: Path
    workers: int = 1
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> PadlockServer:
        """Serve on any free port (``--port 0``) and take ``url`` from what serve says; a
        base URL naming this server is passed with port 0, so it names the port taken."""
        env = dict(self.env)
        if env.get("PADLOCK_BASE_URL") == self.url:
            env["PADLOCK_BASE_URL"] = "http://127.0.0.1:0"
        args: list[str | Path] = [PADLOCK_BIN, "serve", "--host", "127.0.0.1", "--port", "0"]
        args += ["--data-dir", self.data_dir, "--workers", str(self.workers)]
        launched = launch(args, env=env, log=self.log_path)
        self.process = launched.proc
        if self.env.get("PADLOCK_BASE_URL") == self.url:
            self.env["PADLOCK_BASE_URL"] = launched.url
        self.url = launched.url
        return self

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)

    def restart(self) -> PadlockServer:
        self.stop()
        return self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, **kwargs)  # type: ignore[arg-type]

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid


def start_padlock_server(
    base: Path,
    *,
    dns: TestDNS | None = None,
    web: FileServer | None = None,
    smtp: TestSMTP | None = None,
    extra_env: dict[str, str] | None = None,
    workers: int = 1,
) -> PadlockServer:
    """A fresh data dir under ``base`` and ``padlock serve`` on any free port of 127.0.0.1."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PADLOCK_")}
    url = UNSTARTED
    data_dir = base / "data"
    env.update(
        {
            "PADLOCK_BASE_URL": url,
            "PADLOCK_CAA_IDENTITIES": CAA_IDENTITY,
            "PADLOCK_VA_TLS_PORT": "1",
        }
    )
    if dns is not None:
        env["PADLOCK_VA_RESOLVER"] = dns.spec
    if web is not None:
        env["PADLOCK_VA_HTTP_PORT"] = str(web.port)
    if smtp is not None:
        env["PADLOCK_SMTP_HOST"] = "127.0.0.1"
        env["PADLOCK_SMTP_PORT"] = str(smtp.port)
        env["PADLOCK_SMTP_FROM"] = "ca@padlock.example"
    env.update(extra_env or {})
    server = PadlockServer(url, data_dir, env, base / "server.log", workers)
    return server.start()


def start_dns(attempts: int = 5) -> TestDNS:
    """A TestDNS; its TCP side binds the port its UDP side drew, which another process may
    hold already: draw again (a few times) rather than fail."""
    for attempt in range(attempts):
        try:
            return TestDNS().start()
        except OSError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def va_dns() -> Iterator[TestDNS]:
    server = start_dns()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def va_web() -> Iterator[FileServer]:
    server = FileServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def smtp() -> Iterator[TestSMTP]:
    server = TestSMTP().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def padlock_server(
    tmp_path_factory: pytest.TempPathFactory,
    va_dns: TestDNS,
    va_web: FileServer,
    smtp: TestSMTP,
) -> Iterator[PadlockServer]:
    server = start_padlock_server(
        tmp_path_factory.mktemp("padlock-serve"), dns=va_dns, web=va_web, smtp=smtp
    )
    try:
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------- CSRs


def make_csr(
    names: Sequence[str] = ("www.example.com",),
    key: ec.EllipticCurvePrivateKey | None = None,
) -> tuple[ec.EllipticCurvePrivateKey, str]:
    """(key, PEM CSR) with the first name as CN and every name as a SAN."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return key, csr.public_bytes(serialization.Encoding.PEM).decode()


def key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@contextlib.contextmanager
def server_enrollment(server: PadlockServer) -> Iterator[EnrollmentService]:
    """The enrollment use cases on a running server's data, in this process (the console's
    and the CLI's way in): same database, same CA, same validation and mail settings."""
    from padlock import config, wiring
    from padlock.wiring import open_enrollment

    settings = config.from_env(server.env).with_overrides(data_dir=server.data_dir)
    passphrase = (server.data_dir / "ca" / "passphrase").read_bytes().splitlines()[0]
    authority = wiring.open_authority(settings, passphrase)
    try:
        yield open_enrollment(authority, env=server.env)
    finally:
        authority.close()
