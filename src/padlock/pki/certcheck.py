"""padlock's own fast structural checks of a subscriber certificate before signing.

They run for every profile (pkilint runs as well for the trusted ones): cheap
enough for the test profile's thousands per second, and they catch our own
mistakes in the profile code, the thing pre-issuance linting is for (BR 4.3.1.2).
"""

from __future__ import annotations

import ipaddress

from cryptography import x509
from cryptography.x509.oid import (
    ExtendedKeyUsageOID,
    ExtensionOID,
    NameOID,
    PublicKeyAlgorithmOID,
)

from padlock.pki import der
from padlock.pki.certs import name_facts, tbs_fields
from padlock.pki.profiles import Profile, validity_problem

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


def leaf_problems(cert: x509.Certificate, profile: Profile, tbs: bytes | None = None) -> list[str]:
    """Every way ``cert`` breaks the profile; empty when it is fine.

    ``tbs`` is the DER of the certificate's tbsCertificate, for a caller that assembled
    ``cert`` from it (cryptography would encode it again).
    """
    problems: list[str] = []
    serial = cert.serial_number
    if serial <= 0 or serial.bit_length() > 159:
        problems.append("serial must be positive and at most 20 octets (RFC 5280 4.1.2.2)")
    if serial.bit_length() < 64:
        problems.append("serial has fewer than 64 bits (BR 7.1)")
    too_long = validity_problem(profile, cert.not_valid_before_utc, cert.not_valid_after_utc)
    if too_long is not None:
        problems.append(too_long)
    fields = tbs_fields(cert.tbs_certificate_bytes if tbs is None else tbs)
    last = fields[-1]
    extensions = der.children(der.children(last)[0]) if last[0] == _EXTENSIONS else []
    sans: list[bytes] = []
    rest: list[bytes] = []
    for extension in extensions:
        (sans if _is_san(extension) else rest).append(extension)
    others = tuple(rest)
    is_rsa = cert.public_key_algorithm_oid in _RSA_KEYS
    # What the other extensions say depends on their bytes alone (and the profile and
    # the kind of key): the same bytes, the same findings. A CA's certificates share them,
    # so cryptography parses each set once, not every time.
    key = (profile, is_rsa, others, len(sans))
    found = _VERDICTS.get(key)
    if found is None:
        found = tuple(_extension_problems(cert, profile, is_rsa))
        if len(_VERDICTS) >= _VERDICTS_KEPT:
            _VERDICTS.clear()
        _VERDICTS[key] = found
    problems.extend(found)
    names: set[str] = set()
    if len(sans) == 1:
        names = _san_names(sans[0], problems)
        if not names:
            problems.append("subjectAltName is empty")
    read = name_facts(fields[4]) if len(fields) > 4 else None
    if read is None:  # a string type read here by cryptography only
        subject = cert.subject
        common_names = [str(a.value) for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        has_org = bool(subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))
    else:
        common_names, has_org = read
    for common_name in common_names:
        if _ip_text(common_name) not in names:
            problems.append("commonName is not a copy of a subjectAltName (BR 7.1.4.3)")
    if has_org != profile.needs_organization:
        problems.append("organizationName present/absent against the profile (BR 7.1.2.7.2-4)")
    return problems


_RSA_KEYS = frozenset({PublicKeyAlgorithmOID.RSAES_PKCS1_v1_5, PublicKeyAlgorithmOID.RSASSA_PSS})
_EXTENSIONS = 0xA3  # the [3] EXPLICIT Extensions of a tbsCertificate (RFC 5280 4.1)
_SAN_OID = der.oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME.dotted_string)


def _is_san(extension: bytes) -> bool:
    """Whether an Extension's DER has extnID subjectAltName (2.5.29.17): its first field,
    right after the SEQUENCE header of two, three or four octets."""
    at = 2 if extension[1] < 0x80 else 2 + (extension[1] & 0x7F)
    return extension[at : at + len(_SAN_OID)] == _SAN_OID


_VERDICTS: dict[tuple[Profile, bool, tuple[bytes, ...], int], tuple[str, ...]] = {}
_VERDICTS_KEPT = 64


def _extension_problems(cert: x509.Certificate, profile: Profile, is_rsa: bool) -> list[str]:
    """The findings on every extension but the subjectAltName's names."""
    problems: list[str] = []
    # One pass over the extensions (a duplicate raises here, as get_extension_for_* would).
    exts = {ext.oid: ext for ext in cert.extensions}
    if ExtensionOID.SUBJECT_ALTERNATIVE_NAME not in exts:
        problems.append("subjectAltName is missing (BR 7.1.2.7.12)")
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
        if ku.key_encipherment and not is_rsa:
            problems.append("keyEncipherment is for RSA keys only")
    policies_ext = exts.get(ExtensionOID.CERTIFICATE_POLICIES)
    if policies_ext is None:
        problems.append("certificatePolicies is missing (BR 7.1.2.7.9)")
    elif profile.policy_oid not in [p.policy_identifier.dotted_string for p in policies_ext.value]:
        problems.append(f"certificatePolicies lacks {profile.policy_oid} (BR 7.1.6.1)")
    for cls in (x509.AuthorityKeyIdentifier, x509.AuthorityInformationAccess):
        if cls.oid not in exts:
            problems.append(f"{cls.__name__} is missing")
    return problems


# GeneralName tags (RFC 5280 4.2.1.6), named as cryptography names its classes.
_GENERAL_NAME_KINDS = {
    0xA0: "OtherName",
    0x81: "RFC822Name",
    0xA3: "x400Address",
    0xA4: "DirectoryName",
    0xA5: "ediPartyName",
    0x86: "UniformResourceIdentifier",
    0x88: "RegisteredID",
}


def _san_names(extension: bytes, problems: list[str]) -> set[str]:
    """The dNSNames and iPAddresses (as text) of a subjectAltName Extension's DER; a name
    of another kind, or one that is not well formed, is a problem."""
    value = der.children(extension)[-1]  # extnValue: an OCTET STRING holding GeneralNames
    start, end = der.element(value, 0)
    names: set[str] = set()
    for general in der.children(value[start:end]):
        tag = general[0]
        content_start, content_end = der.element(general, 0)
        content = general[content_start:content_end]
        if tag == 0x82 and content.isascii():
            names.add(content.decode("ascii"))
        elif tag == 0x87 and len(content) in (4, 16):
            names.add(str(ipaddress.ip_address(content)))
        else:
            kind = _GENERAL_NAME_KINDS.get(tag, f"GeneralName with tag 0x{tag:02x}")
            problems.append(f"subjectAltName holds a {kind} (BR 7.1.2.7.12)")
    return names
