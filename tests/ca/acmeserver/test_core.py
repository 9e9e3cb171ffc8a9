"""What every ACME request goes through (RFC 8555 section 6): the JWS authenticated by its
account (algorithm, signature, url, kid or jwk), the account's standing (deactivated,
another account's resources), and the per-account limit on failed validations; each
refusal with its exact ACME error type (RFC 8555 6.7)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from padlock.ca.acmeserver.model import AcmeSettings
from tests.support.acme_client import Client, b64, jws, problem_type
from tests.support.acme_server import VA, Server, assert_refused, obtain, unique_name


def test_failed_validations_rate_limited(make_server: Any, http: httpx.Client, va: VA) -> None:
    srv = make_server(AcmeSettings(failed_validations_per_hour=1, validation_wait=10))
    c = Client(http, srv.trusted)
    c.register()
    first = c.new_order([unique_name()]).json()
    authz = c.get(first["authorizations"][0]).json()
    assert c.post(c.challenge_of(authz, "http-01")["url"], {}).json()["status"] == "invalid"
    second = c.new_order([unique_name()])
    assert second.status_code == 429 and problem_type(second) == "rateLimited"


def test_wrong_url_unauthorized(client: Client) -> None:
    assert client.kid is not None
    resp = client.post(client.kid, None, header={"url": client.directory["newOrder"]})
    assert_refused(resp, "unauthorized", 403)


def test_alg_none_bad_signature_algorithm(client: Client) -> None:
    assert client.kid is not None
    doc = assert_refused(client.post(client.kid, None, alg="none"), "badSignatureAlgorithm", 400)
    assert doc["algorithms"] == ["ES256", "ES384", "RS256", "PS256", "EdDSA"]


def test_hs256_bad_signature_algorithm(client: Client) -> None:
    assert client.kid is not None
    resp = client.post(client.kid, None, key=b"a shared secret", alg="HS256")
    assert_refused(resp, "badSignatureAlgorithm", 400)


def test_unknown_kid_account_does_not_exist(client: Client) -> None:
    url = client.directory["newOrder"]
    kid = client.directory["newAccount"].replace("new-account", "acct/nosuchaccount")
    payload = {"identifiers": [{"type": "dns", "value": unique_name()}]}
    assert_refused(client.post(url, payload, header={"kid": kid}), "accountDoesNotExist", 400)


def test_kid_of_other_directory_account_does_not_exist(
    http: httpx.Client, server: Server, client: Client
) -> None:
    other = Client(http, server.test, key=client.key, kid=client.kid)
    assert_refused(other.new_order([unique_name()]), "accountDoesNotExist", 400)


def test_jwk_where_kid_required_malformed(client: Client) -> None:
    url = client.directory["newOrder"]
    payload = {"identifiers": [{"type": "dns", "value": unique_name()}]}
    assert_refused(client.post(url, payload, use_jwk=True), "malformed", 400)


def test_tampered_payload_malformed(client: Client) -> None:
    url = client.directory["newOrder"]
    body = jws(
        client.key,
        client.protected(url),
        {"identifiers": [{"type": "dns", "value": unique_name()}]},
    )
    body["payload"] = b64(
        json.dumps({"identifiers": [{"type": "dns", "value": unique_name()}]}).encode()
    )
    doc = assert_refused(client.send(url, body), "malformed", 400)
    assert "signature" in str(doc["detail"])


def test_signed_by_other_key_malformed(client: Client) -> None:

    assert client.kid is not None
    stranger = ec.generate_private_key(ec.SECP256R1())
    assert_refused(client.post(client.kid, None, key=stranger), "malformed", 400)


@pytest.mark.parametrize("resource", ["newOrder", "keyChange", "revokeCert"])
def test_unauthenticated_payload_never_read(client: Client, resource: str) -> None:
    """A request whose signature does not verify gets that error, not one about its payload
    (an unknown profile, an inner JWS with alg none, a certificate that is not DER)."""

    url = client.directory[resource]
    payloads: dict[str, object] = {
        "newOrder": {"identifiers": [{"type": "dns", "value": unique_name()}], "profile": "gold"},
        "keyChange": jws(None, {"alg": "none", "url": url, "jwk": {}}, {}),
        "revokeCert": {"certificate": b64(b"not a certificate")},
    }
    stranger = ec.generate_private_key(ec.SECP256R1())
    doc = assert_refused(client.post(url, payloads[resource], key=stranger), "malformed", 400)
    assert "signature does not verify" in str(doc["detail"])


def test_other_accounts_resources_unauthorized(
    http: httpx.Client, server: Server, client: Client, va: VA
) -> None:
    order, order_url, _pem = obtain(client, va, [unique_name()])
    thief = Client(http, server.trusted)
    thief.register()
    authz_url = order["authorizations"][0]
    chal_url = client.get(authz_url).json()["challenges"][0]["url"]
    assert client.kid is not None
    for url in (order_url, authz_url, chal_url, order["certificate"], client.kid):
        assert_refused(thief.get(url), "unauthorized", 403)
    assert_refused(thief.get(f"{client.kid}/orders"), "unauthorized", 403)
    assert_refused(thief.post(client.kid, {"status": "deactivated"}), "unauthorized", 403)
    assert client.get(client.kid).json()["status"] == "valid"


def test_deactivated_account_unauthorized(client: Client) -> None:
    """RFC 8555 7.3.6: every request from a deactivated account is unauthorized with 401."""
    assert client.kid is not None
    client.post(client.kid, {"status": "deactivated"})
    assert_refused(client.new_order([unique_name()]), "unauthorized", 401)
    assert_refused(client.get(client.kid), "unauthorized", 401)
