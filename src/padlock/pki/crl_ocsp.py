"""Revocation vocabulary, pure: reason codes, CRL builders, OCSP requests and responses.

Bytes and values in, values out; no files, sockets, database or clock (``now`` is
always a parameter). Only ``ca/signer.py`` signs what these functions build.

- reason codes (RFC 5280 5.3.1) and the subset a CA/Browser Forum CA may use
  for subscriber certificates (BR 7.2.2);
- full CRLs (RFC 5280 5.1) with CRL number, AKI, and reasonCode omitted for
  ``unspecified`` (RFC 5280 5.3.1 recommends it; BR 7.2.2 requires it);
- the delegated OCSP responder certificate (BR 7.1.2.8; RFC 6960 4.2.2.2);
- OCSP requests read by cryptography, with a small strict DER reader as the
  fallback;
- OCSP response builders (RFC 6960 4.2, RFC 5019 profile).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPublicKeyTypes,
    CertificatePublicKeyTypes,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from padlock.errors import BadRevocationReason, Malformed, Unauthorized
from padlock.pki import der

# --- reason codes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    name: str  # RFC 5280's ASN.1 name, e.g. "keyCompromise"
    code: int  # the CRLReason value
    flag: x509.ReasonFlags
    subscriber_may: bool  # a subscriber may ask for it (privilegeWithdrawn is the CA's call)

    @property
    def in_crl_entry(self) -> bool:
        """RFC 5280 5.3.1 / BR 7.2.2: no reasonCode extension for unspecified."""
        return self.code != 0


_ALL_REASONS = (
    Reason("unspecified", 0, x509.ReasonFlags.unspecified, True),
    Reason("keyCompromise", 1, x509.ReasonFlags.key_compromise, True),
    Reason("affiliationChanged", 3, x509.ReasonFlags.affiliation_changed, True),
    Reason("superseded", 4, x509.ReasonFlags.superseded, True),
    Reason("cessationOfOperation", 5, x509.ReasonFlags.cessation_of_operation, True),
    Reason("privilegeWithdrawn", 9, x509.ReasonFlags.privilege_withdrawn, False),
)
REASONS: Mapping[str, Reason] = MappingProxyType({r.name: r for r in _ALL_REASONS})
"""The reasons padlock accepts, by name (BR 7.2.2 for subscriber certificates)."""

_BY_CODE = {r.code: r for r in _ALL_REASONS}
_BY_FOLDED = {r.name.lower(): r for r in _ALL_REASONS}
_REFUSED_CODES = {
    2: "cACompromise (for CA certificates only)",
    6: "certificateHold (BR 4.9.13 forbids suspension)",
    7: "an unused value",
    8: "removeFromCRL (delta CRLs only)",
    10: "aACompromise (attribute certificates only)",
}

_REFUSED_NAMES = {"cacompromise": 2, "certificatehold": 6, "removefromcrl": 8, "aacompromise": 10}


def parse_reason(value: str | int | None) -> Reason:
    """The :class:`Reason` for a name (any case; dashes and underscores ignored) or a code.

    ``None`` means unspecified. Anything else raises :class:`BadRevocationReason`.
    """
    if value is None:
        return REASONS["unspecified"]
    if isinstance(value, bool):
        raise BadRevocationReason(f"{value!r} is not a revocation reason.")
    if isinstance(value, int):
        found = _BY_CODE.get(value)
        if found is None:
            why = _REFUSED_CODES.get(value, "not a reason code")
            raise BadRevocationReason(
                f"Revocation reason code {value} is not allowed: {why}.", hint=_reasons_hint()
            )
        return found
    text = value.strip()
    if text.isdigit():
        return parse_reason(int(text))
    folded = text.replace("-", "").replace("_", "").replace(" ", "").lower()
    found = _BY_FOLDED.get(folded)
    if found is None and folded in _REFUSED_NAMES:
        return parse_reason(_REFUSED_NAMES[folded])
    if found is None:
        raise BadRevocationReason(
            f"{value!r} is not a revocation reason padlock accepts.", hint=_reasons_hint()
        )
    return found


def _reasons_hint() -> str:
    return "Use one of: " + ", ".join(f"{r.name} ({r.code})" for r in _ALL_REASONS) + "."


def reason_by_flag(flag: x509.ReasonFlags | None) -> Reason:
    if flag is None:
        return REASONS["unspecified"]
    for reason in _ALL_REASONS:
        if reason.flag is flag:
            return reason
    raise BadRevocationReason(f"{flag.value} is not a reason padlock uses.")


# --- CRLs -----------------------------------------------------------------------------------

CRL_DAYS = 7  # BR 4.9.7: nextUpdate at most 10 days after thisUpdate for subscriber CRLs
ARL_DAYS = 365  # BR 7.2: at most 12 months for CRLs of a root (about its CAs)
BACKDATE = dt.timedelta(minutes=5)  # thisUpdate a little in the past, for slow clocks


@dataclass(frozen=True)
class RevokedEntry:
    serial: int
    revoked_at: dt.datetime
    reason: str  # a key of REASONS


def half_way(this_update: dt.datetime, next_update: dt.datetime, now: dt.datetime) -> bool:
    """Half of a CRL's or response's validity gone: sign it again well before its
    nextUpdate (BR 4.9.7, 4.9.10)."""
    return now >= this_update + (next_update - this_update) / 2


def crl_times(now: dt.datetime, days: int) -> tuple[dt.datetime, dt.datetime]:
    this_update = (now - BACKDATE).replace(microsecond=0)
    return this_update, this_update + dt.timedelta(days=days)


def _reason_extensions() -> dict[str, list[x509.Extension[x509.ExtensionType]]]:
    return {
        r.name: (
            [x509.Extension(x509.CRLReason.oid, False, x509.CRLReason(r.flag))]
            if r.in_crl_entry
            else []
        )
        for r in _ALL_REASONS
    }


_ENTRY_EXTENSIONS = _reason_extensions()


def crl_builder(
    issuer: x509.Certificate,
    number: int,
    this_update: dt.datetime,
    next_update: dt.datetime,
    entries: Iterable[RevokedEntry],
) -> x509.CertificateRevocationListBuilder:
    """A full CRL (RFC 5280 5.1, v2) of ``issuer``: CRL number, AKI, one entry per serial.

    The builder is made in one step (its constructor takes the whole list):
    adding entries one by one copies the list each time, which is quadratic and
    takes minutes for a million entries.
    """
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    revoked = [
        x509.RevokedCertificateBuilder(
            serial_number=e.serial,
            revocation_date=e.revoked_at.replace(microsecond=0),
            extensions=_ENTRY_EXTENSIONS[e.reason],
        ).build()
        for e in entries
    ]
    extensions: list[x509.Extension[x509.ExtensionType]] = [
        x509.Extension(
            x509.AuthorityKeyIdentifier.oid,
            False,
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
        ),
        x509.Extension(x509.CRLNumber.oid, False, x509.CRLNumber(number)),
    ]
    return x509.CertificateRevocationListBuilder(
        issuer_name=issuer.subject,
        last_update=this_update,
        next_update=next_update,
        extensions=extensions,
        revoked_certificates=revoked,
    )


# --- the delegated OCSP responder certificate ------------------------------------------------

OCSP_RESPONDER_DAYS = 90
OCSP_RESPONDER_RENEW_DAYS = 30  # make a new one when fewer days than this remain


def ocsp_responder_builder(
    issuer: x509.Certificate,
    public_key: CertificatePublicKeyTypes,
    serial: int,
    now: dt.datetime,
    days: int = OCSP_RESPONDER_DAYS,
) -> x509.CertificateBuilder:
    """BR 7.1.2.8 / RFC 6960 4.2.2.2: EKU OCSPSigning only, ocsp-nocheck, KU digitalSignature."""
    not_before = (now - dt.timedelta(minutes=1)).replace(microsecond=0)
    issuer_cn = issuer.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    orgs = issuer.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    base = str(issuer_cn[0].value) if issuer_cn else "padlock"
    countries = issuer.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, str(c.value)) for c in countries[:1]]
    attrs += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, str(o.value)) for o in orgs[:1]]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, f"{base} OCSP {not_before:%Y-%m-%d}"[:64]))
    issuer_ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attrs))
        .issuer_name(issuer.subject)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_before + dt.timedelta(days=days) - dt.timedelta(seconds=1))
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.OCSPNoCheck(), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def responder_needs_renewal(cert: x509.Certificate, now: dt.datetime) -> bool:
    return cert.not_valid_after_utc - now < dt.timedelta(days=OCSP_RESPONDER_RENEW_DAYS)


# --- OCSP requests ----------------------------------------------------------------------------

MAX_REQUEST_BYTES = 10 * 1024

# DER of the hash algorithms' OIDs (the OBJECT IDENTIFIER's content octets).
_HASH_OIDS: Mapping[bytes, str] = MappingProxyType(
    {
        bytes.fromhex("2b0e03021a"): "sha1",
        bytes.fromhex("608648016503040201"): "sha256",
        bytes.fromhex("608648016503040202"): "sha384",
        bytes.fromhex("608648016503040203"): "sha512",
    }
)
HASHES: Mapping[str, type[hashes.HashAlgorithm]] = MappingProxyType(
    {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
)
_NONCE_OID = bytes.fromhex("2b06010505073001" + "02")  # 1.3.6.1.5.5.7.48.1.2
NONCE_MIN, NONCE_MAX = 1, 32  # RFC 8954 2.1: 1..32 octets; others answered without a nonce


@dataclass(frozen=True)
class OcspQuery:
    """One OCSP request, reduced to what the responder needs."""

    hash_alg: str  # "sha1", "sha256", ...
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    serial: int
    nonce: bytes | None = None  # the Nonce's value (RFC 8954), when asked and of a usable size
    nonce_refused: bool = False  # a nonce was sent but of a size the responder does not echo


class _Der:
    """A strict DER reader over one buffer: definite lengths, minimal length octets."""

    __slots__ = ("buf", "end", "pos")

    def __init__(self, buf: bytes, pos: int = 0, end: int | None = None) -> None:
        self.buf = buf
        self.pos = pos
        self.end = len(buf) if end is None else end

    def at_end(self) -> bool:
        return self.pos >= self.end

    def peek(self) -> int:
        if self.pos >= self.end:
            raise ValueError("unexpected end of data")
        return self.buf[self.pos]

    def read(self, tag: int) -> tuple[int, int]:
        """Read one element with ``tag``; its content's (start, end). Moves past it."""
        buf, pos, end = self.buf, self.pos, self.end
        if pos + 2 > end or buf[pos] != tag:
            raise ValueError(f"expected tag 0x{tag:02x}")
        first = buf[pos + 1]
        pos += 2
        if first < 0x80:
            length = first
        else:
            count = first & 0x7F
            if count == 0 or count > 4 or pos + count > end:
                raise ValueError("bad length")
            length = int.from_bytes(buf[pos : pos + count], "big")
            if length < 0x80 or buf[pos] == 0:
                raise ValueError("non-minimal length")
            pos += count
        if pos + length > end:
            raise ValueError("length past the end")
        self.pos = pos + length
        return pos, pos + length

    def sub(self, tag: int) -> _Der:
        start, stop = self.read(tag)
        return _Der(self.buf, start, stop)

    def bytes_of(self, tag: int) -> bytes:
        start, stop = self.read(tag)
        return self.buf[start:stop]


def _parse_fast(der: bytes) -> OcspQuery:
    top = _Der(der)
    request = top.sub(0x30)
    if not top.at_end():
        raise ValueError("trailing data")
    tbs = request.sub(0x30)
    if not request.at_end():
        request.read(0xA0)  # optionalSignature: not required, not checked (RFC 6960 4.1.2)
        if not request.at_end():
            raise ValueError("trailing data in OCSPRequest")
    if not tbs.at_end() and tbs.peek() == 0xA0:  # version [0] EXPLICIT, must be v1 (0)
        version = tbs.sub(0xA0)
        if version.bytes_of(0x02) != b"\x00" or not version.at_end():
            raise ValueError("unsupported version")
    if not tbs.at_end() and tbs.peek() == 0xA1:
        tbs.read(0xA1)  # requestorName
    request_list = tbs.sub(0x30)
    one = request_list.sub(0x30)
    if not request_list.at_end():
        raise ValueError("more than one request")
    cert_id = one.sub(0x30)
    if not one.at_end():
        one.read(0xA0)  # singleRequestExtensions: none understood; none is critical to us
        if not one.at_end():
            raise ValueError("trailing data in Request")
    alg = cert_id.sub(0x30)
    oid = alg.bytes_of(0x06)
    if not alg.at_end():
        alg.read(0x05)  # NULL parameters
        if not alg.at_end():
            raise ValueError("bad hash algorithm parameters")
    hash_alg = _HASH_OIDS.get(oid)
    if hash_alg is None:
        raise LookupError("unsupported hash algorithm")
    name_hash = cert_id.bytes_of(0x04)
    key_hash = cert_id.bytes_of(0x04)
    serial_bytes = cert_id.bytes_of(0x02)
    if not cert_id.at_end() or not serial_bytes:
        raise ValueError("bad CertID")
    if len(serial_bytes) > 1 and (
        (serial_bytes[0] == 0 and serial_bytes[1] < 0x80)
        or (serial_bytes[0] == 0xFF and serial_bytes[1] >= 0x80)
    ):
        raise ValueError("non-minimal serial")
    serial = int.from_bytes(serial_bytes, "big", signed=True)
    nonce: bytes | None = None
    refused = False
    if not tbs.at_end():
        exts = tbs.sub(0xA2).sub(0x30)
        while not exts.at_end():
            ext = exts.sub(0x30)
            ext_oid = ext.bytes_of(0x06)
            critical = False
            if ext.peek() == 0x01:
                critical = ext.bytes_of(0x01) == b"\xff"
            value = ext.bytes_of(0x04)
            if not ext.at_end():
                raise ValueError("bad extension")
            if ext_oid == _NONCE_OID:
                if nonce is not None or refused:
                    raise ValueError("two nonces")
                inner = _Der(value)
                try:
                    candidate = inner.bytes_of(0x04)
                    if not inner.at_end():
                        raise ValueError("bad nonce")
                except ValueError:
                    candidate = value  # some clients send the raw octets (pre-RFC 8954)
                if NONCE_MIN <= len(candidate) <= NONCE_MAX:
                    nonce = candidate
                else:
                    refused = True
            elif critical:
                raise LookupError("unsupported critical extension")
        if not tbs.at_end():
            raise ValueError("trailing data in TBSRequest")
    return OcspQuery(hash_alg, name_hash, key_hash, serial, nonce, refused)


def _parse_slow(der: bytes) -> OcspQuery:
    request = ocsp.load_der_ocsp_request(der)
    name = request.hash_algorithm.name
    if name not in HASHES:
        raise LookupError("unsupported hash algorithm")
    nonce = None
    refused = False
    for ext in request.extensions:
        if isinstance(ext.value, x509.OCSPNonce):
            if NONCE_MIN <= len(ext.value.nonce) <= NONCE_MAX:
                nonce = ext.value.nonce
            else:
                refused = True
        elif ext.critical:
            raise LookupError("unsupported critical extension")
    return OcspQuery(
        name,
        request.issuer_name_hash,
        request.issuer_key_hash,
        request.serial_number,
        nonce,
        refused,
    )


def parse_ocsp_request(der: bytes) -> OcspQuery:
    """Read an OCSP request (RFC 6960 4.1.1) with exactly one CertID.

    cryptography's parser (Rust) reads a request in about 3.6 µs here, the strict
    pure-Python DER reader above in about 5.3 µs, so cryptography goes first; the
    reader is the fallback for what cryptography refuses but a responder can
    still answer (a pre-RFC 8954 nonce given as raw octets, for one). Raises
    :class:`Malformed` for anything unreadable, and for requests padlock does
    not serve (several CertIDs, an unknown hash algorithm, a critical extension
    it does not know) — the responder answers ``malformedRequest`` to both.
    """
    if len(der) > MAX_REQUEST_BYTES:
        raise Malformed(f"The OCSP request is larger than {MAX_REQUEST_BYTES} bytes.")
    try:
        return _parse_slow(der)
    except (ValueError, LookupError, TypeError, UnsupportedAlgorithm):
        pass
    try:
        return _parse_fast(der)
    except (ValueError, LookupError, IndexError) as exc:
        raise Malformed(f"The OCSP request cannot be read ({exc}).") from None


def decode_get_path(text: str) -> bytes:
    """The DER of an OCSP GET request: base64 (RFC 6960 A.1), URL-decoded already.

    Accepts standard and URL-safe alphabets, with or without padding. A "/" is base64's
    63rd digit, and clients that do not percent-encode it send one at the end of a quarter
    of a sixteenth of their requests; a slash only added after the request (a URL written
    with a trailing "/") is dropped when the request without it is one whole DER element
    and the request with it is not.
    """
    cleaned = text.strip().lstrip("/")  # a DER SEQUENCE's base64 begins with "M", never "/"
    if not cleaned or len(cleaned) > MAX_REQUEST_BYTES * 2:
        raise Malformed("The OCSP GET request has no base64 request, or one too long.")
    decoded = _base64_request(cleaned)
    if cleaned.endswith("/") and (decoded is None or not _one_element(decoded)):
        trimmed = _base64_request(cleaned.rstrip("/"))
        if trimmed is not None and (decoded is None or _one_element(trimmed)):
            decoded = trimmed
    if decoded is None:
        raise Malformed("The OCSP GET request is not valid base64.")
    return decoded


def _base64_request(text: str) -> bytes | None:
    text = text.replace("-", "+").replace("_", "/").replace(" ", "+")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _one_element(data: bytes) -> bool:
    try:
        return der.element(data, 0)[1] == len(data)
    except ValueError:
        return False


# --- OCSP responses ---------------------------------------------------------------------------

OCSP_RESPONSE_DAYS = 4  # BR 4.9.10: at least 8 hours, at most 10 days; refreshed at half-life
OCSP_BACKDATE = dt.timedelta(hours=1)  # thisUpdate an hour back, as large responders do


def _unsigned(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(Encoding.DER)


MALFORMED_REQUEST = _unsigned(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
INTERNAL_ERROR = _unsigned(ocsp.OCSPResponseStatus.INTERNAL_ERROR)
TRY_LATER = _unsigned(ocsp.OCSPResponseStatus.TRY_LATER)
UNAUTHORIZED = _unsigned(ocsp.OCSPResponseStatus.UNAUTHORIZED)


def issuer_hashes(issuer: x509.Certificate) -> dict[str, tuple[bytes, bytes]]:
    """{hash name: (issuerNameHash, issuerKeyHash)} of an issuing CA (RFC 6960 4.1.1)."""
    name_der = issuer.subject.public_bytes()
    spki = issuer.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    key_bits = _subject_public_key_bits(spki)
    return {
        name: (hashlib.new(name, name_der).digest(), hashlib.new(name, key_bits).digest())
        for name in HASHES
    }


def _subject_public_key_bits(spki: bytes) -> bytes:
    """The subjectPublicKey BIT STRING's value without its unused-bits octet."""
    top = _Der(spki).sub(0x30)
    top.read(0x30)  # algorithm
    bits = top.bytes_of(0x03)
    return bits[1:]


class CertStatus:
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class SingleStatus:
    """What one response says about one serial."""

    status: str  # CertStatus
    revoked_at: dt.datetime | None = None
    reason: str | None = None  # a key of REASONS; None or "unspecified" omits revocationReason


def ocsp_times(now: dt.datetime, days: int = OCSP_RESPONSE_DAYS) -> tuple[dt.datetime, dt.datetime]:
    this_update = (now - OCSP_BACKDATE).replace(microsecond=0)
    return this_update, this_update + dt.timedelta(days=days)


def ocsp_response_builder(
    query: OcspQuery,
    single: SingleStatus,
    responder: x509.Certificate,
    this_update: dt.datetime,
    next_update: dt.datetime,
    with_nonce: bool,
) -> ocsp.OCSPResponseBuilder:
    """A basic OCSP response for one CertID (echoing the request's hash algorithm),
    responder ID by key hash (RFC 5019 2.2.3), the responder certificate included."""
    status = {
        CertStatus.GOOD: ocsp.OCSPCertStatus.GOOD,
        CertStatus.REVOKED: ocsp.OCSPCertStatus.REVOKED,
        CertStatus.UNKNOWN: ocsp.OCSPCertStatus.UNKNOWN,
    }[single.status]
    revoked_at = None
    reason_flag = None
    if status is ocsp.OCSPCertStatus.REVOKED:
        if single.revoked_at is None:
            raise ValueError("a revoked status needs its revocation time")
        revoked_at = single.revoked_at.replace(microsecond=0)
        reason = REASONS[single.reason or "unspecified"]
        reason_flag = reason.flag if reason.in_crl_entry else None
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            issuer_name_hash=query.issuer_name_hash,
            issuer_key_hash=query.issuer_key_hash,
            serial_number=query.serial,
            algorithm=HASHES[query.hash_alg](),
            cert_status=status,
            this_update=this_update,
            next_update=next_update,
            revocation_time=revoked_at,
            revocation_reason=reason_flag,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, responder)
        .certificates([responder])
    )
    if with_nonce and query.nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(query.nonce), critical=False)
    return builder


# --- proof of key possession for a revocation request ------------------------------------------

STATEMENT_LABEL = b"padlock-revoke-v1"
STATEMENT_MAX_AGE = dt.timedelta(minutes=5)


def revocation_statement(cert_sha256: str, reason: str, timestamp: str, audience: str) -> bytes:
    """The bytes a certificate's key signs to ask for its revocation.

    ``audience`` is the CA's base URL, so that a statement made for one CA cannot
    be replayed at another; ``timestamp`` (RFC 3339, UTC) bounds its life.
    """
    return b"\n".join(
        (
            STATEMENT_LABEL,
            cert_sha256.lower().encode(),
            reason.encode(),
            timestamp.encode(),
            audience.rstrip("/").encode(),
        )
    )


def sign_statement(key: object, statement: bytes) -> bytes:
    """Sign a statement with a subscriber's private key (the site owner's side)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(statement, ec.ECDSA(_ec_hash(key.curve)))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(statement, padding.PKCS1v15(), hashes.SHA256())
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(statement)
    raise Malformed(f"A {type(key).__name__} cannot sign a revocation request.")


def _ec_hash(curve: ec.EllipticCurve) -> hashes.HashAlgorithm:
    if curve.key_size >= 512:
        return hashes.SHA512()
    if curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def verify_statement(
    public_key: CertificatePublicKeyTypes | CertificateIssuerPublicKeyTypes,
    statement: bytes,
    signature: bytes,
) -> None:
    """Raise :class:`Unauthorized` unless ``signature`` over ``statement`` verifies."""
    from cryptography.exceptions import InvalidSignature

    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, statement, ec.ECDSA(_ec_hash(public_key.curve)))
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, statement, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, statement)
        else:
            raise Unauthorized("The certificate's key type cannot sign revocation requests.")
    except InvalidSignature:
        raise Unauthorized(
            "The signature does not verify with the certificate's public key: this request"
            " does not prove possession of the certificate's private key."
        ) from None


def parse_timestamp(text: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Malformed(f"{text!r} is not an RFC 3339 timestamp.") from None
    if when.tzinfo is None:
        raise Malformed("The timestamp must carry its time zone (use UTC, ending in Z).")
    return when.astimezone(dt.UTC)
