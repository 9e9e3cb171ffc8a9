"""ACME orders (RFC 8555 sections 7.4 and 7.4.2, RFC 9773 section 5, profiles): new orders
and the identifiers they may hold (the name policy, IP addresses, wildcards), finalize (the
CSR checked, the order's state, expiry), the certificate and its download links, and
``replaces``.

IP address identifiers (RFC 8738; BR 3.2.2.5): the short-lived profile certifies public
addresses after http-01 or tls-alpn-01 to the address itself, never dns-01; other profiles,
and reserved addresses, are refused with rejectedIdentifier. A public address can only be
validated where it is local: those flows run in a network namespace of their own
(tests/support/netns.py) whose loopback holds two public addresses, with the padlock server,
its VA, the http-01 and tls-alpn-01 responders and the client all inside. The production
name policy is the one in force: no allowance is turned on.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from padlock.acme import messages as m
from padlock.ca.acmeserver import orders as acme_orders
from padlock.ca.acmeserver.model import AcmeSettings
from padlock.pki.lint import CertKind, lint_serverauth
from tests.support import netns
from tests.support.acme_client import Client, b64, make_csr, problem_type
from tests.support.acme_server import (
    CAA_IDENTITY,
    VA,
    Server,
    assert_refused,
    ca_root,
    cert_id_of,
    obtain,
    pem_chain,
    prove,
    ready_order,
    start_server,
    unique_name,
    verified_leaf,
)
from tests.support.dnsserver import TestDNS, Zone
from tests.support.httpfiles import FileServer
from tests.support.tlsalpn import ALPNResponder

# Public (globally reachable) addresses, outside every special-purpose block; they exist
# only on the namespace's loopback, so no packet for them leaves the machine.
PUBLIC_V4 = "203.0.114.7"
PUBLIC_V6 = "2a02:cafe::7"


@dataclass
class PublicCA:
    namespace: str
    va: VA
    server: Server
    http: httpx.Client


@pytest.fixture(scope="module")
def public(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PublicCA]:
    """The session's CA served in a namespace holding PUBLIC_V4 and PUBLIC_V6; the servers'
    threads are started inside it and stay there."""
    txt_dir = tmp_path_factory.mktemp("ip-txt")
    with netns.namespace([PUBLIC_V4, PUBLIC_V6]) as name:
        with netns.inside(name):
            dns = TestDNS(Zone(txt_dir=txt_dir)).start()
            web = FileServer(host="::").start()  # dual stack: both addresses
            alpn = ALPNResponder(host="::").start()
            va = VA(dns, web, alpn, txt_dir)
            server = start_server(
                data_dir, va, AcmeSettings(caa_identities=(CAA_IDENTITY,), validation_wait=10)
            )
            http = httpx.Client(timeout=30)
        try:
            yield PublicCA(name, va, server, http)
        finally:
            http.close()
            server.stop()
            alpn.stop()
            web.stop()
            dns.stop()


def _issued(public: PublicCA, address: str, kind: str) -> x509.Certificate:
    """The whole flow for ``address`` in the short-lived profile, proven by ``kind``; the leaf,
    checked against the trusted root for that address."""
    with netns.inside(public.namespace):
        client = Client(public.http, public.server.trusted)
        assert client.register().status_code == 201
        resp = client.new_order([address], profile="short-lived")
        assert resp.status_code == 201, resp.text
        authz = client.get(resp.json()["authorizations"][0]).json()
        assert authz["identifier"] == {"type": "ip", "value": address}
        assert [c["type"] for c in authz["challenges"]] == ["http-01", "tls-alpn-01"]
        order, _url, pem = obtain(client, public.va, [address], kind, profile="short-lived")
    assert order["profile"] == "short-lived"
    return verified_leaf(public.server, pem, address)


def _checked(leaf: x509.Certificate, address: str) -> None:
    """One iPAddress SAN, no dNSName, and nothing pkilint calls an error."""
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address(address)]
    assert sans.get_values_for_type(x509.DNSName) == []
    report = lint_serverauth(leaf.public_bytes(serialization.Encoding.DER), CertKind.DV)
    assert not report.errors, report.errors


def test_orders_ip_short_lived_http01(public: PublicCA) -> None:
    leaf = _issued(public, PUBLIC_V4, "http-01")
    _checked(leaf, PUBLIC_V4)
    # RFC 8738 section 5 (http-01): fetched from the address itself, Host the address.
    assert any(host.startswith(PUBLIC_V4) for host, _path in public.va.web.requests)


def test_orders_ip_short_lived_tls_alpn01_ipv6(public: PublicCA) -> None:
    leaf = _issued(public, PUBLIC_V6, "tls-alpn-01")
    _checked(leaf, PUBLIC_V6)


def test_orders_ip_short_lived_http01_ipv6(public: PublicCA) -> None:
    _checked(_issued(public, PUBLIC_V6, "http-01"), PUBLIC_V6)
    assert any(host.startswith(f"[{PUBLIC_V6}]") for host, _path in public.va.web.requests)


@pytest.mark.parametrize(
    ("address", "block"),
    [("10.1.2.3", "10.0.0.0/8"), ("127.0.0.1", "127.0.0.0/8"), ("fd00::1", "fc00::/7")],
)
def test_orders_ip_reserved_refused(client: Client, address: str, block: str) -> None:
    resp = client.new_order([address], profile="short-lived")
    assert problem_type(resp) == "rejectedIdentifier", resp.text
    doc = resp.json()
    assert block in doc["detail"] and "BR 4.2.2" in doc["detail"]
    assert doc["subproblems"][0]["identifier"] == {"type": "ip", "value": address}


@pytest.mark.parametrize(
    ("profile", "named"),
    [("dv", "classic"), ("tlsserver", "tlsserver"), ("ov", "ov"), (None, "classic")],
)
def test_orders_ip_other_profiles_refused(client: Client, profile: str | None, named: str) -> None:
    extra = {"profile": profile} if profile else {}
    resp = client.new_order([PUBLIC_V4], **extra)
    assert problem_type(resp) == "rejectedIdentifier", resp.text
    detail = resp.json()["detail"]
    assert f"IP addresses are not accepted in the {named} profile" in detail
    assert "shortlived" in detail


def test_orders_ip_no_dns01(client: Client) -> None:
    """An order is made without any probe: its authorization offers no dns-01."""
    resp = client.new_order([PUBLIC_V4, "www.example.com"], profile="short-lived")
    assert resp.status_code == 201, resp.text
    kinds = {}
    for url in resp.json()["authorizations"]:
        authz = client.get(url).json()
        kinds[authz["identifier"]["type"]] = [c["type"] for c in authz["challenges"]]
    assert kinds["ip"] == ["http-01", "tls-alpn-01"]
    assert "dns-01" in kinds["dns"]


def test_orders_ip_reverse_zone_name_refused(client: Client) -> None:
    resp = client.new_order(["7.114.0.203.in-addr.arpa"], profile="short-lived")
    assert problem_type(resp) == "rejectedIdentifier", resp.text
    assert "reverse-mapping zone" in resp.json()["detail"]


def test_test_directory_certificate(test_client: Client, server: Server, va: VA) -> None:
    name = unique_name("t")
    order, _url, pem = obtain(test_client, va, [name])
    assert order["profile"] == "test"
    leaf = verified_leaf(server, pem, name, hierarchy="test")
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
    leaf = pem_chain(pem)[0]
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(a) for a in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


def test_certificate_download_links(client: Client, server: Server, va: VA) -> None:
    """Each download holds its whole chain, so no rel="up"; the other chain is rel="alternate"
    at a POST-as-GET URL, both ways (RFC 8555 7.4.2)."""
    order, _url, _pem = obtain(client, va, [unique_name()])
    resp = client.get(order["certificate"])
    assert resp.headers["Content-Type"] == "application/pem-certificate-chain"
    links = resp.headers.get_list("Link")
    assert not [link for link in links if 'rel="up"' in link]
    assert f'<{order["certificate"]}/1>;rel="alternate"' in links
    chain = pem_chain(resp.text)
    assert len(chain) == 2 and chain[0].issuer == chain[1].subject
    alt = client.get(f"{order['certificate']}/1")
    assert alt.status_code == 200
    assert f'<{order["certificate"]}>;rel="alternate"' in alt.headers.get_list("Link")
    assert not [link for link in alt.headers.get_list("Link") if 'rel="up"' in link]
    assert pem_chain(alt.text)[-1] == ca_root(server, "trusted")
    assert pem_chain(alt.text)[:-1] == chain


def test_order_replaces(client: Client, va: VA) -> None:
    name = unique_name("repl")
    _order, _url, pem = obtain(client, va, [name])
    cid = cert_id_of(pem_chain(pem)[0])
    order, _u, _p = obtain(client, va, [name], replaces=cid)
    assert order["replaces"] == cid
    resp = client.new_order([name], replaces=cid)
    assert resp.status_code == 409 and problem_type(resp) == "alreadyReplaced"  # RFC 9773 7.4
    assert client.new_order([name]).status_code == 201  # what a client does next


def test_order_replaces_pending_already_replaced(client: Client, server: Server, va: VA) -> None:
    """Two live orders cannot replace one certificate (RFC 9773 section 5); an order that
    expired unfinished no longer holds it."""
    name = unique_name("repl2")
    _order, _url, pem = obtain(client, va, [name])
    cid = cert_id_of(pem_chain(pem)[0])
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
    name = unique_name("repl4")
    for _ in range(30):  # half of all serials need DER's leading 0: one of 30 does
        _order, _url, pem = obtain(client, va, [name])
        leaf = pem_chain(pem)[0]
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
    _order, _url, pem = obtain(client, va, [unique_name("repl3")])
    cid = cert_id_of(pem_chain(pem)[0])
    resp = client.new_order([unique_name("other")], replaces=cid)
    assert problem_type(resp) == "malformed" and "shares no identifier" in resp.json()["detail"]


def test_unknown_profile_invalid_profile(client: Client) -> None:
    """draft-ietf-acme-profiles registers invalidProfile for a profile the server lacks."""
    resp = client.new_order([unique_name()], profile="gold")
    assert resp.status_code == 400
    assert problem_type(resp) == "invalidProfile" and "gold" in resp.json()["detail"]


def test_orders_rate_limited(make_server: Any, http: httpx.Client) -> None:
    srv = make_server(AcmeSettings(orders_per_hour=2))
    c = Client(http, srv.trusted)
    c.register()
    assert c.new_order([unique_name()]).status_code == 201
    assert c.new_order([unique_name()]).status_code == 201
    resp = c.new_order([unique_name()])
    assert resp.status_code == 429 and problem_type(resp) == "rateLimited"
    assert 0 < int(resp.headers["Retry-After"]) <= 3601


def test_finalize_before_ready_order_not_ready(client: Client) -> None:
    name = unique_name()
    order = client.new_order([name]).json()
    assert_refused(client.finalize(order, make_csr([name])), "orderNotReady", 403)


def test_finalize_twice_order_not_ready(client: Client, va: VA) -> None:
    name = unique_name()
    order, _url = ready_order(client, va, [name])
    assert client.finalize(order, make_csr([name])).json()["status"] == "valid"
    assert_refused(client.finalize(order, make_csr([name])), "orderNotReady", 403)


def test_csr_with_extra_name_bad_csr(client: Client, va: VA) -> None:
    name = unique_name()
    order, _url = ready_order(client, va, [name])
    doc = assert_refused(
        client.finalize(order, make_csr([name, unique_name("extra")])), "badCSR", 400
    )
    assert "does not have" in str(doc["detail"])
    # the order is still ready: a correct CSR is accepted afterwards
    assert client.finalize(order, make_csr([name])).json()["status"] == "valid"


def test_csr_missing_name_bad_csr(client: Client, va: VA) -> None:
    a, b = unique_name(), unique_name()
    order, _url = ready_order(client, va, [a, b])
    assert_refused(client.finalize(order, make_csr([a])), "badCSR", 400)


def test_csr_signed_with_account_key_bad_csr(client: Client, va: VA) -> None:
    name = unique_name()
    order, _url = ready_order(client, va, [name])
    doc = assert_refused(client.finalize(order, make_csr([name], client.key)), "badCSR", 400)
    assert "account key" in str(doc["detail"])


def test_csr_garbage_bad_csr(client: Client, va: VA) -> None:
    order, _url = ready_order(client, va, [unique_name()])
    assert_refused(client.post(order["finalize"], {"csr": b64(b"not a csr")}), "badCSR", 400)


def test_csr_weak_key_bad_csr(client: Client, va: VA) -> None:

    name = unique_name()
    order, _url = ready_order(client, va, [name])
    weak = ec.generate_private_key(ec.SECP256K1())
    assert_refused(client.finalize(order, make_csr([name], weak)), "badCSR", 400)


def test_finalize_authenticates_before_reading_csr(
    client: Client, server: Server, va: VA, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Signature, nonce, account and the order's owner are checked before the CSR is read:
    a CSR that would be badCSR gets the request's own error, and the parser never runs."""

    name = unique_name()
    order, _url = ready_order(client, va, [name])
    url = str(order["finalize"])
    read: list[bytes] = []
    real = acme_orders.load_csr

    def counting(der: bytes) -> object:
        read.append(der)
        return real(der)

    monkeypatch.setattr(acme_orders, "load_csr", counting)
    garbage = {"csr": b64(b"not a csr, would be badCSR")}
    stranger = ec.generate_private_key(ec.SECP256R1())
    doc = assert_refused(client.post(url, garbage, key=stranger), "malformed", 400)
    assert "signature" in str(doc["detail"])
    assert_refused(client.post(url, garbage, nonce=b64(secrets.token_bytes(26))), "badNonce", 400)
    used = client.take_nonce()
    assert client.post(client.kid or "", None, nonce=used).status_code == 200
    assert_refused(client.post(url, garbage, nonce=used), "badNonce", 400)
    thief = Client(http, server.trusted)
    thief.register()
    assert_refused(thief.post(url, garbage), "unauthorized", 403)
    assert read == []
    assert client.finalize(order, make_csr([name])).json()["status"] == "valid"
    assert len(read) == 1


def test_expired_order(client: Client, server: Server, va: VA) -> None:
    name = unique_name()
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
    doc = assert_refused(client.finalize(order, make_csr([name])), "orderNotReady", 403)
    assert "expired" in str(doc["detail"])


def test_wildcard_gets_no_http01(client: Client) -> None:
    order = client.new_order([f"*.{unique_name()}"]).json()
    authz = client.get(order["authorizations"][0]).json()
    assert authz["wildcard"] is True
    assert [c["type"] for c in authz["challenges"]] == ["dns-01", "dns-account-01"]


def test_policy_refuses_rejected_identifier_with_subproblems(client: Client) -> None:
    resp = client.new_order(["www.example.test", "*.co.uk", "ok.example.com", "10.0.0.1"])
    doc = assert_refused(resp, "rejectedIdentifier", 400)
    subs = doc["subproblems"]
    assert isinstance(subs, list)
    refused = {s["identifier"]["value"] for s in subs}
    assert refused == {"www.example.test", "*.co.uk", "10.0.0.1"}
    assert all(s["type"] == "urn:ietf:params:acme:error:rejectedIdentifier" for s in subs)


def test_unsupported_identifier_type(client: Client) -> None:
    payload = {"identifiers": [{"type": "email", "value": "a@example.com"}]}
    assert_refused(client.post(client.directory["newOrder"], payload), "unsupportedIdentifier", 400)


def test_payload_for_post_as_get_only(client: Client) -> None:
    order = client.new_order([unique_name()]).json()
    resp = client.post(order["finalize"].removesuffix("/finalize"), {"x": 1})
    assert resp.status_code == 200  # an order read ignores a JSON payload


@pytest.mark.parametrize("directory", ["trusted", "test"])
def test_reverse_zone_names_refused_in_every_directory(
    http: httpx.Client, server: Server, directory: str
) -> None:
    c = Client(http, server.trusted if directory == "trusted" else server.test)
    assert c.register().status_code == 201
    for name in ("1.0.0.127.in-addr.arpa", "8.b.d.0.1.0.0.2.ip6.arpa"):
        doc = assert_refused(c.new_order([name]), "rejectedIdentifier", 400)
        assert "reverse-mapping zone" in str(doc["detail"])


@pytest.mark.parametrize("name", ["nas.home.arpa", "hidden.onion", "service.alt", "db.internal"])
def test_special_use_names_refused_for_trusted(client: Client, name: str) -> None:
    doc = assert_refused(client.new_order([name]), "rejectedIdentifier", 400)
    assert "special-use" in str(doc["detail"]) or "internal name" in str(doc["detail"])
