"""The real openssl against a real ``padlock serve``: OCSP good then revoked, CRL checks that
pass then fail, GET requests, nonces, reserved serials, and a battery of bad requests that
get OCSP error statuses, never a 500. Also the ``padlock revoke`` CLI in both forms."""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from padlock.pki import lint
from padlock.pki.crl_ocsp import issuer_hashes
from padlock.site.revocation_status import ocsp_status
from tests.support.crl import crl_path
from tests.support.padlock_server import launch

PADLOCK = Path(sys.executable).parent / "padlock"
OPENSSL = "/usr/bin/openssl"
CA_PASSPHRASE = "interop pass phrase"
DER = serialization.Encoding.DER
PEM = serialization.Encoding.PEM
SHA1 = hashes.SHA1  # RFC 5019 2.1.1: OCSP clients identify certificates by SHA-1
MALFORMED = b"\x30\x03\x0a\x01\x01"
UNAUTHORIZED = b"\x30\x03\x0a\x01\x06"


@dataclass
class Server:
    url: str
    data: Path
    env: dict[str, str]
    work: Path

    def log_tail(self) -> str:
        text = (self.work / "server.log").read_text(errors="replace")
        return "\n--- server log (end) ---\n" + text[-3000:]

    def padlock(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(PADLOCK), *map(str, args)],
            env=self.env,
            cwd=self.work,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and proc.returncode != 0:
            pytest.fail(f"padlock {' '.join(map(str, args))} failed:\n{proc.stderr}")
        return proc

    def openssl(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [OPENSSL, *map(str, args)],
            cwd=self.work,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    @property
    def root(self) -> Path:
        return self.data / "ca" / "test" / "root.crt"

    @property
    def issuing(self) -> Path:
        return self.data / "ca" / "test" / "issuing.crt"

    def issue(self, name: str, key: ec.EllipticCurvePrivateKey | None = None) -> Path:
        key = key or ec.generate_private_key(ec.SECP256R1())
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256())
        )
        csr_path = self.work / f"{name}.csr"
        csr_path.write_bytes(csr.public_bytes(PEM))
        out = self.work / f"{name}.pem"
        self.padlock(
            "ca", "issue", csr_path, "--profile", "test", "--data-dir", self.data, "-o", out
        )
        return out

    def ocsp(self, leaf: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.openssl(
            "ocsp", "-issuer", self.issuing, "-cert", leaf,
            "-url", f"{self.url}/ocsp/test-issuing", "-CAfile", self.root, *extra,
        )  # fmt: skip

    def crl_pem(self, leaf: Path) -> Path:
        """The CRL ``leaf`` names (its shard), as openssl gets it: PEM in a file."""
        cert = x509.load_pem_x509_certificate(leaf.read_bytes())
        der = httpx.get(f"{self.url}{crl_path(cert)}", timeout=30)
        assert der.status_code == 200
        assert der.headers["content-type"] == "application/pkix-crl"
        assert not lint.lint_crl(der.content).errors
        path = self.work / "crl.pem"
        crl = x509.load_der_x509_crl(der.content)
        path.write_bytes(crl.public_bytes(PEM))
        return path

    def verify_with_crl(self, leaf: Path) -> subprocess.CompletedProcess[str]:
        return self.openssl(
            "verify", "-crl_check", "-CRLfile", self.crl_pem(leaf), "-CAfile", self.root,
            "-untrusted", self.issuing, leaf,
        )  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    work = tmp_path_factory.mktemp("ocsp-interop")
    data = work / "data"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PADLOCK_")},
        "PADLOCK_DATA_DIR": str(data),
        "PADLOCK_CA_PASSPHRASE": CA_PASSPHRASE,
        "PADLOCK_BASE_URL": "http://127.0.0.1:0",  # serve names the port it takes
        "PADLOCK_REVOCATION_TICK": "1",
    }
    args = [PADLOCK, "serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", data]
    launched = launch(args, env=env, log=work / "server.log", cwd=work)
    env["PADLOCK_BASE_URL"] = launched.url
    try:
        yield Server(launched.url, data, env, work)
    finally:
        launched.stop(timeout=30)
        server_log = (work / "server.log").read_text(errors="replace")
        assert "Traceback" not in server_log, server_log


def _serial(leaf: Path) -> int:
    return x509.load_pem_x509_certificate(leaf.read_bytes()).serial_number


def test_openssl_ocsp_good_then_revoked_and_crl_check(server: Server) -> None:
    leaf = server.issue("www.example.com")
    good = server.ocsp(leaf)
    assert good.returncode == 0, good.stderr
    assert f"{leaf}: good" in good.stdout, good.stdout + good.stderr + server.log_tail()
    assert "Response verify OK" in good.stderr
    assert "WARNING: no nonce" not in good.stdout + good.stderr  # openssl sends one; we echo it
    assert server.verify_with_crl(leaf).returncode == 0

    serial = format(_serial(leaf), "x")
    server.padlock("revoke", serial, "--reason", "keyCompromise", "--data-dir", server.data)

    revoked = server.ocsp(leaf)
    assert revoked.returncode == 0, revoked.stderr
    assert f"{leaf}: revoked" in revoked.stdout
    assert "Reason: keyCompromise" in revoked.stdout
    assert "Response verify OK" in revoked.stderr
    failed = server.verify_with_crl(leaf)
    assert failed.returncode != 0
    assert "certificate revoked" in failed.stdout + failed.stderr


def test_openssl_ocsp_without_nonce_and_get_form(server: Server) -> None:
    leaf = server.issue("get.example.com")
    plain = server.ocsp(leaf, "-no_nonce")
    assert f"{leaf}: good" in plain.stdout, plain.stdout + plain.stderr
    assert "Response verify OK" in plain.stderr, plain.stdout + plain.stderr

    cert = x509.load_pem_x509_certificate(leaf.read_bytes())
    issuer = x509.load_pem_x509_certificate(server.issuing.read_bytes())
    req = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, SHA1()).build()
    encoded = base64.b64encode(req.public_bytes(DER)).decode()
    reply = httpx.get(f"{server.url}/ocsp/test-issuing/{encoded}", timeout=30)
    assert reply.status_code == 200
    assert reply.content[:5] != b"\x30\x03\x0a\x01\x03", "tryLater: " + server.log_tail()
    assert "max-age=" in reply.headers["cache-control"]
    response = ocsp.load_der_ocsp_response(reply.content)
    assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert response.serial_number == cert.serial_number
    assert not lint.lint_ocsp_response(reply.content).errors
    # The URL-safe alphabet and missing padding are accepted too.
    safe = encoded.replace("+", "-").replace("/", "_").rstrip("=")
    again = httpx.get(f"{server.url}/ocsp/test-issuing/{safe}", timeout=30)
    assert ocsp.load_der_ocsp_response(again.content).certificate_status is (
        ocsp.OCSPCertStatus.GOOD
    )
    # SHA-256 CertIDs are answered in kind.
    req256 = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA256()).build()
    reply256 = httpx.post(
        f"{server.url}/ocsp/test-issuing",
        content=req256.public_bytes(DER),
        headers={"Content-Type": "application/ocsp-request"},
        timeout=30,
    )
    assert ocsp.load_der_ocsp_response(reply256.content).hash_algorithm.name == "sha256"

    status = ocsp_status(cert, issuer, timeout=60)
    assert status.status == "good", status.detail + server.log_tail()


def _reserve(db: Path, issuer: str) -> int:
    """A serial reserved (step 1 of issuance) and never signed, as a crash would leave it."""
    import datetime as dt
    import secrets

    from padlock.ca.ports import AuditEntry, Reservation
    from padlock.store import open_store

    serial = secrets.randbits(127) | (1 << 126)
    now = dt.datetime.now(dt.UTC)
    store = open_store(f"sqlite:///{db}", migrate=False)
    try:
        store.reserve_certificate(
            Reservation(
                serial,
                "test",
                issuer,
                "test",
                None,
                "CN=crashed.example.com",
                ("crashed.example.com",),
                now,
                now + dt.timedelta(days=21),
                b"tbs",
                now,
                "sha256:" + "0" * 64,
            ),
            AuditEntry("certificate.reserved", "test", "certificate", format(serial, "x")),
        )
    finally:
        store.close()
    return serial


def test_reserved_serial_answers_revoked_unknown_serial_unknown(server: Server) -> None:
    issuer = x509.load_pem_x509_certificate(server.issuing.read_bytes())
    serial = _reserve(server.data / "padlock.db", "test-issuing")
    name_hash, key_hash = issuer_hashes(issuer)["sha1"]

    def ask(number: int) -> ocsp.OCSPResponse:
        req = (
            ocsp.OCSPRequestBuilder()
            .add_certificate_by_hash(name_hash, key_hash, number, SHA1())
            .build()
        )
        reply = httpx.post(
            f"{server.url}/ocsp/test-issuing",
            content=req.public_bytes(DER),
            headers={"Content-Type": "application/ocsp-request"},
            timeout=30,
        )
        assert reply.status_code == 200
        assert not lint.lint_ocsp_response(reply.content).errors
        return ocsp.load_der_ocsp_response(reply.content)

    reserved = ask(serial)
    assert reserved.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert reserved.revocation_reason is None  # unspecified: the field is left out
    unknown = ask(0x1234567890ABCDEF1234)
    assert unknown.certificate_status is ocsp.OCSPCertStatus.UNKNOWN


def test_bad_requests_get_ocsp_errors_never_500(server: Server) -> None:
    url = f"{server.url}/ocsp/test-issuing"
    ctype = {"Content-Type": "application/ocsp-request"}
    leaf = server.issue("bad.example.com")
    cert = x509.load_pem_x509_certificate(leaf.read_bytes())
    other_ca = ec.generate_private_key(ec.SECP256R1())
    fake_issuer = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Someone else")]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Someone else")]))
        .public_key(other_ca.public_key())
        .serial_number(1)
        .not_valid_before(cert.not_valid_before_utc)
        .not_valid_after(cert.not_valid_after_utc)
        .sign(other_ca, hashes.SHA256())
    )
    foreign = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(cert, fake_issuer, SHA1())
        .build()
        .public_bytes(DER)
    )
    cases: list[tuple[str, httpx.Response, bytes]] = [
        ("garbage", httpx.post(url, content=b"\x30\x80garbage", headers=ctype), MALFORMED),
        ("empty", httpx.post(url, content=b"", headers=ctype), MALFORMED),
        (
            "wrong content type",
            httpx.post(url, content=foreign, headers={"Content-Type": "text/plain"}),
            MALFORMED,
        ),
        ("unknown issuer hash", httpx.post(url, content=foreign, headers=ctype), UNAUTHORIZED),
        (
            "unknown issuer path",
            httpx.post(f"{server.url}/ocsp/nobody", content=foreign, headers=ctype),
            UNAUTHORIZED,
        ),
        ("huge", httpx.post(url, content=b"\x30" * (1 << 20), headers=ctype), MALFORMED),
        (
            "huge, chunked",
            httpx.post(url, content=iter([b"\x30" * 4096] * 64), headers=ctype),
            MALFORMED,
        ),
        ("bad base64", httpx.get(f"{url}/not*base64!"), MALFORMED),
        ("base64 of garbage", httpx.get(f"{url}/{base64.b64encode(b'xyz').decode()}"), MALFORMED),
    ]
    for what, reply, expected in cases:
        assert reply.status_code < 500, what
        assert reply.headers["content-type"] == "application/ocsp-response", what
        assert reply.content == expected, what
    assert httpx.post(url, content=b"", headers=ctype).status_code == 200
    assert httpx.post(url, content=b"\x30" * 20000, headers=ctype).status_code == 413


def test_cli_revoke_errors_and_key_blocking(server: Server) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = server.issue("blocked.example.com", key)
    serial = format(_serial(leaf), "x")
    bad = server.padlock(
        "revoke", serial, "--reason", "certificateHold", "--data-dir", server.data, check=False
    )
    assert bad.returncode == 1
    assert "certificateHold" in bad.stderr and "keyCompromise" in bad.stderr

    by_file = server.padlock("revoke", leaf, "--reason", "keyCompromise", "--data-dir", server.data)
    assert "Revoked" in by_file.stdout
    again = server.padlock("revoke", serial, "--data-dir", server.data, check=False)
    assert again.returncode == 1
    assert "already revoked" in again.stderr

    refused = server.padlock(
        "ca", "issue", server.work / "blocked.example.com.csr", "--profile", "test",
        "--data-dir", server.data, check=False,
    )  # fmt: skip
    assert refused.returncode == 1
    assert "revoked as compromised" in refused.stderr

    unknown = server.padlock("revoke", "abcdef1234", "--data-dir", server.data, check=False)
    assert unknown.returncode == 1
    assert "no certificate" in unknown.stderr


def test_site_owner_revokes_with_the_key(server: Server) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = server.issue("owner.example.com", key)
    key_path = server.work / "owner.key"
    key_path.write_bytes(
        key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    wrong = server.work / "wrong.key"
    wrong.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    refused = server.padlock(
        "revoke", "--key", wrong, "--cert", leaf, "--ca", server.url, check=False
    )
    assert refused.returncode == 1
    assert "not the certificate's key" in refused.stderr

    done = server.padlock(
        "revoke", "--key", key_path, "--cert", leaf, "--ca", server.url, "--reason", "superseded"
    )
    assert "revoked" in done.stdout
    out = server.ocsp(leaf)
    assert f"{leaf}: revoked" in out.stdout
    assert "Reason: superseded" in out.stdout
    cert = x509.load_pem_x509_certificate(leaf.read_bytes())
    issuer = x509.load_pem_x509_certificate(server.issuing.read_bytes())
    status = ocsp_status(cert, issuer)
    assert (status.status, status.reason) == ("revoked", "superseded")


def test_root_crls(server: Server) -> None:
    reply = httpx.get(f"{server.url}/crl/test-root.crl", timeout=30)
    assert reply.status_code == 200
    assert not lint.lint_crl(reply.content, authority=True).errors
    # The trusted root's key is offline: its ARL is signed by the operator who brings it.
    key = server.data / "offline" / "trusted-root.key"
    server.padlock(
        "ca", "sign-root-crl", "--root-key", key, "--data-dir", server.data, "--days", "300"
    )
    arl = httpx.get(f"{server.url}/crl/trusted-root.crl", timeout=30)
    assert arl.status_code == 200
    assert not lint.lint_crl(arl.content, authority=True).errors
    crl = x509.load_der_x509_crl(arl.content)
    root = x509.load_pem_x509_certificate(
        (server.data / "ca" / "trusted" / "root.crt").read_bytes()
    )
    assert crl.is_signature_valid(root.public_key())  # type: ignore[arg-type]


@contextlib.contextmanager
def _tls_site(chain: Path, key: Path) -> Iterator[int]:
    """A TLS server on 127.0.0.1 presenting ``chain``: handshakes until the test ends."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain, key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(5)
            with contextlib.suppress(OSError), context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=10)
        listener.close()


def test_padlock_check_reports_revoked(server: Server) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = server.issue("check.example.com", key)
    key_path = server.work / "check.key"
    key_path.write_bytes(
        key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    chain = server.work / "check-chain.pem"
    chain.write_bytes(leaf.read_bytes() + server.issuing.read_bytes())
    with _tls_site(chain, key_path) as port:
        target = f"127.0.0.1:{port}"
        args = ("check", target, "--name", "check.example.com", "--ca", server.root, "--json")
        before = server.padlock(*args, check=False)
        assert before.returncode == 0, before.stdout + before.stderr
        assert "OCSP: good" in before.stdout
        server.padlock(
            "revoke", leaf, "--reason", "cessationOfOperation", "--data-dir", server.data
        )
        after = server.padlock(*args, check=False)
    assert after.returncode == 2
    assert "revoked (cessationOfOperation" in after.stdout
