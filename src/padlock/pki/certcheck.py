"""padlock's own fast structural checks of a subscriber certificate before signing.

They run for every profile (pkilint runs as well for the trusted ones): cheap
enough for the test profile's thousands per second, and they catch our own
mistakes in the profile code, the thing pre-issuance linting is for (BR 4.3.1.2).
"""

from __future__ import annotations

import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from padlock.pki.profiles import Profile, counted_days, max_days

_SERVER_AUTH_ONLY = [ExtendedKeyUsageOID.SERVER_AUTH]


def _ip_text(value: str) -> str:
    """The canonical text of ``value`` if it is an IP address, else ``value`` itself."""
    # Only digits and dots (IPv4) or a colon (IPv6) can parse: skip the exception otherwise.
    if ":" in value or not value.strip("0123456789."):
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            pass
    return value


def leaf_problems(cert: x509.Certificate, profile: Profile) -> list[str]:
    """Every way ``cert`` breaks the profile; empty when it is fine."""
    problems: list[str] = []
    serial = cert.serial_number
    if serial <= 0 or serial.bit_length() > 159:
        problems.append("serial must be positive and at most 20 octets (RFC 5280 4.1.2.2)")
    if serial.bit_length() < 64:
        problems.append("serial has fewer than 64 bits (BR 7.1)")
    not_before = cert.not_valid_before_utc
    days = counted_days(not_before, cert.not_valid_after_utc)
    if days > max_days(profile, not_before.date()):
        problems.append(f"validity of {days} days exceeds the profile's maximum (BR 6.3.2)")
    # One pass over the extensions (a duplicate raises here, as get_extension_for_* would).
    exts = {ext.oid: ext for ext in cert.extensions}
    san_ext = exts.get(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    if san_ext is None:
        problems.append("subjectAltName is missing (BR 7.1.2.7.12)")
    names: set[str] = set()
    if san_ext is not None:
        for general in san_ext.value:
            if isinstance(general, x509.DNSName):
                names.add(general.value)
            elif isinstance(general, x509.IPAddress):
                names.add(str(general.value))
            else:
                problems.append(f"subjectAltName holds a {type(general).__name__} (BR 7.1.2.7.12)")
        if not names:
            problems.append("subjectAltName is empty")
    subject = cert.subject
    for attr in subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        if _ip_text(str(attr.value)) not in names:
            problems.append("commonName is not a copy of a subjectAltName (BR 7.1.4.3)")
    bc_ext = exts.get(ExtensionOID.BASIC_CONSTRAINTS)
    if bc_ext is not None and bc_ext.value.ca:
        problems.append("basicConstraints says CA:TRUE on a subscriber certificate")
    eku_ext = exts.get(ExtensionOID.EXTENDED_KEY_USAGE)
    if eku_ext is None:
        problems.append("extKeyUsage is missing (BR 7.1.2.7.10)")
    elif list(eku_ext.value) != _SERVER_AUTH_ONLY:
        problems.append("extKeyUsage must be exactly serverAuth")
    ku_ext = exts.get(ExtensionOID.KEY_USAGE)
    if ku_ext is None:
        problems.append("keyUsage is missing")
    else:
        ku = ku_ext.value
        if not ku_ext.critical or not ku.digital_signature or ku.key_cert_sign or ku.crl_sign:
            problems.append("keyUsage must be critical with digitalSignature only (BR 7.1.2.7.11)")
        if ku.key_encipherment and not isinstance(cert.public_key(), rsa.RSAPublicKey):
            problems.append("keyEncipherment is for RSA keys only")
    policies_ext = exts.get(ExtensionOID.CERTIFICATE_POLICIES)
    if policies_ext is None:
        problems.append("certificatePolicies is missing (BR 7.1.2.7.9)")
    elif profile.policy_oid not in [p.policy_identifier.dotted_string for p in policies_ext.value]:
        problems.append(f"certificatePolicies lacks {profile.policy_oid} (BR 7.1.6.1)")
    for cls in (x509.AuthorityKeyIdentifier, x509.AuthorityInformationAccess):
        if cls.oid not in exts:
            problems.append(f"{cls.__name__} is missing")
    has_org = bool(subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))
    if has_org != profile.needs_organization:
        problems.append("organizationName present/absent against the profile (BR 7.1.2.7.2-4)")
    return problems
