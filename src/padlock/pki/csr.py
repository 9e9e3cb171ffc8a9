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
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import NameOID

from padlock.errors import BadCSR, InvalidName
from padlock.pki import keys, names
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


# X.520 upper bounds (RFC 5280 appendix A.1); the CN's 64 is why a long host name
# goes only into the SAN, as CAs do.
_UPPER_BOUND = {"state": 128, "locality": 128, "organization": 64, "organizational_unit": 64}
MAX_CN = 64
MAX_EMAIL = 255


def _subject(fields: SubjectFields, cn: str | None) -> x509.Name:
    attrs: list[x509.NameAttribute[str]] = []
    if fields.country:
        attrs.append(
            x509.NameAttribute(NameOID.COUNTRY_NAME, names.normalize_country(fields.country))
        )
    for field_name, oid, value in (
        ("state", NameOID.STATE_OR_PROVINCE_NAME, fields.state),
        ("locality", NameOID.LOCALITY_NAME, fields.locality),
        ("organization", NameOID.ORGANIZATION_NAME, fields.organization),
        ("organizational_unit", NameOID.ORGANIZATIONAL_UNIT_NAME, fields.organizational_unit),
    ):
        value = value.strip() if value else value
        if value:
            bound = _UPPER_BOUND[field_name]
            if len(value) > bound:
                raise BadCSR(
                    f"{value!r} is longer than the {bound} characters X.520 allows"
                    f" for the {field_name.replace('_', ' ')}.",
                    hint="Shorten it; use the official short form of the name.",
                )
            attrs.append(x509.NameAttribute(oid, value))
    if cn and len(cn) <= MAX_CN:
        # A longer host name cannot be a CN; it is in the SAN, which is what counts.
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    if fields.email:
        email = fields.email.strip()
        local, at, domain = email.rpartition("@")
        if (
            not at
            or not local
            or not domain
            or not email.isascii()
            or any(c.isspace() for c in email)
            or len(email) > MAX_EMAIL
        ):
            raise BadCSR(
                f"{fields.email!r} is not an email address a CSR can hold.",
                hint="Use a plain ASCII address like webmaster@example.com, or leave it out.",
            )
        attrs.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, email))
    return x509.Name(attrs)


def _signing_hash(key: SigningKey) -> hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.key_size > 384:
            return hashes.SHA512()
        return hashes.SHA384() if key.curve.key_size > 256 else hashes.SHA256()
    if isinstance(key, rsa.RSAPrivateKey):
        return hashes.SHA256()
    return None  # Ed25519, Ed448: the hash is part of the algorithm


def build_csr(
    key: PrivateKeyTypes, fields: SubjectFields, sans: Sequence[str]
) -> x509.CertificateSigningRequest:
    """A CSR whose CN (if any) is also its first SAN; every name checked and normalised.

    The key must be one padlock signs with (see :func:`padlock.pki.keys.signing_key`):
    a 1024-bit RSA key or a DSA key is refused with an error saying why.
    """
    key = keys.signing_key(key)
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
        # DER is binary: its last byte may well be a "whitespace" byte, so never strip it.
        return x509.load_der_x509_csr(data)
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
