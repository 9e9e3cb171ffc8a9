"""Strict-Transport-Security on answers over TLS only, through the framework and the fast path."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from padlock.config import Settings
from padlock.web.app import create_app, ensure_authority
from padlock.web.hsts import HEADER
from tests.web.conftest import make_csr

PASSPHRASE = "strict transport pass phrase"

# Pages, API answers, problems and the fast-path endpoints (ACME, OCSP, REST submission).
REQUESTS = [
    ("GET", "/"),
    ("GET", "/healthz"),
    ("GET", "/api/v1/requests/nope"),
    ("GET", "/acme/directory"),
    ("POST", "/acme/new-order"),
    ("GET", "/ocsp/test-issuing/MAA="),
    ("POST", "/api/v1/requests"),
    ("GET", "/no/such/page"),
]


@pytest.fixture(scope="module")
def app_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    data_dir = tmp_path_factory.mktemp("hsts")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PADLOCK_CA_PASSPHRASE", PASSPHRASE)
        settings = Settings(data_dir=data_dir, base_url="https://ca.example.com")
        ensure_authority(settings)
        yield settings


@pytest.mark.parametrize("lifespan", [True, False], ids=["fast-path", "framework"])
def test_hsts_sent_over_tls_only(app_settings: Settings, lifespan: bool) -> None:
    for base, expected in (("https://ca.example.com", True), ("http://ca.example.com", False)):
        app = create_app(app_settings, PASSPHRASE.encode())  # its lifespan closes its store
        client = TestClient(app, base_url=base, follow_redirects=False)
        with client if lifespan else _no_lifespan(client):
            for method, path in REQUESTS:
                reply = client.request(method, path)
                assert reply.status_code < 500, (path, reply.text[:200])
                got = reply.headers.get(HEADER[0].decode())
                assert (got == HEADER[1].decode()) is expected, (base, method, path, got)


def test_hsts_on_an_issued_certificate_answer(app_settings: Settings) -> None:
    app = create_app(app_settings, PASSPHRASE.encode())
    with TestClient(app, base_url="https://ca.example.com") as client:
        _key, csr = make_csr(["hsts.example.com"])
        made = client.post(
            "/api/v1/requests", json={"csr": csr, "kind": "test", "contact": "a@example.com"}
        )
        assert made.status_code == 201
        assert made.headers["strict-transport-security"] == "max-age=31536000"


class _no_lifespan:
    def __init__(self, client: TestClient) -> None:
        self.client = client

    def __enter__(self) -> TestClient:
        return self.client

    def __exit__(self, *exc: object) -> None:
        self.client.close()
