"""What the CA's use cases need from storage, and the values that cross that border.

``store/`` implements :class:`Store`; ``ca/`` never imports ``store/``. Every
method is one transaction; each state change carries the audit event that
records it, written in the same transaction, so that no change goes unrecorded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from padlock.ca.audit import VerifyResult
    from padlock.errors import PadlockError


class CertState(StrEnum):
    RESERVED = "reserved"
    ISSUED = "issued"
    REVOKED = "revoked"
    ABANDONED = "abandoned"  # reserved, then refused by lint; never signed


@dataclass(frozen=True)
class AuditEntry:
    """An event to append: who did what to which object."""

    action: str  # e.g. "certificate.reserved"
    actor: str  # "cli", "acme:acct-id", "reviewer:alice", "system"
    object_type: str
    object_id: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditEvent:
    """An appended event, with its place in the hash chain."""

    seq: int
    at: dt.datetime
    action: str
    actor: str
    object_type: str
    object_id: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


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


StoreWrite = Callable[[Any], None]
"""More writes for the transaction that reserves or completes a certificate, made by the
store that runs them (its opaque cursor in, nothing out): what the certificate was issued
for is recorded in the same commit as the certificate itself."""


@dataclass
class GuardedWrite:
    """A :data:`StoreWrite` that writes only while its guard holds (a compare-and-set on
    another row). When the guard fails it writes nothing and the transaction still
    commits the rest (a signed certificate is never rolled back for it); ``missed`` then
    holds the error to raise once the transaction is over."""

    work: Callable[[Any], PadlockError | None]
    missed: PadlockError | None = None

    def __call__(self, cursor: Any) -> None:
        self.missed = self.work(cursor)


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


class CertificateStore(Protocol):
    def reserve_certificate(
        self, reservation: Reservation, event: AuditEntry, also: StoreWrite | None = None
    ) -> None:
        """Insert a reservation; raises Conflict if the serial exists (UNIQUE). ``also``
        runs in the same transaction (what the certificate is for, recorded with it)."""

    def complete_certificate(
        self,
        serial: int,
        der: bytes,
        sha256: str,
        issued_at: dt.datetime,
        event: AuditEntry,
        issued: CertificateRecord | None = None,
        also: StoreWrite | None = None,
    ) -> CertificateRecord:
        """Turn a reservation into an issued certificate. The caller that made the
        reservation may pass the record it will have (``Reservation.issued``): it is then
        returned, not read back. ``also`` runs in the same transaction, after the
        certificate is stored."""

    def abandon_certificate(self, serial: int, event: AuditEntry) -> None:
        """Mark a reservation as never signed (lint refused it)."""

    def get_certificate(self, serial: int) -> CertificateRecord | None: ...

    def list_certificates(
        self, state: CertState | None = None, limit: int = 100, offset: int = 0
    ) -> Sequence[CertificateRecord]: ...

    def certificate_counts(self) -> dict[tuple[str, str], int]:
        """{(profile, state): count}, for metrics."""

    def revoke_certificate(
        self, serial: int, reason: str, at: dt.datetime, event: AuditEntry
    ) -> CertificateRecord: ...


class AuditLog(Protocol):
    def append_event(self, event: AuditEntry, at: dt.datetime) -> AuditEvent: ...

    def iter_events(self) -> Iterator[AuditEvent]:
        """All events in seq order."""

    def verify_audit(self) -> VerifyResult:
        """Verify the chain against the head, both read in one snapshot."""

    def audit_head(self) -> tuple[int, str]:
        """(seq, hash) of the last event, kept in a separate row so a truncated log shows."""


class Store(CertificateStore, AuditLog, Protocol):
    """Everything the CA core needs; later issues add requests, accounts, orders."""

    def close(self) -> None: ...
