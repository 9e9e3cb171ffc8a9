"""The "no unlisted field" gate: a to-be-signed subscriber certificate against its profile.

Before every signature (``ca/issuance.py``, with padlock's structural checks and
pkilint) the certificate padlock is about to sign is read back field by field and
extension by extension and compared with the profile file: a subject attribute or an
extension the profile does not list, one it lists that is missing, a critical flag or a
value it does not allow, refuses the certificate. What the profile says is thus what a
relying party gets, whatever the template code does (BR 4.3.1.2 asks for pre-issuance
linting; Chrome's root program asks CAs to hold every certificate to a published
profile).

Values that belong to the issuing CA (its name, key identifier, certificate, OCSP and
CRL URLs) come from :class:`IssuingCA`; the CRL URLs are a set, so a CA whose CRLs are
partitioned names every shard's URL there.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    PublicKeyAlgorithmOID,
)

from padlock.pki import der
from padlock.pki.profile_model import EXTENSIONS, SUBJECT_ATTRIBUTES, ExtensionRule, Profile
from padlock.pki.profiles import validity_problem


@dataclass(frozen=True)
class IssuingCA:
    """What a subscriber certificate of this CA must say about its issuer."""

    name: bytes  # the DER of the issuing CA's subject: the certificate's issuer
    signature_algorithm: bytes  # the DER of the AlgorithmIdentifier it signs with
    key_identifier: bytes  # its subjectKeyIdentifier: the AKI's keyIdentifier
    certificate_url: str  # AIA caIssuers
    ocsp_url: str | None  # AIA ocsp, where it runs a responder
    crl_urls: frozenset[str]  # the CRL URL(s) a CRL DP may name (one per shard)


_NAMES = {oid: name for name, oid in EXTENSIONS.items()}
_ATTRIBUTES = {der.oid(oid): name for name, oid in SUBJECT_ATTRIBUTES.items()}
_VERSION_3 = b"\xa0\x03\x02\x01\x02"
_EXTENSIONS_TAG = 0xA3
_SAN = "subjectAltName"
_SKI = "subjectKeyIdentifier"
_SAN_OID = der.oid(EXTENSIONS[_SAN])
_SKI_OID = der.oid(EXTENSIONS[_SKI])
_OWN = frozenset({_SAN_OID, _SKI_OID})
_GENERAL_NAMES = {0x82: "dNSName", 0x87: "iPAddress"}
_USAGES = {
    "digitalSignature": "digital_signature",
    "contentCommitment": "content_commitment",
    "keyEncipherment": "key_encipherment",
    "dataEncipherment": "data_encipherment",
    "keyAgreement": "key_agreement",
    "keyCertSign": "key_cert_sign",
    "cRLSign": "crl_sign",
}
_RSA_KEYS = frozenset({PublicKeyAlgorithmOID.RSAES_PKCS1_v1_5, PublicKeyAlgorithmOID.RSASSA_PSS})
_PURPOSES = {"serverAuth": ExtendedKeyUsageOID.SERVER_AUTH}
_METHODS = {
    AuthorityInformationAccessOID.CA_ISSUERS: "caIssuers",
    AuthorityInformationAccessOID.OCSP: "ocsp",
}


def refusals(cert: x509.Certificate, tbs: bytes, profile: Profile, ca: IssuingCA) -> list[str]:
    """Every way the to-be-signed ``tbs`` (``cert`` is the same fields parsed) departs
    from ``profile``; empty when everything it carries is listed and allowed."""
    return Gate(profile, ca).refusals(cert, tbs)


class Gate:
    """One profile's gate for one issuing CA. The findings on a certificate's extensions
    but its own subjectAltName and subjectKeyIdentifier depend on their bytes alone: the
    CA's certificates share them, so they are worked out once and kept here."""

    def __init__(self, profile: Profile, ca: IssuingCA) -> None:
        self.profile = profile
        self.ca = ca
        self._verdicts: dict[tuple[object, ...], tuple[str, ...]] = {}

    def refusals(self, cert: x509.Certificate, tbs: bytes) -> list[str]:
        profile, ca = self.profile, self.ca
        whole = der.children(tbs)
        problems: list[str] = []
        if whole[0] != _VERSION_3:
            problems.append("version: not v3 (RFC 5280 4.1.2.1)")
        fields = whole[1:] if whole[0][:1] == b"\xa0" else whole
        _serial, algorithm, issuer, _validity, subject, spki = fields[:6]
        if algorithm != ca.signature_algorithm:
            problems.append("signature: not the issuing CA's algorithm (RFC 5280 4.1.2.3)")
        if issuer != ca.name:
            problems.append("issuer: not the issuing CA's subject (RFC 5280 4.1.2.4)")
        problems += _validity_problems(cert, profile)
        attributes = _subject_attributes(subject, problems)
        for attribute in attributes:
            if attribute not in profile.subject:
                problems.append(f"subject: {attribute} is not listed in the {profile.name} profile")
        extensions = [f for f in fields[6:] if f[0] == _EXTENSIONS_TAG]
        if len(fields) - 6 != len(extensions):
            problems.append(
                "issuerUniqueID/subjectUniqueID: not listed in any profile (BR 7.1.2.7)"
            )
        listed = der.children(der.children(extensions[0])[0]) if extensions else []
        return problems + self._extensions(cert, listed, spki, not attributes)

    def _extensions(
        self, cert: x509.Certificate, listed: list[bytes], spki: bytes, subject_empty: bool
    ) -> list[str]:
        own: dict[bytes, bytes] = {}  # this certificate's SAN and SKI, by OID
        shared: list[bytes] = []
        for extension in listed:
            head = _head(extension)
            if head[0] in _OWN and head[0] not in own:
                own[head[0]] = extension
                shared.append(head[0] + head[1])  # what is shared: the OID, the criticality
            else:
                shared.append(extension)
        is_rsa = cert.public_key_algorithm_oid in _RSA_KEYS
        key = (subject_empty, is_rsa, tuple(shared))
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = tuple(
                _extension_problems(cert, listed, self.profile, self.ca, is_rsa, subject_empty)
            )
            if len(self._verdicts) >= _VERDICTS_KEPT:
                self._verdicts.clear()
            self._verdicts[key] = verdict
        problems = list(verdict)
        san, ski = own.get(_SAN_OID), own.get(_SKI_OID)
        rule = self.profile.rule(_SAN)
        if san is not None and rule is not None:
            problems += _san_problems(san, rule)
        if ski is not None and ski != _ski_extension(spki):
            problems.append("extension subjectKeyIdentifier: not the key's (RFC 5280 4.2.1.2 (1))")
        return problems


def _head(extension: bytes) -> tuple[bytes, bytes]:
    """(the extnID's DER, the critical BOOLEAN's DER or b"") of an Extension's DER."""
    at = 2 if extension[1] < 0x80 else 2 + (extension[1] & 0x7F)
    end = at + 2 + extension[at + 1]
    critical = extension[end : end + 3]
    return extension[at:end], critical if critical[:1] == b"\x01" else b""


def _validity_problems(cert: x509.Certificate, profile: Profile) -> list[str]:
    problem = validity_problem(profile, cert.not_valid_before_utc, cert.not_valid_after_utc)
    return [] if problem is None else [problem]


def _subject_attributes(subject: bytes, problems: list[str]) -> list[str]:
    """The names of the subject's attributes (RFC 5280 4.1.2.6), an unknown one a problem."""
    names: list[str] = []
    for rdn in der.children(subject):
        for attribute in der.children(rdn):
            kind = der.children(attribute)[0]
            name = _ATTRIBUTES.get(kind)
            if name is None:
                problems.append(f"subject: attribute {kind.hex()} is not listed in any profile")
            else:
                names.append(name)
    return names


def _extension_problems(
    cert: x509.Certificate,
    listed: list[bytes],
    profile: Profile,
    ca: IssuingCA,
    is_rsa: bool,
    subject_empty: bool,
) -> list[str]:
    """What is listed, missing, twice or critical against the profile, and the values of
    every extension but the certificate's own SAN names and SKI."""
    problems: list[str] = []
    found: dict[str, bytes] = {}
    for extension in listed:
        oid_der = _head(extension)[0]
        name = _NAMES.get(_dotted(oid_der))
        if name is None or profile.rule(name) is None:
            what = name or _dotted(oid_der)
            problems.append(f"extension {what}: not listed in the {profile.name} profile")
        elif name in found:
            problems.append(f"extension {name}: twice (RFC 5280 4.2)")
        else:
            found[name] = extension
    for rule in profile.extensions:
        if rule.name not in found:
            problems.append(f"extension {rule.name}: listed in the profile but missing")
    if problems:
        return problems
    for name, extension in found.items():
        listed_rule = profile.rule(name)
        assert listed_rule is not None
        critical = bool(_head(extension)[1])
        wanted = subject_empty if listed_rule.critical is None else listed_rule.critical
        if critical != wanted:
            problems.append(f"extension {name}: critical must be {wanted}")
    parsed = {_NAMES[e.oid.dotted_string]: e.value for e in cert.extensions}
    for name in found:
        if name not in (_SAN, _SKI):
            problems += _value_problems(name, parsed[name], profile, ca, is_rsa)
    return problems


def _dotted(oid_der: bytes) -> str:
    """The dotted text of an OBJECT IDENTIFIER's DER (X.690 8.19)."""
    start, end = der.element(oid_der, 0)
    arcs: list[int] = []
    value = 0
    for octet in oid_der[start:end]:
        value = (value << 7) | (octet & 0x7F)
        if not octet & 0x80:
            arcs.append(value)
            value = 0
    if not arcs:
        return ""
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in (first, arcs[0] - 40 * first, *arcs[1:]))


def _ski_extension(spki: bytes) -> bytes:
    key = der.children(spki)[1]
    start, end = der.element(key, 0)
    digest = hashlib.sha1(key[start + 1 : end]).digest()  # noqa: S324 - RFC 5280 4.2.1.2
    return der.sequence(
        der.oid(EXTENSIONS[_SKI]), der.tlv(der.OCTET_STRING, der.tlv(der.OCTET_STRING, digest))
    )


def _san_problems(extension: bytes, rule: ExtensionRule) -> list[str]:
    value = der.children(extension)[-1]
    start, end = der.element(value, 0)
    problems = []
    for general in der.children(value[start:end]):
        kind = _GENERAL_NAMES.get(general[0])
        if kind is None or kind not in rule.values:
            problems.append(
                f"extension subjectAltName: a {kind or f'GeneralName 0x{general[0]:02x}'}"
                " is not listed in the profile"
            )
    return problems


_VERDICTS_KEPT = 64


def _value_problems(
    name: str, value: x509.ExtensionType, profile: Profile, ca: IssuingCA, is_rsa: bool
) -> list[str]:
    """What one extension's value holds that its rule does not allow."""
    rule = profile.rule(name)
    assert rule is not None
    wrong = f"extension {name}: "
    if isinstance(value, x509.KeyUsage):
        allowed = {_USAGES[u] for u in rule.values if u != "keyEncipherment" or is_rsa}
        set_bits = {a for a in _USAGES.values() if _bit(value, a)}
        if not set_bits <= allowed:  # keyAgreement (and its only-bits) is never allowed
            return [wrong + "sets " + ", ".join(sorted(set_bits - allowed)) + ", not allowed"]
        return [] if value.digital_signature else [wrong + "lacks digitalSignature"]
    if isinstance(value, x509.ExtendedKeyUsage):
        if list(value) != [_PURPOSES[p] for p in rule.values]:
            return [wrong + "not exactly " + ", ".join(rule.values)]
        return []
    if isinstance(value, x509.CertificatePolicies):
        ids = [p.policy_identifier.dotted_string for p in value]
        qualified = any(p.policy_qualifiers for p in value)
        return [] if ids == list(rule.values) and not qualified else [wrong + f"not {rule.values}"]
    if isinstance(value, x509.BasicConstraints):
        ok = not value.ca and value.path_length is None
        return [] if ok else [wrong + "must say CA:FALSE"]
    if isinstance(value, x509.AuthorityKeyIdentifier):
        ok = value.key_identifier == ca.key_identifier and value.authority_cert_issuer is None
        return [] if ok else [wrong + "not the issuing CA's key identifier alone"]
    if isinstance(value, x509.AuthorityInformationAccess):
        return _aia_problems(value, rule, ca)
    if isinstance(value, x509.CRLDistributionPoints):
        return _crl_dp_problems(value, ca)
    return [wrong + "padlock cannot check this value"]  # pragma: no cover - EXTENSIONS


def _bit(usage: x509.KeyUsage, attribute: str) -> bool:
    return bool(getattr(usage, attribute))


def _aia_problems(
    value: x509.AuthorityInformationAccess, rule: ExtensionRule, ca: IssuingCA
) -> list[str]:
    expected = {"caIssuers": ca.certificate_url, "ocsp": ca.ocsp_url}
    problems = []
    for description in value:
        method = _METHODS.get(description.access_method)
        location = description.access_location
        if method is None or method not in rule.values:
            problems.append("extension authorityInfoAccess: a method not listed in the profile")
        elif location != x509.UniformResourceIdentifier(expected[method] or ""):
            problems.append(f"extension authorityInfoAccess: {method} is not the issuing CA's")
    return problems


def _crl_dp_problems(value: x509.CRLDistributionPoints, ca: IssuingCA) -> list[str]:
    """BR 7.1.2.11.2: one DistributionPoint, a fullName of http URIs, no reasons, no
    cRLIssuer; here each URI one of the issuing CA's CRLs."""
    points = list(value)
    wrong = "extension cRLDistributionPoints: "
    if len(points) != 1 or points[0].reasons or points[0].crl_issuer or not points[0].full_name:
        return [wrong + "must be one distribution point with a fullName (BR 7.1.2.11.2)"]
    for general in points[0].full_name:
        if not isinstance(general, x509.UniformResourceIdentifier):
            return [wrong + "names something other than a URI"]
        if general.value not in ca.crl_urls:
            return [wrong + f"{general.value} is not one of the issuing CA's CRLs"]
    return []


def issuing_ca(
    certificate: x509.Certificate,
    signature_algorithm: bytes,
    certificate_url: str,
    ocsp_url: str | None,
    crl_urls: frozenset[str],
) -> IssuingCA:
    """The :class:`IssuingCA` of an issuing CA's certificate and URLs."""
    ski = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    name = der.children(certificate.tbs_certificate_bytes)
    fields = name[1:] if name[0][:1] == b"\xa0" else name
    return IssuingCA(
        fields[4], signature_algorithm, ski.digest, certificate_url, ocsp_url, crl_urls
    )
