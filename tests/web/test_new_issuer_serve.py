"""``padlock ca new-issuer`` while ``padlock serve`` runs: the next REST certificate comes from
the new issuing CA with its chain, /chains and the AIA caIssuers URL follow it; an older
certificate keeps its chain, its issuer certificate, and OCSP and CRL answers signed by its
own CA, which still revokes it. Checked with the real openssl."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from padlock.acme import messages as m
from tests.conftest import OPENSSL, PADLOCK_BIN
from tests.support.crl import crl_path
from tests.web.conftest import PadlockServer, make_csr, start_padlock_server

PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER
WAIT_S = 30.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PadlockServer]:
    started = start_padlock_server(tmp_path, extra_env={"PADLOCK_REVOCATION_TICK": "1"})
    try:
        yield started
    finally:
        started.stop()
        assert "Traceback" not in started.log(), started.log()[-4000:]


def _issue(server: PadlockServer, name: str) -> tuple[str, bytes, bytes]:
    """(request id, leaf PEM, chain PEM) of a test certificate issued over REST."""
    _key, csr = make_csr([name])
    with server.client() as client:
        resp = client.post(
            "/api/v1/requests", json={"csr": csr, "kind": "test", "contact": "ops@example.com"}
        )
        assert resp.status_code == 201, resp.text
        rid = resp.json()["id"]
        return rid, *_download(client, rid)


def _download(client: httpx.Client, rid: str) -> tuple[bytes, bytes]:
    leaf = client.get(f"/api/v1/requests/{rid}/certificate").content
    chain = client.get(f"/api/v1/requests/{rid}/certificate", params={"format": "chain"})
    assert chain.status_code == 200, chain.text
    return leaf, chain.content


def _openssl(tmp: Path, *args: str | Path) -> str:
    done = subprocess.run(
        [OPENSSL, *map(str, args)], cwd=tmp, capture_output=True, text=True, timeout=60, check=False
    )
    return done.stdout + done.stderr


def _ca_issuers(server: PadlockServer, leaf: bytes) -> bytes:
    """The DER the leaf's AIA caIssuers URL gives, fetched from this server."""
    cert = x509.load_pem_x509_certificate(leaf)
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    url = next(
        d.access_location.value
        for d in aia
        if d.access_method == x509.oid.AuthorityInformationAccessOID.CA_ISSUERS
    )
    resp = httpx.get(server.url + urlsplit(url).path, timeout=30)
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/pkix-cert"
    return resp.content


def _cert_id(leaf: bytes) -> str:
    cert = x509.load_pem_x509_certificate(leaf)
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier is not None
    return m.cert_id(aki.key_identifier, cert.serial_number)


def _ocsp(tmp: Path, server: PadlockServer, issuer: Path, leaf: Path, url_issuer: str) -> str:
    """openssl ocsp's verdict, polled while the server answers 'unauthorized' (a responder
    joins at the worker's next upkeep round)."""
    deadline = time.monotonic() + WAIT_S
    root = server.data_dir / "ca/test/root.crt"
    while True:
        said = _openssl(
            tmp, "ocsp", "-issuer", issuer, "-cert", leaf, "-CAfile", root,
            "-url", f"{server.url}/ocsp/{url_issuer}",
        )  # fmt: skip
        if "unauthorized" not in said or time.monotonic() > deadline:
            return said
        time.sleep(0.2)


def test_new_issuer_serve_chains_follow_and_old_certificates_keep_theirs(
    server: PadlockServer, tmp_path: Path
) -> None:
    ca = server.data_dir / "ca" / "test"
    root = ca / "root.crt"
    old_id, old_leaf, old_chain = _issue(server, "old.example.com")
    first = x509.load_pem_x509_certificate((ca / "issuing.crt").read_bytes())
    made = subprocess.run(
        [PADLOCK_BIN, "ca", "new-issuer", "--hierarchy", "test", "--data-dir", server.data_dir],
        env=server.env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    second = x509.load_pem_x509_certificate((ca / "issuing-2.crt").read_bytes())

    _new_id, new_leaf, new_chain = _issue(server, "new.example.com")
    (tmp_path / "new.pem").write_bytes(new_leaf)
    (tmp_path / "new-chain.pem").write_bytes(new_chain)
    assert new_chain == new_leaf + second.public_bytes(PEM)
    verdict = _openssl(
        tmp_path, "verify", "-CAfile", root, "-untrusted", "new-chain.pem", "new.pem"
    )
    assert verdict.strip().endswith("new.pem: OK"), verdict
    assert _ca_issuers(server, new_leaf) == second.public_bytes(DER)
    chain = httpx.get(f"{server.url}/chains/test.pem", timeout=30).content
    assert chain == second.public_bytes(PEM)

    # The old certificate: its chain, its caIssuers, its OCSP and CRL from the old CA.
    with server.client() as client:
        again_leaf, again_chain = _download(client, old_id)
    assert (again_leaf, again_chain) == (old_leaf, old_chain)
    assert again_chain == old_leaf + first.public_bytes(PEM)
    assert _ca_issuers(server, old_leaf) == first.public_bytes(DER)
    (tmp_path / "old.pem").write_bytes(old_leaf)
    (tmp_path / "first.pem").write_bytes(first.public_bytes(PEM))
    (tmp_path / "second.pem").write_bytes(second.public_bytes(PEM))
    said = _ocsp(tmp_path, server, tmp_path / "first.pem", tmp_path / "old.pem", "test-issuing")
    assert "old.pem: good" in said and "Response verify OK" in said, said
    for leaf in (old_leaf, new_leaf):  # ACME renewal information (RFC 9773) knows both
        ari = httpx.get(f"{server.url}/acme/test/renewal-info/{_cert_id(leaf)}", timeout=30)
        assert ari.status_code == 200, ari.text
        assert "suggestedWindow" in ari.json()
    said = _ocsp(tmp_path, server, tmp_path / "second.pem", tmp_path / "new.pem", "test-issuing-2")
    assert "new.pem: good" in said and "Response verify OK" in said, said

    serial = format(x509.load_pem_x509_certificate(old_leaf).serial_number, "x")
    revoked = subprocess.run(
        [PADLOCK_BIN, "revoke", serial, "--reason", "keyCompromise", "--data-dir", server.data_dir],
        env=server.env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert revoked.returncode == 0, revoked.stderr
    said = _ocsp(tmp_path, server, tmp_path / "first.pem", tmp_path / "old.pem", "test-issuing")
    assert "old.pem: revoked" in said and "Response verify OK" in said, said
    crl = httpx.get(f"{server.url}{crl_path(x509.load_pem_x509_certificate(old_leaf))}", timeout=30)
    assert crl.status_code == 200  # the shard the old certificate names, of the old CA
    (tmp_path / "crl.pem").write_bytes(x509.load_der_x509_crl(crl.content).public_bytes(PEM))
    checked = _openssl(
        tmp_path, "verify", "-crl_check", "-CRLfile", "crl.pem", "-CAfile", root,
        "-untrusted", "first.pem", "old.pem",
    )  # fmt: skip
    assert "certificate revoked" in checked, checked
    new_crl = httpx.get(f"{server.url}/crl/test-issuing-2.crl", timeout=30)
    assert new_crl.status_code == 200
    assert x509.load_der_x509_crl(new_crl.content).issuer == second.subject
