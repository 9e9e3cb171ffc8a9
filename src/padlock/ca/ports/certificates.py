"""The certificate store and the audit log: what issuance and revocation need from storage.

``store/`` implements :class:`Store`; ``ca/`` never imports ``store/``. Every
method is one transaction; each state change carries the audit event that
records it, written in the same transaction, so that no change goes unrecorded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from padlock.ca.audit import AuditEntry, AuditEvent, VerifyResult
from padlock.ca.records import CertificateRecord, CertState, Reservation

if TYPE_CHECKING:
    from padlock.errors import PadlockError


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
