"""The "no unlisted field" gate: what padlock writes for each shipped profile passes it,
and a certificate with a field, an extension or a value its profile does not list is
refused with what and why."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from padlock.pki import der
from padlock.pki.certs import (
    CAUrls,
    LeafTemplate,
    Organization,
    assemble_certificate,
    ca_name,
    root_builder,
)
from padlock.pki.profile_gate import IssuingCA, issuing_ca, refusals
from padlock.pki.profile_model import Profile
from padlock.pki.profiles import PROFILES, validity

NOW = dt.datetime(2026, 6, 2, 12, 0, tzinfo=dt.UTC)
URLS = CAUrls(
    "http://ca.example.com/ca/i.der", "http://ca.example.com/crl/i.crl", "http://ca.example.com/o"
)
CA_KEY = ec.generate_private_key(ec.SECP256R1())
CA_CERT = root_builder(ca_name("Issuing", "Widgets", "US"), CA_KEY.public_key(), NOW, 30).sign(
    CA_KEY, hashes.SHA256()
)
CA_ALGORITHM = der.children(CA_CERT.public_bytes(Encoding.DER))[1]
CA = issuing_ca(CA_CERT, CA_ALGORITHM, URLS.issuer_cert, URLS.ocsp, frozenset({URLS.crl}))
EC_KEY = ec.generate_private_key(ec.SECP256R1()).public_key()
RSA_KEY = rsa.generate_private_key(65537, 2048).public_key()
ORG = Organization("Widgets Inc.", "Dallas", "Texas", "US")
SERIAL = (1 << 127) | 99


def _draft(profile: Profile, key: object = EC_KEY, ips: tuple[str, ...] = ()) -> bytes:
    not_before, not_after = validity(profile, NOW)
    return LeafTemplate(profile, CA_CERT, URLS, CA_ALGORITHM).tbs(
        key,  # type: ignore[arg-type]
        ["www.example.com"],
        list(ips),
        SERIAL,
        not_before,
        not_after,
        ORG if profile.needs_organization else None,
    )


def _check(tbs: bytes, profile: Profile, ca: IssuingCA = CA) -> list[str]:
    cert = x509.load_der_x509_certificate(assemble_certificate(tbs, CA_ALGORITHM, b"\x00"))
    return refusals(cert, tbs, profile, ca)


@pytest.mark.parametrize("name", list(PROFILES))
@pytest.mark.parametrize("key", [EC_KEY, RSA_KEY], ids=["ec", "rsa"])
def test_profile_gate_passes_what_padlock_writes_for_every_shipped_profile(
    name: str, key: object
) -> None:
    profile = PROFILES[name]
    ips = ("8.8.8.8",) if profile.ip_addresses else ()
    assert _check(_draft(profile, key, ips), profile) == []


def _without(profile: Profile, extension: str) -> Profile:
    kept = tuple(r for r in profile.extensions if r.name != extension)
    return dataclasses.replace(profile, extensions=kept)


def test_profile_gate_refuses_an_extension_the_profile_does_not_list() -> None:
    # padlock writes the CRL DP whatever the profile says: a file that leaves it out
    # cannot make padlock sign it.
    classic = PROFILES["classic"]
    assert _check(_draft(classic), _without(classic, "cRLDistributionPoints")) == [
        "extension cRLDistributionPoints: not listed in the classic profile"
    ]


def test_profile_gate_refuses_a_listed_extension_that_is_missing() -> None:
    tbs = _draft(PROFILES["tlsserver"])  # no SKI
    assert _check(tbs, PROFILES["classic"]) == [
        "extension subjectKeyIdentifier: listed in the profile but missing"
    ]


def test_profile_gate_refuses_a_subject_attribute_the_profile_does_not_list() -> None:
    tbs = _draft(PROFILES["classic"])  # CN = www.example.com
    problems = _check(tbs, _no_cn(PROFILES["classic"]))
    assert problems == ["subject: commonName is not listed in the classic profile"]


def _no_cn(profile: Profile) -> Profile:
    return dataclasses.replace(profile, subject=())


def test_profile_gate_refuses_key_encipherment_the_profile_does_not_allow() -> None:
    tbs = _draft(PROFILES["classic"], RSA_KEY)  # keyEncipherment set for RSA
    lean = dataclasses.replace(
        PROFILES["classic"],
        extensions=tuple(
            dataclasses.replace(r, values=("digitalSignature",)) if r.name == "keyUsage" else r
            for r in PROFILES["classic"].extensions
        ),
    )
    assert _check(tbs, lean) == ["extension keyUsage: sets key_encipherment, not allowed"]


def test_profile_gate_refuses_an_ip_address_where_the_profile_lists_dns_only() -> None:
    tbs = _draft(PROFILES["shortlived"], ips=("8.8.8.8",))
    no_ip = dataclasses.replace(
        PROFILES["shortlived"],
        extensions=tuple(
            dataclasses.replace(r, values=("dNSName",)) if r.name == "subjectAltName" else r
            for r in PROFILES["shortlived"].extensions
        ),
    )
    assert _check(tbs, no_ip) == [
        "extension subjectAltName: a iPAddress is not listed in the profile"
    ]


def test_profile_gate_refuses_urls_that_are_not_the_issuing_cas() -> None:
    tbs = _draft(PROFILES["classic"])
    other = dataclasses.replace(CA, crl_urls=frozenset({"http://elsewhere/x.crl"}), ocsp_url=None)
    assert _check(tbs, PROFILES["classic"], other) == [
        "extension authorityInfoAccess: ocsp is not the issuing CA's",
        "extension cRLDistributionPoints: http://ca.example.com/crl/i.crl is not one of the"
        " issuing CA's CRLs",
    ]


def test_profile_gate_accepts_any_crl_shard_of_the_issuing_ca() -> None:
    shards = frozenset({URLS.crl, "http://ca.example.com/crl/i-7.crl"})
    assert (
        _check(
            _draft(PROFILES["tlsserver"]),
            PROFILES["tlsserver"],
            dataclasses.replace(CA, crl_urls=shards),
        )
        == []
    )


def test_profile_gate_refuses_another_issuer_and_a_longer_validity() -> None:
    profile = PROFILES["shortlived"]
    not_before = NOW - dt.timedelta(minutes=1)
    tbs = LeafTemplate(profile, CA_CERT, URLS, CA_ALGORITHM).tbs(
        EC_KEY, ["www.example.com"], [], SERIAL, not_before, not_before + dt.timedelta(days=7)
    )
    stranger = dataclasses.replace(CA, name=der.sequence())
    problems = _check(tbs, profile, stranger)
    assert problems[0] == "issuer: not the issuing CA's subject (RFC 5280 4.1.2.4)"
    assert "exceeds the shortlived profile's 160 hours" in problems[1]


def test_profile_gate_refuses_an_extension_padlock_never_writes() -> None:
    """Built by cryptography with one extension more than the profile lists."""
    profile = PROFILES["tlsserver"]
    good = x509.load_der_x509_certificate(
        assemble_certificate(_draft(profile), CA_ALGORITHM, b"\x00")
    )
    builder = x509.CertificateBuilder(
        issuer_name=CA_CERT.subject,
        subject_name=x509.Name([]),
        public_key=EC_KEY,
        serial_number=SERIAL,
        not_valid_before=good.not_valid_before_utc,
        not_valid_after=good.not_valid_after_utc,
        extensions=[*good.extensions],
    ).add_extension(x509.OCSPNoCheck(), critical=False)
    cert = builder.sign(CA_KEY, hashes.SHA256())
    assert refusals(cert, cert.tbs_certificate_bytes, profile, CA) == [
        "extension 1.3.6.1.5.5.7.48.1.5: not listed in the tlsserver profile"
    ]
