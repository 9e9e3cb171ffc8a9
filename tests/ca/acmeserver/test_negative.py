"""Requests the server must refuse, each with its exact ACME error type (RFC 8555 6.7),
a fresh Replay-Nonce and a problem document."""

from __future__ import annotations

import json
import secrets

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from padlock.ca.acmeserver import orders as acme_orders
from tests.ca.acmeserver.conftest import VA, Server, obtain, prove
from tests.support.acme_client import JOSE, Client, b64, jwk_of, jws, make_csr, problem_type


def _name(prefix: str = "neg") -> str:
    return f"{prefix}-{secrets.token_hex(4)}.example.com"


def _refused(resp: httpx.Response, kind: str, status: int | None = None) -> dict[str, object]:
    assert problem_type(resp) == kind, resp.text
    assert "Replay-Nonce" in resp.headers, "every response carries a fresh nonce"
    if status is not None:
        assert resp.status_code == status, resp.text
    doc: dict[str, object] = resp.json()
    return doc


def _ready_order(client: Client, va: VA, names: list[str]) -> dict[str, object]:
    order = client.new_order(names).json()
    for url in order["authorizations"]:
        assert prove(client, va, url)["status"] == "valid"
    return dict(order)


# --- JWS and nonces --------------------------------------------------------------------------


def test_replayed_nonce_bad_nonce(client: Client) -> None:
    assert client.kid is not None
    body = jws(client.key, client.protected(client.kid), "", "ES256")
    assert client.send(client.kid, body).status_code == 200
    _refused(client.send(client.kid, body), "badNonce", 400)


def test_made_up_nonce_bad_nonce(client: Client) -> None:
    assert client.kid is not None
    _refused(client.post(client.kid, None, nonce=b64(secrets.token_bytes(26))), "badNonce", 400)
    _refused(client.post(client.kid, None, nonce="short"), "badNonce", 400)


def test_missing_nonce_bad_nonce(client: Client) -> None:
    assert client.kid is not None
    protected = {"alg": "ES256", "kid": client.kid, "url": client.kid}
    _refused(client.send(client.kid, jws(client.key, protected, "")), "badNonce", 400)


def test_nonce_of_refused_request_is_spent(client: Client) -> None:
    """A refused request's nonce cannot be used for a later one (no replay of refusals)."""
    nonce = client.fresh_nonce()
    order = client.new_order([_name()]).json()
    finalize = client.finalize(order, make_csr([_name()]))  # refused: not ready
    _refused(finalize, "orderNotReady")
    body = jws(client.key, client.protected(order["finalize"], nonce=nonce), {"csr": "AA"})
    assert client.send(order["finalize"], body).status_code in (400, 403)
    replay = client.post(client.kid or "", None, nonce=nonce)
    _refused(replay, "badNonce")


def test_wrong_url_unauthorized(client: Client) -> None:
    assert client.kid is not None
    resp = client.post(client.kid, None, header={"url": client.directory["newOrder"]})
    _refused(resp, "unauthorized", 403)


def test_alg_none_bad_signature_algorithm(client: Client) -> None:
    assert client.kid is not None
    doc = _refused(client.post(client.kid, None, alg="none"), "badSignatureAlgorithm", 400)
    assert doc["algorithms"] == ["ES256", "ES384", "RS256", "PS256", "EdDSA"]


def test_hs256_bad_signature_algorithm(client: Client) -> None:
    assert client.kid is not None
    resp = client.post(client.kid, None, key=b"a shared secret", alg="HS256")
    _refused(resp, "badSignatureAlgorithm", 400)


def test_unknown_kid_account_does_not_exist(client: Client) -> None:
    url = client.directory["newOrder"]
    kid = client.directory["newAccount"].replace("new-account", "acct/nosuchaccount")
    payload = {"identifiers": [{"type": "dns", "value": _name()}]}
    _refused(client.post(url, payload, header={"kid": kid}), "accountDoesNotExist", 400)


def test_kid_of_other_directory_account_does_not_exist(
    http: httpx.Client, server: Server, client: Client
) -> None:
    other = Client(http, server.test, key=client.key, kid=client.kid)
    _refused(other.new_order([_name()]), "accountDoesNotExist", 400)


def test_jwk_where_kid_required_malformed(client: Client) -> None:
    url = client.directory["newOrder"]
    payload = {"identifiers": [{"type": "dns", "value": _name()}]}
    _refused(client.post(url, payload, use_jwk=True), "malformed", 400)


def test_kid_for_new_account_malformed(client: Client) -> None:
    url = client.directory["newAccount"]
    _refused(client.post(url, {"termsOfServiceAgreed": True}), "malformed", 400)


def test_tampered_payload_malformed(client: Client) -> None:
    url = client.directory["newOrder"]
    body = jws(
        client.key,
        client.protected(url),
        {"identifiers": [{"type": "dns", "value": _name()}]},
    )
    body["payload"] = b64(json.dumps({"identifiers": [{"type": "dns", "value": _name()}]}).encode())
    doc = _refused(client.send(url, body), "malformed", 400)
    assert "signature" in str(doc["detail"])


def test_signed_by_other_key_malformed(client: Client) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    assert client.kid is not None
    stranger = ec.generate_private_key(ec.SECP256R1())
    _refused(client.post(client.kid, None, key=stranger), "malformed", 400)


# --- envelopes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"", b"garbage", b"{}", b"[]", b'{"protected": "e30", "payload": "", "signature": 5}'],
)
def test_garbage_body_malformed(client: Client, body: bytes) -> None:
    _refused(client.send(client.directory["newOrder"], body), "malformed", 400)


@pytest.mark.parametrize("ctype", ["application/json", "text/plain", ""])
def test_wrong_content_type_malformed_415(client: Client, ctype: str) -> None:
    assert client.kid is not None
    body = jws(client.key, client.protected(client.kid), "", "ES256")
    _refused(client.send(client.kid, body, content_type=ctype), "malformed", 415)


def test_get_instead_of_post_as_get_malformed(http: httpx.Client, client: Client) -> None:
    """RFC 8555 6.3: resources are read with POST-as-GET; a GET is malformed with 405."""
    resp = client.new_order([_name()])
    order, order_url = resp.json(), resp.headers["Location"]
    for url in (order_url, order["authorizations"][0], order["finalize"], client.kid):
        assert url is not None
        got = http.get(url)
        _refused(got, "malformed", 405)
        assert got.headers["Allow"] == "POST"
        assert "POST-as-GET" in got.json()["detail"]


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_directory_other_method_405(http: httpx.Client, server: Server, method: str) -> None:
    for url in (server.trusted, f"{server.base}/acme/new-nonce"):
        resp = http.request(method, url)
        _refused(resp, "malformed", 405)
        assert resp.headers["Allow"] == "GET, HEAD, POST"


def test_unknown_resource_not_found(http: httpx.Client, server: Server) -> None:
    resp = http.get(f"{server.base}/acme/nowhere")
    assert resp.status_code == 404 and "Replay-Nonce" in resp.headers


def test_huge_body_refused(client: Client) -> None:
    resp = client.send(client.directory["newOrder"], b"{" + b" " * (300 * 1024) + b"}")
    assert resp.status_code == 413 and "Replay-Nonce" in resp.headers


# --- orders ----------------------------------------------------------------------------------


def test_finalize_before_ready_order_not_ready(client: Client) -> None:
    name = _name()
    order = client.new_order([name]).json()
    _refused(client.finalize(order, make_csr([name])), "orderNotReady", 403)


def test_finalize_twice_order_not_ready(client: Client, va: VA) -> None:
    name = _name()
    order = _ready_order(client, va, [name])
    assert client.finalize(order, make_csr([name])).json()["status"] == "valid"
    _refused(client.finalize(order, make_csr([name])), "orderNotReady", 403)


def test_csr_with_extra_name_bad_csr(client: Client, va: VA) -> None:
    name = _name()
    order = _ready_order(client, va, [name])
    doc = _refused(client.finalize(order, make_csr([name, _name("extra")])), "badCSR", 400)
    assert "does not have" in str(doc["detail"])
    # the order is still ready: a correct CSR is accepted afterwards
    assert client.finalize(order, make_csr([name])).json()["status"] == "valid"


def test_csr_missing_name_bad_csr(client: Client, va: VA) -> None:
    a, b = _name(), _name()
    order = _ready_order(client, va, [a, b])
    _refused(client.finalize(order, make_csr([a])), "badCSR", 400)


def test_csr_signed_with_account_key_bad_csr(client: Client, va: VA) -> None:
    name = _name()
    order = _ready_order(client, va, [name])
    doc = _refused(client.finalize(order, make_csr([name], client.key)), "badCSR", 400)
    assert "account key" in str(doc["detail"])


def test_csr_garbage_bad_csr(client: Client, va: VA) -> None:
    order = _ready_order(client, va, [_name()])
    _refused(client.post(order["finalize"], {"csr": b64(b"not a csr")}), "badCSR", 400)


def test_csr_weak_key_bad_csr(client: Client, va: VA) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    name = _name()
    order = _ready_order(client, va, [name])
    weak = ec.generate_private_key(ec.SECP256K1())
    _refused(client.finalize(order, make_csr([name], weak)), "badCSR", 400)


def test_finalize_authenticates_before_reading_csr(
    client: Client, server: Server, va: VA, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Signature, nonce, account and the order's owner are checked before the CSR is read:
    a CSR that would be badCSR gets the request's own error, and the parser never runs."""
    from cryptography.hazmat.primitives.asymmetric import ec

    name = _name()
    order = _ready_order(client, va, [name])
    url = str(order["finalize"])
    read: list[bytes] = []
    real = acme_orders.load_csr

    def counting(der: bytes) -> object:
        read.append(der)
        return real(der)

    monkeypatch.setattr(acme_orders, "load_csr", counting)
    garbage = {"csr": b64(b"not a csr, would be badCSR")}
    stranger = ec.generate_private_key(ec.SECP256R1())
    doc = _refused(client.post(url, garbage, key=stranger), "malformed", 400)
    assert "signature" in str(doc["detail"])
    _refused(client.post(url, garbage, nonce=b64(secrets.token_bytes(26))), "badNonce", 400)
    used = client.take_nonce()
    assert client.post(client.kid or "", None, nonce=used).status_code == 200
    _refused(client.post(url, garbage, nonce=used), "badNonce", 400)
    thief = Client(http, server.trusted)
    thief.register()
    _refused(thief.post(url, garbage), "unauthorized", 403)
    assert read == []
    assert client.finalize(order, make_csr([name])).json()["status"] == "valid"
    assert len(read) == 1


@pytest.mark.parametrize("resource", ["newOrder", "keyChange", "revokeCert"])
def test_unauthenticated_payload_never_read(client: Client, resource: str) -> None:
    """A request whose signature does not verify gets that error, not one about its payload
    (an unknown profile, an inner JWS with alg none, a certificate that is not DER)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    url = client.directory[resource]
    payloads: dict[str, object] = {
        "newOrder": {"identifiers": [{"type": "dns", "value": _name()}], "profile": "gold"},
        "keyChange": jws(None, {"alg": "none", "url": url, "jwk": {}}, {}),
        "revokeCert": {"certificate": b64(b"not a certificate")},
    }
    stranger = ec.generate_private_key(ec.SECP256R1())
    doc = _refused(client.post(url, payloads[resource], key=stranger), "malformed", 400)
    assert "signature does not verify" in str(doc["detail"])


def test_expired_order(client: Client, server: Server, va: VA) -> None:
    name = _name()
    resp = client.new_order([name])
    order, order_url = resp.json(), resp.headers["Location"]
    prove(client, va, order["authorizations"][0])
    order_id = order_url.rsplit("/", 1)[1]
    server.sql(
        "UPDATE acme_orders SET expires = :past WHERE id = :id",
        past="2020-01-01 00:00:00.000000",
        id=order_id,
    )
    shown = client.get(order_url).json()
    assert shown["status"] == "invalid" and "expired" in shown["error"]["detail"]
    doc = _refused(client.finalize(order, make_csr([name])), "orderNotReady", 403)
    assert "expired" in str(doc["detail"])


def test_expired_authorization_refuses_challenge(client: Client, server: Server) -> None:
    order = client.new_order([_name()]).json()
    authz_url = order["authorizations"][0]
    server.sql(
        "UPDATE acme_authorizations SET expires = :past WHERE id = :id",
        past="2020-01-01 00:00:00.000000",
        id=authz_url.rsplit("/", 1)[1],
    )
    authz = client.get(authz_url).json()
    assert authz["status"] == "expired"
    chal = client.challenge_of(authz, "http-01")
    _refused(client.post(chal["url"], {}), "malformed", 400)


def test_wildcard_gets_no_http01(client: Client) -> None:
    order = client.new_order([f"*.{_name()}"]).json()
    authz = client.get(order["authorizations"][0]).json()
    assert authz["wildcard"] is True
    assert [c["type"] for c in authz["challenges"]] == ["dns-01"]


def test_policy_refuses_rejected_identifier_with_subproblems(client: Client) -> None:
    resp = client.new_order(["www.example.test", "*.co.uk", "ok.example.com", "10.0.0.1"])
    doc = _refused(resp, "rejectedIdentifier", 400)
    subs = doc["subproblems"]
    assert isinstance(subs, list)
    refused = {s["identifier"]["value"] for s in subs}
    assert refused == {"www.example.test", "*.co.uk", "10.0.0.1"}
    assert all(s["type"] == "urn:ietf:params:acme:error:rejectedIdentifier" for s in subs)


def test_unsupported_identifier_type(client: Client) -> None:
    payload = {"identifiers": [{"type": "email", "value": "a@example.com"}]}
    _refused(client.post(client.directory["newOrder"], payload), "unsupportedIdentifier", 400)


def test_terms_not_agreed_malformed(http: httpx.Client, server: Server) -> None:
    c = Client(http, server.trusted)
    resp = c.post(c.directory["newAccount"], {"termsOfServiceAgreed": False}, use_jwk=True)
    _refused(resp, "malformed", 400)


def test_bad_contact_on_new_account(http: httpx.Client, server: Server) -> None:
    c = Client(http, server.trusted)
    _refused(c.register(["mailto:nobody"]), "invalidContact", 400)
    _refused(c.register(["tel:+15555550100"]), "unsupportedContact", 400)


# --- other accounts' resources -----------------------------------------------------------------


def test_other_accounts_resources_unauthorized(
    http: httpx.Client, server: Server, client: Client, va: VA
) -> None:
    order, order_url, _pem = obtain(client, va, [_name()])
    thief = Client(http, server.trusted)
    thief.register()
    authz_url = order["authorizations"][0]
    chal_url = client.get(authz_url).json()["challenges"][0]["url"]
    assert client.kid is not None
    for url in (order_url, authz_url, chal_url, order["certificate"], client.kid):
        _refused(thief.get(url), "unauthorized", 403)
    _refused(thief.get(f"{client.kid}/orders"), "unauthorized", 403)
    _refused(thief.post(client.kid, {"status": "deactivated"}), "unauthorized", 403)
    assert client.get(client.kid).json()["status"] == "valid"


def test_deactivated_account_unauthorized(client: Client) -> None:
    """RFC 8555 7.3.6: every request from a deactivated account is unauthorized with 401."""
    assert client.kid is not None
    client.post(client.kid, {"status": "deactivated"})
    _refused(client.new_order([_name()]), "unauthorized", 401)
    _refused(client.get(client.kid), "unauthorized", 401)


def test_deactivated_account_new_account_unauthorized(client: Client) -> None:
    """newAccount with a deactivated account's key opens nothing and finds nothing (401)."""
    assert client.kid is not None
    client.post(client.kid, {"status": "deactivated"})
    url = client.directory["newAccount"]
    for payload in ({"termsOfServiceAgreed": True}, {"onlyReturnExisting": True}):
        resp = client.post(url, payload, use_jwk=True)
        doc = _refused(resp, "unauthorized", 401)
        assert "deactivated" in str(doc["detail"]) and "Location" not in resp.headers


def test_revoke_unknown_certificate_not_found(client: Client, server: Server) -> None:
    from tests.ca.acmeserver.test_flows import _chain

    other_ca_cert = _chain((server.data_dir / "ca" / "test" / "root.crt").read_text())[0]
    der = other_ca_cert.public_bytes(serialization.Encoding.DER)
    resp = client.post(client.directory["revokeCert"], {"certificate": b64(der)})
    assert resp.status_code == 404 and "Replay-Nonce" in resp.headers


def test_payload_for_post_as_get_only(client: Client) -> None:
    order = client.new_order([_name()]).json()
    resp = client.post(order["finalize"].removesuffix("/finalize"), {"x": 1})
    assert resp.status_code == 200  # an order read ignores a JSON payload


def test_jose_content_type_with_parameters_accepted(client: Client) -> None:
    assert client.kid is not None
    body = jws(client.key, client.protected(client.kid), "", "ES256")
    resp = client.send(client.kid, body, content_type=f"{JOSE}; charset=utf-8")
    assert resp.status_code == 200


def test_account_key_jwk_is_the_registered_one(client: Client) -> None:
    assert client.kid is not None
    assert client.get(client.kid).json()["key"] == jwk_of(client.key)


@pytest.mark.parametrize("directory", ["trusted", "test"])
def test_reverse_zone_names_refused_in_every_directory(
    http: httpx.Client, server: Server, directory: str
) -> None:
    c = Client(http, server.trusted if directory == "trusted" else server.test)
    assert c.register().status_code == 201
    for name in ("1.0.0.127.in-addr.arpa", "8.b.d.0.1.0.0.2.ip6.arpa"):
        doc = _refused(c.new_order([name]), "rejectedIdentifier", 400)
        assert "reverse-mapping zone" in str(doc["detail"])


@pytest.mark.parametrize("name", ["nas.home.arpa", "hidden.onion", "service.alt", "db.internal"])
def test_special_use_names_refused_for_trusted(client: Client, name: str) -> None:
    doc = _refused(client.new_order([name]), "rejectedIdentifier", 400)
    assert "special-use" in str(doc["detail"]) or "internal name" in str(doc["detail"])
