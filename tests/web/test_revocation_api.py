"""Revocation over HTTP, in-process: CRL and OCSP endpoints, the REST revocation endpoints,
and two app instances (two workers) sharing one database."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID
from fastapi import FastAPI
from fastapi.testclient import TestClient

from padlock.ca.issuance import IssueRequest
from padlock.ca.revocation import Revoker
from padlock.config import Settings
from padlock.pki import crl_ocsp
from padlock.pki.profiles import Hierarchy
from padlock.store.revocation import RevocationRepository
from padlock.web.app import create_app, ensure_authority
from tests.support.crl import crl_path

PASSPHRASE = "web revocation pass phrase"
BASE = "http://ca.example.com"
DER = serialization.Encoding.DER
PEM = serialization.Encoding.PEM
SHA1 = hashes.SHA1  # RFC 5019: CertIDs by SHA-1
OCSP_TYPE = {"Content-Type": "application/ocsp-request"}


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PADLOCK_CA_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("PADLOCK_REVOCATION_TICK", "0.2")
    ensure_authority(Settings(data_dir=tmp_path, base_url=BASE))
    return tmp_path


def _app(data_dir: Path) -> FastAPI:
    return create_app(Settings(data_dir=data_dir, base_url=BASE), PASSPHRASE.encode())


@pytest.fixture
def client(data_dir: Path) -> Iterator[TestClient]:
    with TestClient(_app(data_dir)) as c:
        yield c


def _issue(
    client: TestClient, key: ec.EllipticCurvePrivateKey | None = None, **kw: object
) -> x509.Certificate:
    key = key or ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.example.com")]))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("www.example.com")]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    issuer = client.app.state.services.authority.issuer  # type: ignore[attr-defined]
    issued = issuer.issue(IssueRequest(csr.public_bytes(PEM), "test", **kw))  # type: ignore[arg-type]
    return x509.load_pem_x509_certificate(issued.certificate_pem)


def _issuing(client: TestClient) -> x509.Certificate:
    issuer = client.app.state.services.authority.issuer  # type: ignore[attr-defined]
    cert: x509.Certificate = issuer.signer_for(Hierarchy.TEST).certificate
    return cert


def _ask(
    client: TestClient, cert: x509.Certificate, nonce: bytes | None = None
) -> ocsp.OCSPResponse:
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, _issuing(client), SHA1())
    if nonce:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    reply = client.post(
        "/ocsp/test-issuing", content=builder.build().public_bytes(DER), headers=OCSP_TYPE
    )
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/ocsp-response"
    return ocsp.load_der_ocsp_response(reply.content)


def test_crl_endpoint(client: TestClient) -> None:
    reply = client.get("/crl/test-issuing.crl")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/pkix-crl"
    assert "max-age=" in reply.headers["cache-control"]
    crl = x509.load_der_x509_crl(reply.content)
    assert crl.issuer == _issuing(client).subject
    missing = client.get("/crl/nobody.crl")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    offline = client.get("/crl/trusted-root.crl")
    assert offline.status_code == 404
    assert "sign-root-crl" in offline.json()["detail"]


def test_ocsp_cache_headers(client: TestClient) -> None:
    cert = _issue(client)
    request = ocsp.OCSPRequestBuilder().add_certificate(cert, _issuing(client), SHA1()).build()
    der = request.public_bytes(DER)
    reply = client.post("/ocsp/test-issuing", content=der, headers=OCSP_TYPE)
    control = reply.headers["cache-control"]
    assert control.startswith("max-age=") and "public" in control
    max_age = int(control.split(",")[0].split("=")[1])
    assert 0 < max_age <= 3600
    assert reply.headers["etag"] == f'"{hashlib.sha1(reply.content).hexdigest()}"'
    assert "last-modified" in reply.headers and "expires" in reply.headers
    again = client.get("/ocsp/test-issuing/" + base64.b64encode(der).decode())
    same = ocsp.load_der_ocsp_response(again.content)  # pre-signed (by this request or upkeep)
    assert same.serial_number == cert.serial_number
    assert same.certificate_status is ocsp.OCSPCertStatus.GOOD
    nonce = client.post(
        "/ocsp/test-issuing",
        content=ocsp.OCSPRequestBuilder()
        .add_certificate(cert, _issuing(client), SHA1())
        .add_extension(x509.OCSPNonce(b"n" * 16), critical=False)
        .build()
        .public_bytes(DER),
        headers=OCSP_TYPE,
    )
    assert "no-store" in nonce.headers["cache-control"]


def test_rest_revoke_by_request_id(client: TestClient) -> None:
    cert = _issue(client, request_id="req-web-1")
    bad = client.post("/api/v1/requests/req-web-1/revoke", json={"reason": "certificateHold"})
    assert bad.status_code == 400
    assert bad.json()["type"] == "urn:ietf:params:acme:error:badRevocationReason"
    withdrawn = client.post(
        "/api/v1/requests/req-web-1/revoke", json={"reason": "privilegeWithdrawn"}
    )
    assert withdrawn.status_code == 400
    done = client.post("/api/v1/requests/req-web-1/revoke", json={"reason": "superseded"})
    assert done.status_code == 200
    assert done.json() == [
        {
            "serial": format(cert.serial_number, "x"),
            "state": "revoked",
            "revoked_at": done.json()[0]["revoked_at"],
            "reason": "superseded",
        }
    ]
    again = client.post("/api/v1/requests/req-web-1/revoke", json={})
    assert again.status_code == 400
    assert again.json()["type"] == "urn:ietf:params:acme:error:alreadyRevoked"
    unknown = client.post("/api/v1/requests/no-such-id/revoke", json={})
    assert unknown.status_code == 404
    assert _ask(client, cert).certificate_status is ocsp.OCSPCertStatus.REVOKED
    crl = x509.load_der_x509_crl(client.get(crl_path(cert)).content)  # its shard
    assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None


def _signed(
    cert: x509.Certificate,
    key: ec.EllipticCurvePrivateKey,
    reason: str,
    audience: str = BASE,
    when: dt.datetime | None = None,
) -> dict[str, str]:
    stamp = (when or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    statement = crl_ocsp.revocation_statement(
        hashlib.sha256(cert.public_bytes(DER)).hexdigest(), reason, stamp, audience
    )
    signature = crl_ocsp.sign_statement(key, statement)
    return {
        "certificate": cert.public_bytes(PEM).decode(),
        "reason": reason,
        "timestamp": stamp,
        "signature": base64.urlsafe_b64encode(signature).decode().rstrip("="),
    }


def test_rest_revoke_with_key_proof(client: TestClient) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _issue(client, key)
    stranger = ec.generate_private_key(ec.SECP256R1())
    cases = [
        (_signed(cert, stranger, "keyCompromise"), 403),
        (_signed(cert, key, "keyCompromise", audience="https://other.example"), 403),
        (
            _signed(
                cert, key, "keyCompromise", when=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
            ),
            403,
        ),
        ({**_signed(cert, key, "keyCompromise"), "certificate": "garbage"}, 400),
        ({**_signed(cert, key, "keyCompromise"), "signature": "***"}, 400),
        ({"certificate": cert.public_bytes(PEM).decode()}, 400),
    ]
    for body, status in cases:
        reply = client.post("/api/v1/revoke", json=body)
        assert reply.status_code == status, reply.json()
    assert _ask(client, cert).certificate_status is ocsp.OCSPCertStatus.GOOD
    done = client.post("/api/v1/revoke", json=_signed(cert, key, "keyCompromise"))
    assert done.status_code == 200
    assert done.json()["reason"] == "keyCompromise"
    assert _ask(client, cert).certificate_status is ocsp.OCSPCertStatus.REVOKED


def test_two_workers_share_revocations(data_dir: Path) -> None:
    with TestClient(_app(data_dir)) as worker_a, TestClient(_app(data_dir)) as worker_b:
        cert = _issue(worker_a, request_id="req-two")
        assert _ask(worker_b, cert).certificate_status is ocsp.OCSPCertStatus.GOOD
        assert _ask(worker_b, cert).certificate_status is ocsp.OCSPCertStatus.GOOD  # from its LRU
        assert worker_a.post("/api/v1/requests/req-two/revoke", json={}).status_code == 200
        status = _ask(worker_b, cert)
        assert status.certificate_status is ocsp.OCSPCertStatus.REVOKED


def test_upkeep_signs_the_crl_after_a_revocation_elsewhere(client: TestClient) -> None:
    cert = _issue(client)
    store = client.app.state.services.authority.store  # type: ignore[attr-defined]
    # A revocation by a process without the CA keys (no CRL service at hand):
    Revoker(RevocationRepository(store)).revoke(cert.serial_number, "superseded", "elsewhere")
    deadline = time.monotonic() + 60
    while True:
        crl = x509.load_der_x509_crl(client.get(crl_path(cert)).content)
        if crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
            break
        assert time.monotonic() < deadline, "the upkeep thread never signed the new CRL"
        time.sleep(0.1)


def test_upkeep_turn_one_worker_at_a_time(tmp_path: Path) -> None:
    from padlock.web.revocation_api import _Turn

    path = tmp_path / "run" / "upkeep.lock"
    first, second = _Turn(path), _Turn(path)
    with first.taken() as mine:
        assert mine
        with second.taken() as theirs:
            assert not theirs  # the other worker skips the shared work this round
    with second.taken() as theirs:
        assert theirs
    assert path.stat().st_mode & 0o777 == 0o600
    (tmp_path / "file").write_text("")
    with _Turn(tmp_path / "file" / "upkeep.lock").taken() as anyway:
        assert anyway  # no lock to be had: do the work (repeated, never lost)


def test_dedicated_responder_app(data_dir: Path) -> None:
    from padlock.web.revocation_api import ResponderApp

    with TestClient(_app(data_dir)) as full:
        cert = _issue(full)
        issuing = _issuing(full)
    responder = ResponderApp(Settings(data_dir=data_dir, base_url=BASE), PASSPHRASE.encode())
    with TestClient(responder) as lean:  # type: ignore[arg-type]
        der = ocsp.OCSPRequestBuilder().add_certificate(cert, issuing, SHA1()).build()
        body = der.public_bytes(DER)
        reply = lean.post("/ocsp/test-issuing", content=body, headers=OCSP_TYPE)
        assert ocsp.load_der_ocsp_response(reply.content).certificate_status is (
            ocsp.OCSPCertStatus.GOOD
        )
        by_get = lean.get("/ocsp/test-issuing/" + base64.b64encode(body).decode())
        assert ocsp.load_der_ocsp_response(by_get.content).serial_number == cert.serial_number
        assert lean.post("/ocsp/test-issuing", content=b"junk", headers=OCSP_TYPE).content == (
            b"\x30\x03\x0a\x01\x01"
        )
        crl = lean.get("/crl/test-issuing.crl")
        assert crl.status_code == 200 and crl.headers["content-type"] == "application/pkix-crl"
        assert lean.get("/crl/nobody.crl").status_code == 404
        assert lean.get("/crl/trusted-root.crl").status_code == 404
        assert lean.get("/healthz").json() == {"status": "ok"}
        assert lean.get("/elsewhere").status_code == 404
        assert lean.put("/ocsp/test-issuing", content=body).status_code == 405


def _conditional_gets(http: TestClient, path: str) -> tuple[str, str]:
    """A shard as a CDN sees it: validators, freshness, 304 for what it holds already.

    The upkeep may sign a shard the GET has just signed on demand (both saw it missing), so
    the checks start once two GETs in a row see one CRL (bounded)."""
    reply = http.get(path)
    for _ in range(50):
        settled = http.get(path)
        if settled.headers.get("etag") == reply.headers.get("etag"):
            break
        reply = settled
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/pkix-crl"
    control = reply.headers["cache-control"]
    assert control.startswith("public, max-age=") and "no-transform" in control
    max_age = int(control.split("max-age=")[1].split(",")[0])
    crl = x509.load_der_x509_crl(reply.content)
    assert crl.next_update_utc is not None
    assert 0 < max_age <= min(3600, (crl.next_update_utc - dt.datetime.now(dt.UTC)).total_seconds())
    etag, modified = reply.headers["etag"], reply.headers["last-modified"]
    for headers in (
        {"if-none-match": etag},
        {"if-modified-since": modified},
        {"if-none-match": "*"},
    ):
        again = http.get(path, headers=headers)
        assert again.status_code == 304 and again.content == b"", headers
        assert again.headers["etag"] == etag
    assert http.get(path, headers={"if-none-match": '"other"'}).status_code == 200
    stale = {"if-modified-since": "Mon, 01 Jan 2001 00:00:00 GMT"}
    assert http.get(path, headers=stale).status_code == 200
    assert http.get(path, headers={"if-modified-since": "not a date"}).status_code == 200
    return etag, modified


def test_crl_shard_endpoint_conditional_gets_and_a_revocation(client: TestClient) -> None:
    cert = _issue(client)
    path = crl_path(cert)
    assert path.startswith("/crl/test-issuing/") and path.endswith(".crl")
    etag, _modified = _conditional_gets(client, path)
    from padlock.web.revocation_api import revocation_for

    revocation_for(client.app).revoker.revoke(cert.serial_number, "superseded", "test")
    changed = client.get(path, headers={"if-none-match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    crl = x509.load_der_x509_crl(changed.content)
    assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    for bad in ("/crl/test-issuing/4.crl", "/crl/test-issuing/x.crl", "/crl/nobody/0.crl"):
        missing = client.get(bad)
        assert missing.status_code == 404, bad
        assert missing.headers["content-type"] == "application/problem+json"


def test_trusted_issuer_without_ocsp_names_none_and_its_responder_refuses(
    client: TestClient,
) -> None:
    """A new CA's trusted issuing CA has no OCSP (ca init's default): no AIA OCSP URL in its
    certificates, and its responder answers unauthorized (RFC 6960 2.3)."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.example.com")]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("www.example.com")]), False)
        .sign(key, hashes.SHA256())
    )
    issuer = client.app.state.services.authority.issuer  # type: ignore[attr-defined]
    issued = issuer.issue(IssueRequest(csr.public_bytes(PEM), "dv", domain_control_shown=True))
    cert = x509.load_pem_x509_certificate(issued.certificate_pem)
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [d.access_method for d in aia] == [x509.oid.AuthorityInformationAccessOID.CA_ISSUERS]
    assert crl_path(cert).startswith("/crl/trusted-issuing/")
    trusted = issuer.signer_for(Hierarchy.TRUSTED).certificate
    body = (
        ocsp.OCSPRequestBuilder().add_certificate(cert, trusted, SHA1()).build().public_bytes(DER)
    )
    reply = client.post("/ocsp/trusted-issuing", content=body, headers=OCSP_TYPE)
    assert reply.content == b"\x30\x03\x0a\x01\x06"  # unauthorized
    assert client.post("/ocsp/test-issuing", content=body, headers=OCSP_TYPE).content == (
        b"\x30\x03\x0a\x01\x06"
    )
    shard = x509.load_der_x509_crl(client.get(crl_path(cert)).content)
    assert shard.is_signature_valid(trusted.public_key())  # type: ignore[arg-type]


def test_dedicated_responder_serves_shards_conditionally(data_dir: Path) -> None:
    from padlock.web.revocation_api import ResponderApp

    with TestClient(_app(data_dir)) as full:
        cert = _issue(full)
    responder = ResponderApp(Settings(data_dir=data_dir, base_url=BASE), PASSPHRASE.encode())
    with TestClient(responder) as lean:  # type: ignore[arg-type]
        _conditional_gets(lean, crl_path(cert))
        full_crl = lean.get("/crl/test-issuing.crl")
        assert (
            lean.get(
                "/crl/test-issuing.crl", headers={"if-none-match": full_crl.headers["etag"]}
            ).status_code
            == 304
        )
        assert lean.get("/crl/test-issuing/9999.crl").status_code == 404
        assert lean.get("/crl/test-issuing/-1.crl").status_code == 404
