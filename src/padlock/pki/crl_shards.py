"""Partitioned CRLs, pure: which shard a serial falls in, the shard's URL, and the DER of a
CRL written directly (no I/O, ``now`` never read here).

A CA with shards writes, into each certificate's CRL Distribution Points, the URL of the
one shard its serial falls in (``serial mod shards``: serials are 128 random bits, so the
shards fill evenly), and publishes one CRL per shard whose critical Issuing Distribution
Point names exactly that URL (BR 7.1.2.11.2 for the CRLDP, BR 7.2.2 and ballot SC-058 for
the IDP; RFC 5280 5.2.5). Such a CRL covers only the certificates that name it; a
relying party checks the IDP against the certificate's CRLDP (RFC 5280 6.3.3 b).

Why the CRL's DER is written here and not by ``x509.CertificateRevocationListBuilder``:
that builder turns each entry into a Python object and hands them to its Rust core one
by one, 14 seconds for a million entries on this machine; the DER below, the same bytes
for the same fields (tests/pki/test_crl_shards.py compares them), takes about one.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from cryptography import x509

from padlock.pki import der
from padlock.pki.crl_ocsp import REASONS, RevokedEntry

FULL = -1  # the issuer's whole CRL (no IDP), kept for certificates that name no shard
MAX_SHARDS = 4096
DEFAULT_SHARDS = {"trusted": 128, "test": 4}  # per hierarchy, for a new CA (ca init)

_V2 = der.integer(1)  # Version v2 (RFC 5280 5.1.2.1): a CRL with extensions
_REASON_OID = der.oid(x509.CRLReason.oid.dotted_string)


def check_shards(shards: int) -> int:
    """``shards`` if it is a usable number of shards (0: none, the full CRL only)."""
    if not 0 <= shards <= MAX_SHARDS:
        raise ValueError(f"the number of CRL shards must be 0 to {MAX_SHARDS}, not {shards}")
    return shards


def shard_of(serial: int, shards: int) -> int:
    """The shard of a certificate with this serial, chosen at issuance."""
    if shards < 1:
        raise ValueError("a CA without shards has no shard to choose")
    return serial % shards


def shard_url(full_crl_url: str, shard: int) -> str:
    """``.../crl/ISSUER.crl`` -> ``.../crl/ISSUER/SHARD.crl``: the URL a shard is served at,
    in the certificate's CRLDP and in the shard CRL's IDP alike."""
    if not full_crl_url.endswith(".crl"):
        raise ValueError(f"{full_crl_url!r} is not a CRL URL ending in .crl")
    return f"{full_crl_url[: -len('.crl')]}/{shard}.crl"


def shard_named(cert: x509.Certificate, issuer: str) -> int | None:
    """The shard a certificate of ``issuer`` names in its CRLDP; None when it names the
    full CRL (a certificate issued before its CA had shards) or no padlock shard."""
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return None
    pattern = re.compile(rf"/crl/{re.escape(issuer)}/(\d{{1,4}})\.crl")
    for point in points:
        for name in point.full_name or ():
            if isinstance(name, x509.UniformResourceIdentifier):
                found = pattern.search(name.value)
                if found is not None and found.end() == len(name.value):
                    return int(found.group(1))
    return None


def shard_named_in(cert_der: bytes, issuer: str) -> int | None:
    """:func:`shard_named` of a DER certificate; None when it cannot be read."""
    try:
        cert = x509.load_der_x509_certificate(cert_der)
    except ValueError:
        return None
    return shard_named(cert, issuer)


# --- the CRL's DER ----------------------------------------------------------------------------


def _extension(oid: bytes, value: bytes, critical: bool) -> bytes:
    return der.sequence(oid, der.TRUE if critical else b"", der.tlv(der.OCTET_STRING, value))


def _entry_extensions() -> dict[str, bytes]:
    """crlEntryExtensions per reason: reasonCode, absent for unspecified (RFC 5280 5.3.1,
    BR 7.2.2)."""
    out: dict[str, bytes] = {}
    for reason in REASONS.values():
        if not reason.in_crl_entry:
            out[reason.name] = b""
            continue
        value = der.tlv(0x0A, bytes((reason.code,)))  # ENUMERATED
        out[reason.name] = der.sequence(_extension(_REASON_OID, value, critical=False))
    return out


_ENTRY_EXTENSIONS = _entry_extensions()


def crl_extensions(issuer: x509.Certificate, number: int, distribution_point: str | None) -> bytes:
    """The crlExtensions' SEQUENCE: AKI (RFC 5280 5.2.1), CRL number (5.2.3) and, for a
    shard, a critical IDP naming its URL, onlyContainsUserCerts (5.2.5; BR 7.2.2)."""
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    values: list[tuple[x509.ExtensionType, bool]] = [
        (x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), False),
        (x509.CRLNumber(number), False),
    ]
    if distribution_point is not None:
        idp = x509.IssuingDistributionPoint(
            full_name=[x509.UniformResourceIdentifier(distribution_point)],
            relative_name=None,
            only_contains_user_certs=True,
            only_contains_ca_certs=False,
            only_some_reasons=None,
            indirect_crl=False,
            only_contains_attribute_certs=False,
        )
        values.append((idp, True))
    return der.sequence(
        *(
            _extension(der.oid(v.oid.dotted_string), v.public_bytes(), critical)
            for v, critical in values
        )
    )


def revoked_list(entries: Iterable[RevokedEntry]) -> bytes:
    """revokedCertificates' content octets: one SEQUENCE per entry (RFC 5280 5.1.2.6)."""
    return b"".join(revoked_entry(e.serial, e.revoked_at, e.reason) for e in entries)


def revoked_entry(serial: int, when: dt.datetime, reason: str) -> bytes:
    """One entry of revokedCertificates: its DER never changes, so it is made once, at the
    revocation, and every CRL of its shard joins these bytes. Every part is shorter than
    128 octets (a serial at most 20, a time 15 or 17, a reasonCode 12), so each length is
    one octet (X.690 8.1.3.4)."""
    if serial <= 0:
        raise ValueError("a serial number is positive (RFC 5280 4.1.2.2)")
    number = serial.to_bytes(serial.bit_length() // 8 + 1, "big")
    if when.tzinfo is not dt.UTC:
        when = when.astimezone(dt.UTC)
    if 1950 <= when.year < 2050:  # RFC 5280 5.1.2.6 / 4.1.2.5: UTCTime through 2049
        time = b"\x17\x0d" + when.strftime("%y%m%d%H%M%SZ").encode()
    else:
        time = b"\x18\x0f" + when.strftime("%Y%m%d%H%M%SZ").encode()
    body = b"\x02" + bytes((len(number),)) + number + time + _ENTRY_EXTENSIONS[reason]
    return b"\x30" + bytes((len(body),)) + body


def tbs_cert_list(
    signature_algorithm: bytes,
    issuer_name: bytes,
    this_update: dt.datetime,
    next_update: dt.datetime,
    revoked: bytes,
    extensions: bytes,
) -> bytes:
    """TBSCertList (RFC 5280 5.1): v2, the CA's signature algorithm and subject (DER, as
    in its certificates), the two times, the entries (left out when there are none, as
    5.1.2.6 requires) and the extensions in [0]."""
    return der.sequence(
        _V2,
        signature_algorithm,
        issuer_name,
        der.time(this_update),
        der.time(next_update),
        der.tlv(der.SEQUENCE, revoked) if revoked else b"",
        der.tlv(0xA0, extensions),
    )
