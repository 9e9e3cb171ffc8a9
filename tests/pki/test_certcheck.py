"""padlock's own structural checks of a leaf before it is signed: a good leaf passes, and each
way a leaf can break its profile is found and named."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from padlock.errors import BadCSR
from padlock.pki import der
from padlock.pki.certcheck import leaf_problems
from padlock.pki.certs import (
    CAUrls,
    LeafTemplate,
    Organization,
    assemble_certificate,
    ca_name,
    inspect_csr,
    root_builder,
)
from padlock.pki.csr import csr_names
from padlock.pki.profiles import PROFILES, validity

NOW = dt.datetime(2025, 6, 2, 12, 0, tzinfo=dt.UTC)
URLS = CAUrls("http://ca.example.com/ca/test-issuing.der", "http://ca.example.com/crl/t.crl")
CA_KEY = ec.generate_private_key(ec.SECP256R1())
CA_CERT = root_builder(ca_name("Issuing", "Widgets", "US"), CA_KEY.public_key(), NOW, 30).sign(
    CA_KEY, hashes.SHA256()
)
CA_ALGORITHM = der.children(CA_CERT.public_bytes(Encoding.DER))[1]  # ecdsa-with-SHA256
LEAF_KEY = ec.generate_private_key(ec.SECP256R1()).public_key()
SERIAL = (1 << 127) | 12345
ORG = Organization("Widgets Inc.", "Dallas", "Texas", "US")

Edit = Callable[[x509.CertificateBuilder], x509.CertificateBuilder]


def _signed(tbs: bytes) -> x509.Certificate:
    signature = CA_KEY.sign(tbs, ec.ECDSA(hashes.SHA256()))
    return x509.load_der_x509_certificate(assemble_certificate(tbs, CA_ALGORITHM, signature))


def _leaf(
    profile: str = "dv",
    names: tuple[str, ...] = ("www.example.com", "example.com"),
    ips: tuple[str, ...] = (),
    serial: int = SERIAL,
    days: int | None = None,
    drop: tuple[x509.ObjectIdentifier, ...] = (),
    replace: dict[x509.ObjectIdentifier, x509.Extension[x509.ExtensionType]] | None = None,
    subject: x509.Name | None = None,
) -> x509.Certificate:
    p = PROFILES[profile]
    not_before, not_after = validity(p, NOW)
    if days is not None:
        not_after = not_before + dt.timedelta(days=days) - dt.timedelta(seconds=1)
    tbs = LeafTemplate(p, CA_CERT, URLS, CA_ALGORITHM).tbs(
        LEAF_KEY,
        list(names),
        list(ips),
        serial,
        not_before,
        not_after,
        ORG if p.needs_organization else None,
    )
    good = _signed(tbs)
    exts = [(replace or {}).get(e.oid, e) for e in good.extensions if e.oid not in drop]
    builder = x509.CertificateBuilder(
        issuer_name=CA_CERT.subject,
        subject_name=subject if subject is not None else good.subject,
        public_key=LEAF_KEY,
        serial_number=serial,
        not_valid_before=not_before,
        not_valid_after=not_after,
        extensions=exts,
    )
    return builder.sign(CA_KEY, hashes.SHA256())


def _ext(value: x509.ExtensionType, critical: bool = False) -> x509.Extension[x509.ExtensionType]:
    return x509.Extension(value.oid, critical, value)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_a_leaf_of_each_profile_passes(profile: str) -> None:
    assert leaf_problems(_leaf(profile), PROFILES[profile]) == []


def test_ip_leaf_passes_with_cn_in_canonical_form() -> None:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "2606:4700:4700:0::1111")])
    cert = _leaf(names=(), ips=("2606:4700:4700::1111",), subject=subject)
    assert leaf_problems(cert, PROFILES["dv"]) == []


def _one(cert: x509.Certificate, profile: str = "dv") -> str:
    problems = leaf_problems(cert, PROFILES[profile])
    assert len(problems) == 1, problems
    return problems[0]


def test_short_serial() -> None:
    assert "fewer than 64 bits" in _one(_leaf(serial=12345))


def test_too_long_for_the_profile() -> None:
    assert "399 days exceeds" in _one(_leaf(days=399))
    assert "22 days exceeds" in _one(_leaf("test", days=22), "test")


def test_san_missing() -> None:
    problems = leaf_problems(_leaf(drop=(x509.SubjectAlternativeName.oid,)), PROFILES["dv"])
    assert "subjectAltName is missing (BR 7.1.2.7.12)" in problems


def test_san_with_another_kind_of_name() -> None:
    san = _ext(
        x509.SubjectAlternativeName(
            [x509.DNSName("www.example.com"), x509.RFC822Name("a@example.com")]
        )
    )
    message = _one(_leaf(replace={san.oid: san}))
    assert "RFC822Name" in message


def test_cn_not_among_the_sans() -> None:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "other.example.com")])
    assert "commonName is not a copy" in _one(_leaf(subject=subject))


def test_cn_ip_not_among_the_sans() -> None:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "8.8.4.4")])
    assert "commonName is not a copy" in _one(_leaf(names=(), ips=("8.8.8.8",), subject=subject))


def test_ca_true() -> None:
    bc = _ext(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    assert "CA:TRUE" in _one(_leaf(replace={bc.oid: bc}))


def test_eku_missing_or_wider() -> None:
    assert "extKeyUsage is missing" in _one(_leaf(drop=(x509.ExtendedKeyUsage.oid,)))
    eku = _ext(
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])
    )
    assert "exactly serverAuth" in _one(_leaf(replace={eku.oid: eku}))


def _ku(critical: bool = True, **changes: bool) -> x509.Extension[x509.ExtensionType]:
    fields = dict(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    fields.update(changes)
    return _ext(x509.KeyUsage(**fields), critical=critical)


def test_key_usage_wrong() -> None:
    assert "keyUsage is missing" in _one(_leaf(drop=(x509.KeyUsage.oid,)))
    for bad in (_ku(critical=False), _ku(key_cert_sign=True), _ku(digital_signature=False)):
        assert "critical with digitalSignature only" in _one(_leaf(replace={bad.oid: bad}))
    enc = _ku(key_encipherment=True)
    assert "keyEncipherment is for RSA keys only" in _one(_leaf(replace={enc.oid: enc}))


def test_policy_missing_or_wrong() -> None:
    assert "certificatePolicies is missing" in _one(_leaf(drop=(x509.CertificatePolicies.oid,)))
    ov_policy = _ext(
        x509.CertificatePolicies(
            [x509.PolicyInformation(x509.ObjectIdentifier("2.23.140.1.2.2"), None)]
        )
    )
    assert "lacks 2.23.140.1.2.1" in _one(_leaf(replace={ov_policy.oid: ov_policy}))


def test_aki_and_aia_missing() -> None:
    assert "AuthorityKeyIdentifier is missing" in _one(
        _leaf(drop=(x509.AuthorityKeyIdentifier.oid,))
    )
    assert "AuthorityInformationAccess is missing" in _one(
        _leaf(drop=(x509.AuthorityInformationAccess.oid,))
    )


def test_organization_against_the_profile() -> None:
    with_org = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Widgets Inc."),
            x509.NameAttribute(NameOID.COMMON_NAME, "www.example.com"),
        ]
    )
    assert "organizationName present/absent" in _one(_leaf(subject=with_org))
    without = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.example.com")])
    assert "organizationName present/absent" in _one(_leaf("ov", subject=without), "ov")


def test_every_problem_is_listed_at_once() -> None:
    cert = _leaf(
        serial=5,
        drop=(x509.ExtendedKeyUsage.oid, x509.KeyUsage.oid, x509.CertificatePolicies.oid),
    )
    assert len(leaf_problems(cert, PROFILES["dv"])) == 4


def test_findings_on_shared_extensions_are_the_same_every_time() -> None:
    # Certificates of one template share every extension but the SAN: what certcheck found
    # on those bytes once it finds again, and the per-certificate checks still run.
    bc = _ext(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    for _ in range(3):
        assert "CA:TRUE" in _one(_leaf(replace={bc.oid: bc}))
        assert leaf_problems(_leaf(), PROFILES["dv"]) == []
        other_cn = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "other.example.com")])
        assert "commonName is not a copy" in _one(_leaf(subject=other_cn))
    # The profile is part of what was found: a dv leaf is no ov leaf, whichever comes first.
    dv_leaf = _leaf("dv")
    assert leaf_problems(dv_leaf, PROFILES["dv"]) == []
    assert any("lacks 2.23.140.1.2.2" in p for p in leaf_problems(dv_leaf, PROFILES["ov"]))
    assert leaf_problems(dv_leaf, PROFILES["dv"]) == []


def test_san_names_of_every_kind_are_read_from_the_der() -> None:
    names = ("www.example.com", "*.example.com")
    ips = ("8.8.8.8", "2001:4860:4860::8888")
    cert = _leaf(names=names, ips=ips)
    assert leaf_problems(cert, PROFILES["dv"]) == []
    uri = _ext(
        x509.SubjectAlternativeName(
            [x509.DNSName("www.example.com"), x509.UniformResourceIdentifier("https://x.example")]
        )
    )
    assert "UniformResourceIdentifier" in _one(_leaf(replace={uri.oid: uri}))
    empty_san = _ext(x509.SubjectAlternativeName([]))
    subject = x509.Name([])
    problems = leaf_problems(
        _leaf(replace={empty_san.oid: empty_san}, subject=subject), PROFILES["dv"]
    )
    assert "subjectAltName is empty" in problems


# --- inspect_csr reads the same names as pki.csr.csr_names (which ACME compares orders with) ---


def _csr(names: list[x509.GeneralName] | None, cn: str | None) -> x509.CertificateSigningRequest:
    key = ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else []
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    if names is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(key, hashes.SHA256())


@pytest.mark.parametrize(
    ("names", "cn"),
    [
        ([x509.DNSName("www.example.com"), x509.DNSName("example.com")], "www.example.com"),
        ([x509.DNSName("www.example.com")], None),
        (None, "www.example.com"),
        ([x509.IPAddress(ipaddress.ip_address("8.8.8.8"))], "8.8.8.8"),
        (
            [x509.DNSName("a.example.com"), x509.IPAddress(ipaddress.ip_address("2001:db8::1"))],
            None,
        ),
        ([x509.RFC822Name("a@example.com")], "www.example.com"),  # no host SAN: the CN
        (
            [
                x509.UniformResourceIdentifier("https://x.example"),
                x509.DNSName("b.example.com"),
                x509.IPAddress(ipaddress.ip_network("10.0.0.0/8")),
                x509.DNSName("a.example.com"),
                x509.IPAddress(ipaddress.ip_address("192.0.2.1")),
            ],
            None,
        ),
    ],
)
def test_inspect_csr_reads_the_names_csr_names_reads(
    names: list[x509.GeneralName] | None, cn: str | None
) -> None:
    csr = _csr(names, cn)
    facts = inspect_csr(csr, csr.public_key())  # type: ignore[arg-type]
    dns, ips = csr_names(csr)
    assert (list(facts.dns_names), list(facts.ip_addresses)) == (dns, ips)


# --- LeafTemplate writes the same bytes as the builder it replaced ---------------------------


def _reference_leaf_builder(
    profile: str,
    public_key: CertificatePublicKeyTypes,
    dns_names: list[str],
    ip_addresses: list[str],
    serial: int,
    not_before: dt.datetime,
    not_after: dt.datetime,
    organization: Organization | None,
) -> x509.CertificateBuilder:
    """leaf_builder as first written (one add_extension per extension, every value typed)."""
    p = PROFILES[profile]
    attrs: list[x509.NameAttribute[str]] = []
    if organization is not None:
        attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, organization.country))
        if organization.state:
            attrs.append(x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, organization.state))
        if organization.locality:
            attrs.append(x509.NameAttribute(NameOID.LOCALITY_NAME, organization.locality))
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization.organization))
    first = dns_names[0] if dns_names else ip_addresses[0]
    if p.common_name and len(first) <= 64:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, first))
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ip_addresses]
    ski = CA_CERT.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attrs))
        .issuer_name(CA_CERT.subject)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.CA_ISSUERS,
                        x509.UniformResourceIdentifier(URLS.issuer_cert),
                    )
                ]
            ),
            critical=False,
        )
        .add_extension(
            x509.CertificatePolicies(
                [x509.PolicyInformation(x509.ObjectIdentifier(p.policy_oid), None)]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=not attrs)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=p.key_encipherment and isinstance(public_key, rsa.RSAPublicKey),
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        [x509.UniformResourceIdentifier(URLS.crl)], None, None, None
                    )
                ]
            ),
            critical=False,
        )
    )
    if p.subject_key_identifier:  # the profile's choice (classic), written last
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False
        )
    return builder


RSA_KEY = rsa.generate_private_key(65537, 2048).public_key()
P384_KEY = ec.generate_private_key(ec.SECP384R1()).public_key()
MANY_NAMES = [f"host-{i}.example.com" for i in range(120)]  # lengths of two and three octets


def _assert_same_tbs(
    profile: str,
    key: CertificatePublicKeyTypes,
    names: list[str],
    ips: list[str],
    serial: int = SERIAL,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    org: Organization | None = None,
) -> None:
    p = PROFILES[profile]
    if not_before is None or not_after is None:
        not_before, not_after = validity(p, NOW)
    if org is None and p.needs_organization:
        org = ORG
    ours = LeafTemplate(p, CA_CERT, URLS, CA_ALGORITHM).tbs(
        key, names, ips, serial, not_before, not_after, org
    )
    theirs = _reference_leaf_builder(profile, key, names, ips, serial, not_before, not_after, org)
    assert ours == theirs.sign(CA_KEY, hashes.SHA256()).tbs_certificate_bytes


@pytest.mark.parametrize(
    ("profile", "key", "names", "ips"),
    [
        ("test", LEAF_KEY, ["www.example.com", "example.com"], []),
        ("dv", LEAF_KEY, ["www.example.com"], ["8.8.8.8"]),
        ("ov", LEAF_KEY, ["www.example.com"], []),
        ("short-lived", RSA_KEY, ["www.example.com"], []),
        ("dv", RSA_KEY, [], ["2606:4700:4700::1111"]),
        ("dv", LEAF_KEY, ["a" * 60 + ".example.com"], []),  # longer than 64: no CN
        ("dv", P384_KEY, ["*.example.com", "example.com"], []),
        ("test", LEAF_KEY, MANY_NAMES, ["8.8.8.8", "2001:4860:4860::8888"]),
        ("ov", RSA_KEY, ["a" * 63 + ".example.com"], []),  # OV without a CN
        ("classic", RSA_KEY, ["www.example.com"], []),  # CN, SKI, keyEncipherment
        ("tlsserver", RSA_KEY, ["www.example.com"], []),  # none of them
        ("shortlived", P384_KEY, ["www.example.com"], ["8.8.8.8"]),
    ],
)
def test_leaf_template_writes_the_bytes_of_the_reference_builder(
    profile: str,
    key: CertificatePublicKeyTypes,
    names: list[str],
    ips: list[str],
) -> None:
    _assert_same_tbs(profile, key, names, ips)


@pytest.mark.parametrize(
    "org",
    [
        Organization("Widgets Inc.", None, None, "DE"),
        Organization("Société Générale", "Paris", None, "FR"),
        Organization("株式会社ウィジェット", "東京", "東京都", "JP"),
        Organization("W" * 64, "L" * 128, "S" * 128, "US"),
    ],
)
def test_leaf_template_writes_organizations_as_the_builder_does(org: Organization) -> None:
    _assert_same_tbs("ov", LEAF_KEY, ["www.example.com"], [], org=org)


@pytest.mark.parametrize(
    ("serial", "start"),
    [
        (1 << 64, dt.datetime(2026, 12, 3, 0, 0, 1, tzinfo=dt.UTC)),
        ((1 << 127) - 1, dt.datetime(2049, 12, 31, 23, 59, 59, tzinfo=dt.UTC)),  # to 2050
        ((1 << 158) + 7, dt.datetime(2050, 1, 1, tzinfo=dt.UTC)),  # GeneralizedTime
        (0x80 << 64, dt.datetime(1999, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=2)))),
    ],
)
def test_leaf_template_writes_serials_and_times_as_the_builder_does(
    serial: int, start: dt.datetime
) -> None:
    end = start + dt.timedelta(days=21) - dt.timedelta(seconds=1)
    _assert_same_tbs("test", LEAF_KEY, ["www.example.com"], [], serial, start, end)


_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(
    names=st.lists(
        st.lists(_LABEL, min_size=1, max_size=4).map(lambda labels: ".".join([*labels, "com"])),
        min_size=0,
        max_size=12,
        unique=True,
    ),
    ips=st.lists(st.ip_addresses().map(str), max_size=3, unique=True),
    serial=st.integers(min_value=1 << 64, max_value=(1 << 159) - 1),
    days=st.integers(min_value=1, max_value=21),
    profile=st.sampled_from(sorted(PROFILES)),
)
def test_leaf_template_matches_the_builder_for_any_names(
    names: list[str], ips: list[str], serial: int, days: int, profile: str
) -> None:
    if not names and not ips:
        names = ["example.com"]
    not_before = NOW
    not_after = NOW + dt.timedelta(days=days) - dt.timedelta(seconds=1)
    _assert_same_tbs(profile, LEAF_KEY, names, ips, serial, not_before, not_after)


def test_leaf_template_refuses_what_no_certificate_may_hold() -> None:
    template = LeafTemplate(PROFILES["dv"], CA_CERT, URLS, CA_ALGORITHM)
    nb, na = validity(PROFILES["dv"], NOW)
    with pytest.raises(ValueError, match="at least one name"):
        template.tbs(LEAF_KEY, [], [], SERIAL, nb, na)
    for serial in (0, -1, 1 << 159):
        with pytest.raises(ValueError, match="serial"):
            template.tbs(LEAF_KEY, ["www.example.com"], [], serial, nb, na)
    ov = LeafTemplate(PROFILES["ov"], CA_CERT, URLS, CA_ALGORITHM)
    with pytest.raises(ValueError, match="country"):
        ov.tbs(
            LEAF_KEY, ["www.example.com"], [], SERIAL, nb, na, Organization("W", None, None, "USA")
        )


@settings(max_examples=80, deadline=None)
@given(
    first=st.one_of(
        st.lists(_LABEL, min_size=1, max_size=30).map(lambda labels: ".".join([*labels, "com"])),
        st.lists(_LABEL, min_size=1, max_size=3).map(lambda labels: "*." + ".".join(labels)),
        st.ip_addresses().map(str),
        st.text(min_size=1, max_size=80),
    ),
    profile=st.sampled_from(sorted(PROFILES)),
)
def test_leaf_template_subject_text_is_the_certificates_rfc4514_string(
    first: str, profile: str
) -> None:
    template = LeafTemplate(PROFILES[profile], CA_CERT, URLS, CA_ALGORITHM)
    text = template.subject_text(first)
    if text is None:  # not plain: the caller reads the certificate instead
        return
    nb, na = validity(PROFILES[profile], NOW)
    tbs = template.tbs(LEAF_KEY, [first], [], SERIAL, nb, na)
    assert text == _signed(tbs).subject.rfc4514_string()


def test_leaf_template_subject_text_only_where_plain() -> None:
    dv = LeafTemplate(PROFILES["dv"], CA_CERT, URLS, CA_ALGORITHM)
    assert dv.subject_text("www.example.com") == "CN=www.example.com"
    assert dv.subject_text("2001:db8::1") == "CN=2001:db8::1"
    assert dv.subject_text("a" * 60 + ".example.com") == ""  # over 64: no CN (X.520)
    assert dv.subject_text("Widgets, Inc.") is None
    assert dv.subject_text("#x") is None
    ov = LeafTemplate(PROFILES["ov"], CA_CERT, URLS, CA_ALGORITHM)
    assert ov.subject_text("www.example.com") is None


@pytest.mark.parametrize(
    "attributes",
    [
        [x509.NameAttribute(NameOID.COMMON_NAME, "www.example.com")],
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Widgets Inc."),
            x509.NameAttribute(NameOID.COMMON_NAME, "www.example.com"),
        ],
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "a.example.com"),
            x509.NameAttribute(NameOID.COMMON_NAME, "b.example.com", _ASN1Type.PrintableString),
            x509.NameAttribute(NameOID.COMMON_NAME, "c.example.com", _ASN1Type.IA5String),
            x509.NameAttribute(NameOID.COMMON_NAME, "ü.example.com"),
        ],
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Widgets")],
        [],
    ],
)
def test_subject_facts_read_from_the_der_as_cryptography_reads_them(
    attributes: list[x509.NameAttribute],
) -> None:
    from padlock.pki.certs import name_facts as _subject_facts

    name = x509.Name(attributes)
    facts = _subject_facts(name.public_bytes())
    assert facts == (
        [str(a.value) for a in name.get_attributes_for_oid(NameOID.COMMON_NAME)],
        bool(name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)),
    )


def test_subject_facts_leave_other_string_types_to_cryptography() -> None:
    from padlock.pki.certs import name_facts as _subject_facts

    bmp = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "www.example.com", _ASN1Type.BMPString)]
    )
    assert _subject_facts(bmp.public_bytes()) is None
    cert = _leaf("dv", subject=bmp)  # a BMPString CN that is a SAN: still accepted
    assert leaf_problems(cert, PROFILES["dv"]) == []
    other = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "other.example", _ASN1Type.BMPString)]
    )
    assert any("commonName" in p for p in leaf_problems(_leaf("dv", subject=other), PROFILES["dv"]))


def _csr_with_subject(attributes: list[x509.NameAttribute]) -> x509.CertificateSigningRequest:
    key = ec.generate_private_key(ec.SECP256R1())
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(attributes))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("www.example.com")]), critical=False
        )
        .sign(key, hashes.SHA256())
    )


@pytest.mark.parametrize("kind", [None, _ASN1Type.PrintableString, _ASN1Type.BMPString])
def test_inspect_csr_reads_the_cn_whatever_its_string_type(kind: _ASN1Type | None) -> None:
    from padlock.pki.certs import inspect_csr

    extra = {} if kind is None else {"_type": kind}
    good = _csr_with_subject([x509.NameAttribute(NameOID.COMMON_NAME, "www.example.com", **extra)])
    assert inspect_csr(good, good.public_key()).common_name == "www.example.com"  # type: ignore[arg-type]
    bad = _csr_with_subject([x509.NameAttribute(NameOID.COMMON_NAME, "other.example", **extra)])
    with pytest.raises(BadCSR, match="not among its subjectAltNames"):
        inspect_csr(bad, bad.public_key())  # type: ignore[arg-type]


def test_inspect_csr_refuses_two_common_names() -> None:
    from padlock.pki.certs import inspect_csr

    csr = _csr_with_subject(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "www.example.com"),
            x509.NameAttribute(NameOID.COMMON_NAME, "www.example.com"),
        ]
    )
    with pytest.raises(BadCSR, match="more than one Common Name"):
        inspect_csr(csr, csr.public_key())  # type: ignore[arg-type]


def test_key_kinds_are_isinstance_answered_once_per_type() -> None:
    from padlock.pki.keys import is_ec_key, is_rsa_key

    ec_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    rsa_key = rsa.generate_private_key(65537, 2048).public_key()
    for _ in range(2):  # asked, then remembered
        assert is_ec_key(ec_key) and not is_rsa_key(ec_key)
        assert is_rsa_key(rsa_key) and not is_ec_key(rsa_key)
        assert not is_ec_key(rsa_key.public_numbers()) and not is_rsa_key("a string")
