"""Pre-issuance linting with pkilint (BR 4.3.1.2): conformant certificates pass, broken fail."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from padlock.errors import LintFailed
from padlock.pki import lint
from padlock.pki.lint import CertKind, Finding, LintReport, Severity

NOW = dt.datetime(2025, 6, 2, 12, 0, tzinfo=dt.UTC)
DER = serialization.Encoding.DER
DV_POLICY = x509.ObjectIdentifier("2.23.140.1.2.1")
OV_POLICY = x509.ObjectIdentifier("2.23.140.1.2.2")
BASE = "http://ca.example.com"


def _name(*attrs: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in attrs])


@dataclass(frozen=True)
class CA:
    key: ec.EllipticCurvePrivateKey
    name: x509.Name
    ski: x509.SubjectKeyIdentifier


def _ca(common_name: str, curve: ec.EllipticCurve) -> CA:
    key = ec.generate_private_key(curve)
    name = _name(
        (NameOID.COUNTRY_NAME, "US"),
        (NameOID.ORGANIZATION_NAME, "Widgets Inc"),
        (NameOID.COMMON_NAME, common_name),
    )
    return CA(key, name, x509.SubjectKeyIdentifier.from_public_key(key.public_key()))


@pytest.fixture(scope="module")
def root() -> CA:
    return _ca("Widgets Root R1", ec.SECP384R1())


@pytest.fixture(scope="module")
def issuing() -> CA:
    return _ca("Widgets TLS Issuing CA 1", ec.SECP256R1())


@dataclass(frozen=True)
class Leaf:
    """A subscriber certificate as BR 7.1.2.7 wants it; each field can be broken on purpose."""

    dns_names: tuple[str, ...] = ("www.example.com", "example.com")
    common_name: str | None = "www.example.com"
    organization: tuple[tuple[x509.ObjectIdentifier, str], ...] = ()
    policy: x509.ObjectIdentifier = DV_POLICY
    days: int = 90
    not_before: dt.datetime = NOW
    ca: bool = False
    key_encipherment: bool = False
    extra: tuple[x509.ExtensionType, ...] = field(default_factory=tuple)
    public_key: CertificatePublicKeyTypes | None = None

    def build(self, issuer: CA) -> bytes:
        public = self.public_key or ec.generate_private_key(ec.SECP256R1()).public_key()
        subject = list(self.organization)
        if self.common_name:
            subject.append((NameOID.COMMON_NAME, self.common_name))
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(*subject))
            .issuer_name(issuer.name)
            .public_key(public)
            .serial_number(secrets.randbits(128) >> 1 | 1 << 126)  # 127 bits, positive
            .not_valid_before(self.not_before)
            # BR 6.3.2: the period counts both ends, so N days end one second early.
            .not_valid_after(self.not_before + dt.timedelta(days=self.days, seconds=-1))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=self.key_encipherment,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.BasicConstraints(ca=self.ca, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer.ski), False
            )
            .add_extension(
                x509.AuthorityInformationAccess(
                    [
                        x509.AccessDescription(
                            AuthorityInformationAccessOID.CA_ISSUERS,
                            x509.UniformResourceIdentifier(f"{BASE}/issuing-1.cer"),
                        )
                    ]
                ),
                critical=False,
            )
            .add_extension(
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            [x509.UniformResourceIdentifier(f"{BASE}/issuing-1.crl")],
                            None,
                            None,
                            None,
                        )
                    ]
                ),
                critical=False,
            )
            .add_extension(
                x509.CertificatePolicies([x509.PolicyInformation(self.policy, None)]), False
            )
        )
        if self.dns_names:
            names = [x509.DNSName(n) for n in self.dns_names]
            # RFC 5280 4.2.1.6: with an empty subject the SAN extension is critical.
            builder = builder.add_extension(
                x509.SubjectAlternativeName(names), critical=not subject
            )
        for ext in self.extra:
            builder = builder.add_extension(ext, critical=False)
        return builder.sign(issuer.key, hashes.SHA256()).public_bytes(DER)


def _ca_cert(subject: CA, issuer: CA, *, root: bool) -> bytes:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject.name)
        .issuer_name(issuer.name)
        .public_key(subject.key.public_key())
        .serial_number(secrets.randbits(127) | 1 << 126)
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=(25 if root else 5) * 365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None if root else 0), True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(subject.ski, critical=False)
    )
    if not root:
        builder = (
            builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer.ski), False
            )
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.CertificatePolicies(
                    [x509.PolicyInformation(x509.ObjectIdentifier("2.23.140.1.2.1"), None)]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityInformationAccess(
                    [
                        x509.AccessDescription(
                            AuthorityInformationAccessOID.CA_ISSUERS,
                            x509.UniformResourceIdentifier(f"{BASE}/root.cer"),
                        )
                    ]
                ),
                critical=False,
            )
            .add_extension(
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            [x509.UniformResourceIdentifier(f"{BASE}/root.crl")], None, None, None
                        )
                    ]
                ),
                critical=False,
            )
        )
    return builder.sign(issuer.key, hashes.SHA384()).public_bytes(DER)


def codes(report: LintReport) -> set[str]:
    return {f.code for f in report.errors}


# --- conformant certificates pass ---------------------------------------------------------


def test_dv_leaf_passes(issuing: CA) -> None:
    der = Leaf().build(issuing)
    report = lint.lint_serverauth(der)
    assert report.kind == "DV-FINAL-CERTIFICATE"
    assert report.errors == (), report.findings
    assert report.ok
    assert lint.lint_serverauth(der, CertKind.DV).errors == ()
    lint.raise_on_errors(report)


def test_dv_leaf_without_common_name_passes_without_warnings(issuing: CA) -> None:
    # No CN, so an empty subject: the SAN must then be critical (RFC 5280 4.2.1.6).
    report = lint.lint_serverauth(Leaf(common_name=None).build(issuing), CertKind.DV)
    assert report.errors == () and report.warnings == (), report.findings


def test_dv_leaf_with_common_name_draws_only_a_warning(issuing: CA) -> None:
    # BR 7.1.2.7.2: the CN is NOT RECOMMENDED; padlock's dv keeps it for old clients.
    report = lint.lint_serverauth(Leaf().build(issuing), CertKind.DV)
    assert {f.code for f in report.warnings} == {"cabf.serverauth.dv.common_name_attribute_present"}


def test_rsa_leaf_with_key_encipherment_passes(issuing: CA) -> None:
    public = rsa.generate_private_key(65537, 2048).public_key()
    report = lint.lint_serverauth(Leaf(public_key=public, key_encipherment=True).build(issuing))
    assert report.errors == (), report.findings


def test_ov_leaf_passes(issuing: CA) -> None:
    organization = (
        (NameOID.COUNTRY_NAME, "US"),
        (NameOID.STATE_OR_PROVINCE_NAME, "California"),
        (NameOID.LOCALITY_NAME, "San Francisco"),
        (NameOID.ORGANIZATION_NAME, "Example Widgets LLC"),
    )
    der = Leaf(organization=organization, policy=OV_POLICY).build(issuing)
    report = lint.lint_serverauth(der)
    assert report.kind == "OV-FINAL-CERTIFICATE"
    assert report.errors == (), report.findings


def test_root_and_intermediate_pass(root: CA, issuing: CA) -> None:
    root_report = lint.lint_serverauth(_ca_cert(root, root, root=True))
    assert root_report.kind == "ROOT-CA"
    assert root_report.errors == (), root_report.findings
    assert lint.lint_serverauth(_ca_cert(root, root, root=True), CertKind.ROOT).ok
    der = _ca_cert(issuing, root, root=False)
    report = lint.lint_serverauth(der)
    assert report.kind == "INTERNAL-UNCONSTRAINED-TLS-CA"
    assert report.errors == (), report.findings
    assert lint.lint_serverauth(der, CertKind.INTERMEDIATE).ok


def test_validity_rules_follow_the_certificates_own_date(issuing: CA) -> None:
    # 398 days before 2026-03-15, 200 from then (BR 6.3.2); pkilint reads no clock.
    assert lint.lint_serverauth(Leaf(days=398).build(issuing)).ok
    later = Leaf(days=250, not_before=dt.datetime(2026, 4, 1, tzinfo=dt.UTC))
    assert "cabf.serverauth.certificate_validity_period_exceeds_200_days" in codes(
        lint.lint_serverauth(later.build(issuing))
    )
    assert lint.lint_serverauth(replace(later, days=200).build(issuing)).ok


# --- broken certificates fail -------------------------------------------------------------


def test_empty_subject_with_non_critical_san_is_an_error(issuing: CA) -> None:
    der = Leaf(common_name=None).build(issuing)
    cert = x509.load_der_x509_certificate(der)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical
    # Rebuild the same with a non-critical SAN: the mistake pkilint catches.
    builder = x509.CertificateBuilder(
        issuer_name=cert.issuer,
        subject_name=cert.subject,
        public_key=cert.public_key(),
        serial_number=cert.serial_number,
        not_valid_before=cert.not_valid_before_utc,
        not_valid_after=cert.not_valid_after_utc,
        extensions=[
            x509.Extension(e.oid, False if e.oid == san.oid else e.critical, e.value)
            for e in cert.extensions
        ],
    )
    bad = builder.sign(issuing.key, hashes.SHA256()).public_bytes(DER)
    assert "pkix.san_extension_not_critical_empty_subject" in codes(lint.lint_serverauth(bad))


def test_missing_san_is_an_error(issuing: CA) -> None:
    report = lint.lint_serverauth(Leaf(dns_names=()).build(issuing))
    assert "cabf.serverauth.subscriber.subject_altname_extension_absent" in codes(report)


def test_ca_true_on_a_server_certificate_is_an_error(issuing: CA) -> None:
    der = Leaf(ca=True).build(issuing)
    as_meant = lint.lint_serverauth(der, CertKind.DV)
    assert as_meant.kind == "DV-FINAL-CERTIFICATE"
    assert "cabf.serverauth.subscriber_basic_constraints_ca_bit_set" in codes(as_meant)
    detected = lint.lint_serverauth(der)  # pkilint takes it for an intermediate
    assert detected.kind == "INTERNAL-UNCONSTRAINED-TLS-CA"
    assert detected.errors


def test_2000_day_validity_is_an_error(issuing: CA) -> None:
    report = lint.lint_serverauth(Leaf(days=2000).build(issuing))
    assert "cabf.serverauth.certificate_validity_period_exceeds_398_days" in codes(report)


def test_internal_name_is_an_error(issuing: CA) -> None:
    report = lint.lint_serverauth(
        Leaf(dns_names=("intranet.local",), common_name=None).build(issuing)
    )
    assert "cabf.internal_domain_name" in codes(report)


def test_undecodable_input_is_fatal() -> None:
    for blob in (b"", b"\x30\x03\x02\x01\x01", b"not a certificate"):
        report = lint.lint_serverauth(blob)
        assert [f.code for f in report.errors] == [lint.UNDECODABLE]
        assert report.errors[0].severity is Severity.FATAL


# --- reporting ----------------------------------------------------------------------------


def test_raise_on_errors_names_every_code(issuing: CA) -> None:
    report = lint.lint_serverauth(Leaf(dns_names=(), days=2000).build(issuing))
    with pytest.raises(LintFailed) as info:
        lint.raise_on_errors(report)
    message = info.value.message
    for code in codes(report):
        assert code in message
    assert "Nothing was signed" in message
    assert info.value.problem_type.status == 500


def test_findings_are_sorted_and_printable(issuing: CA) -> None:
    report = lint.lint_serverauth(Leaf(dns_names=()).build(issuing))
    severities = [f.severity for f in report.findings]
    assert severities == sorted(severities)
    first = report.findings[0]
    assert str(first).startswith(f"{first.severity.name} {first.code}")
    assert all(f.where for f in report.findings)


def test_expected_findings_are_set_apart(monkeypatch: pytest.MonkeyPatch, issuing: CA) -> None:
    assert dict(lint.EXPECTED_FINDINGS) == {}
    with pytest.raises(TypeError):
        lint.EXPECTED_FINDINGS["x"] = "y"  # type: ignore[index]
    code = "cabf.serverauth.certificate_validity_period_exceeds_398_days"
    monkeypatch.setattr(lint, "EXPECTED_FINDINGS", {code: "a test says so"})
    report = lint.lint_serverauth(Leaf(days=2000).build(issuing))
    assert report.ok
    assert [f.code for f in report.expected] == [code]


def test_report_severity_names_match_pkilint() -> None:
    from pkilint.validation import ValidationFindingSeverity

    assert [s.name for s in Severity] == [s.name for s in ValidationFindingSeverity]
    assert Finding(Severity.FATAL, "x").is_error and not Finding(Severity.WARNING, "x").is_error


def test_validators_are_built_once(issuing: CA) -> None:
    lint.warm_up([CertKind.DV])
    linter = lint._SERVERAUTH[lint._PKILINT_TYPES[CertKind.DV]]
    built = linter._built
    assert built is not None
    lint.lint_serverauth(Leaf().build(issuing), CertKind.DV)
    lint.lint_serverauth(Leaf().build(issuing))
    assert linter._built is built


def _every_result(
    validator: object, der: bytes, *, padlock_loads: bool = False
) -> list[tuple[str, str, tuple[str, ...]]]:
    """Every result pkilint gives (findings or none): which validator ran on which node."""
    from pkilint import loader

    if padlock_loads:
        doc = lint.load_certificate(der)
    else:
        doc = loader.RFC5280CertificateDocumentLoader().load_der_document(der, "certificate")
    return [
        (r.validator.name, r.node.path, tuple(str(f) for f in r.finding_descriptions))
        for r in validator.validate(doc.root)  # type: ignore[attr-defined]
    ]


def test_dispatch_knows_every_override_of_match() -> None:
    # A match() padlock has not read is asked every time: right, only slower. Say so here.
    for cert_type in lint._PKILINT_TYPES.values():
        validator, _ = lint._serverauth_builder(cert_type, fast=False)()
        stack = [validator]
        while stack:
            container = stack.pop()
            for v in container.validators:
                assert lint._match_kind(v) != 0, type(v).__qualname__
                if hasattr(v, "validators"):
                    stack.append(v)


@pytest.mark.parametrize(
    "leaf",
    [
        Leaf(),
        Leaf(common_name=None),
        Leaf(
            organization=((NameOID.COUNTRY_NAME, "US"), (NameOID.ORGANIZATION_NAME, "W")),
            policy=OV_POLICY,
        ),
        Leaf(dns_names=()),
        Leaf(ca=True),
        Leaf(days=2000),
        Leaf(dns_names=("intranet.local", "*.co.uk", "xn--bcher-kva.example"), common_name=None),
        Leaf(key_encipherment=True),
        Leaf(extra=(x509.OCSPNoCheck(),)),
    ],
    ids=["dv", "no-cn", "ov", "no-san", "ca-true", "2000-days", "bad-names", "ke", "extra"],
)
def test_dispatch_runs_each_validator_on_the_nodes_pkilint_would(leaf: Leaf, issuing: CA) -> None:
    # The same results, in the same order, from pkilint's own traversal and padlock's,
    # for good certificates and broken ones alike.
    der = leaf.build(issuing)
    for kind in (CertKind.DV, CertKind.OV):
        cert_type = lint._PKILINT_TYPES[kind]
        theirs, _ = lint._serverauth_builder(cert_type, fast=False)()
        ours, _ = lint._serverauth_builder(cert_type, fast=True)()
        expected = _every_result(theirs, der)
        assert _every_result(ours, der) == expected
        assert _every_result(ours, der) == expected  # and again, from the answers kept


def test_kept_decodes_never_leak_from_one_certificate_into_another(issuing: CA) -> None:
    # One fast validator lints many different certificates, good and broken, some with
    # values that cannot be decoded, in turn and again: each gets what pkilint's own
    # traversal gives it, though most of its decoded values were kept from earlier ones.
    undecodable = (
        x509.UnrecognizedExtension(x509.ObjectIdentifier("2.5.29.54"), b"\x05\x00"),
        x509.UnrecognizedExtension(x509.ObjectIdentifier("2.5.29.36"), b"\x30\x03\x80\x01"),
    )
    leaves = [
        Leaf(),
        Leaf(dns_names=("a.example.org",), common_name="a.example.org"),
        Leaf(common_name=None),
        Leaf(extra=undecodable[:1]),
        Leaf(extra=undecodable),
        Leaf(dns_names=("intranet.local", "*.co.uk"), common_name=None),
        Leaf(public_key=rsa.generate_private_key(65537, 2048).public_key()),
        Leaf(key_encipherment=True),
        Leaf(
            organization=((NameOID.COUNTRY_NAME, "US"), (NameOID.ORGANIZATION_NAME, "W")),
            policy=OV_POLICY,
        ),
    ]
    ders = [leaf.build(issuing) for leaf in leaves]
    for kind in (CertKind.DV, CertKind.OV):
        cert_type = lint._PKILINT_TYPES[kind]
        theirs, _ = lint._serverauth_builder(cert_type, fast=False)()
        ours, _ = lint._serverauth_builder(cert_type, fast=True)()
        expected = [_every_result(theirs, der) for der in ders]
        for _round in range(2):
            for der, wanted in zip(ders, expected, strict=True):
                assert _every_result(ours, der, padlock_loads=True) == wanted
        # And the documents come out of linting alike, decoded values' nodes included.
        from pkilint import loader

        for der in ders:
            mine = lint.load_certificate(der)
            ours.validate(mine.root)  # type: ignore[attr-defined]
            plain = loader.RFC5280CertificateDocumentLoader().load_der_document(der, "c")
            theirs.validate(plain.root)  # type: ignore[attr-defined]
            assert _tree(mine.root) == _tree(plain.root)
    assert any("itu.invalid_asn1_syntax" in str(r) for r in expected[4])


def _tree(root: object) -> list[tuple[object, ...]]:
    """Every node of a pkilint document, as validators see it: its class, name, path,
    parent, document, value type, tags, isValue, its DER, and the names of its children."""
    from pyasn1.codec.der.encoder import encode

    doc = root.document  # type: ignore[attr-defined]
    out: list[tuple[object, ...]] = []
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        pdu = node.pdu
        parent = node.parent
        out.append(
            (
                type(node).__qualname__,
                node.name,
                node.path,
                None if parent is None else parent.path,
                parent is None or node in parent.children.values(),
                node.document is doc,
                type(pdu).__qualname__,
                repr(pdu.tagSet),
                pdu.isValue,
                encode(pdu),
                tuple(node.children),
                sorted(vars(node)),
            )
        )
        stack.extend(reversed(list(node.children.values())))
    return out


def _pkilint_tree(der: bytes) -> list[tuple[object, ...]]:
    from pkilint import loader

    return _tree(loader.RFC5280CertificateDocumentLoader().load_der_document(der, "c").root)


def test_certificates_decoded_in_parts_have_pkilint_s_node_tree(issuing: CA, root: CA) -> None:
    ders = [
        Leaf().build(issuing),
        Leaf(common_name=None, dns_names=("a.example.org",)).build(issuing),
        Leaf(public_key=rsa.generate_private_key(65537, 2048).public_key()).build(issuing),
        Leaf(
            organization=((NameOID.COUNTRY_NAME, "US"), (NameOID.ORGANIZATION_NAME, "W")),
            policy=OV_POLICY,
        ).build(issuing),
        Leaf(extra=(x509.OCSPNoCheck(),)).build(issuing),
        _ca_cert(root, root, root=True),
        _ca_cert(issuing, root, root=False),
    ]
    for _round in range(2):  # the second time, from the parts kept
        for der in ders:
            assert lint._CERTIFICATES(der) is not None
            assert _tree(lint.load_certificate(der).root) == _pkilint_tree(der)


def _reframed(der: bytes) -> dict[str, bytes]:
    """The certificate altered in ways that put it outside the shape decoded in parts."""
    from padlock.pki import der as d

    tbs, algorithm, signature = d.children(der)
    fields = d.children(tbs)

    def cert(tbs_fields: list[bytes]) -> bytes:
        return d.sequence(d.sequence(*tbs_fields), algorithm, signature)

    assert der[1] == 0x82  # a two-octet length, written with three below
    return {
        "trailing octet": der + b"\x00",
        "length not minimal": b"\x30\x83\x00" + der[2:],
        "no extensions": cert(fields[:7]),
        "version 1 written out": cert([bytes.fromhex("a003020100"), *fields[1:]]),
        "no version": cert(fields[1:]),
        "an issuer unique id": cert([*fields[:7], b"\x81\x02\x00\x01", fields[7]]),
        "empty extensions": cert([*fields[:7], b"\xa3\x02\x30\x00"]),
        "indefinite length": b"\x30\x80" + der[4:] + b"\x00\x00",
    }


def test_certificates_of_other_shapes_are_decoded_whole(issuing: CA) -> None:
    der = Leaf().build(issuing)
    for why, other in _reframed(der).items():
        assert lint._CERTIFICATES(other) is None, why
        ours = lint.lint_serverauth(other, CertKind.DV)
        try:
            expected = _pkilint_tree(other)
        except ValueError:  # pkilint cannot decode it either: a FATAL finding
            assert [f.code for f in ours.errors] == [lint.UNDECODABLE], why
            continue
        assert _tree(lint.load_certificate(other).root) == expected, why


def test_a_part_that_cannot_be_decoded_is_reported_as_pkilint_reports_it(issuing: CA) -> None:
    from padlock.pki import der as d

    good = Leaf().build(issuing)
    tbs, algorithm, signature = d.children(good)
    fields = d.children(tbs)
    bad_serial = b"\x02\x02\x00\x01"  # an INTEGER not in its shortest form
    other = d.sequence(d.sequence(fields[0], bad_serial, *fields[2:]), algorithm, signature)
    report = lint.lint_serverauth(other, CertKind.DV)
    assert [f.code for f in report.errors] == [lint.UNDECODABLE]
    assert lint.lint_serverauth(good, CertKind.DV).ok


def test_kept_syntax_answers_are_the_validators_package_s() -> None:
    import validators

    cases = [
        (validators.url, "http://ca.example.com/ca/issuing.der"),
        (validators.url, "http://127.0.0.1:8080/crl/issuing.crl"),
        (validators.url, "http://exa mple.com/"),
        (validators.url, "ftp//nothing"),
        (validators.domain, "www.example.com"),
        (validators.domain, "-bad-.example.com"),
        (validators.domain, "*.example.com"),
        (validators.email, "owner@example.com"),
        (validators.email, "not an address"),
    ]
    for _round in range(2):  # the second time, from the answers kept
        for func, value in cases:
            assert lint._validators_predicate(func, value) is bool(
                lint._plain_predicate(func, value)
            ), (func.__name__, value)
    assert lint._validators_predicate(validators.url, "http://ca.example.com/ca/issuing.der")
    assert not lint._validators_predicate(validators.url, "ftp//nothing")


def test_dispatch_on_ca_certificates(root: CA, issuing: CA) -> None:
    for kind, der in (
        (CertKind.ROOT, _ca_cert(root, root, root=True)),
        (CertKind.INTERMEDIATE, _ca_cert(issuing, root, root=False)),
    ):
        cert_type = lint._PKILINT_TYPES[kind]
        theirs, _ = lint._serverauth_builder(cert_type, fast=False)()
        ours, _ = lint._serverauth_builder(cert_type, fast=True)()
        assert _every_result(ours, der) == _every_result(theirs, der)


# --- CRLs and OCSP responses --------------------------------------------------------------


def _crl(issuer: CA, *, days: int, reason: x509.ReasonFlags | None = None) -> bytes:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.name)
        .last_update(NOW)
        .next_update(NOW + dt.timedelta(days=days))
        .add_extension(x509.CRLNumber(7), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer.ski), False
        )
    )
    revoked = (
        x509.RevokedCertificateBuilder()
        .serial_number(secrets.randbits(127) | 1 << 126)
        .revocation_date(NOW - dt.timedelta(hours=1))
    )
    if reason is not None:
        revoked = revoked.add_extension(x509.CRLReason(reason), critical=False)
    builder = builder.add_revoked_certificate(revoked.build())
    return builder.sign(issuer.key, hashes.SHA256()).public_bytes(DER)


def test_crl_passes(issuing: CA) -> None:
    report = lint.lint_crl(_crl(issuing, days=7, reason=x509.ReasonFlags.key_compromise))
    assert report.kind == "CRL"
    assert report.errors == (), report.findings


def test_crl_too_long_or_bad_reason_is_an_error(issuing: CA) -> None:
    assert "cabf.crl_invalid_validity_period" in codes(lint.lint_crl(_crl(issuing, days=30)))
    bad_reason = _crl(issuing, days=7, reason=x509.ReasonFlags.certificate_hold)
    assert "cabf.crl_prohibited_reason_code" in codes(lint.lint_crl(bad_reason))


def test_arl_may_last_a_year(root: CA) -> None:
    report = lint.lint_crl(_crl(root, days=365), authority=True)
    assert report.kind == "ARL" and report.ok, report.findings


def test_ocsp_response_passes(issuing: CA) -> None:
    leaf = x509.load_der_x509_certificate(Leaf().build(issuing))
    issuer_key = issuing.key
    issuer_cert = x509.load_der_x509_certificate(_self_signed(issuing))
    response = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=leaf,
            issuer=issuer_cert,
            algorithm=hashes.SHA1(),  # noqa: S303 - the CertID hash of RFC 6960 and BR 4.9.10
            cert_status=ocsp.OCSPCertStatus.GOOD,
            this_update=NOW,
            next_update=NOW + dt.timedelta(days=4),
            revocation_time=None,
            revocation_reason=None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, issuer_cert)
        .sign(issuer_key, hashes.SHA256())
    )
    report = lint.lint_ocsp_response(response.public_bytes(DER))
    assert report.kind == "OCSP-RESPONSE"
    assert report.errors == (), report.findings
    assert lint.lint_ocsp_response(b"\x30\x00").errors[0].code == lint.UNDECODABLE


def _self_signed(ca: CA) -> bytes:
    return _ca_cert(ca, ca, root=True)
