"""The enrollment model: a request, its challenges, documents, validations and timeline,
the states it moves through, and how long a domain validation may be reused (BR 4.2.1).
Plain values the service, the store and the front ends pass around."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from padlock.ca.records import CertificateRecord
from padlock.pki.certs import Organization

CHALLENGE_LIFETIME = dt.timedelta(days=7)  # BR 3.2.2.4.18 allows a random value 30 days

CLAIM_STALE_AFTER = dt.timedelta(minutes=10)  # a claim older than this was left by a crash
MAX_CSR_BYTES = 32 * 1024
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
MAX_DOCUMENTS = 20
MAX_REASON = 2000
VALIDATION_PATH = "/.well-known/pki-validation/"
DNS_LABEL = "_pki-validation"

# Sniffed by content, never by name or the client's Content-Type.
DOCUMENT_TYPES: tuple[tuple[str, bytes, str], ...] = (
    ("application/pdf", b"%PDF-", "PDF"),
    ("image/png", b"\x89PNG\r\n\x1a\n", "PNG"),
    ("image/jpeg", b"\xff\xd8\xff", "JPEG"),
)


class RequestState(StrEnum):
    SUBMITTED = "submitted"
    VALIDATING = "validating"
    IN_REVIEW = "in_review"
    ISSUED = "issued"
    REJECTED = "rejected"


OPEN_STATES = frozenset({RequestState.SUBMITTED, RequestState.VALIDATING, RequestState.IN_REVIEW})


class Kind(StrEnum):
    TEST = "test"
    DV = "dv"
    OV = "ov"

    @property
    def profile(self) -> str:
        return self.value


class ChallengeState(StrEnum):
    PENDING = "pending"
    VALID = "valid"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Reviewer:
    """A person at the CA; shown to the applicant as the seed's "contact person"."""

    name: str  # the console login
    display_name: str
    email: str | None = None

    @property
    def actor(self) -> str:
        return f"reviewer:{self.name}"


@dataclass(frozen=True)
class Challenge:
    """Proof of control of one DNS name: either method below proves it."""

    name: str
    token: str
    expires_at: dt.datetime
    state: ChallengeState = ChallengeState.PENDING
    method: str | None = None  # "http", "dns" or "reused" once valid
    validated_at: dt.datetime | None = None
    error: str | None = None  # why the last check failed, in plain words

    @property
    def wildcard(self) -> bool:
        return self.name.startswith("*.")

    @property
    def base_name(self) -> str:
        return self.name[2:] if self.wildcard else self.name

    @property
    def methods(self) -> tuple[str, ...]:
        # BR 3.2.2.4.18: a file proves only the name it is fetched from, never a wildcard.
        return ("dns",) if self.wildcard else ("http", "dns")

    @property
    def http_path(self) -> str:
        return f"{VALIDATION_PATH}{self.token}.txt"

    @property
    def http_url(self) -> str | None:
        return None if self.wildcard else f"http://{self.name}{self.http_path}"

    @property
    def dns_record(self) -> str:
        return f"{DNS_LABEL}.{self.base_name}"

    def instructions(self) -> dict[str, str]:
        """Copy-paste instructions per method."""
        out: dict[str, str] = {}
        if self.http_url:
            out["http"] = (
                f"Put a file at {self.http_url} whose content is {self.token}"
                f" (for example: mkdir -p /var/www/html{VALIDATION_PATH} && printf %s"
                f" {self.token} > /var/www/html{self.http_path}). It must be reachable over"
                " plain HTTP on port 80."
            )
        out["dns"] = (
            f'Add a DNS TXT record: {self.dns_record}. 300 IN TXT "{self.token}"'
            " (remove it after the certificate is issued)."
        )
        return out


@dataclass(frozen=True)
class ValidationRecord:
    """One check and what it saw: fetched URL or queried name, addresses, resolver, time."""

    name: str
    method: str  # http | dns | caa | reused
    ok: bool
    at: dt.datetime
    detail: str
    problem: str | None = None  # the problem type when not ok: dns, connection, caa, ...
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Document:
    id: str
    filename: str  # the applicant's file name, cleaned: metadata only, never a path
    content_type: str  # from the content's magic bytes
    size: int
    sha256: str
    uploaded_at: dt.datetime


@dataclass(frozen=True)
class Event:
    """A step of a request as the store writes it: a timeline entry and an audit event."""

    action: str  # submitted, checked, in_review, assigned, document, approved, issued, ...
    actor: str
    state: RequestState | None = None  # the state after the step; None: unchanged
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TimelineEntry:
    at: dt.datetime
    action: str
    actor: str
    state: RequestState
    note: str


@dataclass(frozen=True)
class CertificateStatus:
    serial: str  # hex
    state: str  # issued | revoked
    not_before: dt.datetime
    not_after: dt.datetime
    revoked_at: dt.datetime | None = None
    revocation_reason: str | None = None

    @classmethod
    def of(cls, record: CertificateRecord) -> CertificateStatus:
        return cls(
            record.serial_hex,
            record.state.value,
            record.not_before,
            record.not_after,
            record.revoked_at,
            record.revocation_reason,
        )


@dataclass(frozen=True)
class EnrollmentRequest:
    id: str
    kind: Kind
    state: RequestState
    contact: str
    names: tuple[str, ...]
    csr_pem: str
    key_fingerprint: str
    created_at: dt.datetime
    updated_at: dt.datetime
    organization: Organization | None = None  # as the applicant gave it (ov)
    verified_organization: Organization | None = None  # as the reviewer verified it
    previous_request: str | None = None
    reviewer: Reviewer | None = None
    certificate_serial: str | None = None  # hex
    rejection_reason: str | None = None
    problem: str | None = None  # why the last step stopped (CAA, a refusal at issuance)
    challenges: tuple[Challenge, ...] = ()
    documents: tuple[Document, ...] = ()
    validations: tuple[ValidationRecord, ...] = ()
    timeline: tuple[TimelineEntry, ...] = ()
    certificate: CertificateStatus | None = None  # filled by EnrollmentService.get

    @property
    def profile(self) -> str:
        return self.kind.profile

    @property
    def all_validated(self) -> bool:
        return all(c.state is ChallengeState.VALID for c in self.challenges)


@dataclass(frozen=True)
class RequestSummary:
    """A line of the review queue."""

    id: str
    kind: Kind
    state: RequestState
    contact: str
    names: tuple[str, ...]
    organization: Organization | None
    reviewer: Reviewer | None
    documents: int
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class EnrollmentStats:
    requests: dict[tuple[str, str], int]  # (kind, state) -> count
    validations: dict[tuple[str, str], int]  # (method, "ok"|"failed") -> count


@dataclass(frozen=True)
class RequestUpdate:
    """One step of a request, applied in one transaction with its events.

    ``expect`` is compare-and-set: the step applies only when the request is in one of those
    states (else Conflict naming the state). ``challenges`` are upserted by name; a valid
    challenge is replaced only by a valid one or by one with a new token. A step runs only
    when no other process holds a fresh issuing claim, unless it is that claim's ``holder``
    (which releases it); ``take_claim`` takes the claim with that token.
    """

    expect: frozenset[RequestState]
    doing: str  # for the Conflict message: "validated", "approved", ...
    state: RequestState | None = None
    events: tuple[Event, ...] = ()
    challenges: tuple[Challenge, ...] = ()
    validations: tuple[ValidationRecord, ...] = ()
    reviewer: Reviewer | None = None
    verified_organization: Organization | None = None
    certificate_serial: str | None = None
    rejection_reason: str | None = None
    problem: str | None = None
    clear_problem: bool = False
    take_claim: str | None = None
    holder: str | None = None
