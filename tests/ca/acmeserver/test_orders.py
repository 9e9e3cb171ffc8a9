"""ACME orders for IP address identifiers (RFC 8738; BR 3.2.2.5): the short-lived profile
certifies public addresses after http-01 or tls-alpn-01 to the address itself, never dns-01;
other profiles, and reserved addresses, are refused with rejectedIdentifier.

A public address can only be validated where it is local: the flows run in a network
namespace of their own (tests/support/netns.py) whose loopback holds two public addresses,
with the padlock server, its VA, the http-01 and tls-alpn-01 responders and the client all
inside. The production name policy is the one in force: no allowance is turned on.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import verification

from padlock.ca.acmeserver.model import AcmeSettings
from padlock.pki.lint import CertKind, lint_serverauth
from tests.ca.acmeserver.conftest import CAA_IDENTITY, VA, Server, obtain, start_server
from tests.support import netns
from tests.support.acme_client import Client, problem_type
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
    leaf, *chain = x509.load_pem_x509_certificates(pem.encode())
    root = x509.load_pem_x509_certificate(
        (public.server.data_dir / "ca" / "trusted" / "root.crt").read_bytes()
    )
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store([root]))
        .build_server_verifier(x509.IPAddress(ipaddress.ip_address(address)))
    )
    verifier.verify(leaf, chain)
    return leaf


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


@pytest.mark.parametrize("profile", ["dv", "ov", None])
def test_orders_ip_other_profiles_refused(client: Client, profile: str | None) -> None:
    extra = {"profile": profile} if profile else {}
    resp = client.new_order([PUBLIC_V4], **extra)
    assert problem_type(resp) == "rejectedIdentifier", resp.text
    detail = resp.json()["detail"]
    assert f"IP addresses are not accepted in the {profile or 'dv'} profile" in detail
    assert "short-lived" in detail


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
