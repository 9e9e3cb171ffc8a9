"""The app shell over real HTTP: health, metrics, problem documents, PKI files."""

from __future__ import annotations

from cryptography import x509

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
