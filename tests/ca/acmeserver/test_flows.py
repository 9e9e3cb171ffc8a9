"""The ACME server over HTTP: directories, nonces, accounts, every challenge type, finalize,
certificates, revocation, renewal information, EAB, OV review, the insecure switch."""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import time
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509 import verification
from cryptography.x509.oid import NameOID

from padlock.acme import messages as m
from padlock.ca.acmeserver.model import AcmeSettings
from padlock.pki import certs
from padlock.pki.lint import CertKind, lint_serverauth
from tests.ca.acmeserver.conftest import CAA_IDENTITY, VA, Server, obtain, prove
from tests.support.acme_client import Client, b64, jwk_of, jws, make_csr, problem_type


def _name(prefix: str = "www") -> str:
    return f"{prefix}-{secrets.token_hex(4)}.example.com"


def _chain(pem: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem.encode())


def _root(server: Server, hierarchy: str) -> x509.Certificate:
    path = server.data_dir / "ca" / hierarchy / "root.crt"
    return x509.load_pem_x509_certificate(path.read_bytes())


def _verify(server: Server, pem: str, name: str, hierarchy: str = "trusted") -> x509.Certificate:
    leaf, *rest = _chain(pem)
    store = verification.Store([_root(server, hierarchy)])
    verifier = (
        verification.PolicyBuilder()
        .store(store)
        .build_server_verifier(
            x509.DNSName(name.removeprefix("*."))
            if not name[0].isdigit()
            else x509.IPAddress(__import__("ipaddress").ip_address(name))
        )
    )
    verifier.verify(leaf, rest)
    return leaf


# --- directory and nonces ----------------------------------------------------------------------


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
    assert set(meta["profiles"]) == {"dv", "ov", "short-lived"}
    assert "Replay-Nonce" in resp.headers
    assert http.get(meta["termsOfService"]).status_code == 200


def test_directory_test(http: httpx.Client, server: Server) -> None:
    doc = http.get(server.test).json()
    assert doc["newOrder"] == f"{server.base}/acme/test/new-order"
    assert list(doc["meta"]["profiles"]) == ["test"]


def test_new_nonce_head_and_get(http: httpx.Client, server: Server) -> None:
    url = http.get(server.trusted).json()["newNonce"]
    head = http.head(url)
    get = http.get(url)
    assert head.status_code == 200 and get.status_code == 204
    for resp in (head, get):
        assert resp.headers["Cache-Control"] == "no-store"
        assert f'<{server.trusted}>;rel="index"' in resp.headers["Link"]
    assert head.headers["Replay-Nonce"] != get.headers["Replay-Nonce"]


# --- accounts --------------------------------------------------------------------------------


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
    assert c.new_order([_name()]).status_code == 201


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
    order = client.new_order([_name()]).json()
    resp = client.post(client.kid, {"status": "deactivated"})
    assert resp.status_code == 200 and resp.json()["status"] == "deactivated"
    resp = client.get(order["authorizations"][0])
    assert resp.status_code == 401 and problem_type(resp) == "unauthorized"  # RFC 8555 7.3.6


def test_key_change_rollover(http: httpx.Client, server: Server, client: Client) -> None:
    assert client.kid is not None
    old_key = client.key
    new_key = ec.generate_private_key(ec.SECP256R1())
    url = client.directory["keyChange"]
    inner = jws(
        new_key,
        {"alg": "ES256", "jwk": jwk_of(new_key), "url": url},
        {"account": client.kid, "oldKey": jwk_of(old_key)},
    )
    resp = client.post(url, inner)
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
    url = client.directory["keyChange"]
    inner = jws(
        other.key,
        {"alg": "ES256", "jwk": jwk_of(other.key), "url": url},
        {"account": client.kid, "oldKey": jwk_of(client.key)},
    )
    resp = client.post(url, inner)
    assert resp.status_code == 409 and resp.headers["Location"] == other.kid


def test_key_change_wrong_old_key(client: Client) -> None:
    new_key = ec.generate_private_key(ec.SECP256R1())
    url = client.directory["keyChange"]
    inner = jws(
        new_key,
        {"alg": "ES256", "jwk": jwk_of(new_key), "url": url},
        {"account": client.kid, "oldKey": jwk_of(new_key)},
    )
    resp = client.post(url, inner)
    assert resp.status_code == 403 and problem_type(resp) == "unauthorized"


# --- the three challenge types and the certificate ---------------------------------------------


def test_http01_dv_certificate(client: Client, server: Server, va: VA) -> None:
    name = _name()
    order, order_url, pem = obtain(client, va, [name])
    leaf = _verify(server, pem, name)
    assert not lint_serverauth(leaf.public_bytes(serialization.Encoding.DER), CertKind.DV).errors
    assert order["profile"] == "dv"
    assert client.get(order_url).json()["status"] == "valid"


def test_dns01_certificate(client: Client, server: Server, va: VA) -> None:
    name = _name("dns")
    _order, _url, pem = obtain(client, va, [name], kind="dns-01")
    _verify(server, pem, name)


def test_tls_alpn01_certificate(client: Client, server: Server, va: VA) -> None:
    name = _name("alpn")
    _order, _url, pem = obtain(client, va, [name], kind="tls-alpn-01")
    _verify(server, pem, name)


def test_wildcard_by_dns01(client: Client, server: Server, va: VA) -> None:
    base = f"wild{secrets.token_hex(4)}.example.net"
    resp = client.new_order([f"*.{base}", base])
    order = resp.json()
    authzs = [client.get(u).json() for u in order["authorizations"]]
    wild = next(a for a in authzs if a.get("wildcard"))
    assert wild["identifier"] == {"type": "dns", "value": base}
    assert [c["type"] for c in wild["challenges"]] == ["dns-01"]
    for url in order["authorizations"]:
        assert prove(client, va, url, "dns-01")["status"] == "valid"
    final = client.finalize(order, make_csr([f"*.{base}", base])).json()
    pem = client.get(final["certificate"]).text
    leaf = _verify(server, pem, f"*.{base}")
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(sans.get_values_for_type(x509.DNSName)) == {f"*.{base}", base}


def test_test_directory_certificate(test_client: Client, server: Server, va: VA) -> None:
    name = _name("t")
    order, _url, pem = obtain(test_client, va, [name])
    assert order["profile"] == "test"
    leaf = _verify(server, pem, name, hierarchy="test")
    assert (leaf.not_valid_after_utc - leaf.not_valid_before_utc) <= dt.timedelta(days=21)


def test_ip_identifier_http01(make_server: Any, http: httpx.Client, va: VA) -> None:
    srv = make_server(
        AcmeSettings(allow_internal_in_test=True),
        settings={"allow_internal_names_in_test": True},
    )
    c = Client(http, srv.test)
    c.register()
    resp = c.new_order(["127.0.0.1"])
    assert resp.status_code == 201, resp.text
    authz = c.get(resp.json()["authorizations"][0]).json()
    assert authz["identifier"] == {"type": "ip", "value": "127.0.0.1"}
    assert [ch["type"] for ch in authz["challenges"]] == ["http-01", "tls-alpn-01"]
    _order, _url, pem = obtain(c, va, ["127.0.0.1"])
    leaf = _chain(pem)[0]
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(a) for a in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


def test_certificate_download_links(client: Client, server: Server, va: VA) -> None:
    """Each download holds its whole chain, so no rel="up"; the other chain is rel="alternate"
    at a POST-as-GET URL, both ways (RFC 8555 7.4.2)."""
    order, _url, _pem = obtain(client, va, [_name()])
    resp = client.get(order["certificate"])
    assert resp.headers["Content-Type"] == "application/pem-certificate-chain"
    links = resp.headers.get_list("Link")
    assert not [link for link in links if 'rel="up"' in link]
    assert f'<{order["certificate"]}/1>;rel="alternate"' in links
    chain = _chain(resp.text)
    assert len(chain) == 2 and chain[0].issuer == chain[1].subject
    alt = client.get(f"{order['certificate']}/1")
    assert alt.status_code == 200
    assert f'<{order["certificate"]}>;rel="alternate"' in alt.headers.get_list("Link")
    assert not [link for link in alt.headers.get_list("Link") if 'rel="up"' in link]
    assert _chain(alt.text)[-1] == _root(server, "trusted")
    assert _chain(alt.text)[:-1] == chain


def _links(resp: httpx.Response) -> list[str]:
    """The URLs of the response's Link headers, every relation."""
    return [
        part.split(">", 1)[0].strip().lstrip("<")
        for header in resp.headers.get_list("Link")
        for part in header.split(",")
    ]


def test_every_link_answers_post_as_get(server: Server, va: VA) -> None:
    """Every URL padlock puts in a Link or Location header of an ACME response can be fetched
    with POST-as-GET by the account (RFC 8555 6.3, 7.4.2): what mod_md and other clients that
    follow rel="up" and rel="alternate" do."""
    seen: set[str] = set()

    def record(resp: httpx.Response) -> None:
        seen.update(_links(resp))
        if "Location" in resp.headers:
            seen.add(resp.headers["Location"])

    with httpx.Client(timeout=30, event_hooks={"response": [record]}) as http:
        client = Client(http, server.trusted)
        assert client.register().status_code == 201
        order, order_url, _pem = obtain(client, va, [_name("links")])
        for _ in range(100):  # a second page of the account's orders: rel="next"
            assert client.new_order([_name("page")]).status_code == 201
        assert client.kid is not None
        client.get(f"{client.kid}/orders")
        client.get(order_url)
        client.get(order["authorizations"][0])
        client.get(order["certificate"])
        client.get(f"{order['certificate']}/1")
        assert server.trusted in seen  # rel="index"
        assert f"{order['certificate']}/1" in seen and order["authorizations"][0] in seen
        assert any("?after=" in url for url in seen)
        fetched: set[str] = set()
        while seen - fetched:  # and the links of what they answer, until nothing is new
            for url in sorted(seen - fetched):
                fetched.add(url)
                resp = client.get(url)
                assert resp.status_code == 200, (url, resp.status_code, resp.text)


def test_orders_list(client: Client, va: VA) -> None:
    first = client.new_order([_name()]).headers["Location"]
    second = client.new_order([_name()]).headers["Location"]
    assert client.kid is not None
    resp = client.get(f"{client.kid}/orders")
    assert resp.status_code == 200
    assert resp.json()["orders"][:2] == [second, first]


def test_authorization_deactivation(client: Client) -> None:
    order = client.new_order([_name()]).json()
    url = order["authorizations"][0]
    resp = client.post(url, {"status": "deactivated"})
    assert resp.status_code == 200 and resp.json()["status"] == "deactivated"
    assert client.get(order["finalize"].removesuffix("/finalize")).json()["status"] == "invalid"


def test_failed_validation_invalidates_with_subproblem(client: Client, va: VA) -> None:
    name = _name("fail")
    order_resp = client.new_order([name])
    order, order_url = order_resp.json(), order_resp.headers["Location"]
    authz = client.get(order["authorizations"][0]).json()
    chal = client.challenge_of(authz, "http-01")
    va.web.files[f"/.well-known/acme-challenge/{chal['token']}"] = b"wrong"
    resp = client.post(chal["url"], {})
    assert resp.json()["status"] == "invalid"
    error = resp.json()["error"]
    assert error["type"] == "urn:ietf:params:acme:error:incorrectResponse"
    assert error["subproblems"][0]["identifier"] == {"type": "dns", "value": name}
    assert client.get(order["authorizations"][0]).json()["status"] == "invalid"
    final = client.get(order_url).json()
    assert final["status"] == "invalid" and final["error"]["subproblems"]


def test_caa_for_another_ca_refuses(client: Client, va: VA) -> None:
    name = _name("caa")
    va.dns.zone.add_caa(name, "issue", "other-ca.example")
    resp = client.new_order([name])
    chal = prove(client, va, resp.json()["authorizations"][0])
    assert chal["status"] == "invalid"
    assert chal["error"]["type"] == "urn:ietf:params:acme:error:caa"


def test_caa_naming_us_allows(client: Client, va: VA) -> None:
    name = _name("caaok")
    va.dns.zone.add_caa(name, "issue", CAA_IDENTITY)
    resp = client.new_order([name])
    assert prove(client, va, resp.json()["authorizations"][0])["status"] == "valid"


def test_validation_evidence_audited(client: Client, server: Server, va: VA) -> None:
    name = _name("audit")
    obtain(client, va, [name])
    events = [e for e in server.app.state.services.authority.store.iter_events()]
    valid = [
        e
        for e in events
        if e.action == "acme.challenge.valid" and e.details["identifier"]["value"] == name
    ]
    assert valid
    assert [e["method"] for e in valid[0].details["evidence"]] == ["caa", "http"]
    order_id = valid[0].details["order_id"]
    issued = [e for e in events if e.action == "certificate.issued"]
    assert any(e.details["request_id"] == f"acme-order:{order_id}" for e in issued)


# --- revocation and renewal information -----------------------------------------------------------


def _cert_id(leaf: x509.Certificate) -> str:
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier is not None
    return m.cert_id(aki.key_identifier, leaf.serial_number)


def test_revoke_with_account_key(client: Client, server: Server, va: VA) -> None:
    _order, _url, pem = obtain(client, va, [_name("rev")])
    leaf = _chain(pem)[0]
    der = leaf.public_bytes(serialization.Encoding.DER)
    resp = client.post(client.directory["revokeCert"], {"certificate": b64(der), "reason": 4})
    assert resp.status_code == 200, resp.text
    record = server.app.state.services.authority.store.get_certificate(leaf.serial_number)
    assert record.state.value == "revoked" and record.revocation_reason == "superseded"
    again = client.post(client.directory["revokeCert"], {"certificate": b64(der)})
    assert problem_type(again) == "alreadyRevoked"
    ari = client.http.get(f"{client.directory['renewalInfo']}/{_cert_id(leaf)}").json()
    end = dt.datetime.fromisoformat(ari["suggestedWindow"]["end"])
    assert end <= dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)


def test_revoke_with_certificate_key(
    http: httpx.Client, server: Server, client: Client, va: VA
) -> None:
    name = _name("revkey")
    cert_key = ec.generate_private_key(ec.SECP256R1())
    order = client.new_order([name]).json()
    prove(client, va, order["authorizations"][0])
    final = client.finalize(order, make_csr([name], cert_key)).json()
    leaf = _chain(client.get(final["certificate"]).text)[0]
    holder = Client(http, server.trusted, key=cert_key)
    der = leaf.public_bytes(serialization.Encoding.DER)
    resp = holder.post(
        holder.directory["revokeCert"], {"certificate": b64(der), "reason": 1}, use_jwk=True
    )
    assert resp.status_code == 200, resp.text


def test_revoke_by_stranger_unauthorized(
    http: httpx.Client, server: Server, client: Client, va: VA
) -> None:
    _order, _url, pem = obtain(client, va, [_name("strange")])
    der = _chain(pem)[0].public_bytes(serialization.Encoding.DER)
    stranger = Client(http, server.trusted)
    stranger.register()
    resp = stranger.post(stranger.directory["revokeCert"], {"certificate": b64(der)})
    assert resp.status_code == 403 and problem_type(resp) == "unauthorized"
    keyed = Client(http, server.trusted)  # a jwk that is not the certificate's key
    resp = keyed.post(keyed.directory["revokeCert"], {"certificate": b64(der)}, use_jwk=True)
    assert resp.status_code == 403 and problem_type(resp) == "unauthorized"


def test_revoke_bad_reason(client: Client, va: VA) -> None:
    _order, _url, pem = obtain(client, va, [_name("reason")])
    der = _chain(pem)[0].public_bytes(serialization.Encoding.DER)
    resp = client.post(client.directory["revokeCert"], {"certificate": b64(der), "reason": 7})
    assert problem_type(resp) == "badRevocationReason"


def test_renewal_info_window(client: Client, va: VA) -> None:
    _order, _url, pem = obtain(client, va, [_name("ari")])
    leaf = _chain(pem)[0]
    resp = client.http.get(f"{client.directory['renewalInfo']}/{_cert_id(leaf)}")
    assert resp.status_code == 200 and int(resp.headers["Retry-After"]) > 0
    window = resp.json()["suggestedWindow"]
    start = dt.datetime.fromisoformat(window["start"])
    end = dt.datetime.fromisoformat(window["end"])
    assert leaf.not_valid_before_utc < start < end < leaf.not_valid_after_utc


def test_renewal_info_unknown(http: httpx.Client, server: Server) -> None:
    url = http.get(server.trusted).json()["renewalInfo"]
    resp = http.get(f"{url}/{m.cert_id(b'x' * 20, 12345)}")
    assert resp.status_code == 404 and "Replay-Nonce" in resp.headers


def test_order_replaces(client: Client, va: VA) -> None:
    name = _name("repl")
    _order, _url, pem = obtain(client, va, [name])
    cid = _cert_id(_chain(pem)[0])
    order, _u, _p = obtain(client, va, [name], replaces=cid)
    assert order["replaces"] == cid
    resp = client.new_order([name], replaces=cid)
    assert resp.status_code == 409 and problem_type(resp) == "alreadyReplaced"  # RFC 9773 7.4
    assert client.new_order([name]).status_code == 201  # what a client does next


def test_order_replaces_pending_already_replaced(client: Client, server: Server, va: VA) -> None:
    """Two live orders cannot replace one certificate (RFC 9773 section 5); an order that
    expired unfinished no longer holds it."""
    name = _name("repl2")
    _order, _url, pem = obtain(client, va, [name])
    cid = _cert_id(_chain(pem)[0])
    first = client.new_order([name], replaces=cid)
    assert first.status_code == 201
    again = client.new_order([name], replaces=cid)
    assert again.status_code == 409 and problem_type(again) == "alreadyReplaced"
    server.sql(
        "UPDATE acme_orders SET expires = :past WHERE id = :id",
        past="2020-01-01 00:00:00.000000",
        id=first.headers["Location"].rsplit("/", 1)[1],
    )
    assert client.new_order([name], replaces=cid).status_code == 201


def test_order_replaces_serial_without_sign_octet(client: Client, va: VA) -> None:
    """mod_md 2.6 writes the replaced serial without DER's leading 0 (RFC 9773 4.1 keeps it):
    renewalInfo and newOrder take both forms, and both name the same certificate."""
    name = _name("repl4")
    for _ in range(30):  # half of all serials need DER's leading 0: one of 30 does
        _order, _url, pem = obtain(client, va, [name])
        leaf = _chain(pem)[0]
        aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        assert aki.key_identifier is not None
        forms = m.cert_id_forms(aki.key_identifier, leaf.serial_number)
        if len(forms) == 2:
            break
    else:
        pytest.fail("no serial with its high bit set in 30 certificates")
    canonical, unsigned = forms
    assert client.http.get(f"{client.directory['renewalInfo']}/{unsigned}").status_code == 200
    first = client.new_order([name], replaces=unsigned)
    assert first.status_code == 201 and first.json()["replaces"] == unsigned
    again = client.new_order([name], replaces=canonical)
    assert again.status_code == 409 and problem_type(again) == "alreadyReplaced"


def test_order_replaces_needs_shared_identifier(client: Client, va: VA) -> None:
    _order, _url, pem = obtain(client, va, [_name("repl3")])
    cid = _cert_id(_chain(pem)[0])
    resp = client.new_order([_name("other")], replaces=cid)
    assert problem_type(resp) == "malformed" and "shares no identifier" in resp.json()["detail"]


def test_renewal_info_revoked_window_open(client: Client, va: VA) -> None:
    """RFC 9773 4.2: once revoked, the window is already open (and over) for a client asking
    at once, so that it renews now."""
    _order, _url, pem = obtain(client, va, [_name("ari-rev")])
    leaf = _chain(pem)[0]
    der = leaf.public_bytes(serialization.Encoding.DER)
    assert client.post(client.directory["revokeCert"], {"certificate": b64(der)}).is_success
    asked = dt.datetime.now(dt.UTC)
    resp = client.http.get(f"{client.directory['renewalInfo']}/{_cert_id(leaf)}")
    window = resp.json()["suggestedWindow"]
    start = dt.datetime.fromisoformat(window["start"])
    end = dt.datetime.fromisoformat(window["end"])
    assert start < end <= asked


# --- external account binding --------------------------------------------------------------------


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


# --- OV through ACME: review before issuance ------------------------------------------------------


def test_ov_order_waits_for_review(client: Client, server: Server, va: VA) -> None:
    name = _name("ov")
    resp = client.new_order([name], profile="ov")
    order, order_url = resp.json(), resp.headers["Location"]
    assert order["profile"] == "ov"
    prove(client, va, order["authorizations"][0])
    resp = client.finalize(order, make_csr([name]))
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "processing"
    assert int(resp.headers["Retry-After"]) > 0
    order_id = order_url.rsplit("/", 1)[1]
    service = server.service
    assert order_id in [o.id for o in service.orders_awaiting_review()]
    org = certs.Organization("Widgets Inc.", "Springfield", None, "US")
    done = service.complete_reviewed_order(order_id, org, "alice")
    assert done.status == "valid"
    final = client.get(order_url).json()
    leaf = _chain(client.get(final["certificate"]).text)[0]
    assert leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Widgets Inc."


def test_ov_order_rejected(client: Client, server: Server, va: VA) -> None:
    name = _name("ovno")
    resp = client.new_order([name], profile="ov")
    order, order_url = resp.json(), resp.headers["Location"]
    prove(client, va, order["authorizations"][0])
    client.finalize(order, make_csr([name]))
    server.service.reject_reviewed_order(order_url.rsplit("/", 1)[1], "no such company", "bob")
    final = client.get(order_url).json()
    assert final["status"] == "invalid" and "no such company" in final["error"]["detail"]


def test_unknown_profile_invalid_profile(client: Client) -> None:
    """draft-ietf-acme-profiles registers invalidProfile for a profile the server lacks."""
    resp = client.new_order([_name()], profile="gold")
    assert resp.status_code == 400
    assert problem_type(resp) == "invalidProfile" and "gold" in resp.json()["detail"]


# --- limits and the insecure switch ---------------------------------------------------------


def test_orders_rate_limited(make_server: Any, http: httpx.Client) -> None:
    srv = make_server(AcmeSettings(orders_per_hour=2))
    c = Client(http, srv.trusted)
    c.register()
    assert c.new_order([_name()]).status_code == 201
    assert c.new_order([_name()]).status_code == 201
    resp = c.new_order([_name()])
    assert resp.status_code == 429 and problem_type(resp) == "rateLimited"
    assert 0 < int(resp.headers["Retry-After"]) <= 3601


def test_failed_validations_rate_limited(make_server: Any, http: httpx.Client, va: VA) -> None:
    srv = make_server(AcmeSettings(failed_validations_per_hour=1, validation_wait=10))
    c = Client(http, srv.trusted)
    c.register()
    first = c.new_order([_name()]).json()
    authz = c.get(first["authorizations"][0]).json()
    assert c.post(c.challenge_of(authz, "http-01")["url"], {}).json()["status"] == "invalid"
    second = c.new_order([_name()])
    assert second.status_code == 429 and problem_type(second) == "rateLimited"


def test_insecure_always_valid_test_directory_only(make_server: Any, http: httpx.Client) -> None:
    srv = make_server(AcmeSettings(insecure_always_valid=True, validation_wait=10))
    for directory, expected in ((srv.test, "valid"), (srv.trusted, "invalid")):
        c = Client(http, directory)
        c.register()
        order = c.new_order([_name("insecure")]).json()
        authz = c.get(order["authorizations"][0]).json()
        chal = c.post(c.challenge_of(authz, "http-01")["url"], {}).json()
        assert chal["status"] == expected, directory


def test_insecure_always_valid_trusted_needs_second_flag(
    make_server: Any, http: httpx.Client
) -> None:
    srv = make_server(AcmeSettings(insecure_always_valid=True, insecure_always_valid_trusted=True))
    c = Client(http, srv.trusted)
    c.register()
    name = _name("insecure")
    order = c.new_order([name]).json()
    authz = c.get(order["authorizations"][0]).json()
    assert c.post(c.challenge_of(authz, "dns-01")["url"], {}).json()["status"] == "valid"
    assert c.finalize(order, make_csr([name])).json()["status"] == "valid"


def test_challenge_answered_at_once_then_validated(
    make_server: Any, http: httpx.Client, va: VA
) -> None:
    """The default: the challenge POST answers "processing" with Retry-After at once, the
    validation runs right after in the background, and the authorization becomes valid."""
    srv = make_server(AcmeSettings(caa_identities=(CAA_IDENTITY,)))
    c = Client(http, srv.trusted)
    c.register()
    name = _name("async")
    order = c.new_order([name]).json()
    authz_url = order["authorizations"][0]
    chal = c.challenge_of(c.get(authz_url).json(), "http-01")
    va.web.files[f"/.well-known/acme-challenge/{chal['token']}"] = c.key_authorization(
        chal["token"]
    ).encode()
    resp = c.post(chal["url"], {})
    assert resp.status_code == 200
    assert resp.json()["status"] == "processing"
    assert resp.headers["Retry-After"] == "1"
    assert f'<{authz_url}>;rel="up"' in resp.headers["Link"]
    status = "pending"
    for _ in range(200):  # bounded poll
        status = c.get(authz_url).json()["status"]
        if status != "pending":
            break
        time.sleep(0.05)
    assert status == "valid"
    again = c.post(chal["url"], {})  # answering again changes nothing
    assert again.json()["status"] == "valid"


def test_insecure_banner_is_loud() -> None:
    from padlock.web.acme_api import insecure_banner

    assert insecure_banner(AcmeSettings()) is None
    text = insecure_banner(AcmeSettings(insecure_always_valid=True)) or ""
    assert "WITHOUT ANY CHECK" in text and "TEST directory" in text
    both = insecure_banner(
        AcmeSettings(insecure_always_valid=True, insecure_always_valid_trusted=True)
    )
    assert both is not None and "BOTH" in both


def test_eab_keys_from_env() -> None:
    from padlock.web.acme_api import _eab_keys

    key = base64.urlsafe_b64encode(b"k" * 32).rstrip(b"=").decode()
    assert _eab_keys(f"a:{key}, b:{key}") == {"a": b"k" * 32, "b": b"k" * 32}


def test_acme_requests_counted_in_metrics(
    http: httpx.Client, server: Server, client: Client
) -> None:
    """ACME requests skip the app's route list but are counted like every other request."""

    def created() -> int:
        text = http.get(f"{server.base}/metrics").text
        return sum(
            int(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("padlock_http_requests_total")
            and 'method="POST",status="201"' in line
        )

    before = created()
    assert client.new_order([_name("metrics")]).status_code == 201
    assert created() == before + 1
