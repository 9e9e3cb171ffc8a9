"""Enrollment: a site owner's request for a certificate, from pasted CSR to issued (seed 5, 6, 8).

The state machine (``RequestState``)::

    submitted ──validate──> validating ──(dv: CAA, issue)──────────────> issued
        │                       │   └──(ov: every name proven)──> in_review ──approve──> issued
        └───────────── reject / challenges expired ─────────────────┴──reject──> rejected

- **test**: issued in the same call as ``submit`` (the seed's instant test certificate).
- **dv**: one challenge per DNS name, either method proves it: an HTTP file at
  ``http://NAME/.well-known/pki-validation/TOKEN.txt`` holding TOKEN (BR 3.2.2.4.18; not for
  wildcards) or a TXT record TOKEN at ``_pki-validation.NAME`` (BR 3.2.2.4.7; for ``*.NAME``
  the record is at ``_pki-validation.NAME``). Tokens are 256-bit random values that expire
  after 7 days. When every name is proven, CAA is checked for every name (RFC 8659; a record
  naming another CA or a failed lookup stops issuance) and the certificate is issued.
- **ov**: the same domain checks, plus documents (PDF/PNG/JPEG); then a reviewer approves with
  the organization fields they verified (those, never the CSR's, go into the certificate).

A validation is reused only within the same request lineage (this request, or an earlier
request named by its id as ``previous_request`` — knowing an id is what makes one the
applicant of that request) and only within the BR 4.2.1 reuse window for the day of use
(:func:`reuse_days`).

Use-case API (stable; the REST API, the portal, the review console and the CLI call these;
every method is synchronous and may block on DNS/HTTP/SMTP — call it from a thread pool)::

    svc = EnrollmentService(store, certificates, issuer, va_config,
                            documents_dir=data_dir / "documents", base_url=..., notifier=...)
    # (``padlock.store.enrollment.open_enrollment(authority, va_config)`` builds one.)

    svc.submit(csr, kind, contact, organization=None, *, previous_request=None,
               actor="applicant") -> EnrollmentRequest    # test: already ISSUED
    svc.get(request_id) -> EnrollmentRequest                # NotFound for unknown ids
    svc.validate(request_id, actor="applicant") -> EnrollmentRequest
    svc.add_document(request_id, filename, content, actor="applicant") -> Document   # ov
    svc.document(request_id, document_id) -> tuple[Document, bytes]               # console
    svc.certificate(request_id) -> IssuedCertificate        # Conflict until issued; forever after
    svc.status_url(request_id) -> str                       # BASE/status/ID (the portal's page)
    svc.queue(states=(RequestState.IN_REVIEW,), limit=100, offset=0) -> list[RequestSummary]
    svc.assign(request_id, reviewer: Reviewer) -> EnrollmentRequest
    svc.approve(request_id, reviewer: Reviewer, organization: Organization) -> EnrollmentRequest
    svc.reject(request_id, reviewer: Reviewer, reason: str) -> EnrollmentRequest
    svc.stats() -> EnrollmentStats                          # for /metrics

Errors are :class:`~padlock.errors.PadlockError` subclasses with a plain-words message:
BadCSR (a private key pasted instead of a CSR is refused before anything is stored),
Malformed (wrong kind, bad contact, missing fields), PolicyError/RejectedIdentifier,
NotFound, Conflict (wrong state), PayloadTooLarge, UnsupportedMediaType, CAAForbidden.
A failed domain check or a CAA refusal during ``validate`` is *not* raised: it is recorded
(challenge ``error``, request ``problem``, ``validations`` with the evidence) and the request
is returned; ``approve`` raises CAAForbidden after recording it.

Every state change is written with its timeline entry and its audit event in one
transaction (``EnrollmentStore``); mail goes out after the commit. Issuance is guarded by a
claim (compare-and-set on the request row), so two workers validating the same request at
once issue one certificate.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import re
import secrets
import unicodedata
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.serialization import Encoding

from padlock.ca import validation as va
from padlock.ca.issuance import (
    CheckedRequest,
    Clock,
    IssuedCertificate,
    Issuer,
    IssueRequest,
    utcnow,
)
from padlock.ca.notify import Notifier, deliver
from padlock.ca.ports import CertificateRecord, CertificateStore, GuardedWrite, StoreWrite
from padlock.errors import (
    BadCSR,
    CAAForbidden,
    Conflict,
    InvalidName,
    Malformed,
    NotFound,
    PadlockError,
    PayloadTooLarge,
    PolicyError,
    RejectedIdentifier,
    UnsupportedMediaType,
)
from padlock.fileio import read_bytes, write_atomic
from padlock.pki import names as pki_names
from padlock.pki.certs import Organization
from padlock.pki.csr import load_csr

log = logging.getLogger("padlock.enrollment")

CHALLENGE_LIFETIME = dt.timedelta(days=7)  # BR 3.2.2.4.18 allows a random value 30 days
CLAIM_STALE_AFTER = dt.timedelta(minutes=10)  # a claim older than this was left by a crash
MAX_CSR_BYTES = 32 * 1024
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
MAX_DOCUMENTS = 20
MAX_REASON = 2000
VALIDATION_PATH = "/.well-known/pki-validation/"
DNS_LABEL = "_pki-validation"
PROBE_THREADS = 16

# Sniffed by content, never by name or the client's Content-Type.
DOCUMENT_TYPES: tuple[tuple[str, bytes, str], ...] = (
    ("application/pdf", b"%PDF-", "PDF"),
    ("image/png", b"\x89PNG\r\n\x1a\n", "PNG"),
    ("image/jpeg", b"\xff\xd8\xff", "JPEG"),
)

_ID_RE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
_EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")

# BR 4.2.1 (ballot SC-068): how old a domain validation may be when it is reused.
_REUSE_SCHEDULE: tuple[tuple[dt.date, int], ...] = (
    (dt.date(2029, 3, 15), 10),
    (dt.date(2027, 3, 15), 100),
    (dt.date(2026, 3, 15), 200),
)
_REUSE_BEFORE_2026 = 398


def reuse_days(on: dt.date) -> int:
    """Days a domain validation may be reused for issuance on ``on`` (BR 4.2.1)."""
    for start, days in _REUSE_SCHEDULE:
        if on >= start:
            return days
    return _REUSE_BEFORE_2026


def still_reusable(validated_at: dt.datetime, now: dt.datetime) -> bool:
    return now - validated_at <= dt.timedelta(days=reuse_days(now.date()))


# --------------------------------------------------------------------------- values


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


# --------------------------------------------------------------------------- input checks


def id_text(data: bytes) -> str:
    """``data`` as lower-case base32 (RFC 4648 section 6, no padding): an id's text.

    Letters and digits only: such an id never begins with ``-``, which a command line
    reads as an option (``padlock review reject -_gaab...`` failed so with the older
    base64url ids, one in 64 of them), and a double click selects it whole.
    """
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def random_id(nbytes: int) -> str:
    """An id of ``nbytes`` random bytes (:func:`id_text`)."""
    return id_text(secrets.token_bytes(nbytes))


def new_request_id() -> str:
    """192 random bits (39 characters): the request's capability (whoever knows it may act
    on it). Ids of the older base64url form stay valid (:func:`valid_request_id`)."""
    return random_id(24)


def new_token() -> str:
    return secrets.token_urlsafe(32)  # 256 bits; BR 1.6.1 asks at least 112


def valid_request_id(request_id: str) -> bool:
    return bool(_ID_RE.match(request_id))


def parse_kind(kind: str) -> Kind:
    try:
        return Kind(kind)
    except ValueError:
        raise Malformed(
            f"There is no request kind {kind!r}.",
            hint="Use test (instant 21-day test certificate), dv (domain validated) or ov"
            " (organization validated, reviewed by a person).",
        ) from None


def check_contact(contact: str) -> str:
    """An email address, one line, no display name (it goes into a To: header)."""
    text = contact.strip()
    if not text or len(text) > 254 or not _EMAIL_RE.match(text):
        raise Malformed(
            f"The contact {contact[:80]!r} is not an email address.",
            hint="Give one address like admin@example.com; the status of the request is mailed"
            " there.",
        )
    return text


def check_organization(org: Organization | None, *, who: str = "the applicant") -> Organization:
    """The fields BR 7.1.4.2.2 puts in an OV subject, each within its X.520 upper bound."""
    if org is None:
        raise Malformed(
            "An ov request needs the organization's details.",
            hint="Give organization (legal name), country (two letters) and locality or state.",
        )

    def clean(value: str | None, what: str, limit: int) -> str | None:
        if value is None:
            return None
        text = " ".join(value.split())
        if not text:
            return None
        if len(text) > limit:
            raise Malformed(f"The {what} is longer than {limit} characters.")
        if any(unicodedata.category(ch) == "Cc" for ch in text):
            raise Malformed(f"The {what} holds control characters.")
        return text

    name = clean(org.organization, "organization name", 64)
    if not name:
        raise Malformed(f"The organization name from {who} is empty.")
    try:
        country = pki_names.normalize_country(org.country or "")
    except InvalidName as exc:
        raise Malformed(exc.message, hint=exc.hint) from None
    locality = clean(org.locality, "locality", 128)
    state = clean(org.state, "state or province", 128)
    if not locality and not state:
        raise Malformed(
            "An ov certificate names a locality or a state or province (BR 7.1.4.2.2).",
            hint="Give the city or the state where the organization is registered.",
        )
    return Organization(name, locality, state, country)


def safe_filename(filename: str) -> str:
    """The uploaded file's name as metadata; path tricks are refused, not repaired."""
    text = unicodedata.normalize("NFC", filename or "").strip()
    low = text.lower()
    tricks = ("/", "\\", "\x00", ":", "%2f", "%5c", "%2e%2e", "%00")
    if (
        not text
        or len(text) > 255
        or any(t in low for t in tricks)
        or text in (".", "..")
        or text.startswith(".")
        or any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text)
    ):
        raise Malformed(
            f"The file name {filename[:80]!r} is not acceptable: give a plain name like"
            " registration.pdf, without folders or special characters.",
        )
    cleaned = re.sub(r"[^\w .()+-]", "_", text)
    return cleaned[:100]


def sniff_document(content: bytes) -> str:
    """The media type of a PDF, PNG or JPEG by its first bytes; anything else is refused."""
    for media_type, magic, _label in DOCUMENT_TYPES:
        if content.startswith(magic):
            return media_type
    raise UnsupportedMediaType(
        "The document is not a PDF, PNG or JPEG file (judged by its content, not its name).",
        hint="Scan or save the document as PDF, PNG or JPEG and upload that file.",
    )


# --------------------------------------------------------------------------- the service


class EnrollmentService:
    """The use cases of enrollment and review; see the module docstring for the API."""

    def __init__(
        self,
        store: EnrollmentStore,
        certificates: CertificateStore,
        issuer: Issuer,
        va_config: va.VAConfig,
        *,
        documents_dir: Path,
        base_url: str,
        notifier: Notifier | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self._store = store
        self._certs = certificates
        self._issuer = issuer
        self._va = va_config
        self._documents = documents_dir
        self._base_url = base_url.rstrip("/")
        self._notifier = notifier
        self._clock = clock
        resolver = va_config.resolver
        self._resolver = f"{resolver[0]}:{resolver[1]}" if resolver else "system resolver"

    # -- reading ------------------------------------------------------------------------

    def status_url(self, request_id: str) -> str:
        return f"{self._base_url}/status/{request_id}"

    def _load(self, request_id: str) -> EnrollmentRequest:
        request = self._store.get_request(request_id) if valid_request_id(request_id) else None
        if request is None:
            raise NotFound(
                "There is no request with that id.",
                hint="Check the status link you were given; ids are long and exact.",
            )
        return request

    def get(self, request_id: str) -> EnrollmentRequest:
        request = self._load(request_id)
        if request.certificate_serial is None:
            return request
        record = self._certs.get_certificate(int(request.certificate_serial, 16))
        return replace(request, certificate=CertificateStatus.of(record) if record else None)

    def certificate(self, request_id: str) -> IssuedCertificate:
        """The certificate with its chain; available forever once issued (seed 8)."""
        request = self._load(request_id)
        if request.certificate_serial is None:
            raise Conflict(
                f"The request is {request.state.value.replace('_', ' ')}; it has no certificate"
                " yet.",
                hint="The certificate can be fetched once the request is issued.",
            )
        record = self._certs.get_certificate(int(request.certificate_serial, 16))
        if record is None or record.der is None:  # pragma: no cover - the store keeps them
            raise NotFound(f"The certificate {request.certificate_serial} is missing.")
        return self._issuer.package(record)

    def queue(
        self,
        states: Collection[RequestState] = (RequestState.IN_REVIEW,),
        limit: int = 100,
        offset: int = 0,
    ) -> list[RequestSummary]:
        """Requests waiting for the CA's staff (the console's queue; never public)."""
        return self._store.list_requests(frozenset(states), max(1, min(limit, 1000)), offset)

    def stats(self) -> EnrollmentStats:
        return self._store.enrollment_stats()

    def document(self, request_id: str, document_id: str) -> tuple[Document, bytes]:
        self._load(request_id)
        found = self._store.get_document(request_id, document_id)
        if found is None:
            raise NotFound("There is no such document in this request.")
        doc, stored_as = found
        content = read_bytes(
            self._documents / request_id / stored_as, "document", limit=MAX_DOCUMENT_BYTES
        )
        return doc, content

    # -- submitting ---------------------------------------------------------------------

    def submit(
        self,
        csr: bytes | str,
        kind: str,
        contact: str,
        organization: Organization | None = None,
        *,
        previous_request: str | None = None,
        actor: str = "applicant",
    ) -> EnrollmentRequest:
        """Record a request; a test request comes back issued, dv/ov with challenges."""
        data = csr.encode("utf-8", "replace") if isinstance(csr, str) else csr
        if len(data) > MAX_CSR_BYTES:
            raise PayloadTooLarge(f"A CSR is a few kilobytes; this is {len(data)} bytes.")
        if b"PRIVATE KEY" in data:
            # Refused before anything is parsed, stored or logged.
            raise BadCSR(
                "This is a private key, not a CSR. Never send your private key to anyone;"
                " it was not stored.",
                hint="Make a CSR from the key (padlock csr new --key KEY --out FILE, or openssl"
                " req -new -key KEY) and paste the CSR. If this key was sent anywhere else,"
                " make a new key.",
            )
        the_kind = parse_kind(kind)
        the_contact = check_contact(contact)
        if the_kind is Kind.OV:
            organization = check_organization(organization)
        elif organization is not None:
            raise Malformed(
                "Organization details belong to ov requests only.",
                hint="Leave organization out, or ask for kind ov.",
            )
        parsed = load_csr(data)
        csr_pem = parsed.public_bytes(Encoding.PEM)
        request_id = new_request_id()
        now = self._clock()
        if the_kind is Kind.TEST:
            return self._submit_test(request_id, csr_pem, the_contact, actor, now)

        # dv/ov: every check that can refuse, before anything is stored.
        checked = self._issuer.checked(
            IssueRequest(
                csr_pem, the_kind.profile, domain_control_shown=True, organization=organization
            )
        )
        facts, dns, ips = checked.facts, checked.dns, checked.ips
        if ips:
            raise RejectedIdentifier(
                f"The CSR names the IP address {ips[0]}; trusted certificates here are for DNS"
                " names only.",
                hint="Make the CSR with host names only (a test certificate may name an IP).",
            )
        from padlock.pki.keys import fingerprint

        challenges = [Challenge(name, new_token(), now + CHALLENGE_LIFETIME) for name in dns]
        validations: list[ValidationRecord] = []
        events = [Event("submitted", actor, RequestState.SUBMITTED, self._names_note(dns))]
        if previous_request is not None:
            challenges, validations = self._reuse(previous_request, challenges, now)
        request = EnrollmentRequest(
            id=request_id,
            kind=the_kind,
            state=RequestState.SUBMITTED,
            contact=the_contact,
            names=tuple(dns),
            csr_pem=csr_pem.decode(),
            key_fingerprint=fingerprint(facts.public_key),
            created_at=now,
            updated_at=now,
            organization=organization,
            previous_request=previous_request,
            challenges=tuple(challenges),
            validations=tuple(validations),
        )
        if not request.all_validated:
            self._store.create_request(request, events, now)
            self._notify(request.id, request.contact, RequestState.SUBMITTED)
            return self.get(request_id)
        # Every name is covered by a reused validation.
        events.append(Event("checked", "system", RequestState.VALIDATING, "every name proven"))
        if the_kind is Kind.OV:
            events.append(Event("in_review", "system", RequestState.IN_REVIEW, _REVIEW_NOTE))
            request = replace(request, state=RequestState.IN_REVIEW)
            self._store.create_request(request, events, now)
            self._notify(request.id, request.contact, RequestState.IN_REVIEW)
            return self.get(request_id)
        # dv, every name proven: CAA first; then the request is recorded with the
        # certificate's reservation and marked issued with the certificate (two commits).
        claim = secrets.token_hex(16)
        request = replace(request, state=RequestState.VALIDATING)
        caa = self._run_parallel(self._caa, list(request.names))
        if not all(r.ok for r in caa):
            self._store.create_request(request, events, now, claim=claim)
            return self._issue(request, claim, actor=actor, caa=caa)
        return self._issue(
            request, claim, actor=actor, caa=caa, create=tuple(events), checked=checked
        )

    def _submit_test(
        self, request_id: str, csr_pem: bytes, contact: str, actor: str, now: dt.datetime
    ) -> EnrollmentRequest:
        # The certificate is reserved (committed), linted, signed, and stored in one
        # transaction with the request, recorded as issued: two commits per test
        # certificate. A crash in between leaves the reservation, and no request.
        made: list[tuple[EnrollmentRequest, tuple[Event, ...]]] = []

        def record_request(record: CertificateRecord) -> StoreWrite:
            request = EnrollmentRequest(
                id=request_id,
                kind=Kind.TEST,
                state=RequestState.ISSUED,
                contact=contact,
                names=record.names,
                csr_pem=csr_pem.decode(),
                key_fingerprint=record.key_fingerprint,
                created_at=now,
                updated_at=now,
                certificate_serial=record.serial_hex,
            )
            events = (
                Event("submitted", actor, RequestState.SUBMITTED, self._names_note(record.names)),
                Event(
                    "issued",
                    "system",
                    RequestState.ISSUED,
                    f"test certificate {record.serial_hex}",
                    {"serial": record.serial_hex, "profile": record.profile},
                ),
            )
            made.append((request, events))
            return self._store.request_writes(request, events, now)

        issued = self._issuer.issue(
            IssueRequest(csr_pem, Kind.TEST.profile, actor=actor, request_id=request_id),
            also=record_request,
        )
        request, events = made[-1]
        self._notify(request_id, contact, RequestState.ISSUED)
        return replace(
            request,
            timeline=tuple(
                TimelineEntry(now, e.action, e.actor, e.state or request.state, e.note)
                for e in events
            ),
            certificate=CertificateStatus.of(issued.record),
        )

    @staticmethod
    def _names_note(names: Sequence[str]) -> str:
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        return f"for {shown}"

    def _reuse(
        self, previous: str, challenges: list[Challenge], now: dt.datetime
    ) -> tuple[list[Challenge], list[ValidationRecord]]:
        """Names proven in an earlier request of the same lineage, within the BR window."""
        parent = self._load(previous)
        proven = {
            c.name: c
            for c in parent.challenges
            if c.state is ChallengeState.VALID
            and c.validated_at is not None
            and still_reusable(c.validated_at, now)
        }
        out: list[Challenge] = []
        records: list[ValidationRecord] = []
        for ch in challenges:
            old = proven.get(ch.name)
            if old is None or old.validated_at is None:
                out.append(ch)
                continue
            out.append(
                replace(
                    ch, state=ChallengeState.VALID, method="reused", validated_at=old.validated_at
                )
            )
            records.append(
                ValidationRecord(
                    ch.name,
                    "reused",
                    True,
                    now,
                    f"proven by {old.method} on {old.validated_at:%Y-%m-%d %H:%M} UTC in an"
                    f" earlier request of this applicant; reuse allowed for"
                    f" {reuse_days(now.date())} days (BR 4.2.1)",
                    evidence={
                        "earlier_request": previous[:8] + "…",
                        "method": old.method,
                        "validated_at": old.validated_at.isoformat(),
                    },
                )
            )
        return out, records

    # -- validating ---------------------------------------------------------------------

    def validate(self, request_id: str, actor: str = "applicant") -> EnrollmentRequest:
        """Run the domain checks for every name not yet proven; issue (dv) or queue (ov)."""
        request = self._load(request_id)
        if request.state is RequestState.REJECTED:
            raise Conflict(
                "The request was rejected; it cannot be validated.",
                hint="Make a new request.",
            )
        if request.state in (RequestState.IN_REVIEW, RequestState.ISSUED):
            return self.get(request_id)  # nothing left to check
        now = self._clock()
        expired = [
            c
            for c in request.challenges
            if c.state is not ChallengeState.VALID and c.expires_at <= now
        ]
        if expired:
            reason = (
                "The domain checks were not completed before"
                f" {expired[0].expires_at:%Y-%m-%d %H:%M} UTC"
                f" ({', '.join(c.name for c in expired[:3])})."
            )
            self._store.update_request(
                request_id,
                RequestUpdate(
                    OPEN_STATES,
                    "validated",
                    state=RequestState.REJECTED,
                    rejection_reason=reason + " Make a new request.",
                    challenges=tuple(replace(c, state=ChallengeState.EXPIRED) for c in expired),
                    events=(Event("expired", "system", RequestState.REJECTED, reason),),
                ),
                now,
            )
            self._notify(request_id, request.contact, RequestState.REJECTED)
            return self.get(request_id)

        to_check = [c for c in request.challenges if not self._proven(c, now)]
        results = self._run_parallel(self._probe, to_check)
        checked = {ch.name: ch for ch, _records in results}
        challenges = tuple(checked.get(c.name, c) for c in request.challenges)
        proven = sum(1 for c in challenges if self._proven(c, now))
        all_proven = proven == len(challenges)
        new_state = (
            RequestState.IN_REVIEW
            if all_proven and request.kind is Kind.OV
            else RequestState.VALIDATING
        )
        note = f"{proven} of {len(challenges)} names proven" + (
            ""
            if all_proven
            else ": "
            + "; ".join(
                f"{c.name}: {c.error}" for c in challenges if c.error and not self._proven(c, now)
            )[:500]
        )
        events = [Event("checked", actor, RequestState.VALIDATING, note)]
        if new_state is RequestState.IN_REVIEW:
            events.append(Event("in_review", "system", RequestState.IN_REVIEW, _REVIEW_NOTE))
        try:
            self._store.update_request(
                request_id,
                RequestUpdate(
                    frozenset({RequestState.SUBMITTED, RequestState.VALIDATING}),
                    "validated",
                    state=new_state,
                    challenges=tuple(checked.values()),
                    validations=tuple(r for _ch, records in results for r in records),
                    events=tuple(events),
                    clear_problem=True,
                ),
                now,
            )
        except Conflict:
            return self.get(request_id)  # another worker moved it on meanwhile
        if new_state is not request.state:
            self._notify(request_id, request.contact, new_state)
        if all_proven and request.kind is Kind.DV:
            fresh = self._load(request_id)
            if fresh.state is RequestState.VALIDATING and fresh.all_validated:
                claim = secrets.token_hex(16)
                try:
                    took_over = self._store.update_request(
                        request_id,
                        RequestUpdate(
                            frozenset({RequestState.VALIDATING}), "issued", take_claim=claim
                        ),
                        self._clock(),
                    )
                except Conflict:
                    return self.get(request_id)  # another worker is issuing it
                return self._issue(fresh, claim, actor=actor, took_over=took_over)
        return self.get(request_id)

    @staticmethod
    def _proven(ch: Challenge, now: dt.datetime) -> bool:
        return (
            ch.state is ChallengeState.VALID
            and ch.validated_at is not None
            and still_reusable(ch.validated_at, now)
        )

    @staticmethod
    def _run_parallel(work: Any, items: Sequence[Any]) -> list[Any]:
        if not items:
            return []
        if len(items) == 1:
            return [work(items[0])]
        with ThreadPoolExecutor(max_workers=min(PROBE_THREADS, len(items))) as pool:
            return list(pool.map(work, items))

    def _evidence(self, evidence: va.Evidence) -> dict[str, Any]:
        return {**evidence.as_dict(), "resolver": self._resolver}

    def _probe(self, ch: Challenge) -> tuple[Challenge, list[ValidationRecord]]:
        """Try each method for one name; the first that succeeds proves it."""
        records: list[ValidationRecord] = []
        errors: list[str] = []
        for method in ch.methods:
            try:
                if method == "http":
                    ev = va.check_http(self._va, ch.name, ch.http_path, ch.token, exact=False)
                else:
                    ev = va.check_dns_txt(self._va, ch.base_name, ch.dns_record, ch.token)
            except va.ProbeFailed as exc:
                records.append(
                    ValidationRecord(
                        ch.name,
                        method,
                        False,
                        exc.evidence.at,
                        exc.message,
                        exc.problem,
                        self._evidence(exc.evidence),
                    )
                )
                errors.append(f"{method.upper()}: {exc.message}")
                continue
            except PadlockError as exc:  # pragma: no cover - probes wrap their failures
                records.append(
                    ValidationRecord(
                        ch.name, method, False, self._clock(), exc.message, exc.problem
                    )
                )
                errors.append(f"{method.upper()}: {exc.message}")
                continue
            records.append(
                ValidationRecord(
                    ch.name, method, True, ev.at, ev.detail or "ok", None, self._evidence(ev)
                )
            )
            proven = replace(
                ch, state=ChallengeState.VALID, method=method, validated_at=ev.at, error=None
            )
            return proven, records
        return replace(ch, state=ChallengeState.PENDING, error=" ".join(errors)[:1000]), records

    def _caa(self, name: str) -> ValidationRecord:
        at = self._clock()
        try:
            ev = va.check_caa(self._va, name, wildcard=name.startswith("*."))
        except CAAForbidden as exc:
            return ValidationRecord(
                name,
                "caa",
                False,
                at,
                exc.message,
                exc.problem,
                {"name": name, "at": at.isoformat(), "resolver": self._resolver},
            )
        return ValidationRecord(name, "caa", True, ev.at, ev.detail, None, self._evidence(ev))

    # -- issuing ------------------------------------------------------------------------

    def _issue(
        self,
        request: EnrollmentRequest,
        claim: str,
        *,
        actor: str,
        organization: Organization | None = None,
        reviewer: Reviewer | None = None,
        before: tuple[Event, ...] = (),
        caa: list[ValidationRecord] | None = None,
        create: tuple[Event, ...] | None = None,
        checked: CheckedRequest | None = None,
        took_over: bool = False,
    ) -> EnrollmentRequest:
        """CAA for every name, right before issuance (unless looked up just now: ``caa``);
        then issue, and record the outcome with the certificate. Holds ``claim``.

        ``took_over``: the claim was taken over from an earlier step that never finished.
        That step may have stored a certificate and failed to record it (its last update
        refused, the process gone): the request is then completed with that certificate,
        never issued again (one request, at most one certificate).

        ``create``, when given, are the events of a request issued on submission: the
        request itself is then recorded with the certificate's reservation (until then
        it is not stored), and the answer is made from what was written, not read back.
        """
        state = request.state
        first: StoreWrite | None = None
        stored = [create is None]  # whether the request is in the database to be updated
        if create is not None:
            record_request = self._store.request_writes(
                request, create, request.created_at, claim=claim
            )

            def first(cursor: Any) -> None:
                record_request(cursor)
                stored.append(True)  # written; committed unless the commit fails

        finished = False
        try:
            earlier = self._store.issued_serial(request.id) if took_over else None
            if earlier is not None:
                done = self._complete_with(request, claim, earlier, organization, reviewer, before)
                finished = True
                return done
            if caa is None:
                caa = self._run_parallel(self._caa, list(request.names))
            refused = [r for r in caa if not r.ok]
            if refused:
                if create is not None:
                    raise ValueError("record the request before recording its CAA refusal")
                problem = refused[0].detail + (
                    f" (and {len(refused) - 1} more names)" if len(refused) > 1 else ""
                )
                self._store.update_request(
                    request.id, _blocked(state, claim, problem, caa, before), self._clock()
                )
                finished = True
                if reviewer is not None:
                    raise CAAForbidden(problem, hint="Issuance stopped; nothing was signed.")
                return self.get(request.id)
            outcome: list[tuple[GuardedWrite, RequestUpdate, dt.datetime]] = []

            def record_issued(record: CertificateRecord) -> StoreWrite:
                step = _issued(state, claim, record, organization, reviewer, before, tuple(caa))
                at = self._clock()
                write = self._store.update_writes(request.id, step, at)
                outcome.append((write, step, at))
                return write

            try:
                issued = self._issuer.issue(
                    IssueRequest(
                        request.csr_pem.encode(),
                        request.profile,
                        actor=actor,
                        request_id=request.id,
                        domain_control_shown=True,
                        organization=organization,
                    ),
                    record_issued,
                    first=first,
                    checked=checked,
                )
            except PadlockError as exc:
                if not stored[-1]:
                    finished = True
                    raise  # refused before the reservation: the request was never stored
                try:
                    self._store.update_request(
                        request.id,
                        _blocked(
                            state,
                            claim,
                            f"Issuance was refused: {exc.message}",
                            caa,
                            before,
                            note=exc.message,
                        ),
                        self._clock(),
                    )
                except NotFound:
                    if create is None:
                        raise
                    # The reservation's commit failed: the request was never stored.
                finished = True
                raise
            finished = True
            # The certificate is stored; if the request's step was refused (its claim went
            # stale and another process took it over), that is said now.
            write, step, at = outcome[-1]
            if write.missed is not None:
                raise write.missed
        finally:
            if not finished:
                self._release(request.id, state, claim)
        self._notify(request.id, request.contact, RequestState.ISSUED)
        if create is None:
            return self.get(request.id)
        return replace(
            request,
            state=RequestState.ISSUED,
            updated_at=at,
            certificate_serial=step.certificate_serial,
            verified_organization=organization or request.verified_organization,
            reviewer=reviewer or request.reviewer,
            problem=None,
            validations=(*request.validations, *caa),
            timeline=(
                *(_entry(e, request.created_at, state) for e in create),
                *(_entry(e, at, RequestState.ISSUED) for e in step.events),
            ),
            certificate=CertificateStatus.of(issued.record),
        )

    def _complete_with(
        self,
        request: EnrollmentRequest,
        claim: str,
        serial: int,
        organization: Organization | None,
        reviewer: Reviewer | None,
        before: tuple[Event, ...],
    ) -> EnrollmentRequest:
        """Record the request as issued with the certificate an earlier step stored for it."""
        record = self._certs.get_certificate(serial)
        if record is None:  # pragma: no cover - issued_serial read it a moment ago
            raise NotFound(f"The certificate {serial:x} is missing.")
        step = _issued(request.state, claim, record, organization, reviewer, before, earlier=True)
        self._store.update_request(request.id, step, self._clock())
        log.warning("request %s…: %s", request.id[:8], step.events[-1].note)
        self._notify(request.id, request.contact, RequestState.ISSUED)
        return self.get(request.id)

    def _release(self, request_id: str, state: RequestState, claim: str) -> None:
        try:
            self._store.update_request(
                request_id,
                RequestUpdate(frozenset({state}), "released", holder=claim),
                self._clock(),
            )
        except PadlockError as exc:  # it goes stale by itself after CLAIM_STALE_AFTER
            log.warning("could not release the issuing claim on a request: %s", exc)

    # -- documents ----------------------------------------------------------------------

    def add_document(
        self, request_id: str, filename: str, content: bytes, actor: str = "applicant"
    ) -> Document:
        """Store an ov document outside any web root; its name is kept as metadata only."""
        request = self._load(request_id)
        if request.kind is not Kind.OV:
            raise PolicyError(
                f"Documents are for ov requests; this is a {request.kind.value} request."
            )
        if request.state not in OPEN_STATES:
            raise Conflict(
                f"The request is {request.state.value.replace('_', ' ')}; documents can no"
                " longer be added."
            )
        clean_name = safe_filename(filename)
        if len(content) > MAX_DOCUMENT_BYTES:
            raise PayloadTooLarge(
                f"The document is {len(content)} bytes; at most"
                f" {MAX_DOCUMENT_BYTES // (1024 * 1024)} MiB are accepted.",
                hint="Scan at a lower resolution or split it into several files.",
            )
        if not content:
            raise Malformed("The document is empty.")
        media_type = sniff_document(content)
        now = self._clock()
        doc = Document(
            id=random_id(16),
            filename=clean_name,
            content_type=media_type,
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            uploaded_at=now,
        )
        stored_as = secrets.token_hex(16)
        directory = self._documents / request_id
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = directory / stored_as
        write_atomic(path, content, mode=0o600)
        try:
            self._store.add_document(
                request_id,
                doc,
                stored_as,
                Event(
                    "document",
                    actor,
                    None,
                    f"{clean_name} ({media_type}, {len(content)} bytes)",
                    {"document": doc.id, "sha256": doc.sha256},
                ),
                now,
                expect=OPEN_STATES,
                max_documents=MAX_DOCUMENTS,
            )
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return doc

    # -- the reviewer's actions ---------------------------------------------------------

    def assign(self, request_id: str, reviewer: Reviewer) -> EnrollmentRequest:
        """Make ``reviewer`` the request's contact person."""
        request = self._load(request_id)
        self._store.update_request(
            request_id,
            RequestUpdate(
                OPEN_STATES,
                "assigned",
                reviewer=reviewer,
                events=(
                    Event(
                        "assigned",
                        reviewer.actor,
                        None,
                        f"{reviewer.display_name} handles this request",
                        {"reviewer": reviewer.name},
                    ),
                ),
            ),
            self._clock(),
        )
        self._notify(request_id, request.contact, None, assigned=reviewer)
        return self.get(request_id)

    def approve(
        self, request_id: str, reviewer: Reviewer, organization: Organization
    ) -> EnrollmentRequest:
        """Issue the ov certificate with the organization fields the reviewer verified."""
        verified = check_organization(organization, who="the reviewer")
        request = self._load(request_id)
        if request.kind is not Kind.OV:
            raise PolicyError(
                f"Only ov requests are approved by a reviewer; this is a {request.kind.value}"
                " request."
            )
        if request.state is not RequestState.IN_REVIEW:
            raise Conflict(
                f"The request is {request.state.value.replace('_', ' ')}, not in review; it"
                " cannot be approved."
            )
        now = self._clock()
        stale = [c for c in request.challenges if not self._proven(c, now)]
        if stale:
            renewed = tuple(Challenge(c.name, new_token(), now + CHALLENGE_LIFETIME) for c in stale)
            note = (
                f"The domain validation of {', '.join(c.name for c in stale[:3])} is older than"
                f" the {reuse_days(now.date())} days BR 4.2.1 allows; the applicant must prove"
                " control again."
            )
            self._store.update_request(
                request_id,
                RequestUpdate(
                    frozenset({RequestState.IN_REVIEW}),
                    "approved",
                    state=RequestState.VALIDATING,
                    challenges=renewed,
                    events=(Event("revalidate", reviewer.actor, RequestState.VALIDATING, note),),
                ),
                now,
            )
            self._notify(request_id, request.contact, RequestState.VALIDATING)
            raise Conflict(note, hint="The request went back to validation.")
        claim = secrets.token_hex(16)
        took_over = self._store.update_request(
            request_id,
            RequestUpdate(frozenset({RequestState.IN_REVIEW}), "approved", take_claim=claim),
            now,
        )
        approved = Event(
            "approved",
            reviewer.actor,
            None,
            "organization verified: " + _org_text(verified),
            {"organization": _org_dict(verified)},
        )
        return self._issue(
            request,
            claim,
            actor=reviewer.actor,
            organization=verified,
            reviewer=reviewer if request.reviewer is None else None,
            before=(approved,),
            took_over=took_over,
        )

    def reject(self, request_id: str, reviewer: Reviewer, reason: str) -> EnrollmentRequest:
        text = " ".join((reason or "").split())
        if not text:
            raise Malformed("Say why the request is rejected; the applicant reads it.")
        if len(text) > MAX_REASON:
            raise Malformed(f"The reason is longer than {MAX_REASON} characters.")
        request = self._load(request_id)
        self._store.update_request(
            request_id,
            RequestUpdate(
                OPEN_STATES,
                "rejected",
                state=RequestState.REJECTED,
                rejection_reason=text,
                reviewer=reviewer if request.reviewer is None else None,
                events=(Event("rejected", reviewer.actor, RequestState.REJECTED, text),),
            ),
            self._clock(),
        )
        self._notify(request_id, request.contact, RequestState.REJECTED)
        return self.get(request_id)

    # -- mail ---------------------------------------------------------------------------

    def _notify(
        self,
        request_id: str,
        contact: str,
        state: RequestState | None,
        *,
        assigned: Reviewer | None = None,
    ) -> None:
        if self._notifier is None:
            return
        try:
            request = self.get(request_id)
        except PadlockError as exc:
            log.warning("could not read a request to mail about it: %s", exc)
            return
        subject, body = render_message(request, self.status_url(request_id), assigned)
        deliver(self._notifier, contact, subject, body)


_REVIEW_NOTE = "every name proven; waiting for a reviewer to check the organization"

_STATE_WORDS = {
    RequestState.SUBMITTED: "received: prove control of your domain names",
    RequestState.VALIDATING: "waiting for the domain checks",
    RequestState.IN_REVIEW: "in review: a person at the CA checks your organization",
    RequestState.ISSUED: "issued",
    RequestState.REJECTED: "rejected",
}


def _blocked(
    state: RequestState,
    claim: str,
    problem: str,
    caa: Sequence[ValidationRecord],
    before: tuple[Event, ...],
    *,
    note: str | None = None,
) -> RequestUpdate:
    """The step that records why issuance stopped (CAA, or a refusal), letting go of ``claim``."""
    return RequestUpdate(
        frozenset({state}),
        "issued",
        holder=claim,
        problem=problem,
        validations=tuple(caa),
        events=(*before, Event("blocked", "system", None, problem if note is None else note)),
    )


def _issued(
    state: RequestState,
    claim: str,
    record: CertificateRecord,
    organization: Organization | None,
    reviewer: Reviewer | None,
    before: tuple[Event, ...],
    validations: tuple[ValidationRecord, ...] = (),
    *,
    earlier: bool = False,
) -> RequestUpdate:
    """The step that records the request issued with ``record``, letting go of ``claim``;
    ``earlier``: a certificate an earlier step stored and could not record."""
    note = f"{record.profile} certificate {record.serial_hex}"
    details: dict[str, Any] = {"serial": record.serial_hex, "profile": record.profile}
    if earlier:
        note += ", issued for this request by an earlier step that could not record it"
        details["earlier"] = True
    return RequestUpdate(
        frozenset({state}),
        "issued",
        holder=claim,
        state=RequestState.ISSUED,
        certificate_serial=record.serial_hex,
        verified_organization=organization,
        reviewer=reviewer,
        validations=validations,
        clear_problem=True,
        events=(*before, Event("issued", "system", RequestState.ISSUED, note, details)),
    )


def _entry(event: Event, at: dt.datetime, state: RequestState) -> TimelineEntry:
    """The timeline entry the store keeps for ``event`` (as get_request reads it back)."""
    return TimelineEntry(at, event.action, event.actor[:128], event.state or state, event.note)


def _org_text(org: Organization) -> str:
    parts = [f"O={org.organization}"]
    if org.locality:
        parts.append(f"L={org.locality}")
    if org.state:
        parts.append(f"ST={org.state}")
    parts.append(f"C={org.country}")
    return ", ".join(parts)


def _org_dict(org: Organization) -> dict[str, str | None]:
    return {
        "organization": org.organization,
        "locality": org.locality,
        "state": org.state,
        "country": org.country,
    }


def render_message(
    request: EnrollmentRequest, status_url: str, assigned: Reviewer | None = None
) -> tuple[str, str]:
    """The mail to the applicant about the request's current state."""
    names = ", ".join(request.names[:3]) + (" ..." if len(request.names) > 3 else "")
    words = _STATE_WORDS[request.state]
    if assigned is not None:
        subject = f"[padlock] {names}: {assigned.display_name} handles your request"
    else:
        subject = f"[padlock] {names}: {request.state.value.replace('_', ' ')}"
    lines = [
        f"Your {request.kind.value} certificate request for {names} is {words}.",
        "",
        f"Status page: {status_url}",
        "(Keep this link private: whoever has it can follow and act on the request.)",
        "",
    ]
    if assigned is not None:
        contact = f" <{assigned.email}>" if assigned.email else ""
        lines += [f"Your contact person at the CA: {assigned.display_name}{contact}", ""]
    if request.state in (RequestState.SUBMITTED, RequestState.VALIDATING):
        for ch in request.challenges:
            if ch.state is ChallengeState.VALID:
                continue
            lines.append(f"{ch.name}:")
            lines += [f"  - {text}" for text in ch.instructions().values()]
        lines += ["", 'Then press "check again" on the status page.', ""]
    if request.state is RequestState.ISSUED and request.certificate_serial:
        lines += [
            f"Certificate serial number: {request.certificate_serial}",
            "Fetch it (PEM, DER, full chain or PKCS#7) from the status page, now or later.",
            "",
        ]
    if request.state is RequestState.REJECTED and request.rejection_reason:
        lines += [f"Reason: {request.rejection_reason}", ""]
    lines.append("-- padlock")
    return subject, "\n".join(lines) + "\n"
