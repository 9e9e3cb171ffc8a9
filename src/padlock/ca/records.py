"""The certificate records every actor passes around (the CA's use cases, the store, the
web and the CLI): a reservation before signing, the stored certificate after.

Plain values, no behaviour beyond reading themselves; the storage port that keeps them is
``ca/ports/certificates.py``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum


class CertState(StrEnum):
    RESERVED = "reserved"
    ISSUED = "issued"
    REVOKED = "revoked"
    ABANDONED = "abandoned"  # reserved, then refused by lint; never signed


@dataclass(frozen=True)
class Reservation:
    """Step 1 of issuance: the serial and the to-be-signed data, before any signature."""

    serial: int
    hierarchy: str
    issuer: str  # the issuing CA's id, e.g. "test-int"
    profile: str
    request_id: str | None
    subject: str
    names: tuple[str, ...]
    not_before: dt.datetime
    not_after: dt.datetime
    tbs_der: bytes  # the tbsCertificate: the exact fields to lint and sign
    reserved_at: dt.datetime
    key_fingerprint: str

    def issued(self, der: bytes, sha256: str, issued_at: dt.datetime) -> CertificateRecord:
        """This reservation's record once completed, as the store reads it back (UTC)."""
        # Every field given, as CertificateRecord(...) would set them: a frozen
        # dataclass's __init__ sets its seventeen fields one call at a time, eight times
        # the cost, once per certificate issued (tests/store/test_store_certificates.py
        # compares the two).
        record: CertificateRecord = object.__new__(CertificateRecord)
        record.__dict__.update(
            serial=self.serial,
            hierarchy=self.hierarchy,
            issuer=self.issuer,
            profile=self.profile,
            request_id=self.request_id,
            state=CertState.ISSUED,
            subject=self.subject,
            names=tuple(self.names),
            not_before=_utc(self.not_before),
            not_after=_utc(self.not_after),
            reserved_at=_utc(self.reserved_at),
            key_fingerprint=self.key_fingerprint,
            der=der,
            sha256=sha256,
            issued_at=_utc(issued_at),
            revoked_at=None,
            revocation_reason=None,
        )
        return record


def _utc(at: dt.datetime) -> dt.datetime:
    # astimezone makes a new datetime even when there is nothing to convert.
    return at if at.tzinfo is dt.UTC else at.astimezone(dt.UTC)


@dataclass(frozen=True)
class CertificateRecord:
    serial: int
    hierarchy: str
    issuer: str
    profile: str
    request_id: str | None
    state: CertState
    subject: str
    names: tuple[str, ...]
    not_before: dt.datetime
    not_after: dt.datetime
    reserved_at: dt.datetime
    key_fingerprint: str
    der: bytes | None = None
    sha256: str | None = None
    issued_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None
    revocation_reason: str | None = None

    @property
    def serial_hex(self) -> str:
        return format(self.serial, "x")
