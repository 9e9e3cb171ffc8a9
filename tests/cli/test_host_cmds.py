"""A second host on the same PostgreSQL database: real ``padlock serve`` processes.

Host A is made with ``ca init`` and serves; ``padlock ca clone-to`` prepares host B's data
dir; B serves on another port against the same database. Both issue, and both answer OCSP
and CRLs with the same CA. A host with an empty data dir, or with a CA of its own, is
refused before it signs anything.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from tests.ca.issue_loop import pg_schema
from tests.conftest import PADLOCK_BIN
from tests.web.conftest import UNSTARTED, PadlockServer, make_csr

PASSPHRASE = "second host pass phrase"


@pytest.fixture
def pg_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of every host: one fresh PostgreSQL schema, one pass phrase."""
    with pg_schema("padlock_hosts") as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PADLOCK_")}
        env.update({"PADLOCK_DATABASE_URL": url, "PADLOCK_CA_PASSPHRASE": PASSPHRASE})
        yield env


def _run(env: dict[str, str], *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PADLOCK_BIN), *(str(a) for a in args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _server(tmp_path: Path, data_dir: Path, env: dict[str, str]) -> PadlockServer:
    url = UNSTARTED  # serve takes any free port and says which
    log = tmp_path / f"{data_dir.name}.log"
    return PadlockServer(url, data_dir, {**env, "PADLOCK_BASE_URL": url}, log)


def _issue(server: PadlockServer, name: str) -> x509.Certificate:
    _key, csr = make_csr([name])
    with server.client() as client:
        resp = client.post(
            "/api/v1/requests", json={"csr": csr, "kind": "test", "contact": "ops@example.com"}
        )
        assert resp.status_code == 201, resp.text
        pem = client.get(f"/api/v1/requests/{resp.json()['id']}/certificate").content
    return x509.load_pem_x509_certificate(pem)


def _ocsp_status(server: PadlockServer, cert: x509.Certificate, issuer: x509.Certificate) -> str:
    """The OCSP answer of ``server`` for ``cert``, checked to be signed by a responder that
    ``issuer`` certified."""
    request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA256()).build()
    resp = httpx.post(
        f"{server.url}/ocsp/test-issuing",
        content=request.public_bytes(serialization.Encoding.DER),
        headers={"content-type": "application/ocsp-request"},
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    answer = ocsp.load_der_ocsp_response(resp.content)
    responder = answer.certificates[0]
    responder.verify_directly_issued_by(issuer)
    return answer.certificate_status.name


def _crl_signed_by(server: PadlockServer, issuer: x509.Certificate) -> bool:
    resp = httpx.get(f"{server.url}/crl/test-issuing.crl", timeout=30)
    assert resp.status_code == 200
    return x509.load_der_x509_crl(resp.content).is_signature_valid(issuer.public_key())  # type: ignore[arg-type]


def test_second_host_clone_serves_same_ca(tmp_path: Path, pg_env: dict[str, str]) -> None:
    host_a, host_b, host_c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    made = _run(pg_env, "ca", "init", "--data-dir", host_a)
    assert made.returncode == 0, made.stderr
    a = _server(tmp_path, host_a, pg_env).start()
    try:
        cert_a = _issue(a, "a.example.com")
        cloned = _run(pg_env, "ca", "clone-to", host_b, "--data-dir", host_a)
        assert cloned.returncode == 0, cloned.stderr
        assert not (host_b / "offline").exists()
        assert not list(host_b.rglob("trusted-root.key"))
        assert (host_b / "ca" / "trusted" / "issuing.key").stat().st_mode & 0o077 == 0
        b = _server(tmp_path, host_b, pg_env).start()
        try:
            cert_b = _issue(b, "b.example.com")
            issuing = x509.load_pem_x509_certificate(
                (host_a / "ca" / "test" / "issuing.crt").read_bytes()
            )
            for cert in (cert_a, cert_b):
                cert.verify_directly_issued_by(issuing)
                for host in (a, b):
                    assert _ocsp_status(host, cert, issuing) == "GOOD"
            assert _crl_signed_by(a, issuing) and _crl_signed_by(b, issuing)
        finally:
            b.stop()
        # Host C has an empty data dir: refused, and no CA is made there.
        refused = _run(pg_env, "serve", "--data-dir", host_c, "--port", "0")
        assert refused.returncode != 0
        assert "There is no CA in" in refused.stderr and "clone-to" in refused.stderr
        assert not (host_c / "ca" / "ca.json").exists()
        assert "Traceback" not in refused.stderr
        audit = _run(pg_env, "audit", "verify", "--data-dir", host_a)
        assert audit.returncode == 0, audit.stderr
    finally:
        a.stop()


def test_second_host_with_another_ca_refused(tmp_path: Path, pg_env: dict[str, str]) -> None:
    host_a, other = tmp_path / "a", tmp_path / "other"
    assert _run(pg_env, "ca", "init", "--data-dir", host_a).returncode == 0
    # `ca init` against a database that has a CA makes none.
    again = _run(pg_env, "ca", "init", "--data-dir", other)
    assert again.returncode != 0 and "does not make a second CA" in again.stderr
    assert not (other / "ca").exists()
    # A CA made on its own SQLite database, then pointed at the shared one: refused by
    # every command that signs, and by serve before it starts.
    sqlite_env = {k: v for k, v in pg_env.items() if k != "PADLOCK_DATABASE_URL"}
    assert _run(sqlite_env, "ca", "init", "--data-dir", other).returncode == 0
    csr = tmp_path / "www.csr"
    csr.write_text(make_csr(["www.example.com"])[1])
    for args in (
        ("ca", "issue", csr),
        ("revoke", "1234abcd"),
        ("serve", "--port", "0"),
        ("ocsp-responder", "--port", "0"),
    ):
        res = _run(pg_env, *args, "--data-dir", other)
        assert res.returncode != 0, args
        assert "holds another CA" in res.stderr, (args, res.stderr)
        assert "Traceback" not in res.stderr
