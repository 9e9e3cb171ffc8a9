"""padlock's own fast structural checks of a subscriber certificate before signing.

They run for every profile (pkilint runs as well for the trusted ones): cheap
enough for the test profile's thousands per second, and they catch our own
mistakes in the profile code, the thing pre-issuance linting is for (BR 4.3.1.2).
"""

from __future__ import annotations

import contextlib
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from padlock.pki.profiles import Profile, counted_days, max_days


def leaf_problems(cert: x509.Certificate, profile: Profile) -> list[str]:
    """Every way ``cert`` breaks the profile; empty when it is fine."""
    problems: list[str] = []
    serial = cert.serial_number
    if serial <= 0 or serial.bit_length() > 159:
        problems.append("serial must be positive and at most 20 octets (RFC 5280 4.1.2.2)")
    if serial.bit_length() < 64:
        problems.append("serial has fewer than 64 bits (BR 7.1)")
    days = counted_days(cert.not_valid_before_utc, cert.not_valid_after_utc)
    if days > max_days(profile, cert.not_valid_before_utc.date()):
        problems.append(f"validity of {days} days exceeds the profile's maximum (BR 6.3.2)")
    exts = cert.extensions
    try:
        san = exts.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        problems.append("subjectAltName is missing (BR 7.1.2.7.12)")
        san = None
    names: set[str] = set()
    if san is not None:
        for general in san:
            if isinstance(general, x509.DNSName):
                names.add(general.value)
            elif isinstance(general, x509.IPAddress):
                names.add(str(general.value))
            else:
                problems.append(f"subjectAltName holds a {type(general).__name__} (BR 7.1.2.7.12)")
        if not names:
            problems.append("subjectAltName is empty")
    for attr in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        value = str(attr.value)
        with contextlib.suppress(ValueError):
            value = str(ipaddress.ip_address(value))
        if value not in names:
            problems.append("commonName is not a copy of a subjectAltName (BR 7.1.4.3)")
    try:
        bc = exts.get_extension_for_class(x509.BasicConstraints).value
        if bc.ca:
            problems.append("basicConstraints says CA:TRUE on a subscriber certificate")
    except x509.ExtensionNotFound:
        pass
    try:
        eku = exts.get_extension_for_class(x509.ExtendedKeyUsage).value
        if list(eku) != [ExtendedKeyUsageOID.SERVER_AUTH]:
            problems.append("extKeyUsage must be exactly serverAuth")
    except x509.ExtensionNotFound:
        problems.append("extKeyUsage is missing (BR 7.1.2.7.10)")
    try:
        ku_ext = exts.get_extension_for_class(x509.KeyUsage)
        ku = ku_ext.value
        if not ku_ext.critical or not ku.digital_signature or ku.key_cert_sign or ku.crl_sign:
            problems.append("keyUsage must be critical with digitalSignature only (BR 7.1.2.7.11)")
        if ku.key_encipherment and not isinstance(cert.public_key(), rsa.RSAPublicKey):
            problems.append("keyEncipherment is for RSA keys only")
    except x509.ExtensionNotFound:
        problems.append("keyUsage is missing")
    try:
        policies = exts.get_extension_for_class(x509.CertificatePolicies).value
        oids = [p.policy_identifier.dotted_string for p in policies]
        if profile.policy_oid not in oids:
            problems.append(f"certificatePolicies lacks {profile.policy_oid} (BR 7.1.6.1)")
    except x509.ExtensionNotFound:
        problems.append("certificatePolicies is missing (BR 7.1.2.7.9)")
    for cls in (x509.AuthorityKeyIdentifier, x509.AuthorityInformationAccess):
        try:
            exts.get_extension_for_class(cls)
        except x509.ExtensionNotFound:
            problems.append(f"{cls.__name__} is missing")
    has_org = bool(cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))
    if has_org != profile.needs_organization:
        problems.append("organizationName present/absent against the profile (BR 7.1.2.7.2-4)")
    return problems
