"""dns-persist-01 (draft-ietf-acme-dns-persist-02; BR 3.2.2.4.22) and dns-account-01
(draft-ietf-acme-dns-account-label-02) through real ACME flows against a padlock server
whose ACME settings come from its environment (the issuer domain names derived from the
CAA identities), validating against the loopback DNS server the test controls."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from padlock.acme import challenges as ch
from padlock.acme import persist
from padlock.acme.messages import Identifier
from tests.support.acme_client import Client, jwk_of, jws, make_csr, thumbprint
from tests.support.acme_server import CAA_IDENTITY, VA, Server

UNAUTHORIZED = "urn:ietf:params:acme:error:unauthorized"
MALFORMED = "urn:ietf:params:acme:error:malformed"


@pytest.fixture(scope="module")
def env_server(data_dir: Any, va: VA) -> Any:
    """A front end built from settings alone, as `padlock serve` builds it."""
    from tests.support.acme_server import start_server

    srv = start_server(data_dir, va)
    try:
        yield srv
    finally:
        srv.stop()


def _register(http: httpx.Client, server: Server) -> Client:
    c = Client(http, server.trusted)
    assert c.register().status_code == 201
    return c


@pytest.fixture
def account(http: httpx.Client, env_server: Server) -> Client:
    return _register(http, env_server)


@pytest.fixture
def other(http: httpx.Client, env_server: Server) -> Client:
    """A second account on the same directory."""
    return _register(http, env_server)


def _name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}.example.com"


def _record(client: Client, domain: str, **opts: Any) -> str:
    meta = client.directory["meta"]
    uri = persist.hashed_account_uri(
        meta["accountHashPrefix"], domain, thumbprint(client.key), str(client.kid)
    )
    issuer = opts.pop("issuer", meta["issuerDomainNames"][0])
    return persist.record_value(
        issuer, uri, wildcard=opts.get("wildcard", False), until=opts.get("until")
    )


def _answer(client: Client, authz_url: str, kind: str) -> dict[str, Any]:
    authz = client.get(authz_url).json()
    chal = client.challenge_of(authz, kind)
    resp = client.post(chal["url"], {})
    assert resp.status_code == 200, resp.text
    result: dict[str, Any] = resp.json()
    deadline = time.monotonic() + 30
    while result["status"] in ("pending", "processing") and time.monotonic() < deadline:
        time.sleep(0.05)
        result = client.get(chal["url"]).json()
    return result


def _order(client: Client, names: list[str]) -> dict[str, Any]:
    resp = client.new_order(names)
    assert resp.status_code == 201, resp.text
    order: dict[str, Any] = resp.json()
    return order


def _issue(client: Client, order: dict[str, Any], names: list[str]) -> None:
    resp = client.finalize(order, make_csr(names))
    assert resp.status_code == 200 and resp.json()["status"] == "valid", resp.text


def test_dns_persist_directory_and_challenge_list_issuer_names(account: Client) -> None:
    meta = account.directory["meta"]
    assert meta["issuerDomainNames"] == [CAA_IDENTITY]
    assert meta["accountHashPrefix"].endswith("/acme/account-hash/")
    authz = account.get(_order(account, [_name("meta")])["authorizations"][0]).json()
    chal = account.challenge_of(authz, "dns-persist-01")
    assert chal["issuerDomainNames"] == [CAA_IDENTITY] and "token" not in chal
    assert {c["type"] for c in authz["challenges"]} >= {"dns-account-01", "dns-01"}


def test_dns_persist_validated_issued_and_reused_record(account: Client, va: VA) -> None:
    name = _name("persist")
    va.dns.zone.add_txt(persist.persist_name(name), _record(account, name))
    for _ in range(2):  # set once, used by each new order
        order = _order(account, [name])
        chal = _answer(account, order["authorizations"][0], "dns-persist-01")
        assert chal["status"] == "valid", chal
        _issue(account, order, [name])


def test_dns_persist_wrong_account_refused(account: Client, other: Client, va: VA) -> None:
    name = _name("other")
    va.dns.zone.add_txt(persist.persist_name(name), _record(other, name))
    chal = _answer(account, _order(account, [name])["authorizations"][0], "dns-persist-01")
    assert chal["status"] == "invalid" and chal["error"]["type"] == UNAUTHORIZED
    assert "does not name this account" in chal["error"]["detail"]


def test_dns_persist_wrong_issuer_domain_refused(account: Client, va: VA) -> None:
    name = _name("issuer")
    va.dns.zone.add_txt(persist.persist_name(name), _record(account, name, issuer="ca.invalid"))
    chal = _answer(account, _order(account, [name])["authorizations"][0], "dns-persist-01")
    assert chal["status"] == "invalid" and chal["error"]["type"] == UNAUTHORIZED
    assert f"names this CA ({CAA_IDENTITY})" in chal["error"]["detail"]


def test_dns_persist_expired_persist_until_refused(account: Client, va: VA) -> None:
    name = _name("expired")
    past = int(time.time()) - 60
    va.dns.zone.add_txt(persist.persist_name(name), _record(account, name, until=past))
    chal = _answer(account, _order(account, [name])["authorizations"][0], "dns-persist-01")
    assert chal["status"] == "invalid" and "persistUntil" in chal["error"]["detail"]


def test_dns_persist_until_caps_authorization_expiry(account: Client, va: VA) -> None:
    name = _name("until")
    until = int(time.time()) + 3 * 3600
    va.dns.zone.add_txt(persist.persist_name(name), _record(account, name, until=until))
    authz_url = _order(account, [name])["authorizations"][0]
    assert _answer(account, authz_url, "dns-persist-01")["status"] == "valid"
    expires = account.get(authz_url).json()["expires"]
    assert dt.datetime.fromisoformat(expires.replace("Z", "+00:00")).timestamp() <= until


def test_dns_persist_malformed_record_refused(account: Client, va: VA) -> None:
    name = _name("malformed")
    va.dns.zone.add_txt(persist.persist_name(name), f"{CAA_IDENTITY}; policy=wildcard")
    chal = _answer(account, _order(account, [name])["authorizations"][0], "dns-persist-01")
    assert chal["status"] == "invalid" and chal["error"]["type"] == MALFORMED


def test_dns_persist_wildcard_needs_policy(account: Client, va: VA) -> None:
    base = _name("wild")
    va.dns.zone.add_txt(persist.persist_name(base), _record(account, base))
    order = _order(account, [f"*.{base}"])
    chal = _answer(account, order["authorizations"][0], "dns-persist-01")
    assert chal["status"] == "invalid" and "policy=wildcard" in chal["error"]["detail"]
    va.dns.zone.clear_txt(persist.persist_name(base))
    va.dns.zone.add_txt(persist.persist_name(base), _record(account, base, wildcard=True))
    order = _order(account, [f"*.{base}", f"www.{base}"])
    for authz_url in order["authorizations"]:  # *.base at base; www.base from the parent
        assert _answer(account, authz_url, "dns-persist-01")["status"] == "valid"
    _issue(account, order, [f"*.{base}", f"www.{base}"])


def test_dns_persist_prior_key_record_still_validates(account: Client, va: VA) -> None:
    name = _name("rolled")
    va.dns.zone.add_txt(persist.persist_name(name), _record(account, name))
    new_key = ec.generate_private_key(ec.SECP256R1())
    url = account.directory["keyChange"]
    inner = jws(
        new_key,
        {"alg": "ES256", "jwk": jwk_of(new_key), "url": url},
        {"account": account.kid, "oldKey": jwk_of(account.key)},
    )
    assert account.post(url, inner).status_code == 200
    account.key = new_key
    chal = _answer(account, _order(account, [name])["authorizations"][0], "dns-persist-01")
    assert chal["status"] == "valid", chal


def test_dns_persist_caa_validationmethods(account: Client, va: VA) -> None:
    name = _name("caa")
    va.dns.zone.add_caa(name, "issue", f"{CAA_IDENTITY}; validationmethods=dns-persist-01")
    va.dns.zone.add_txt(persist.persist_name(name), _record(account, name))
    order = _order(account, [name])
    refused = _answer(account, order["authorizations"][0], "http-01")
    assert refused["status"] == "invalid" and "validationmethods" in refused["error"]["detail"]
    order = _order(account, [name])
    assert _answer(account, order["authorizations"][0], "dns-persist-01")["status"] == "valid"


# --- dns-account-01 --------------------------------------------------------------------------


def _publish_account_record(client: Client, va: VA, authz_url: str) -> None:
    authz = client.get(authz_url).json()
    chal = client.challenge_of(authz, "dns-account-01")
    qname = ch.dns_account_name(Identifier("dns", authz["identifier"]["value"]), str(client.kid))
    va.dns.zone.add_txt(qname, ch.dns01_value(client.key_authorization(chal["token"])))


def test_dns_account_two_accounts_validate_one_name_at_once(
    account: Client, other: Client, va: VA
) -> None:
    name = _name("shared")
    clients = [account, other]
    orders = []
    for c in clients:
        orders.append(_order(c, [name]))
        _publish_account_record(c, va, orders[-1]["authorizations"][0])
    results: dict[int, dict[str, Any]] = {}

    def answer(i: int) -> None:
        results[i] = _answer(clients[i], orders[i]["authorizations"][0], "dns-account-01")

    threads = [threading.Thread(target=answer, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert [results[i]["status"] for i in range(2)] == ["valid", "valid"], results
    for c, order in zip(clients, orders, strict=True):
        _issue(c, order, [name])


def test_dns_account_other_accounts_label_is_no_answer(
    account: Client, other: Client, va: VA
) -> None:
    name = _name("label")
    mine = _order(account, [name])["authorizations"][0]
    # the other account publishes at its own label the value this account's token needs
    token = account.challenge_of(account.get(mine).json(), "dns-account-01")["token"]
    qname = ch.dns_account_name(Identifier("dns", name), str(other.kid))
    va.dns.zone.add_txt(qname, ch.dns01_value(account.key_authorization(token)))
    chal = _answer(account, mine, "dns-account-01")
    assert chal["status"] == "invalid"
    assert ch.dns_account_label(str(account.kid)) in chal["error"]["detail"]
