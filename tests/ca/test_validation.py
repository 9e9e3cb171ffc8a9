"""Domain validation probes against real loopback DNS, HTTP and TLS servers."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from padlock.ca.validation import (
    ProbeFailed,
    VAConfig,
    check_caa,
    check_dns_txt,
    check_http,
    check_tls_alpn,
    parse_caa_property,
    resolve_addresses,
)
from padlock.errors import CAAForbidden
from tests.support.dnsserver import TestDNS
from tests.support.httpfiles import FileServer
from tests.support.rawhttp import RawServer, body, drip, redirect, silent
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
    dns.zone.add_caa("example.com", "issue", "ca.example.com; tbs-unknown=x")
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


ACCOUNT = "https://ca.example.com/acme/acct/1"


@pytest.mark.parametrize(
    ("value", "account", "method", "allowed"),
    [
        (f"ca.example.com; accounturi={ACCOUNT}", ACCOUNT, "http-01", True),
        (f"ca.example.com; accounturi={ACCOUNT}", ACCOUNT + "0", "http-01", False),
        (f"ca.example.com; accounturi={ACCOUNT}", None, "http", False),  # REST: no account
        ("ca.example.com; validationmethods=dns-01,tls-alpn-01", None, "dns-01", True),
        ("ca.example.com; validationmethods=dns-01,tls-alpn-01", None, "http-01", False),
        ("ca.example.com; validationmethods=ca-website-change", None, "http", True),
        ("ca.example.com; validationmethods=ca-dns-change", None, "http", False),
        ("ca.example.com; validationmethods=ca-dns-change", None, "dns", True),
        ("ca.example.com; validationmethods=dns-01", None, "dns", False),  # not the ACME one
        (
            f"ca.example.com; accounturi={ACCOUNT}; validationmethods=dns-01",
            ACCOUNT,
            "dns-01",
            True,
        ),
        (
            f"ca.example.com; accounturi={ACCOUNT}; validationmethods=dns-01",
            ACCOUNT,
            "http-01",
            False,
        ),
        (f"ca.example.com; accounturi={ACCOUNT};validationmethods=dns-01", "x:y", "dns-01", False),
    ],
)
def test_caa_rfc8657_parameters(
    cfg: VAConfig, dns: TestDNS, value: str, account: str | None, method: str, allowed: bool
) -> None:
    dns.zone.add_caa("example.com", "issue", value)
    if allowed:
        ev = check_caa(cfg, "www.example.com", account_uri=account, method=method)
        assert ev.ok and ev.extra["account"] == account
        return
    with pytest.raises(CAAForbidden) as info:
        check_caa(cfg, "www.example.com", account_uri=account, method=method)
    assert f'CAA 0 issue "{value}"' in info.value.message  # the record, quoted
    assert "RFC 8657" in info.value.message


def test_caa_rfc8657_one_of_several_properties_suffices(cfg: VAConfig, dns: TestDNS) -> None:
    dns.zone.add_caa("example.com", "issue", f"ca.example.com; accounturi={ACCOUNT}")
    dns.zone.add_caa("example.com", "issue", "ca.example.com; validationmethods=dns-01")
    assert check_caa(cfg, "www.example.com", account_uri="https://x/acct/2", method="dns-01").ok
    with pytest.raises(CAAForbidden) as info:
        check_caa(cfg, "www.example.com", account_uri="https://x/acct/2", method="http-01")
    assert "not https://x/acct/2" in info.value.message  # both records, each with its reason
    assert "not http-01" in info.value.message


@pytest.mark.parametrize(
    "value",
    [
        "ca.example.com; accounturi=not-a-uri",
        f"ca.example.com; accounturi={ACCOUNT}; accounturi={ACCOUNT}",
        "ca.example.com; validationmethods=",
        "ca.example.com; validationmethods=dns-01,,http-01",
        "ca.example.com; validationmethods=dns-01; validationmethods=http-01",
        "ca.example.com; validationmethods dns-01",
        "ca.example.com; validationmethods=dns-01;",
        "ca..example.com",
    ],
)
def test_caa_rfc8657_malformed_property_authorizes_nothing(
    cfg: VAConfig, dns: TestDNS, value: str
) -> None:
    assert parse_caa_property(0, "issue", value).malformed
    dns.zone.add_caa("example.com", "issue", value)
    with pytest.raises(CAAForbidden):
        check_caa(cfg, "www.example.com", account_uri=ACCOUNT, method="dns-01")


def test_caa_rfc8657_issuewild_parameters_for_wildcards(cfg: VAConfig, dns: TestDNS) -> None:
    dns.zone.add_caa("example.net", "issue", "ca.example.com")
    dns.zone.add_caa("example.net", "issuewild", "ca.example.com; validationmethods=dns-01")
    assert check_caa(cfg, "www.example.net", method="http-01").ok
    assert check_caa(cfg, "*.example.net", wildcard=True, method="dns-01").ok
    with pytest.raises(CAAForbidden, match="issuewild"):
        check_caa(cfg, "*.example.net", wildcard=True, method="http-01")


def test_caa_lookup_failure_stops_issuance(cfg: VAConfig, dns: TestDNS) -> None:
    dns.zone.servfail.add("www.example.com")
    with pytest.raises(CAAForbidden, match="failed"):
        check_caa(cfg, "www.example.com")


# --------------------------------------------------------------------------- hostile servers

DEADLINE = 1.5
SLACK = 3.0  # thread start-up and DNS on a busy machine; the hostile servers go on for 60 s


@pytest.fixture
def raw() -> Iterator[RawServer]:
    server = RawServer({}).start()
    yield server
    server.stop()


def _raw_cfg(dns: TestDNS, raw: RawServer, timeout: float = 1.0) -> VAConfig:
    return VAConfig(
        resolver=dns.address,
        http_port=raw.port,
        tls_port=raw.port,
        timeout=timeout,
        deadline=DEADLINE,
    )


def _failed_http(cfg: VAConfig, match: str) -> ProbeFailed:
    started = time.monotonic()
    with pytest.raises(ProbeFailed, match=match) as info:
        check_http(cfg, "www.example.com", PATH, "v", exact=False)
    assert time.monotonic() - started < DEADLINE + SLACK  # the worker is free again
    evidence = info.value.evidence
    assert evidence.ok is False and evidence.method == "http" and evidence.detail
    assert evidence.as_dict()["hops"] is not None
    return info.value


@pytest.mark.parametrize(
    ("location", "match"),
    [
        ("http://127.0.0.1:99999/x", "not a URL"),
        ("http://www.example.com:0x50/x", "not a URL"),
        ("http://[::1/x", "not a URL"),
        ("http://www.example.com:8080/x", "only ports 80 and 443"),
        ("http:///no-host", "names no host"),
        ("ftp://www.example.com/x", "only http and https"),
        ("javascript:alert(1)", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("/" + "a" * 3000, "over 2048 characters"),
        (PATH, "loop"),
        ("/", "HTTP 404"),
    ],
)
def test_http_bad_redirect_is_a_failed_check(
    dns: TestDNS, raw: RawServer, location: str, match: str
) -> None:
    raw.answers[PATH] = redirect(302, location)
    failed = _failed_http(_raw_cfg(dns, raw), match)
    assert failed.evidence.extra["hops"][0].endswith("-> 302")


def test_http_redirect_chain_too_long_is_a_failed_check(dns: TestDNS, raw: RawServer) -> None:
    for i in range(12):
        raw.answers[f"/hop{i}"] = redirect(301, f"/hop{i + 1}")
    raw.answers[PATH] = redirect(301, "/hop0")
    failed = _failed_http(_raw_cfg(dns, raw), "More than 10 redirects")
    assert len(failed.evidence.extra["hops"]) == 11


@pytest.mark.parametrize("code", [301, 302, 307, 308])
def test_http_redirect_statuses_followed(dns: TestDNS, raw: RawServer, code: int) -> None:
    raw.answers[PATH] = redirect(code, "/moved")
    raw.answers["/moved"] = body(b"v")
    evidence = check_http(_raw_cfg(dns, raw), "www.example.com", PATH, "v", exact=False)
    assert evidence.ok and evidence.target.endswith("/moved")
    assert evidence.extra["hops"][0].endswith(f"-> {code}")


@pytest.mark.parametrize("code", [300, 303, 304, 305, 306, 399])
def test_http_other_redirects_not_followed(dns: TestDNS, raw: RawServer, code: int) -> None:
    raw.answers[PATH] = redirect(code, "/moved")
    raw.answers["/moved"] = body(b"v")
    failed = _failed_http(_raw_cfg(dns, raw), f"HTTP {code}, not 200")
    assert "BR 3.2.2.4.19" in (failed.hint or "")
    assert not any(b"/moved" in r for r in raw.requests)


@pytest.mark.parametrize("head_too", [False, True], ids=["body", "head"])
def test_http_dripping_server_fails_by_the_deadline(
    dns: TestDNS, raw: RawServer, head_too: bool
) -> None:
    raw.answers[PATH] = drip(0.2, head_too=head_too)
    failed = _failed_http(_raw_cfg(dns, raw), r"took longer than 1\.5 s")
    assert failed.problem == "connection"


def test_http_silent_server_fails_by_the_deadline(dns: TestDNS, raw: RawServer) -> None:
    raw.answers[PATH] = silent
    _failed_http(_raw_cfg(dns, raw, timeout=30), r"took longer than 1\.5 s")


def test_http_oversized_answer_is_a_failed_check(dns: TestDNS, raw: RawServer) -> None:
    raw.answers[PATH] = body(b"v" + b"x" * 200_000)
    failed = _failed_http(_raw_cfg(dns, raw), "more than 64 KiB")
    assert failed.problem == "incorrectResponse"


@pytest.mark.parametrize(
    "answer",
    [b"not http at all\r\n\r\n", b"HTTP/1.1 abc\r\n\r\n", b"HTTP/1.1 200 OK\r\nX: " + b"y" * 70000],
    ids=["garbage", "bad-status", "long-header"],
)
def test_http_answer_that_is_not_http_is_a_failed_check(
    dns: TestDNS, raw: RawServer, answer: bytes
) -> None:
    raw.answers[PATH] = lambda conn, _stop: conn.sendall(answer)
    _failed_http(_raw_cfg(dns, raw), "not HTTP")


def test_tls_alpn_silent_server_fails_by_the_deadline(dns: TestDNS, raw: RawServer) -> None:
    raw.answers["*"] = silent
    started = time.monotonic()
    with pytest.raises(ProbeFailed, match=r"took longer than 1\.5 s") as info:
        check_tls_alpn(_raw_cfg(dns, raw, timeout=30), "www.example.com", "tok.thumb")
    assert time.monotonic() - started < DEADLINE + SLACK
    assert info.value.evidence.ok is False and info.value.problem == "connection"


def test_va_config_for_settings_is_what_every_front_end_uses() -> None:
    """The web app and the CLI's enrollment build their VA from settings in one place."""
    from padlock.config import Settings

    settings = Settings(
        base_url="https://ca.example.net:8443",
        va_resolver="127.0.0.1:5353",
        va_http_port=8080,
        va_tls_port=8443,
        va_deadline=3.0,
    )
    va = VAConfig.for_settings(settings)
    assert va.deadline == 3.0 and va.http_port == 8080 and va.tls_port == 8443
    assert va.caa_identities == ("ca.example.net",)
    assert VAConfig.for_settings(Settings(caa_identities=("pki.example",))).caa_identities == (
        "pki.example",
    )
