"""CAA at validation and at issuance through real ACME flows (RFC 8657 accounturi and
validationmethods; BR 3.2.2.8's 8-hour re-check; BR 4.2.1's reuse window at finalize),
against the session's ACME server and its loopback DNS."""

from __future__ import annotations

import datetime as dt
import secrets

import httpx
import pytest

from padlock.pki.profiles import reuse_days
from tests.ca.acmeserver.conftest import CAA_IDENTITY, VA, Server, prove
from tests.support.acme_client import Client, make_csr

CAA = "urn:ietf:params:acme:error:caa"


@pytest.fixture
def other(http: httpx.Client, server: Server) -> Client:
    """A second account on the trusted directory."""
    c = Client(http, server.trusted)
    assert c.register().status_code == 201
    return c


def _name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}.example.com"


def _validate(client: Client, va: VA, name: str, kind: str) -> dict:  # type: ignore[type-arg]
    resp = client.new_order([name])
    assert resp.status_code == 201, resp.text
    return prove(client, va, resp.json()["authorizations"][0], kind)


def test_challenges_caa_accounturi_match_and_mismatch(
    client: Client, other: Client, va: VA
) -> None:
    name = _name("acct")
    va.dns.zone.add_caa(name, "issue", f"{CAA_IDENTITY}; accounturi={client.kid}")
    assert _validate(client, va, name, "http-01")["status"] == "valid"
    refused = _validate(other, va, name, "http-01")
    assert refused["status"] == "invalid" and refused["error"]["type"] == CAA
    assert f'issue "{CAA_IDENTITY}; accounturi={client.kid}"' in refused["error"]["detail"]
    assert str(other.kid) in refused["error"]["detail"]


def test_challenges_caa_validationmethods_listed_and_unlisted(client: Client, va: VA) -> None:
    name = _name("methods")
    va.dns.zone.add_caa(name, "issue", f"{CAA_IDENTITY}; validationmethods=dns-01,tls-alpn-01")
    refused = _validate(client, va, name, "http-01")
    assert refused["status"] == "invalid" and refused["error"]["type"] == CAA
    assert "validationmethods=dns-01,tls-alpn-01" in refused["error"]["detail"]
    assert _validate(client, va, name, "dns-01")["status"] == "valid"


def test_challenges_caa_both_parameters_and_malformed(
    client: Client, other: Client, va: VA
) -> None:
    name = _name("both")
    value = f"{CAA_IDENTITY}; accounturi={client.kid}; validationmethods=dns-01"
    va.dns.zone.add_caa(name, "issue", value)
    assert _validate(client, va, name, "dns-01")["status"] == "valid"
    assert _validate(client, va, name, "http-01")["error"]["type"] == CAA
    assert _validate(other, va, name, "dns-01")["error"]["type"] == CAA
    bad = _name("malformed")
    va.dns.zone.add_caa(bad, "issue", f"{CAA_IDENTITY}; accounturi=no-scheme")
    refused = _validate(client, va, bad, "http-01")
    assert refused["error"]["type"] == CAA and "unusable" in refused["error"]["detail"]


def test_challenges_caa_issuewild_for_wildcards(client: Client, va: VA) -> None:
    base = _name("wild")
    va.dns.zone.add_caa(base, "issue", CAA_IDENTITY)
    va.dns.zone.add_caa(base, "issuewild", f"{CAA_IDENTITY}; accounturi=https://x.example/a/1")
    resp = client.new_order([f"*.{base}"])
    refused = prove(client, va, resp.json()["authorizations"][0], "dns-01")
    assert refused["error"]["type"] == CAA and "issuewild" in refused["error"]["detail"]
    assert _validate(client, va, base, "http-01")["status"] == "valid"  # issue applies


def _ready_order(client: Client, va: VA, name: str) -> tuple[dict, str]:  # type: ignore[type-arg]
    resp = client.new_order([name])
    order, url = resp.json(), resp.headers["Location"]
    assert prove(client, va, order["authorizations"][0])["status"] == "valid"
    return order, url


def _age(server: Server, order_url: str, by: dt.timedelta) -> None:
    """The order's validations as if made ``by`` ago (the server's clock is the real one)."""
    then = dt.datetime.now(dt.UTC) - by
    server.sql(
        "UPDATE acme_challenges SET validated_at = :then WHERE status = 'valid'"
        " AND authz_id IN (SELECT id FROM acme_authorizations WHERE order_id = :o)",
        then=then.strftime("%Y-%m-%d %H:%M:%S.%f"),
        o=order_url.rsplit("/", 1)[-1],
    )


def test_challenges_caa_rechecked_at_finalize_after_8_hours(
    client: Client, server: Server, va: VA
) -> None:
    fresh, late = _name("fresh"), _name("late")
    orders = {n: _ready_order(client, va, n) for n in (fresh, late)}
    for name in (fresh, late):
        va.dns.zone.add_caa(name, "issue", "other-ca.example")  # CAA changed after validation
    # Checked under 8 hours ago: not looked up again (BR 3.2.2.8), issued.
    resp = client.finalize(orders[fresh][0], make_csr([fresh]))
    assert resp.status_code == 200 and resp.json()["status"] == "valid", resp.text
    _age(server, orders[late][1], dt.timedelta(hours=9))
    resp = client.finalize(orders[late][0], make_csr([late]))
    assert resp.status_code == 403 and resp.json()["type"] == CAA, resp.text
    assert client.get(orders[late][1]).json()["status"] == "invalid"


def test_challenges_validation_past_reuse_window_not_reused(
    client: Client, server: Server, va: VA
) -> None:
    name = _name("old")
    order, url = _ready_order(client, va, name)
    days = reuse_days(dt.datetime.now(dt.UTC).date())
    _age(server, url, dt.timedelta(days=days, hours=1))
    resp = client.finalize(order, make_csr([name]))
    assert resp.status_code == 403 and "BR 4.2.1" in resp.json()["detail"], resp.text
    # A new order proves control anew with a new challenge.
    again, _ = _ready_order(client, va, name)
    assert client.finalize(again, make_csr([name])).json()["status"] == "valid"
