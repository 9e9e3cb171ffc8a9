"""Build CA and subscriber certificates (unsigned builders) per the BR profiles.

Only ``ca/signer.py`` signs; these functions return ``CertificateBuilder``s with
every field set. Section numbers are CA/Browser Forum Baseline Requirements 2.x:
7.1.2.1 (root), 7.1.2.10 (subordinate CA), 7.1.2.7 (subscriber).
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPublicKeyTypes,
    CertificatePublicKeyTypes,
)
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from padlock.errors import BadCSR
from padlock.pki.profiles import Profile

SERIAL_BITS = 128  # BR 7.1: at least 64 bits from a CSPRNG; < 2^159 and positive


def new_serial() -> int:
    """A positive serial with 128 bits from the OS CSPRNG (never zero)."""
    while True:
        serial = secrets.randbits(SERIAL_BITS)
        if serial >= 1 << 64:
            return serial


@dataclass(frozen=True)
class CAUrls:
    """Where relying parties fetch the issuer certificate, CRL and OCSP (AIA and CRL DP)."""

    issuer_cert: str
    crl: str
    ocsp: str | None = None


@dataclass(frozen=True)
class Organization:
    """Verified organization fields for OV (BR 7.1.4.2.2); never taken from the CSR unverified."""

    organization: str
    locality: str | None
    state: str | None
    country: str


# ISO 3166-1 reserves XX for user assignment; the BR accept it where no country code
# applies. A CA made without the operator's country says so with XX rather than
# guessing one; the operator's real country belongs there (BR 7.1.2.10.2).
COUNTRY_NOT_STATED = "XX"


def ca_name(common_name: str, organization: str, country: str | None = None) -> x509.Name:
    """A CA's subject: countryName, organizationName, commonName (BR 7.1.2.10.2)."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, country or COUNTRY_NOT_STATED),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _check_ca_subject(subject: x509.Name) -> None:
    # BR 7.1.2.10.2 (CA certificate naming): countryName, organizationName and
    # commonName MUST each be present; pkilint reports a missing one as an ERROR.
    for oid, label in _CA_SUBJECT_ATTRIBUTES:
        if len(subject.get_attributes_for_oid(oid)) != 1:
            raise ValueError(f"a CA subject needs exactly one {label} (BR 7.1.2.10.2): {subject}")


_CA_SUBJECT_ATTRIBUTES = (
    (NameOID.COUNTRY_NAME, "countryName"),
    (NameOID.ORGANIZATION_NAME, "organizationName"),
    (NameOID.COMMON_NAME, "commonName"),
)


def _aia(urls: CAUrls) -> x509.AuthorityInformationAccess:
    descs = []
    if urls.ocsp:
        descs.append(
            x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(urls.ocsp)
            )
        )
    descs.append(
        x509.AccessDescription(
            AuthorityInformationAccessOID.CA_ISSUERS,
            x509.UniformResourceIdentifier(urls.issuer_cert),
        )
    )
    return x509.AuthorityInformationAccess(descs)


def _crl_dp(url: str) -> x509.CRLDistributionPoints:
    return x509.CRLDistributionPoints(
        [x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None)]
    )


def root_builder(
    subject: x509.Name,
    public_key: CertificateIssuerPublicKeyTypes,
    not_before: dt.datetime,
    days: int,
) -> x509.CertificateBuilder:
    """BR 7.1.2.1: self-signed, CA:TRUE critical, keyCertSign + cRLSign, SKI and AKI."""
    _check_ca_subject(subject)
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public_key)
        .serial_number(new_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_before + dt.timedelta(days=days) - dt.timedelta(seconds=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(ski, critical=False)
        # BR 7.1.2.1.3: RECOMMENDED, the keyIdentifier alone, equal to the SKI.
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
    )


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def intermediate_builder(
    subject: x509.Name,
    public_key: CertificateIssuerPublicKeyTypes,
    issuer: x509.Certificate,
    not_before: dt.datetime,
    days: int,
    urls: CAUrls,
) -> x509.CertificateBuilder:
    """BR 7.1.2.10: TLS subordinate CA, pathLen 0, EKU serverAuth + clientAuth."""
    _check_ca_subject(subject)
    issuer_ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject)
        .public_key(public_key)
        .serial_number(new_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_before + dt.timedelta(days=days) - dt.timedelta(seconds=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski),
            critical=False,
        )
        .add_extension(_aia(urls), critical=False)
        .add_extension(_crl_dp(urls.crl), critical=False)
        .add_extension(
            x509.CertificatePolicies(
                [x509.PolicyInformation(x509.ObjectIdentifier("2.5.29.32.0"), None)]
            ),
            critical=False,
        )
    )


@dataclass(frozen=True)
class CSRFacts:
    """What a CSR asks for, after the checks every profile applies."""

    public_key: CertificatePublicKeyTypes
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    common_name: str | None


_ALLOWED_CSR_EXTENSIONS = {
    x509.SubjectAlternativeName.oid,
    x509.KeyUsage.oid,
    x509.ExtendedKeyUsage.oid,
    x509.BasicConstraints.oid,
    x509.SubjectKeyIdentifier.oid,
}


def inspect_csr(
    csr: x509.CertificateSigningRequest, public_key: CertificatePublicKeyTypes
) -> CSRFacts:
    """The names a CSR asks for, refused where no profile could honour its requests.

    Key and proof of possession are checked before, in :mod:`padlock.pki.keypolicy`.
    Nothing from the CSR's extensions is copied into the certificate except names.
    """
    try:
        extensions = csr.extensions
    except x509.DuplicateExtension as exc:
        raise BadCSR(f"The CSR carries the extension {exc.oid.dotted_string} twice.") from None
    except (ValueError, x509.UnsupportedGeneralNameType) as exc:
        raise BadCSR(f"The CSR's extensions cannot be read ({exc}).") from None
    san: x509.SubjectAlternativeName | None = None
    for ext in extensions:
        value = ext.value
        if isinstance(value, x509.BasicConstraints) and value.ca:
            raise BadCSR(
                "The CSR asks for a CA certificate (basicConstraints CA:TRUE);"
                " this CA issues only server certificates.",
            )
        if ext.critical and ext.oid not in _ALLOWED_CSR_EXTENSIONS:
            raise BadCSR(
                f"The CSR has an unknown critical extension {ext.oid.dotted_string};"
                " a CA must not ignore a critical extension it does not understand.",
                hint="Make the CSR again without that extension.",
            )
        if isinstance(value, x509.SubjectAlternativeName):
            san = value
    try:
        # What pki.csr.csr_names reads (SANs, else the CN), from the extensions in hand.
        dns: list[str] = []
        ips: list[str] = []
        if san is not None:
            dns = [str(n) for n in san.get_values_for_type(x509.DNSName)]
            ips = [str(a) for a in san.get_values_for_type(x509.IPAddress)]
        if not dns and not ips:
            dns = [str(a.value) for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    except ValueError as exc:
        raise BadCSR(f"The CSR's names cannot be read ({exc}).") from None
    cn_attrs = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(cn_attrs) > 1:
        raise BadCSR("The CSR has more than one Common Name.")
    common_name = str(cn_attrs[0].value) if cn_attrs else None
    if common_name is not None:
        cn_low = common_name.strip().lower()
        in_sans = cn_low in {d.lower() for d in dns} or cn_low in ips
        if not in_sans:
            raise BadCSR(
                f"The CSR's Common Name {common_name!r} is not among its subjectAltNames"
                f" ({', '.join(dns + ips) or 'none'}).",
                hint="Make the CSR again with padlock csr new, which puts the CN among the SANs.",
            )
    return CSRFacts(public_key, tuple(dns), tuple(ips), common_name)


def _leaf_key_usage(public_key: CertificatePublicKeyTypes) -> x509.KeyUsage:
    # BR 7.1.2.7.11: digitalSignature; keyEncipherment only for RSA keys.
    return _key_usage(isinstance(public_key, rsa.RSAPublicKey))


def _key_usage(key_encipherment: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _utc(when: dt.datetime) -> dt.datetime:
    """A time for the builder's constructor, which reads its fields as UTC (as the
    builder's not_valid_before/after setters leave them): UTC as it is, others moved."""
    if when.tzinfo is None or when.tzinfo is dt.UTC:
        return when
    offset = when.utcoffset()
    return when if offset is None else when.replace(tzinfo=None) - offset


def _encoded(value: x509.ExtensionType, critical: bool) -> x509.Extension[x509.ExtensionType]:
    """An extension as its DER, encoded once: the builder copies the bytes into every
    certificate instead of encoding the same value again each time. The certificate's
    bytes are the same (tests/pki/test_certcheck.py compares them)."""
    return x509.Extension(
        value.oid, critical, x509.UnrecognizedExtension(value.oid, value.public_bytes())
    )


_LEAF_KU_EC = _encoded(_key_usage(key_encipherment=False), critical=True)
_LEAF_KU_RSA = _encoded(_key_usage(key_encipherment=True), critical=True)
_LEAF_BC = _encoded(x509.BasicConstraints(ca=False, path_length=None), critical=True)
_LEAF_EKU = _encoded(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)


class LeafTemplate:
    """A profile's subscriber certificates from one issuing CA (BR 7.1.2.7).

    What is the same in all of them (issuer name, AKI, AIA, certificate policy,
    EKU, basic constraints, CRL DP) is made once, here; :meth:`build` adds what
    differs (key, names, serial, validity, verified organization). Every
    certificate is checked again after it is built (``pki/certcheck.py``, and
    pkilint for the trusted profiles), so nothing here is taken on trust.
    """

    def __init__(self, profile: Profile, issuer: x509.Certificate, urls: CAUrls) -> None:
        self.profile = profile
        self.issuer_name = issuer.subject
        issuer_ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        self._head = (
            _encoded(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski),
                critical=False,
            ),
            _encoded(_aia(urls), critical=False),
            _encoded(
                x509.CertificatePolicies(
                    [x509.PolicyInformation(x509.ObjectIdentifier(profile.policy_oid), None)]
                ),
                critical=False,
            ),
            _LEAF_EKU,
        )
        self._crl_dp = _encoded(_crl_dp(urls.crl), critical=False)

    def build(
        self,
        public_key: CertificatePublicKeyTypes,
        dns_names: Sequence[str],
        ip_addresses: Sequence[str],
        serial: int,
        not_before: dt.datetime,
        not_after: dt.datetime,
        organization: Organization | None = None,
    ) -> x509.CertificateBuilder:
        """The certificate to sign. The CN, if any, is a copy of the first SAN."""
        attrs: list[x509.NameAttribute[str]] = []
        if self.profile.needs_organization:
            if organization is None:
                raise BadCSR("The ov profile needs verified organization details.")
            attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, organization.country))
            if organization.state:
                attrs.append(x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, organization.state))
            if organization.locality:
                attrs.append(x509.NameAttribute(NameOID.LOCALITY_NAME, organization.locality))
            attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization.organization))
        first = dns_names[0] if dns_names else ip_addresses[0]
        if len(first) <= 64:  # X.520 ub-common-name; the CN is optional (BR 7.1.2.7.2)
            attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, first))
        sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ip_addresses]
        # The extensions in the order leaf_builder has always written them. The
        # builder's constructor takes them at once: the same certificate as eight
        # add_extension() calls, without eight copies of the builder.
        return x509.CertificateBuilder(
            issuer_name=self.issuer_name,
            subject_name=x509.Name(attrs),
            public_key=public_key,
            serial_number=serial,
            not_valid_before=_utc(not_before),
            not_valid_after=_utc(not_after),
            extensions=[
                *self._head,
                x509.Extension(
                    x509.SubjectAlternativeName.oid,
                    not attrs,  # critical when the subject is empty (RFC 5280 4.2.1.6)
                    x509.SubjectAlternativeName(sans),
                ),
                _LEAF_KU_RSA if isinstance(public_key, rsa.RSAPublicKey) else _LEAF_KU_EC,
                _LEAF_BC,
                self._crl_dp,
            ],
        )


def leaf_builder(
    profile: Profile,
    public_key: CertificatePublicKeyTypes,
    dns_names: Sequence[str],
    ip_addresses: Sequence[str],
    issuer: x509.Certificate,
    serial: int,
    not_before: dt.datetime,
    not_after: dt.datetime,
    urls: CAUrls,
    organization: Organization | None = None,
) -> x509.CertificateBuilder:
    """BR 7.1.2.7 subscriber certificate. The CN, if any, is a copy of the first SAN.

    One certificate; to make many, keep a :class:`LeafTemplate`.
    """
    return LeafTemplate(profile, issuer, urls).build(
        public_key, dns_names, ip_addresses, serial, not_before, not_after, organization
    )


# --- DER of a certificate ------------------------------------------------------------------


def _tlv_end(der: bytes, at: int) -> tuple[int, int]:
    """(start of the value, end of the element) of the DER element at ``at``."""
    first = der[at + 1]
    if first < 0x80:
        return at + 2, at + 2 + first
    count = first & 0x7F
    if not 1 <= count <= 4:
        raise ValueError("a DER length of that form does not occur in a certificate")
    length = int.from_bytes(der[at + 2 : at + 2 + count], "big")
    return at + 2 + count, at + 2 + count + length


def certificate_parts(der: bytes) -> tuple[bytes, bytes]:
    """(tbsCertificate, signatureAlgorithm) of a DER certificate, each as its own DER."""
    if der[:1] != b"\x30":
        raise ValueError("not a DER certificate")
    inner, end = _tlv_end(der, 0)
    if end != len(der):
        raise ValueError("trailing bytes after the certificate")
    _, tbs_end = _tlv_end(der, inner)
    _, alg_end = _tlv_end(der, tbs_end)
    return der[inner:tbs_end], der[tbs_end:alg_end]


def _tbs_fields(tbs: bytes) -> list[bytes]:
    """The DER of each field of a tbsCertificate, the version [0] left out (RFC 5280 4.1:
    serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, ...)."""
    at, end = _tlv_end(tbs, 0)
    fields: list[bytes] = []
    while at < end:
        next_at = _tlv_end(tbs, at)[1]
        if not (fields == [] and tbs[at] == 0xA0):
            fields.append(tbs[at:next_at])
        at = next_at
    return fields


def tbs_issuer(tbs: bytes) -> bytes:
    """The DER of the issuer Name of a tbsCertificate."""
    return _tbs_fields(tbs)[2]


def tbs_subject(tbs: bytes) -> bytes:
    """The DER of the subject Name of a tbsCertificate."""
    return _tbs_fields(tbs)[4]


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def assemble_certificate(tbs: bytes, algorithm: bytes, signature: bytes) -> bytes:
    """Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }
    (RFC 5280 4.1), from the DER of the first two and the signature's octets."""
    bits = b"\x03" + _der_length(len(signature) + 1) + b"\x00" + signature
    body = tbs + algorithm + bits
    return b"\x30" + _der_length(len(body)) + body


def certificate_pem(der: bytes) -> bytes:
    """The PEM of a DER certificate, byte for byte what ``cryptography`` writes (RFC 7468:
    base64 in lines of 64, the label lines, a final newline)."""
    b64 = base64.b64encode(der)
    lines = b"\n".join(b64[i : i + 64] for i in range(0, len(b64), 64))
    return b"-----BEGIN CERTIFICATE-----\n" + lines + b"\n-----END CERTIFICATE-----\n"
