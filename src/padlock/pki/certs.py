"""Build CA and subscriber certificates (unsigned) per the BR profiles.

Only ``ca/signer.py`` signs: CA certificates leave here as ``CertificateBuilder``s
with every field set, subscriber certificates as the DER of their tbsCertificate
(:class:`LeafTemplate`). Section numbers are CA/Browser Forum Baseline Requirements 2.x:
7.1.2.1 (root), 7.1.2.10 (subordinate CA), 7.1.2.7 (subscriber).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPublicKeyTypes,
    CertificatePublicKeyTypes,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from padlock.errors import BadCSR
from padlock.pki import crl_shards, der, keys
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
    crl: str  # the full CRL; a certificate names it when its CA has no shards
    ocsp: str | None = None
    crl_shards: int = 0

    def crl_for(self, serial: int) -> str:
        """The CRL a certificate with ``serial`` names: its shard's, or the full CRL."""
        if not self.crl_shards:
            return self.crl
        return crl_shards.shard_url(self.crl, crl_shards.shard_of(serial, self.crl_shards))

    def every_crl(self) -> frozenset[str]:
        """Every CRL a certificate of this CA may name: each shard's, or the full CRL."""
        if not self.crl_shards:
            return frozenset({self.crl})
        return frozenset(crl_shards.shard_url(self.crl, i) for i in range(self.crl_shards))


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
    """BR 7.1.2.10: TLS subordinate CA, pathLen 0, EKU serverAuth alone.

    Chrome Root Program policy 1.8 accepts only serverAuth-dedicated hierarchies: an
    issuing CA disclosed from 2026-06-15 carries no other EKU (no clientAuth), and so
    neither do the leaves it issues (the subscriber EKU below is serverAuth alone)."""
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
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
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


_CN_OID = der.oid(NameOID.COMMON_NAME.dotted_string)
_O_OID = der.oid(NameOID.ORGANIZATION_NAME.dotted_string)
# The string types read here, as cryptography decodes them (X.520 DirectoryString's
# UTF8String; PrintableString and IA5String are ASCII).
_TEXT_CODECS = {0x0C: "utf-8", 0x13: "ascii", 0x16: "ascii"}


def name_facts(subject: bytes) -> tuple[list[str], bool] | None:
    """(the commonName values, whether there is an organizationName) of a Name's DER
    (RFC 5280 4.1.2.4: RDNs of AttributeTypeAndValue), without making a Name; None if
    a commonName is of a string type not read here."""
    common_names: list[str] = []
    has_org = False
    try:
        for rdn in der.children(subject):
            for attribute in der.children(rdn):
                kind, value = der.children(attribute)[:2]
                if kind == _CN_OID:
                    codec = _TEXT_CODECS.get(value[0])
                    if codec is None:
                        return None
                    start, end = der.element(value, 0)
                    common_names.append(value[start:end].decode(codec))
                elif kind == _O_OID:
                    has_org = True
    except (ValueError, UnicodeDecodeError):
        return None
    return common_names, has_org


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
            # get_values_for_type, in one pass and without an ABC isinstance per name
            # (cryptography makes these exact classes; anything else is asked the slow way).
            for general in san:
                kind = type(general)
                if kind is x509.DNSName:
                    dns.append(str(general.value))
                elif kind is x509.IPAddress:
                    ips.append(str(general.value))
                elif isinstance(general, x509.DNSName | x509.IPAddress):
                    dns = [str(n) for n in san.get_values_for_type(x509.DNSName)]
                    ips = [str(a) for a in san.get_values_for_type(x509.IPAddress)]
                    break
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


def _key_usage(key_encipherment: bool) -> x509.KeyUsage:
    # BR 7.1.2.7.11: digitalSignature; keyEncipherment only for RSA keys.
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


def _extension(value: x509.ExtensionType, critical: bool) -> bytes:
    """Extension ::= SEQUENCE { extnID, critical DEFAULT FALSE, extnValue } (RFC 5280 4.1),
    the value as ``cryptography`` encodes it; DER leaves out a FALSE default (X.690 11.5)."""
    return der.sequence(
        der.oid(value.oid.dotted_string),
        der.TRUE if critical else b"",
        der.tlv(der.OCTET_STRING, value.public_bytes()),
    )


_LEAF_KU_EC = _extension(_key_usage(key_encipherment=False), critical=True)
_LEAF_KU_RSA = _extension(_key_usage(key_encipherment=True), critical=True)
_LEAF_BC = _extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
_LEAF_EKU = _extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
_SAN_OID = der.oid(x509.SubjectAlternativeName.oid.dotted_string)
_SAN_CRITICAL = _SAN_OID + der.TRUE
_VERSION_3 = b"\xa0\x03\x02\x01\x02"  # [0] EXPLICIT Version v3 (RFC 5280 4.1.2.1)
_EXTENSIONS = 0xA3  # [3] EXPLICIT Extensions
_DNS_NAME = 0x82  # GeneralName dNSName [2] IA5String (RFC 5280 4.2.1.6)
_IP_ADDRESS = 0x87  # GeneralName iPAddress [7] OCTET STRING

# Subject attributes as x509.NameAttribute writes them: countryName a PrintableString
# (X.520), the others UTF8String (RFC 5280 4.1.2.6, "MUST use UTF8String" since 2004).
_C = der.oid(NameOID.COUNTRY_NAME.dotted_string)
_ST = der.oid(NameOID.STATE_OR_PROVINCE_NAME.dotted_string)
_L = der.oid(NameOID.LOCALITY_NAME.dotted_string)
_O = der.oid(NameOID.ORGANIZATION_NAME.dotted_string)
_CN = der.oid(NameOID.COMMON_NAME.dotted_string)
_PRINTABLE = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?"
)


# Host names (LDH, a wildcard's "*.") and IP addresses: nothing RFC 4514 escapes.
_PLAIN_SUBJECT = re.compile(r"[a-z0-9*.:-]+")


def _rdn(attribute_type: bytes, tag: int, value: bytes) -> bytes:
    """RelativeDistinguishedName ::= SET OF AttributeTypeAndValue, here with one member."""
    return der.tlv(der.SET, der.sequence(attribute_type, der.tlv(tag, value)))


def _utf8_rdn(attribute_type: bytes, value: str) -> bytes:
    if not value:
        raise ValueError("a subject attribute cannot be empty")
    return _rdn(attribute_type, der.UTF8_STRING, value.encode("utf-8"))


class LeafTemplate:
    """A profile's subscriber certificates from one issuing CA (BR 7.1.2.7).

    What is the same in all of them (signature algorithm, issuer name, AKI, AIA,
    certificate policy, EKU, basic constraints, CRL DP) is encoded once, here;
    :meth:`tbs` adds what differs (key, names, serial, validity, verified
    organization) and returns the DER of the tbsCertificate: the exact bytes the
    CA reserves, lints and signs. It writes byte for byte what
    ``x509.CertificateBuilder`` writes for the same fields (tests/pki/test_certcheck.py
    compares them), at a fraction of its cost. Every certificate is parsed and
    checked again before it is signed (``pki/certcheck.py``, and pkilint for the
    trusted profiles), so nothing here is taken on trust.
    """

    def __init__(
        self,
        profile: Profile,
        issuer: x509.Certificate,
        urls: CAUrls,
        signature_algorithm: bytes,
    ) -> None:
        self.profile = profile
        self.issuer_name = issuer.subject
        self.signature_algorithm = signature_algorithm
        issuer_ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        # The fields before the serial's end, and those between the serial and validity.
        self._algorithm_and_issuer = signature_algorithm + tbs_subject(issuer.tbs_certificate_bytes)
        aia = _aia(urls if profile.ocsp else CAUrls(urls.issuer_cert, urls.crl))
        self._head = (
            _extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski),
                critical=False,
            )
            + _extension(aia, critical=False)
            + _extension(
                x509.CertificatePolicies(
                    [x509.PolicyInformation(x509.ObjectIdentifier(profile.policy_oid), None)]
                ),
                critical=False,
            )
            + _LEAF_EKU
        )
        self._urls = urls
        # The extensions after the SAN: key usage (per key kind), basic constraints and the
        # CRL DP, per shard when the CA has shards (made on first use, then kept).
        self._tails: dict[tuple[bool, str], bytes] = {}

    def _tail(self, rsa: bool, crl_url: str) -> bytes:
        tail = self._tails.get((rsa, crl_url))
        if tail is None:
            usage = _LEAF_KU_RSA if rsa and self.profile.key_encipherment else _LEAF_KU_EC
            tail = usage + _LEAF_BC + _extension(_crl_dp(crl_url), critical=False)
            self._tails[(rsa, crl_url)] = tail
        return tail

    def _subject(self, first_name: str, organization: Organization | None) -> tuple[bytes, bool]:
        """(the subject Name's DER, whether it has any attribute)."""
        rdns = b""
        if self.profile.needs_organization:
            if organization is None:
                raise BadCSR("The ov profile needs verified organization details.")
            country = organization.country.encode("ascii", "replace")
            if len(country) != 2 or not _PRINTABLE.issuperset(country):
                raise ValueError(f"{organization.country!r} is not a two-letter country code")
            rdns = _rdn(_C, der.PRINTABLE_STRING, country)
            if organization.state:
                rdns += _utf8_rdn(_ST, organization.state)
            if organization.locality:
                rdns += _utf8_rdn(_L, organization.locality)
            rdns += _utf8_rdn(_O, organization.organization)
        # X.520 ub-common-name; the CN is optional (BR 7.1.2.7.2), and left out where the
        # profile says so (tlsserver, shortlived)
        if self.profile.common_name and len(first_name) <= 64:
            rdns += _utf8_rdn(_CN, first_name)
        return der.tlv(der.SEQUENCE, rdns), bool(rdns)

    def subject_text(self, first_name: str) -> str | None:
        """The RFC 4514 text of the subject :meth:`tbs` writes for ``first_name``, as
        ``x509.Name.rfc4514_string`` gives it, where that is plain: a profile without
        organization fields and a name of the characters host names and IP addresses
        are made of, none of which RFC 4514 (section 2.4) escapes. None otherwise: read
        it from the certificate then (tests/pki/test_certcheck.py compares the two)."""
        if self.profile.needs_organization or _PLAIN_SUBJECT.fullmatch(first_name) is None:
            return None
        return "CN=" + first_name if self.profile.common_name and len(first_name) <= 64 else ""

    def tbs(
        self,
        public_key: CertificatePublicKeyTypes,
        dns_names: Sequence[str],
        ip_addresses: Sequence[str],
        serial: int,
        not_before: dt.datetime,
        not_after: dt.datetime,
        organization: Organization | None = None,
        spki: bytes | None = None,
    ) -> bytes:
        """The tbsCertificate to sign (RFC 5280 4.1). The CN, if any, is a copy of the first
        SAN. ``spki`` is the key's SubjectPublicKeyInfo DER, if the caller has it already."""
        if not dns_names and not ip_addresses:
            raise ValueError("a subscriber certificate needs at least one name")
        if not 0 < serial < 1 << 159:
            raise ValueError("serial must be positive and at most 20 octets (RFC 5280 4.1.2.2)")
        if spki is None:
            spki = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        subject, has_attributes = self._subject(
            dns_names[0] if dns_names else ip_addresses[0], organization
        )
        general_names = b"".join(der.tlv(_DNS_NAME, n.encode("ascii")) for n in dns_names)
        if ip_addresses:
            general_names += b"".join(
                der.tlv(_IP_ADDRESS, ipaddress.ip_address(i).packed) for i in ip_addresses
            )
        san = der.tlv(
            der.SEQUENCE,
            # critical when the subject is empty (RFC 5280 4.2.1.6)
            (_SAN_OID if has_attributes else _SAN_CRITICAL)
            + der.tlv(der.OCTET_STRING, der.tlv(der.SEQUENCE, general_names)),
        )
        tail = self._tail(keys.is_rsa_key(public_key), self._urls.crl_for(serial))
        if self.profile.subject_key_identifier:
            tail += _subject_key_identifier(spki)
        # The extensions in the order padlock has always written them (the SKI last).
        extensions = der.tlv(der.SEQUENCE, self._head + san + tail)
        return der.tlv(
            der.SEQUENCE,
            _VERSION_3
            + der.integer(serial)
            + self._algorithm_and_issuer
            + der.tlv(der.SEQUENCE, der.time(not_before) + der.time(not_after))
            + subject
            + spki
            + der.tlv(_EXTENSIONS, extensions),
        )


def _subject_key_identifier(spki: bytes) -> bytes:
    """The SubjectKeyIdentifier Extension of RFC 5280 4.2.1.2 method (1), as
    ``x509.SubjectKeyIdentifier.from_public_key`` makes it: the SHA-1 of the
    subjectPublicKey BIT STRING's value (its unused-bits octet left out)."""
    algorithm_and_key = der.children(spki)
    start, end = der.element(algorithm_and_key[1], 0)
    digest = hashlib.sha1(algorithm_and_key[1][start + 1 : end]).digest()  # noqa: S324
    return der.sequence(
        der.oid(x509.SubjectKeyIdentifier.oid.dotted_string),
        der.tlv(der.OCTET_STRING, der.tlv(der.OCTET_STRING, digest)),
    )


# --- DER of a certificate ------------------------------------------------------------------


def tbs_fields(tbs: bytes) -> list[bytes]:
    """The DER of each field of a tbsCertificate, the version [0] left out (RFC 5280 4.1:
    serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, ...)."""
    fields = der.children(tbs)
    return fields[1:] if fields and fields[0][:1] == b"\xa0" else fields


def tbs_subject(tbs: bytes) -> bytes:
    """The DER of the subject Name of a tbsCertificate."""
    return tbs_fields(tbs)[4]


def assemble_certificate(tbs: bytes, algorithm: bytes, signature: bytes) -> bytes:
    """Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }
    (RFC 5280 4.1), from the DER of the first two and the signature's octets."""
    return der.tlv(der.SEQUENCE, tbs + algorithm + der.tlv(der.BIT_STRING, b"\x00" + signature))


def certificate_pem(der: bytes) -> bytes:
    """The PEM of a DER certificate, byte for byte what ``cryptography`` writes (RFC 7468:
    base64 in lines of 64, the label lines, a final newline)."""
    b64 = base64.b64encode(der)
    lines = b"\n".join(b64[i : i + 64] for i in range(0, len(b64), 64))
    return b"-----BEGIN CERTIFICATE-----\n" + lines + b"\n-----END CERTIFICATE-----\n"
