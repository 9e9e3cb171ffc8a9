"""DNSSEC in domain validation (ballot SC-085: BR 3.2.2.4 and 3.2.2.8 from 2026-03-15).

Real NSD serves signed, unsigned and bogus zones; real unbound validates them
(tests/support/dnssec_zone.py). The VA uses the resolver's verdict: a secure or insecure
answer is used (and its AD bit kept with the evidence), a bogus one is a refusal with a
DNSSEC error, for CAA (never read as "no CAA"), the dns-01 TXT and the http-01 address.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from padlock.acme import challenges as ch
from padlock.acme import persist
from padlock.acme.messages import Identifier
from padlock.ca import lookup
from padlock.ca import validation as va
from padlock.ca.acmeserver.model import AcmeSettings
from padlock.errors import CAAForbidden
from tests.support.acme_client import Client, make_csr, thumbprint
from tests.support.acme_server import CAA_IDENTITY, VA, Server, obtain, prove, start_server
from tests.support.acme_server import data_dir as acme_ca  # noqa: F401  (a fixture)
from tests.support.acme_server import http as acme_http  # noqa: F401  (a fixture)
from tests.support.dnssec_zone import BOGUS, INSECURE, SECURE, SignedZones
from tests.support.dnsserver import TestDNS
from tests.support.httpfiles import FileServer
from tests.support.tlsalpn import ALPNResponder

BOGUS_CAA = f"caa.{BOGUS}"  # a CAA record naming us, its signature broken


@pytest.fixture(scope="module")
def zones(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SignedZones]:
    signed = SignedZones(tmp_path_factory.mktemp("dnssec")).start()
    try:
        signed.publish(BOGUS, f'caa IN CAA 0 issue "{CAA_IDENTITY}"')
        yield signed
    finally:
        signed.stop()


@pytest.fixture(scope="module")
def cfg(zones: SignedZones) -> va.VAConfig:
    return va.VAConfig(resolver=zones.resolver.address, caa_identities=(CAA_IDENTITY,))


def _label(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


# --- the lookups themselves -----------------------------------------------------------------


@pytest.mark.parametrize(("zone", "verdict"), [(SECURE, "secure"), (INSECURE, "insecure")])
def test_dnssec_txt_evidence_records_the_verdict(
    zones: SignedZones, cfg: va.VAConfig, zone: str, verdict: str
) -> None:
    label = _label("txt")
    zones.publish(zone, f'_pki-validation.{label} IN TXT "token-{label}"')
    name = f"{label}.{zone}"
    evidence = va.check_dns_txt(cfg, name, f"_pki-validation.{name}", f"token-{label}")
    assert evidence.ok and evidence.extra["dnssec"] == verdict


@pytest.mark.parametrize("zone", [SECURE, INSECURE])
def test_dnssec_caa_and_address_of_valid_zones_used(cfg: va.VAConfig, zone: str) -> None:
    assert va.check_caa(cfg, f"www.{zone}").ok  # a validated "no CAA"
    assert va.resolve_addresses(cfg, f"www.{zone}") == ["127.0.0.1"]


def test_dnssec_bogus_caa_refused_not_read_as_no_caa(cfg: va.VAConfig) -> None:
    for name in (BOGUS_CAA, f"www.{BOGUS_CAA}"):  # at the name, and found climbing to it
        with pytest.raises(CAAForbidden) as err:
            va.check_caa(cfg, name)
        assert "DNSSEC validation of CAA caa.bogus.example.com failed" in err.value.message
        assert "DNSSEC bogus" in err.value.message


def test_dnssec_bogus_txt_refused(zones: SignedZones, cfg: va.VAConfig) -> None:
    label = _label("txt")
    zones.publish(BOGUS, f'_pki-validation.{label} IN TXT "token-{label}"')
    name = f"{label}.{BOGUS}"
    with pytest.raises(va.ProbeFailed) as err:
        va.check_dns_txt(cfg, name, f"_pki-validation.{name}", f"token-{label}")
    assert err.value.problem == "dns"
    assert f"DNSSEC validation of TXT _pki-validation.{name} failed" in err.value.message
    assert err.value.evidence.extra["dnssec"] == "bogus"


def test_dnssec_bogus_address_refused(cfg: va.VAConfig) -> None:
    name = f"www.{BOGUS}"
    with pytest.raises(va.DNSSECProblem, match=f"DNSSEC validation of A {name} failed"):
        va.resolve_addresses(cfg, name)
    with pytest.raises(va.ProbeFailed) as err:
        va.check_http(cfg, name, "/.well-known/pki-validation/x.txt", "x", exact=False)
    assert err.value.problem == "dns" and "DNSSEC bogus" in err.value.message


@pytest.mark.parametrize(("zone", "verdict"), [(SECURE, "secure"), (INSECURE, "insecure")])
def test_dnssec_caa_evidence_records_the_verdict(
    zones: SignedZones, cfg: va.VAConfig, zone: str, verdict: str
) -> None:
    """The verdict of every answer the climb used: here the record is at the name."""
    label = _label("caa")
    zones.publish(zone, f'{label} IN CAA 0 issue "{CAA_IDENTITY}"')
    assert va.check_caa(cfg, f"{label}.{zone}").extra["dnssec"] == verdict
    # "no CAA" climbs to the unsigned TLD above the test's trust anchor: not all secure
    assert va.check_caa(cfg, f"none.{zone}").extra["dnssec"] == "insecure"


PREFIX = "https://ca.example/acme/account-hash/"
ACCOUNT = "https://ca.example/acme/acct/1"
THUMB = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def _persist_expected() -> persist.Expected:
    now = dt.datetime.now(dt.UTC)
    return persist.Expected((CAA_IDENTITY,), ACCOUNT, (THUMB,), PREFIX, False, now)


def _publish_persist(zones: SignedZones, zone: str) -> str:
    label = _label("persist")
    name = f"{label}.{zone}"
    uri = persist.hashed_account_uri(PREFIX, name, THUMB, ACCOUNT)
    value = persist.record_value(CAA_IDENTITY, uri, wildcard=False, until=None)
    zones.publish(zone, f'{persist.PERSIST_LABEL}.{label} IN TXT "{value}"')
    return name


@pytest.mark.parametrize(("zone", "verdict"), [(SECURE, "secure"), (INSECURE, "insecure")])
def test_dnssec_persist_evidence_records_the_verdict(
    zones: SignedZones, cfg: va.VAConfig, zone: str, verdict: str
) -> None:
    name = _publish_persist(zones, zone)
    qname = persist.persist_name(name)
    evidence = va.check_dns_persist(cfg, name, qname, _persist_expected())
    assert evidence.ok and evidence.extra["dnssec"] == verdict


def test_dnssec_bogus_persist_and_account_records_refused(
    zones: SignedZones, cfg: va.VAConfig
) -> None:
    """draft-ietf-acme-dns-persist-02 section 7.8.1: a DNSSEC failure is a challenge failure,
    the record never used; dns-account-01's TXT likewise (ballot SC-085)."""
    name = _publish_persist(zones, BOGUS)
    qname = persist.persist_name(name)
    with pytest.raises(va.ProbeFailed) as err:
        va.check_dns_persist(cfg, name, qname, _persist_expected())
    assert err.value.problem == "dns" and err.value.evidence.extra["dnssec"] == "bogus"
    assert f"DNSSEC validation of TXT {qname} failed" in err.value.message

    label = _label("acct")
    account_name = ch.dns_account_name(Identifier("dns", f"{label}.{BOGUS}"), ACCOUNT)
    zones.publish(BOGUS, f'{account_name.removesuffix("." + BOGUS)} IN TXT "value"')
    with pytest.raises(va.ProbeFailed) as err:
        va.check_dns_account(cfg, f"{label}.{BOGUS}", account_name, "value")
    assert err.value.problem == "dns" and err.value.evidence.extra["dnssec"] == "bogus"


def test_dnssec_servfail_without_extended_error_still_refused(zones: SignedZones) -> None:
    """A validating resolver that says only SERVFAIL (no RFC 8914 code): the CD query
    shows the data is there, so the failure is DNSSEC's, a refusal and never "no CAA"."""
    plain = next((r for r in zones.resolvers if not r.ede), None)
    plain = plain or zones.start_resolver(ede=False)
    cfg = va.VAConfig(resolver=plain.address, caa_identities=(CAA_IDENTITY,))
    with pytest.raises(CAAForbidden, match="checking disabled"):
        va.check_caa(cfg, BOGUS_CAA)
    with pytest.raises(va.DNSSECProblem, match="checking disabled"):
        va.resolve_addresses(cfg, f"www.{BOGUS}")
    assert va.check_caa(cfg, f"www.{SECURE}").ok


# --- ACME issuance over the validating resolver -----------------------------------------------


@pytest.fixture(scope="module")
def acme(
    acme_ca: Path,  # noqa: F811  (the fixture imported above)
    zones: SignedZones,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Server, VA]]:
    """An ACME server whose VA asks unbound (the TestDNS is only there to fill VA)."""
    loopback = VA(
        TestDNS().start(),
        FileServer().start(),
        ALPNResponder().start(),
        tmp_path_factory.mktemp("t"),
    )
    server = start_server(
        acme_ca,
        loopback,
        AcmeSettings(
            caa_identities=(CAA_IDENTITY,),
            issuer_domain_names=(CAA_IDENTITY,),
            validation_wait=10,
        ),
        {"va_resolver": zones.resolver.spec},
    )
    try:
        yield server, loopback
    finally:
        server.stop()
        loopback.alpn.stop()
        loopback.web.stop()
        loopback.dns.stop()


@pytest.fixture
def client(acme_http: Any, acme: tuple[Server, VA]) -> Client:  # noqa: F811
    c = Client(acme_http, acme[0].trusted)
    assert c.register().status_code == 201
    return c


def _prove_dns01(client: Client, zones: SignedZones, zone: str, authz_url: str) -> dict[str, Any]:
    """Publish the dns-01 TXT in the real zone (signed again), then answer the challenge."""
    authz = client.get(authz_url).json()
    chal = client.challenge_of(authz, "dns-01")
    name = authz["identifier"]["value"]
    value = ch.dns01_value(client.key_authorization(chal["token"]))
    owner = ch.dns01_name(Identifier("dns", name)).removesuffix(f".{zone}")
    zones.publish(zone, f'{owner} IN TXT "{value}"')
    result: dict[str, Any] = client.post(chal["url"], {}).json()
    for _ in range(200):  # bounded
        if result["status"] not in ("pending", "processing"):
            break
        time.sleep(0.05)
        result = client.get(chal["url"]).json()
    return result


@pytest.mark.parametrize("zone", [SECURE, INSECURE])
def test_dnssec_acme_http01_issued(
    client: Client, acme: tuple[Server, VA], zones: SignedZones, zone: str
) -> None:
    label = _label("h")
    name = f"{label}.{zone}"
    zones.publish(zone, f'{label} IN CAA 0 issue "{CAA_IDENTITY}"')
    zones.publish(zone, f"{label} IN A 127.0.0.1")  # a name of its own: no wildcard A (RFC 4592)
    order, _url, pem = obtain(client, acme[1], [name])
    assert order["status"] == "valid" and "BEGIN CERTIFICATE" in pem
    # the evidence of CAA and of the http-01 address lookup keeps the resolver's verdict
    verdict = "secure" if zone == SECURE else "insecure"
    assert _evidence(acme[0], name, "caa")["dnssec"] == verdict
    assert _evidence(acme[0], name, "http")["dnssec"] == verdict


def _evidence(server: Server, name: str, method: str) -> dict[str, Any]:
    events = server.app.state.services.authority.store.iter_events()
    found = [
        ev
        for e in events
        if e.action == "acme.challenge.valid" and e.details["identifier"]["value"] == name
        for ev in e.details["evidence"]
        if ev["method"] == method
    ]
    assert found, f"no {method} evidence for {name}"
    return dict(found[0])


def test_dnssec_acme_dns01_secure_issued(
    client: Client, acme: tuple[Server, VA], zones: SignedZones
) -> None:
    name = f"{_label('d')}.{SECURE}"
    order = client.new_order([name]).json()
    chal = _prove_dns01(client, zones, SECURE, order["authorizations"][0])
    assert chal["status"] == "valid", chal
    final = client.finalize(order, make_csr([name])).json()
    assert final["status"] == "valid", final
    assert _evidence(acme[0], name, "dns")["dnssec"] == "secure"


def _refusal(chal: dict[str, Any], kind: str) -> str:
    assert chal["status"] == "invalid", chal
    assert chal["error"]["type"] == f"urn:ietf:params:acme:error:{kind}", chal["error"]
    return str(chal["error"]["detail"])


def test_dnssec_acme_bogus_refused_for_caa_txt_and_address(
    client: Client, acme: tuple[Server, VA], zones: SignedZones
) -> None:
    loopback = acme[1]
    caa = client.new_order([BOGUS_CAA]).json()
    detail = _refusal(prove(client, loopback, caa["authorizations"][0]), "caa")
    assert "DNSSEC validation of CAA" in detail and "no CAA" not in detail

    http_name = f"{_label('h')}.{BOGUS}"
    order = client.new_order([http_name]).json()
    detail = _refusal(prove(client, loopback, order["authorizations"][0]), "dns")
    assert f"DNSSEC validation of A {http_name} failed" in detail

    dns_name = f"{_label('d')}.{BOGUS}"
    order = client.new_order([dns_name]).json()
    detail = _refusal(_prove_dns01(client, zones, BOGUS, order["authorizations"][0]), "dns")
    assert f"DNSSEC validation of TXT _acme-challenge.{dns_name} failed" in detail


@pytest.mark.parametrize("zone", [SECURE, BOGUS])
def test_dnssec_acme_dns_persist_secure_issued_bogus_refused(
    client: Client, acme: tuple[Server, VA], zones: SignedZones, zone: str
) -> None:
    label = _label("p")
    name = f"{label}.{zone}"
    meta = client.directory["meta"]
    uri = persist.hashed_account_uri(
        meta["accountHashPrefix"], name, thumbprint(client.key), str(client.kid)
    )
    value = persist.record_value(CAA_IDENTITY, uri, wildcard=False, until=None)
    zones.publish(zone, f'{persist.PERSIST_LABEL}.{label} IN TXT "{value}"')
    order = client.new_order([name]).json()
    chal = client.challenge_of(client.get(order["authorizations"][0]).json(), "dns-persist-01")
    result = client.post(chal["url"], {}).json()
    if zone == BOGUS:
        detail = _refusal(result, "dns")
        assert f"DNSSEC validation of TXT _validation-persist.{name} failed" in detail
        return
    assert result["status"] == "valid", result
    assert _evidence(acme[0], name, "dns-persist")["dnssec"] == "secure"


# --- padlock doctor: does the configured resolver validate? ----------------------------------


def test_dnssec_resolver_check_validating_and_not(zones: SignedZones) -> None:
    names = (f"www.{SECURE}", f"www.{BOGUS}")
    good = lookup.check_resolver(zones.resolver.address, 5.0, *names)
    assert good.ok and "validates DNSSEC" in good.detail
    # NSD itself answers as a server that does not validate would: no AD, bogus data served
    plain = lookup.check_resolver(("127.0.0.1", zones.nsd_port), 5.0, *names)
    assert not plain.ok and "does NOT validate DNSSEC" in plain.detail
    assert f"no AD bit for www.{SECURE}" in plain.detail
    assert f"it answers www.{BOGUS}" in plain.detail


def test_dnssec_doctor_reports_the_resolver(
    zones: SignedZones, cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PADLOCK_VA_DNSSEC_SECURE", f"www.{SECURE}")
    monkeypatch.setenv("PADLOCK_VA_DNSSEC_BOGUS", f"www.{BOGUS}")
    for server, ok in ((zones.resolver.spec, True), (f"127.0.0.1:{zones.nsd_port}", False)):
        monkeypatch.setenv("PADLOCK_VA_RESOLVER", server)
        res = cli("doctor", "--data-dir", tmp_path, "--json")
        (check,) = [c for c in json.loads(res.out) if c["check"] == "dnssec"]
        assert check["ok"] is ok, check
    offline = cli("doctor", "--data-dir", tmp_path, "--json", "--offline")
    assert "dnssec" not in {c["check"] for c in json.loads(offline.out)}
