"""ACME authorizations and challenges (RFC 8555 sections 7.5 and 8, RFC 8737): each
challenge type to a certificate, wildcards by dns-01, answering at once and validating in the
background, failures with subproblems, deactivation and expiry, the insecure switch, the
evidence audited; and CAA at validation and at issuance (RFC 8659; RFC 8657 accounturi and
validationmethods; BR 3.2.2.8's 8-hour re-check; BR 4.2.1's reuse window at finalize),
against the session's ACME server and its loopback DNS.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from padlock.ca.acmeserver.model import AcmeSettings
from padlock.pki.lint import CertKind, lint_serverauth
from padlock.pki.profiles import reuse_days
from tests.support.acme_client import Client, make_csr
from tests.support.acme_server import (
    CAA_IDENTITY,
    VA,
    Server,
    assert_refused,
    obtain,
    prove,
    ready_order,
    unique_name,
    verified_leaf,
)

CAA = "urn:ietf:params:acme:error:caa"


@pytest.fixture
def other(http: httpx.Client, server: Server) -> Client:
    """A second account on the trusted directory."""
    c = Client(http, server.trusted)
    assert c.register().status_code == 201
    return c


def _validate(client: Client, va: VA, name: str, kind: str) -> dict:  # type: ignore[type-arg]
    resp = client.new_order([name])
    assert resp.status_code == 201, resp.text
    return prove(client, va, resp.json()["authorizations"][0], kind)


def test_challenges_caa_accounturi_match_and_mismatch(
    client: Client, other: Client, va: VA
) -> None:
    name = unique_name("acct")
    va.dns.zone.add_caa(name, "issue", f"{CAA_IDENTITY}; accounturi={client.kid}")
    assert _validate(client, va, name, "http-01")["status"] == "valid"
    refused = _validate(other, va, name, "http-01")
    assert refused["status"] == "invalid" and refused["error"]["type"] == CAA
    assert f'issue "{CAA_IDENTITY}; accounturi={client.kid}"' in refused["error"]["detail"]
    assert str(other.kid) in refused["error"]["detail"]


def test_challenges_caa_validationmethods_listed_and_unlisted(client: Client, va: VA) -> None:
    name = unique_name("methods")
    va.dns.zone.add_caa(name, "issue", f"{CAA_IDENTITY}; validationmethods=dns-01,tls-alpn-01")
    refused = _validate(client, va, name, "http-01")
    assert refused["status"] == "invalid" and refused["error"]["type"] == CAA
    assert "validationmethods=dns-01,tls-alpn-01" in refused["error"]["detail"]
    assert _validate(client, va, name, "dns-01")["status"] == "valid"


def test_challenges_caa_both_parameters_and_malformed(
    client: Client, other: Client, va: VA
) -> None:
    name = unique_name("both")
    value = f"{CAA_IDENTITY}; accounturi={client.kid}; validationmethods=dns-01"
    va.dns.zone.add_caa(name, "issue", value)
    assert _validate(client, va, name, "dns-01")["status"] == "valid"
    assert _validate(client, va, name, "http-01")["error"]["type"] == CAA
    assert _validate(other, va, name, "dns-01")["error"]["type"] == CAA
    bad = unique_name("malformed")
    va.dns.zone.add_caa(bad, "issue", f"{CAA_IDENTITY}; accounturi=no-scheme")
    refused = _validate(client, va, bad, "http-01")
    assert refused["error"]["type"] == CAA and "unusable" in refused["error"]["detail"]


def test_challenges_caa_issuewild_for_wildcards(client: Client, va: VA) -> None:
    base = unique_name("wild")
    va.dns.zone.add_caa(base, "issue", CAA_IDENTITY)
    va.dns.zone.add_caa(base, "issuewild", f"{CAA_IDENTITY}; accounturi=https://x.example/a/1")
    resp = client.new_order([f"*.{base}"])
    refused = prove(client, va, resp.json()["authorizations"][0], "dns-01")
    assert refused["error"]["type"] == CAA and "issuewild" in refused["error"]["detail"]
    assert _validate(client, va, base, "http-01")["status"] == "valid"  # issue applies


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
    fresh, late = unique_name("fresh"), unique_name("late")
    orders = {n: ready_order(client, va, [n]) for n in (fresh, late)}
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
    name = unique_name("old")
    order, url = ready_order(client, va, [name])
    days = reuse_days(dt.datetime.now(dt.UTC).date())
    _age(server, url, dt.timedelta(days=days, hours=1))
    resp = client.finalize(order, make_csr([name]))
    assert resp.status_code == 403 and "BR 4.2.1" in resp.json()["detail"], resp.text
    # A new order proves control anew with a new challenge.
    again, _ = ready_order(client, va, [name])
    assert client.finalize(again, make_csr([name])).json()["status"] == "valid"


@pytest.mark.parametrize("profile", ["tlsserver", "shortlived"])
def test_http01_lean_profiles_give_no_cn_no_ski_160_hours_for_shortlived(
    client: Client, server: Server, va: VA, profile: str
) -> None:
    """newOrder's ``profile`` (draft-ietf-acme-profiles) picks what the certificate holds."""
    name = unique_name()
    order, _url, pem = obtain(client, va, [name], profile=profile)
    assert order["profile"] == profile
    leaf = verified_leaf(server, pem, name)
    assert not lint_serverauth(leaf.public_bytes(serialization.Encoding.DER), CertKind.DV).errors
    assert leaf.subject == x509.Name([])
    oids = {e.oid for e in leaf.extensions}
    assert x509.SubjectKeyIdentifier.oid not in oids
    assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc + dt.timedelta(seconds=1)
    hours = 160 if profile == "shortlived" else 90 * 24
    assert lifetime == dt.timedelta(hours=hours)


def test_http01_dv_certificate(client: Client, server: Server, va: VA) -> None:
    name = unique_name()
    order, order_url, pem = obtain(client, va, [name])
    leaf = verified_leaf(server, pem, name)
    assert not lint_serverauth(leaf.public_bytes(serialization.Encoding.DER), CertKind.DV).errors
    assert order["profile"] == "classic"  # the directory's default, as Let's Encrypt's
    assert client.get(order_url).json()["status"] == "valid"


def test_dns01_certificate(client: Client, server: Server, va: VA) -> None:
    name = unique_name("dns")
    _order, _url, pem = obtain(client, va, [name], kind="dns-01")
    verified_leaf(server, pem, name)


def test_tls_alpn01_certificate(client: Client, server: Server, va: VA) -> None:
    name = unique_name("alpn")
    _order, _url, pem = obtain(client, va, [name], kind="tls-alpn-01")
    verified_leaf(server, pem, name)


def test_wildcard_by_dns01(client: Client, server: Server, va: VA) -> None:
    base = f"wild{secrets.token_hex(4)}.example.net"
    resp = client.new_order([f"*.{base}", base])
    order = resp.json()
    authzs = [client.get(u).json() for u in order["authorizations"]]
    wild = next(a for a in authzs if a.get("wildcard"))
    assert wild["identifier"] == {"type": "dns", "value": base}
    assert [c["type"] for c in wild["challenges"]] == ["dns-01", "dns-account-01"]
    for url in order["authorizations"]:
        assert prove(client, va, url, "dns-01")["status"] == "valid"
    final = client.finalize(order, make_csr([f"*.{base}", base])).json()
    pem = client.get(final["certificate"]).text
    leaf = verified_leaf(server, pem, f"*.{base}")
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(sans.get_values_for_type(x509.DNSName)) == {f"*.{base}", base}


def test_authorization_deactivation(client: Client) -> None:
    order = client.new_order([unique_name()]).json()
    url = order["authorizations"][0]
    resp = client.post(url, {"status": "deactivated"})
    assert resp.status_code == 200 and resp.json()["status"] == "deactivated"
    assert client.get(order["finalize"].removesuffix("/finalize")).json()["status"] == "invalid"


def test_failed_validation_invalidates_with_subproblem(client: Client, va: VA) -> None:
    name = unique_name("fail")
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
    name = unique_name("caa")
    va.dns.zone.add_caa(name, "issue", "other-ca.example")
    resp = client.new_order([name])
    chal = prove(client, va, resp.json()["authorizations"][0])
    assert chal["status"] == "invalid"
    assert chal["error"]["type"] == "urn:ietf:params:acme:error:caa"


def test_caa_naming_us_allows(client: Client, va: VA) -> None:
    name = unique_name("caaok")
    va.dns.zone.add_caa(name, "issue", CAA_IDENTITY)
    resp = client.new_order([name])
    assert prove(client, va, resp.json()["authorizations"][0])["status"] == "valid"


def test_validation_evidence_audited(client: Client, server: Server, va: VA) -> None:
    name = unique_name("audit")
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


def test_insecure_always_valid_test_directory_only(make_server: Any, http: httpx.Client) -> None:
    srv = make_server(AcmeSettings(insecure_always_valid=True, validation_wait=10))
    for directory, expected in ((srv.test, "valid"), (srv.trusted, "invalid")):
        c = Client(http, directory)
        c.register()
        order = c.new_order([unique_name("insecure")]).json()
        authz = c.get(order["authorizations"][0]).json()
        chal = c.post(c.challenge_of(authz, "http-01")["url"], {}).json()
        assert chal["status"] == expected, directory


def test_insecure_always_valid_trusted_needs_second_flag(
    make_server: Any, http: httpx.Client
) -> None:
    srv = make_server(AcmeSettings(insecure_always_valid=True, insecure_always_valid_trusted=True))
    c = Client(http, srv.trusted)
    c.register()
    name = unique_name("insecure")
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
    name = unique_name("async")
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


def test_expired_authorization_refuses_challenge(client: Client, server: Server) -> None:
    order = client.new_order([unique_name()]).json()
    authz_url = order["authorizations"][0]
    server.sql(
        "UPDATE acme_authorizations SET expires = :past WHERE id = :id",
        past="2020-01-01 00:00:00.000000",
        id=authz_url.rsplit("/", 1)[1],
    )
    authz = client.get(authz_url).json()
    assert authz["status"] == "expired"
    chal = client.challenge_of(authz, "http-01")
    assert_refused(client.post(chal["url"], {}), "malformed", 400)
