"""The app shell over real HTTP: health, metrics, problem documents, PKI files."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from fastapi.testclient import TestClient

from padlock.config import Settings
from padlock.errors import StorageError
from padlock.web.app import create_app, ensure_authority
from tests.web.conftest import PadlockServer


def test_app_healthz_and_request_metrics(padlock_server: PadlockServer) -> None:
    with padlock_server.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        client.get("/no/such/page")
        metrics = client.get("/metrics").text
    assert 'method="GET",status="200"' in metrics
    assert 'method="GET",status="404"' in metrics
    assert "padlock_certificates" in metrics


def test_app_unknown_route_is_problem_document(padlock_server: PadlockServer) -> None:
    with padlock_server.client() as client:
        resp = client.get("/api/v1/nothing-here")
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["type"] == "urn:padlock:error:notFound"


def test_app_serves_roots_chains_and_aia_issuers(padlock_server: PadlockServer) -> None:
    with padlock_server.client() as client:
        test_root = x509.load_pem_x509_certificate(client.get("/roots/test.pem").content)
        trusted = x509.load_der_x509_certificate(client.get("/roots/trusted.der").content)
        chain = x509.load_pem_x509_certificate(client.get("/chains/dv.pem").content)
        issuing = x509.load_der_x509_certificate(client.get("/ca/test-issuing.der").content)
        assert client.get("/roots/prod.pem").status_code == 404
        assert client.get("/chains/ev.pem").status_code == 404
    assert "Test Root" in test_root.subject.rfc4514_string()
    assert "Trusted Root" in trusted.subject.rfc4514_string()
    chain.verify_directly_issued_by(trusted)
    issuing.verify_directly_issued_by(test_root)


def test_app_publishes_profiles_machine_readable(padlock_server: PadlockServer) -> None:
    """GET /profiles lists the CA's profiles; /profiles/NAME.json says every field and
    extension a certificate of that profile carries, and the values each may take."""
    with padlock_server.client() as client:
        index = client.get("/profiles")
        shortlived = client.get("/profiles/shortlived.json")
        alias = client.get("/profiles/short-lived.json")
        missing = client.get("/profiles/ev.json")
    assert index.status_code == 200
    names = [p["name"] for p in index.json()["profiles"]]
    assert names == ["test", "classic", "tlsserver", "shortlived", "ov"]
    assert index.json()["profiles"][3]["url"].endswith("/profiles/shortlived.json")
    doc = shortlived.json()
    assert shortlived.headers["content-type"] == "application/json"
    assert alias.json() == doc
    assert doc["validity"]["maximum"] == "160h" and doc["fields"]["subject"] == []
    by_name = {e["name"]: e for e in doc["extensions"]}
    assert "subjectKeyIdentifier" not in by_name
    assert by_name["subjectAltName"]["values"]["names"] == ["dNSName", "iPAddress"]
    assert by_name["keyUsage"] == {
        "name": "keyUsage",
        "oid": "2.5.29.15",
        "critical": True,
        "values": {"usages": ["digitalSignature"]},
    }
    assert by_name["extKeyUsage"]["values"] == {"purposes": ["serverAuth"]}
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")


def test_app_lifespan_end_closes_the_authority(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the server stops, the store closes (its connections and checkpoint thread),
    after the front ends' own lifespans have ended."""
    monkeypatch.setenv("PADLOCK_CA_PASSPHRASE", "app lifespan pass phrase")
    settings = Settings(data_dir=tmp_path, base_url="http://ca.example.com")
    ensure_authority(settings)
    app = create_app(settings, b"app lifespan pass phrase")
    store = app.state.services.authority.store
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert store.audit_head()[0] >= 0  # open while serving
    with pytest.raises(StorageError, match="closed"):
        store.audit_head()
