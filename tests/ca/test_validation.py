"""Domain validation probes against real loopback DNS, HTTP and TLS servers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from padlock.ca.validation import (
    ProbeFailed,
    VAConfig,
    check_caa,
    check_dns_txt,
    check_http,
    check_tls_alpn,
    resolve_addresses,
)
from padlock.errors import CAAForbidden
from tests.support.dnsserver import TestDNS
from tests.support.httpfiles import FileServer
from tests.support.tlsalpn import ALPNResponder

PATH = "/.well-known/pki-validation/token123"


@pytest.fixture
def dns() -> Iterator[TestDNS]:
    server = TestDNS().start()
    yield server
    server.stop()


@pytest.fixture
def web() -> Iterator[FileServer]:
    server = FileServer().start()
    yield server
    server.stop()


@pytest.fixture
def cfg(dns: TestDNS, web: FileServer) -> VAConfig:
    return VAConfig(
        resolver=dns.address,
        http_port=web.port,
        tls_port=1,
        timeout=2,
        caa_identities=("ca.example.com",),
    )


def test_resolve_uses_configured_resolver(cfg: VAConfig, dns: TestDNS) -> None:
    dns.zone.a["www.example.com"] = ["127.0.0.1"]
    assert resolve_addresses(cfg, "www.example.com") == ["127.0.0.1"]
    assert ("www.example.com", "A") in dns.zone.queries


def test_http_file_ok_records_evidence(cfg: VAConfig, web: FileServer) -> None:
    web.files[PATH] = b"random-value-xyz\n"
    ev = check_http(cfg, "www.example.com", PATH, "random-value-xyz", exact=False)
    assert ev.ok and ev.addresses == ("127.0.0.1",) and ev.detail == "HTTP 200"
    assert web.requests[-1] == (f"www.example.com:{web.port}", PATH)


def test_http_exact_body_for_acme(cfg: VAConfig, web: FileServer) -> None:
    web.files[PATH] = b"token.thumb"
    assert check_http(cfg, "www.example.com", PATH, "token.thumb", exact=True).ok
    web.files[PATH] = b"token.thumb and more"
    with pytest.raises(ProbeFailed) as info:
        check_http(cfg, "www.example.com", PATH, "token.thumb", exact=True)
    assert info.value.problem == "incorrectResponse"


def test_http_missing_file_is_incorrect_response(cfg: VAConfig) -> None:
    with pytest.raises(ProbeFailed, match="HTTP 404") as info:
        check_http(cfg, "www.example.com", PATH, "x", exact=False)
    assert info.value.evidence.ok is False
    assert "Put the file" in (info.value.hint or "")


def test_http_follows_redirect_within_allowed_ports(cfg: VAConfig, web: FileServer) -> None:
    web.redirects[PATH] = "http://www.example.com:8443/elsewhere"
    with pytest.raises(ProbeFailed, match="not allowed"):
        check_http(cfg, "www.example.com", PATH, "v", exact=False)
    web.redirects[PATH] = "/moved"
    web.files["/moved"] = b"v"
    assert check_http(cfg, "www.example.com", PATH, "v", exact=False).ok


def test_http_connection_refused_is_connection_problem(dns: TestDNS) -> None:
    cfg = VAConfig(resolver=dns.address, http_port=1, timeout=2)
    with pytest.raises(ProbeFailed) as info:
        check_http(cfg, "www.example.com", PATH, "v", exact=False)
    assert info.value.problem == "connection"


def test_http_no_address_is_dns_problem(cfg: VAConfig, dns: TestDNS) -> None:
    dns.zone.nxdomain.add("gone.example.com")
    with pytest.raises(ProbeFailed) as info:
        check_http(cfg, "gone.example.com", PATH, "v", exact=False)
    assert info.value.problem == "dns"


def test_dns_txt_ok_and_missing(cfg: VAConfig, dns: TestDNS) -> None:
    dns.zone.add_txt("_pki-validation.www.example.com", "rv-1")
    assert check_dns_txt(cfg, "www.example.com", "_pki-validation.www.example.com", "rv-1").ok
    with pytest.raises(ProbeFailed, match="found: rv-1"):
        check_dns_txt(cfg, "www.example.com", "_pki-validation.www.example.com", "rv-2")


def test_dns_servfail_is_dns_problem(cfg: VAConfig, dns: TestDNS) -> None:
    dns.zone.servfail.add("_acme-challenge.www.example.com")
    with pytest.raises(ProbeFailed) as info:
        check_dns_txt(cfg, "www.example.com", "_acme-challenge.www.example.com", "x")
    assert info.value.problem == "dns"


def test_tls_alpn_ok_and_wrong_digest(dns: TestDNS) -> None:
    responder = ALPNResponder()
    responder.set("www.example.com", "tok.thumb")
    responder.start()
    try:
        cfg = VAConfig(resolver=dns.address, tls_port=responder.port, timeout=3)
        assert check_tls_alpn(cfg, "www.example.com", "tok.thumb").ok
        with pytest.raises(ProbeFailed, match="does not match"):
            check_tls_alpn(cfg, "www.example.com", "other.thumb")
        responder.set("www.example.com", "tok.thumb", critical=False)
        with pytest.raises(ProbeFailed, match="critical"):
            check_tls_alpn(cfg, "www.example.com", "tok.thumb")
    finally:
        responder.stop()


def test_tls_alpn_refused_connection(cfg: VAConfig) -> None:
    with pytest.raises(ProbeFailed) as info:
        check_tls_alpn(cfg, "www.example.com", "x")
    assert info.value.problem == "connection"


def test_caa_absent_allows(cfg: VAConfig) -> None:
    assert check_caa(cfg, "www.example.com").ok


def test_caa_naming_us_allows(cfg: VAConfig, dns: TestDNS) -> None:
    dns.zone.add_caa("example.com", "issue", "ca.example.com; accounturi=x")
    assert check_caa(cfg, "www.example.com").ok


def test_caa_naming_another_ca_forbids(cfg: VAConfig, dns: TestDNS) -> None:
    dns.zone.add_caa("example.com", "issue", "letsencrypt.org")
    with pytest.raises(CAAForbidden, match=r"letsencrypt\.org"):
        check_caa(cfg, "www.example.com")


def test_caa_issuewild_applies_to_wildcards(cfg: VAConfig, dns: TestDNS) -> None:
    dns.zone.add_caa("example.net", "issue", "ca.example.com")
    dns.zone.add_caa("example.net", "issuewild", ";")
    assert check_caa(cfg, "www.example.net").ok
    with pytest.raises(CAAForbidden):
        check_caa(cfg, "*.example.net", wildcard=True)


def test_caa_unknown_critical_tag_forbids(cfg: VAConfig, dns: TestDNS) -> None:
    dns.zone.add_caa("example.org", "tbs", "x", flags=128)
    with pytest.raises(CAAForbidden, match="critical"):
        check_caa(cfg, "www.example.org")


def test_caa_lookup_failure_stops_issuance(cfg: VAConfig, dns: TestDNS) -> None:
    dns.zone.servfail.add("www.example.com")
    with pytest.raises(CAAForbidden, match="failed"):
        check_caa(cfg, "www.example.com")
