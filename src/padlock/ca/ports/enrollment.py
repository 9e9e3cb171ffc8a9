"""The enrollment store: what enrollment needs from storage (``store/enrollment.py``
implements it). Each step is one transaction with its timeline entry and audit event."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from typing import Protocol

from padlock.ca.enrollment.model import (
    Document,
    EnrollmentRequest,
    EnrollmentStats,
    Event,
    RequestState,
    RequestSummary,
    RequestUpdate,
)
from padlock.ca.ports.certificates import GuardedWrite, StoreWrite


class EnrollmentStore(Protocol):
    """What enrollment needs from storage; ``padlock.store.enrollment`` implements it."""

    def create_request(
        self,
        request: EnrollmentRequest,
        events: Sequence[Event],
        at: dt.datetime,
        *,
        claim: str | None = None,
    ) -> None:
        """Insert the request, its challenges and validations, and its events."""

    def request_writes(
        self,
        request: EnrollmentRequest,
        events: Sequence[Event],
        at: dt.datetime,
        *,
        claim: str | None = None,
    ) -> StoreWrite:
        """What :meth:`create_request` writes, for a transaction of the request's
        certificate (``Issuer.issue(..., first=..., also=...)``): one commit for both."""

    def get_request(self, request_id: str) -> EnrollmentRequest | None:
        """The request with challenges, documents, validations and timeline."""

    def update_request(self, request_id: str, update: RequestUpdate, at: dt.datetime) -> bool:
        """Apply one step; NotFound, or Conflict when the state or a claim forbids it.
        True when the step took over an issuing claim another step had left (gone stale)."""

    def issued_serial(self, request_id: str) -> int | None:
        """The serial of a certificate issued for the request (its reservation names the
        request), the first if several; None if none. Reads the certificates table whole
        (no index on request_id): asked only after a claim was taken over."""

    def update_writes(
        self, request_id: str, update: RequestUpdate, at: dt.datetime
    ) -> GuardedWrite:
        """What :meth:`update_request` writes (challenges aside), for the transaction that
        completes the request's certificate; when the step is refused it writes nothing
        and says why in ``missed``, and the certificate is stored all the same."""

    def add_document(
        self,
        request_id: str,
        document: Document,
        stored_as: str,
        event: Event,
        at: dt.datetime,
        *,
        expect: Collection[RequestState],
        max_documents: int,
    ) -> None:
        """Record an uploaded file; Conflict when the state or the count forbids it."""

    def get_document(self, request_id: str, document_id: str) -> tuple[Document, str] | None:
        """The document and the name its content is stored under."""

    def list_requests(
        self, states: Collection[RequestState], limit: int, offset: int
    ) -> list[RequestSummary]:
        """Requests in these states, oldest first (the review queue); never public."""

    def enrollment_stats(self) -> EnrollmentStats: ...
