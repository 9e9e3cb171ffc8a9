"""ACME accounts (RFC 8555 section 7.3): new accounts (every key type, onlyReturnExisting,
terms, contacts, external account binding), reading and updating them, deactivation, key
rollover (7.3.5) and the account's order list."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from padlock.ca.acmeserver.model import AcmeSettings
from tests.support.acme_client import Client, Key, jwk_of, jws, problem_type
from tests.support.acme_server import VA, Server, assert_refused, unique_name


def test_account_created_then_found_again(http: httpx.Client, server: Server) -> None:
    c = Client(http, server.trusted)
    first = c.register(["mailto:a@example.com"])
    assert first.status_code == 201
    body = first.json()
    assert body["status"] == "valid"
    assert body["contact"] == ["mailto:a@example.com"]
    assert body["key"] == jwk_of(c.key)
    again = c.register(["mailto:other@example.com"])
    assert again.status_code == 200
    assert again.headers["Location"] == first.headers["Location"]


def test_account_without_email(http: httpx.Client, server: Server) -> None:
    c = Client(http, server.trusted)
    resp = c.register()
    assert resp.status_code == 201 and resp.json()["contact"] == []


@pytest.mark.parametrize("kind", ["es384", "rsa", "ps256", "ed25519"])
def test_account_key_types(http: httpx.Client, server: Server, kind: str) -> None:
    key: Any = {
        "es384": lambda: ec.generate_private_key(ec.SECP384R1()),
        "rsa": lambda: rsa.generate_private_key(65537, 2048),
        "ps256": lambda: rsa.generate_private_key(65537, 2048),
        "ed25519": ed25519.Ed25519PrivateKey.generate,
    }[kind]()
    c = Client(http, server.test, key=key, alg="PS256" if kind == "ps256" else None)
    assert c.register().status_code == 201
    assert c.new_order([unique_name()]).status_code == 201


def test_only_return_existing(http: httpx.Client, server: Server, client: Client) -> None:
    stranger = Client(http, server.trusted)
    resp = stranger.post(
        stranger.directory["newAccount"], {"onlyReturnExisting": True}, use_jwk=True
    )
    assert resp.status_code == 400 and problem_type(resp) == "accountDoesNotExist"
    resp = client.post(client.directory["newAccount"], {"onlyReturnExisting": True}, use_jwk=True)
    assert resp.status_code == 200 and resp.headers["Location"] == client.kid


def test_account_read_update(client: Client) -> None:
    assert client.kid is not None
    read = client.get(client.kid)
    assert read.status_code == 200 and read.json()["contact"] == ["mailto:owner@example.com"]
    upd = client.post(client.kid, {"contact": ["mailto:new@example.com"]})
    assert upd.status_code == 200 and upd.json()["contact"] == ["mailto:new@example.com"]


def test_account_update_bad_contact(client: Client) -> None:
    assert client.kid is not None
    resp = client.post(client.kid, {"contact": ["https://example.com"]})
    assert problem_type(resp) == "unsupportedContact"


def test_account_deactivation(client: Client, va: VA) -> None:
    assert client.kid is not None
    order = client.new_order([unique_name()]).json()
    resp = client.post(client.kid, {"status": "deactivated"})
    assert resp.status_code == 200 and resp.json()["status"] == "deactivated"
    resp = client.get(order["authorizations"][0])
    assert resp.status_code == 401 and problem_type(resp) == "unauthorized"  # RFC 8555 7.3.6


def _key_change(client: Client, new_key: Key, old_key: Key) -> httpx.Response:
    """keyChange (RFC 8555 section 7.3.5): an inner JWS signed by ``new_key`` naming
    ``old_key`` as the account's key."""
    url = client.directory["keyChange"]
    inner = jws(
        new_key,
        {"alg": "ES256", "jwk": jwk_of(new_key), "url": url},
        {"account": client.kid, "oldKey": jwk_of(old_key)},
    )
    return client.post(url, inner)


def test_key_change_rollover(http: httpx.Client, server: Server, client: Client) -> None:
    assert client.kid is not None
    old_key = client.key
    new_key = ec.generate_private_key(ec.SECP256R1())
    resp = _key_change(client, new_key, old_key)
    assert resp.status_code == 200, resp.text
    assert resp.json()["key"] == jwk_of(new_key)
    # the old key no longer signs for the account
    stale = client.post(client.kid, None)
    assert stale.status_code == 400 and problem_type(stale) == "malformed"
    client.key = new_key
    assert client.get(client.kid).status_code == 200
    # and newAccount with the new key finds the same account
    again = Client(http, server.trusted, key=new_key)
    resp = again.register()
    assert resp.status_code == 200 and resp.headers["Location"] == client.kid


def test_key_change_to_key_in_use_conflict(
    http: httpx.Client, server: Server, client: Client
) -> None:
    other = Client(http, server.trusted)
    other.register()
    resp = _key_change(client, other.key, client.key)
    assert resp.status_code == 409 and resp.headers["Location"] == other.kid


def test_key_change_wrong_old_key(client: Client) -> None:
    new_key = ec.generate_private_key(ec.SECP256R1())
    resp = _key_change(client, new_key, new_key)
    assert resp.status_code == 403 and problem_type(resp) == "unauthorized"


def test_orders_list(client: Client, va: VA) -> None:
    first = client.new_order([unique_name()]).headers["Location"]
    second = client.new_order([unique_name()]).headers["Location"]
    assert client.kid is not None
    resp = client.get(f"{client.kid}/orders")
    assert resp.status_code == 200
    assert resp.json()["orders"][:2] == [second, first]


def test_external_account_binding(make_server: Any, http: httpx.Client) -> None:
    mac = secrets.token_bytes(32)
    srv = make_server(AcmeSettings(eab_required=True, eab_keys={"kid-1": mac}))
    assert http.get(srv.trusted).json()["meta"]["externalAccountRequired"] is True
    c = Client(http, srv.trusted)
    assert problem_type(c.register()) == "externalAccountRequired"
    url = c.directory["newAccount"]

    def binding(key: bytes) -> dict[str, str]:
        return jws(key, {"alg": "HS256", "kid": "kid-1", "url": url}, jwk_of(c.key))

    assert problem_type(c.register(externalAccountBinding=binding(b"wrong"))) == "unauthorized"
    resp = c.register(externalAccountBinding=binding(mac))
    assert resp.status_code == 201, resp.text


def test_kid_for_new_account_malformed(client: Client) -> None:
    url = client.directory["newAccount"]
    assert_refused(client.post(url, {"termsOfServiceAgreed": True}), "malformed", 400)


def test_terms_not_agreed_malformed(http: httpx.Client, server: Server) -> None:
    c = Client(http, server.trusted)
    resp = c.post(c.directory["newAccount"], {"termsOfServiceAgreed": False}, use_jwk=True)
    assert_refused(resp, "malformed", 400)


def test_bad_contact_on_new_account(http: httpx.Client, server: Server) -> None:
    c = Client(http, server.trusted)
    assert_refused(c.register(["mailto:nobody"]), "invalidContact", 400)
    assert_refused(c.register(["tel:+15555550100"]), "unsupportedContact", 400)


def test_deactivated_account_new_account_unauthorized(client: Client) -> None:
    """newAccount with a deactivated account's key opens nothing and finds nothing (401)."""
    assert client.kid is not None
    client.post(client.kid, {"status": "deactivated"})
    url = client.directory["newAccount"]
    for payload in ({"termsOfServiceAgreed": True}, {"onlyReturnExisting": True}):
        resp = client.post(url, payload, use_jwk=True)
        doc = assert_refused(resp, "unauthorized", 401)
        assert "deactivated" in str(doc["detail"]) and "Location" not in resp.headers


def test_account_key_jwk_is_the_registered_one(client: Client) -> None:
    assert client.kid is not None
    assert client.get(client.kid).json()["key"] == jwk_of(client.key)
