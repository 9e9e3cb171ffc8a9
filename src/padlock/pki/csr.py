"""Certificate Signing Requests (PKCS#10, RFC 2986): build with the right names, read, verify.

The CN is always repeated as a subjectAltName: browsers have ignored the CN
since 2017 (RFC 6125 section 6.4.4, BR 7.1.4.3), the seed's CSR had only a CN.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

from padlock.errors import BadCSR, InvalidName
from padlock.pki import names
from padlock.pki.keys import SigningKey


@dataclass(frozen=True)
class SubjectFields:
    """The distinguished-name fields ``openssl req`` asks for, in its order."""

    country: str | None = None
    state: str | None = None
    locality: str | None = None
    organization: str | None = None
    organizational_unit: str | None = None
    common_name: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class CSRRequest:
    subject: SubjectFields
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = field(default_factory=tuple)


def plan_names(cn: str | None, sans: Sequence[str]) -> tuple[str | None, list[str], list[str]]:
    """Normalise the CN and SANs; the CN is first among the SANs. Returns (cn, dns, ips)."""
    dns: list[str] = []
    ips: list[str] = []

    def add(raw: str) -> str:
        text = raw.strip()
        if names.is_ip_address(text):
            ip = names.normalize_ip(text)
            if ip not in ips:
                ips.append(ip)
            return ip
        name = names.normalize_dns_name(text)
        if name not in dns:
            dns.append(name)
        return name

    norm_cn = add(cn) if cn else None
    for raw in sans:
        add(raw)
    if not dns and not ips:
        raise InvalidName(
            "No host name was given.",
            hint="Give --cn www.example.com (and --san for more names).",
        )
    if norm_cn is None:
        norm_cn = dns[0] if dns else ips[0]
    return norm_cn, dns, ips


def _subject(fields: SubjectFields, cn: str | None) -> x509.Name:
    attrs: list[x509.NameAttribute] = []
    if fields.country:
        attrs.append(
            x509.NameAttribute(NameOID.COUNTRY_NAME, names.normalize_country(fields.country))
        )
    for oid, value in (
        (NameOID.STATE_OR_PROVINCE_NAME, fields.state),
        (NameOID.LOCALITY_NAME, fields.locality),
        (NameOID.ORGANIZATION_NAME, fields.organization),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, fields.organizational_unit),
    ):
        if value:
            if len(value) > 64:
                raise BadCSR(f"{value!r} is longer than the 64 characters X.520 allows.")
            attrs.append(x509.NameAttribute(oid, value))
    if cn:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    if fields.email:
        if "@" not in fields.email or any(c.isspace() for c in fields.email):
            raise BadCSR(f"{fields.email!r} is not an email address.")
        attrs.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, fields.email))
    return x509.Name(attrs)


def _signing_hash(key: SigningKey) -> hashes.HashAlgorithm | None:
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return None
    if isinstance(key, rsa.RSAPrivateKey):
        return hashes.SHA256()
    return hashes.SHA384() if key.curve.key_size >= 384 else hashes.SHA256()


def build_csr(
    key: SigningKey, fields: SubjectFields, sans: Sequence[str]
) -> x509.CertificateSigningRequest:
    """A CSR whose CN (if any) is also its first SAN; every name checked and normalised."""
    cn, dns, ips = plan_names(fields.common_name, sans)
    general: list[x509.GeneralName] = [x509.DNSName(n) for n in dns]
    general += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(_subject(fields, cn))
        .add_extension(x509.SubjectAlternativeName(general), critical=False)
    )
    return builder.sign(key, _signing_hash(key))


def load_csr(data: bytes) -> x509.CertificateSigningRequest:
    """Read one CSR from PEM or DER; raise BadCSR saying what is wrong."""
    stripped = data.strip()
    try:
        if stripped.startswith(b"-----BEGIN"):
            if stripped.count(b"-----BEGIN") > 1:
                raise BadCSR("The text holds more than one PEM object; paste only the CSR.")
            return x509.load_pem_x509_csr(stripped)
        return x509.load_der_x509_csr(stripped)
    except BadCSR:
        raise
    except ValueError as exc:
        if b"PRIVATE KEY" in stripped:
            raise BadCSR(
                "This is a private key, not a CSR. Never send your private key to anyone.",
                hint="Make a CSR from it with: padlock csr new --key KEY --out FILE",
            ) from None
        if b"BEGIN CERTIFICATE-----" in stripped:
            raise BadCSR(
                "This is a certificate, not a CSR.",
                hint="Paste the text between BEGIN CERTIFICATE REQUEST and END"
                " CERTIFICATE REQUEST.",
            ) from None
        raise BadCSR(
            f"The CSR could not be read ({exc}).",
            hint="Paste the whole CSR, including the BEGIN and END lines and the dashes.",
        ) from None


def csr_names(csr: x509.CertificateSigningRequest) -> tuple[list[str], list[str]]:
    """The DNS names and IP addresses a CSR asks for (SANs, else the CN)."""
    dns: list[str] = []
    ips: list[str] = []
    try:
        ext = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        ext = None
    if ext is not None:
        dns = [str(n) for n in ext.value.get_values_for_type(x509.DNSName)]
        ips = [str(a) for a in ext.value.get_values_for_type(x509.IPAddress)]
    if not dns and not ips:
        for attr in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
            dns.append(str(attr.value))
    return dns, ips
