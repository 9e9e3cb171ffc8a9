"""The revocation store: what revocation needs from storage (``store/revocation.py``
implements it), and the pre-signed CRLs and OCSP responses that cross that border.

Every revocation is one transaction with its audit event; CRLs are replaced by
compare-and-set on their number; an OCSP response is stored only while the certificate
is still in the state it was signed for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from padlock.ca.audit import AuditEntry
from padlock.ca.records import CertificateRecord
from padlock.pki.crl_ocsp import RevokedEntry, half_way


@dataclass(frozen=True)
class StoredCrl:
    issuer: str
    number: int
    generation: int  # the issuer's revocation generation this CRL reflects
    this_update: dt.datetime
    next_update: dt.datetime
    entries: int
    der: bytes

    def refresh_due(self, now: dt.datetime) -> bool:
        return half_way(self.this_update, self.next_update, now)


@dataclass(frozen=True)
class CachedResponse:
    serial: int
    hash_alg: str
    issuer: str
    cert_state: str  # the certificate state it was signed for
    this_update: dt.datetime
    next_update: dt.datetime
    der: bytes

    def refresh_at(self) -> dt.datetime:
        return self.this_update + (self.next_update - self.this_update) / 2


class RevocationStore(Protocol):
    """What revocation needs from storage; ``store.revocation.RevocationRepository``."""

    def get_certificate(self, serial: int) -> CertificateRecord | None: ...

    def certificates_for_request(self, request_id: str) -> Sequence[CertificateRecord]: ...

    def revoke(
        self,
        serial: int,
        reason: str,
        at: dt.datetime,
        event: AuditEntry,
        block_key: bool,
    ) -> CertificateRecord:
        """One transaction: issued -> revoked, the key blocked if asked (as
        :meth:`revoke_key`), the serial's OCSP responses dropped, the issuer's generation
        bumped, the audit event appended. NotFound / AlreadyRevoked / Conflict (reserved,
        abandoned) otherwise."""

    def revoke_key(
        self, serial: int, at: dt.datetime, event: AuditEntry
    ) -> list[CertificateRecord]:
        """:meth:`revoke` for keyCompromise with the key blocked, and every other issued,
        unexpired certificate of the key revoked in the same transaction (each with an audit
        event like ``event``); the named certificate first."""

    def is_key_blocked(self, key_fingerprint: str) -> bool: ...

    def is_key_blocked_in(self, cursor: Any, key_fingerprint: str) -> bool:
        """:meth:`is_key_blocked` inside a store write transaction (a StoreWrite's cursor)."""
        ...

    def generation(self, issuer: str) -> int:
        """The issuer's revocation generation (0 before its first revocation)."""

    def revoked_entries(self, issuer: str, expired_before: dt.datetime) -> Iterator[RevokedEntry]:
        """Revoked certificates of ``issuer`` still valid at ``expired_before``."""

    def get_crl(self, issuer: str) -> StoredCrl | None: ...

    def allocate_crl_number(self, issuer: str) -> int:
        """The next number of the issuer's full CRL, committed before it is signed: two
        hosts never sign the same number (RFC 5280 5.2.3)."""

    def crl_state(self, issuer: str) -> tuple[int, int, dt.datetime, dt.datetime] | None:
        """(number, generation, this_update, next_update) of the stored CRL, without its DER."""

    def save_crl(self, crl: StoredCrl, replaces: int | None) -> bool:
        """Store ``crl`` if the stored CRL's number is still ``replaces`` (None: none stored);
        False when another process stored one first (compare-and-set)."""

    def get_ocsp(self, serial: int, hash_alg: str) -> CachedResponse | None: ...

    def save_ocsp(self, response: CachedResponse) -> bool:
        """Store it only if the certificate is still in ``response.cert_state``."""

    def save_ocsp_many(self, responses: Sequence[CachedResponse]) -> list[bool]:
        """:meth:`save_ocsp` of each, in one transaction; whether each was stored."""

    def ocsp_due(
        self, issuer: str, now: dt.datetime, stale_before: dt.datetime, limit: int
    ) -> Sequence[CertificateRecord]:
        """Issued or revoked, unexpired certificates of ``issuer`` with no SHA-1 response
        or one made before ``stale_before``."""
