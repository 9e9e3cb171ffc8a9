"""A real ``padlock serve --tls`` for the real ACME clients (certbot, lego, dehydrated).

The CA is made first with ``padlock ca init --base-url http://ca.example.org``: the URLs
written into certificates (AIA, CRL) name a public-looking host, so every certificate is
linted by pkilint with no tolerance at all, as at a real CA. The ACME server itself is
reached at ``https://127.0.0.1:PORT`` with a certificate padlock issued itself from its test
hierarchy (clients are given the test root). Validation looks up every name in the tests'
DNS server, which answers 127.0.0.1 for any name, and connects to the high ports the
clients listen on (``PADLOCK_VA_HTTP_PORT``, ``PADLOCK_VA_TLS_PORT``).

A missing client program fails the tests (it is never a skip): CI installs them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from padlock.pki.lint import CertKind, lint_serverauth
from tests.support.crl import crl_path
from tests.support.dnsserver import TestDNS, Zone
from tests.support.padlock_server import launch
from tests.support.ports import free_port

PADLOCK = str(Path(sys.executable).parent / "padlock")
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
CA_BASE_URL = "http://ca.example.org"
PASSPHRASE = "interop tests pass phrase"


def program(name: str) -> str:
    """The path of a client program; the test fails when it is not installed."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not installed: the interop tests need the real program"
            f" (apt-get install {name}; .ci/run installs it)."
        )
    return path


@dataclass
class Padlock:
    """The running server and what clients need to reach it."""

    base: str
    data_dir: Path
    test_root: Path  # trusts the server's own TLS certificate
    trusted_root: Path  # issues the dv certificates
    http_port: int  # where validation fetches http-01 (the clients listen here)
    tls_port: int  # where validation connects for tls-alpn-01
    dns: TestDNS
    txt_dir: Path
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def directory(self) -> str:
        return f"{self.base}/acme/directory"

    @property
    def test_directory(self) -> str:
        return f"{self.base}/acme/test/directory"

    def certificate_state(self, serial: int) -> str:
        import sqlite3

        with sqlite3.connect(self.data_dir / "padlock.db") as db:
            row = db.execute(
                "SELECT state FROM certificates WHERE serial = ?", (format(serial, "x"),)
            ).fetchone()
        return str(row[0]) if row else "unknown"

    def account_contact(self, account_url: str) -> list[str]:
        import json
        import sqlite3

        with sqlite3.connect(self.data_dir / "padlock.db") as db:
            row = db.execute(
                "SELECT contact FROM acme_accounts WHERE id = ?", (account_url.rsplit("/", 1)[1],)
            ).fetchone()
        assert row is not None, f"no account {account_url}"
        return list(json.loads(row[0]))


def run(
    args: list[str],
    env: dict[str, str] | None = None,
    timeout: float = 120,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a client; fail the test with its output when it fails."""
    environ = {**os.environ, **(env or {})}
    proc = subprocess.run(
        args,
        capture_output=True,
        text=True,
        env=environ,
        timeout=timeout,
        cwd=cwd,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}"
            f"\n--- stderr\n{proc.stderr[-4000:]}"
        )
    return proc


def _trusting(root: Path) -> ssl.SSLContext:
    """A client context trusting only ``root`` (httpx deprecates ``verify=<path>``)."""
    return ssl.create_default_context(cafile=str(root))


def start_padlock(
    root_dir: Path,
    dns: TestDNS,
    txt_dir: Path,
    *,
    tls: bool = True,
    workers: int = 1,
    extra_env: dict[str, str] | None = None,
    data_dir: Path | None = None,
    extra_args: tuple[str, ...] = (),
) -> Padlock:
    """``padlock serve`` on any free port (it binds port 0 and says which; the base URL
    given with port 0 names the port taken)."""
    data_dir = data_dir or root_dir / "data"
    env = {
        "PADLOCK_CA_PASSPHRASE": PASSPHRASE,
        "PADLOCK_DATA_DIR": str(data_dir),
    }
    if not (data_dir / "ca" / "ca.json").exists():
        run(
            [PADLOCK, "ca", "init", "--data-dir", str(data_dir), "--base-url", CA_BASE_URL],
            env=env,
        )
    http_port, tls_port = free_port(), free_port()  # the clients' own listeners bind these
    env.update(
        {
            "PADLOCK_BASE_URL": f"{'https' if tls else 'http'}://127.0.0.1:0",
            "PADLOCK_VA_RESOLVER": dns.spec,
            "PADLOCK_VA_HTTP_PORT": str(http_port),
            "PADLOCK_VA_TLS_PORT": str(tls_port),
            **(extra_env or {}),
        }
    )
    args = [PADLOCK, "serve", "--port", "0", "--workers", str(workers), "--log-level", "warning"]
    args += extra_args
    if tls:
        # The plain-HTTP PKI listener on any free port: the CA's URLs name port 80 of
        # ca.example.org, which no test fetches, and port 80 of this machine is not ours.
        args += ["--tls", "--pki-port", "0"]
    log = root_dir / f"serve-{time.monotonic_ns()}.log"
    test_root = data_dir / "ca" / "test" / "root.crt"
    launched = launch(
        args, env={**os.environ, **env}, log=log, pki=tls, verify=test_root if tls else True
    )
    return Padlock(
        launched.url,
        data_dir,
        test_root,
        data_dir / "ca" / "trusted" / "root.crt",
        http_port,
        tls_port,
        dns,
        txt_dir,
        launched.proc,
        log,
    )


def stop_padlock(server: Padlock) -> None:
    if server.proc.poll() is None:
        os.killpg(server.proc.pid, signal.SIGTERM)  # the server and its workers, by group id
        try:
            server.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.proc.pid, signal.SIGKILL)
            server.proc.wait(timeout=10)


@contextlib.contextmanager
def serving(root_dir: Path, dns: tuple[TestDNS, Path], **options: Any) -> Iterator[Padlock]:
    """:func:`start_padlock` (with ``options``) for the ``with`` block, stopped after it."""
    server = start_padlock(root_dir, dns[0], dns[1], **options)
    try:
        yield server
    finally:
        stop_padlock(server)


@pytest.fixture(scope="session")
def dns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestDNS, Path]]:
    txt_dir = tmp_path_factory.mktemp("txt")
    server = TestDNS(Zone(txt_dir=txt_dir)).start()
    try:
        yield server, txt_dir
    finally:
        server.stop()


@pytest.fixture(scope="session")
def padlock(
    tmp_path_factory: pytest.TempPathFactory, dns: tuple[TestDNS, Path]
) -> Iterator[Padlock]:
    server = start_padlock(tmp_path_factory.mktemp("interop"), dns[0], dns[1])
    try:
        yield server
    finally:
        stop_padlock(server)


@pytest.fixture(scope="session")
def readme_padlock(
    tmp_path_factory: pytest.TempPathFactory, dns: tuple[TestDNS, Path]
) -> Iterator[Any]:
    """One ``padlock serve --tls`` made as README "ACME" says (tests.interop.readme_server)."""
    from tests.interop.readme_server import readme_serve

    with readme_serve(tmp_path_factory.mktemp("readme"), dns[0]) as served:
        yield served


def check_certificate(
    padlock: Padlock, cert: Path, chain: Path, names: list[str], root: Path | None = None
) -> x509.Certificate:
    """openssl verify against padlock's root, the names, and pkilint with no tolerance."""
    verify = subprocess.run(
        [
            OPENSSL,
            "verify",
            "-CAfile",
            str(root or padlock.trusted_root),
            "-untrusted",
            str(chain),
            str(cert),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert verify.returncode == 0 and verify.stdout.strip().endswith(": OK"), verify.stderr
    leaf = x509.load_pem_x509_certificates(cert.read_bytes())[0]
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(sans.get_values_for_type(x509.DNSName)) == sorted(names)
    if root is None:  # a trusted-hierarchy certificate: pkilint, no finding tolerated
        report = lint_serverauth(leaf.public_bytes(Encoding.DER), CertKind.DV)
        assert not report.errors, [str(f) for f in report.errors]
    return leaf


def ocsp_expected(cert_path: Path) -> str:
    """What revocation_seen's OCSP half says of a revoked certificate: REVOKED when the
    certificate names a responder in AIA, else the unauthorized answer of a CA without OCSP."""
    leaf = x509.load_pem_x509_certificates(cert_path.read_bytes())[0]
    aia = leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    names_ocsp = any(d.access_method == x509.AuthorityInformationAccessOID.OCSP for d in aia)
    return "REVOKED" if names_ocsp else "no OCSP: UNAUTHORIZED"


def revocation_seen(padlock: Padlock, cert_path: Path, chain_path: Path) -> tuple[bool, str]:
    """(serial in the issuer's CRL, OCSP status) as padlock serves them over HTTPS."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509 import ocsp

    leaf = x509.load_pem_x509_certificates(cert_path.read_bytes())[0]
    issuer = x509.load_pem_x509_certificates(chain_path.read_bytes())[0]
    issuer_id = (
        "trusted-issuing" if "Trusted" in issuer.subject.rfc4514_string() else "test-issuing"
    )
    with httpx.Client(verify=_trusting(padlock.test_root), timeout=10) as client:
        crl_der = client.get(f"{padlock.base}{crl_path(leaf)}").content  # the CRL it names
        request = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA256()).build()
        answer = client.post(
            f"{padlock.base}/ocsp/{issuer_id}",
            content=request.public_bytes(Encoding.DER),
            headers={"Content-Type": "application/ocsp-request"},
        ).content
    crl = x509.load_der_x509_crl(crl_der)
    in_crl = crl.get_revoked_certificate_by_serial_number(leaf.serial_number) is not None
    response = ocsp.load_der_ocsp_response(answer)
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        # RFC 6960 2.3: a CA without OCSP (a new trusted CA's default) answers unauthorized;
        # its certificates then name no responder in AIA.
        return in_crl, f"no OCSP: {response.response_status.name}"
    return in_crl, response.certificate_status.name
