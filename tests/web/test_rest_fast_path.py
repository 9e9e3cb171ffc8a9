"""``POST /api/v1/requests`` answers the same whether the fast path (``web/fast_path.py``,
installed by the lifespan, what ``padlock serve`` runs) or FastAPI's route serves it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from padlock.config import Settings
from padlock.web.app import create_app, ensure_authority
from tests.web.conftest import make_csr

PASSPHRASE = "fast path pass phrase"
BASE = "http://ca.example.com"
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, TestClient]]:
    data_dir = tmp_path_factory.mktemp("fast-path")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PADLOCK_CA_PASSPHRASE", PASSPHRASE)
        settings = Settings(data_dir=data_dir, base_url=BASE)
        ensure_authority(settings)
        route = TestClient(create_app(settings, PASSPHRASE.encode()))  # no lifespan
        with TestClient(create_app(settings, PASSPHRASE.encode())) as fast:
            yield route, fast
        route.close()


def _body(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


def _cases() -> list[tuple[str, bytes, dict[str, str]]]:
    _key, csr = make_csr(["fast.example.com"])
    key_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    good = {"csr": csr, "kind": "test", "contact": "a@example.com"}
    return [
        ("text/plain", _body(**good), {"content-type": "text/plain"}),
        ("no type", _body(**good), {}),
        ("form", _body(**good), {"content-type": "application/x-www-form-urlencoded"}),
        ("empty", b"", JSON),
        ("open brace", b"{", JSON),
        ("cut", b'{"csr": ', JSON),
        ("utf-16 bom", b"\xff\xfe\x00", JSON),
        ("nul", b"nul\x00", JSON),
        ("list", b"[]", JSON),
        ("null", b"null", JSON),
        ("string", b'"x"', JSON),
        ("number", b"123", JSON),
        ("missing fields", _body(csr=csr), JSON),
        ("wrong kind", _body(**{**good, "kind": "ev"}), JSON),
        ("extra field", _body(**good, admin=True), JSON),
        ("long contact", _body(**{**good, "contact": "a" * 300 + "@example.com"}), JSON),
        ("bad contact", _body(**{**good, "contact": "not an address"}), JSON),
        ("org on test", _body(**good, organization={"organization": "W", "country": "US"}), JSON),
        ("ov without org", _body(**{**good, "kind": "ov"}), JSON),
        ("bad org", _body(**good, organization={"organization": 5, "country": "USA"}), JSON),
        ("private key", _body(**{**good, "csr": key_pem}), JSON),
        ("broken csr", _body(**{**good, "csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA"}), JSON),
        ("csr too long", _body(**{**good, "csr": "A" * 40_000}), JSON),
        ("huge", _body(**{**good, "csr": "A" * 200_000}), JSON),
        ("json+ type", _body(**good), {"content-type": "application/merge-patch+json"}),
        ("previous unknown", _body(**{**good, "kind": "dv"}, previous_request="B" * 32), JSON),
    ]


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c[0])
def test_fast_path_refuses_as_the_route_does(
    clients: tuple[TestClient, TestClient], case: tuple[str, bytes, dict[str, str]]
) -> None:
    route, fast = clients
    _name, body, headers = case
    a = route.post("/api/v1/requests", content=body, headers=headers)
    b = fast.post("/api/v1/requests", content=body, headers=headers)
    assert (b.status_code, b.headers["content-type"]) == (a.status_code, a.headers["content-type"])
    if a.status_code >= 400:
        assert b.json() == a.json()
        assert 400 <= a.status_code < 500, a.text
    else:
        _same_shape(a.json(), b.json())


def _same_shape(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    for key in ("kind", "state", "names", "contact", "problem"):
        assert a[key] == b[key], key
    assert a["links"].keys() == b["links"].keys()
    assert (a["certificate"] is None) == (b["certificate"] is None)
    assert len(a["challenges"]) == len(b["challenges"])
    assert [t["action"] for t in a["timeline"]] == [t["action"] for t in b["timeline"]]


@pytest.mark.parametrize("kind", ["test", "dv"])
def test_fast_path_submits_as_the_route_does(
    clients: tuple[TestClient, TestClient], kind: str
) -> None:
    route, fast = clients
    answers = []
    for client in (route, fast):
        _key, csr = make_csr([f"{kind}.example.com", f"www.{kind}.example.com"])
        resp = client.post(
            "/api/v1/requests", json={"csr": csr, "kind": kind, "contact": "a@example.com"}
        )
        assert resp.status_code == 201, resp.text
        assert resp.headers["location"] == f"{BASE}/api/v1/requests/{resp.json()['id']}"
        again = client.get(f"/api/v1/requests/{resp.json()['id']}")
        assert again.status_code == 200 and again.json()["state"] == resp.json()["state"]
        answers.append(resp.json())
    _same_shape(answers[0], answers[1])
    assert answers[1]["state"] == ("issued" if kind == "test" else "submitted")


def test_fast_path_counts_its_answers(clients: tuple[TestClient, TestClient]) -> None:
    _route, fast = clients
    before = fast.get("/metrics").text
    fast.post("/api/v1/requests", content=b"{", headers=JSON)
    after = fast.get("/metrics").text

    def count(text: str) -> int:
        return sum(
            int(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("padlock_http_requests_total")
            and 'method="POST",status="400"' in line
        )

    assert count(after) == count(before) + 1
    # Other methods on the path still get the framework's answer.
    assert fast.get("/api/v1/requests").status_code == 405
