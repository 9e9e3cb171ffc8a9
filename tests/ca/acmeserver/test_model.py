"""The ACME server's directories (RFC 8555 section 7.1.1): the trusted and the test one,
and the meta each announces (terms, CAA identities, EAB, profiles)."""

from __future__ import annotations

import httpx

from tests.support.acme_server import CAA_IDENTITY, Server


def test_directory_trusted(http: httpx.Client, server: Server) -> None:
    resp = http.get(server.trusted)
    assert resp.status_code == 200
    doc = resp.json()
    for key in ("newNonce", "newAccount", "newOrder", "revokeCert", "keyChange", "renewalInfo"):
        assert doc[key].startswith(f"{server.base}/acme/")
    meta = doc["meta"]
    assert meta["termsOfService"] == f"{server.base}/acme/terms"
    assert meta["website"] == f"{server.base}/"
    assert meta["caaIdentities"] == [CAA_IDENTITY]
    assert meta["externalAccountRequired"] is False
    # draft-ietf-acme-profiles: every trusted profile, the old names dv and short-lived too
    assert set(meta["profiles"]) == {
        "classic",
        "dv",
        "tlsserver",
        "shortlived",
        "short-lived",
        "ov",
    }
    assert meta["profiles"]["dv"].startswith("Another name for classic: ")
    assert "Replay-Nonce" in resp.headers
    assert http.get(meta["termsOfService"]).status_code == 200


def test_directory_test(http: httpx.Client, server: Server) -> None:
    doc = http.get(server.test).json()
    assert doc["newOrder"] == f"{server.base}/acme/test/new-order"
    assert list(doc["meta"]["profiles"]) == ["test"]
