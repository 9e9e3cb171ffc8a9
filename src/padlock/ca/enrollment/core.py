"""What every enrollment use case shares: its parts, reading a request, the review
queue, running checks in parallel, and the mail after a step."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from padlock.ca import validation as va
from padlock.ca.enrollment.checks import (
    valid_request_id,
)
from padlock.ca.enrollment.mail import render_message
from padlock.ca.enrollment.model import (
    CertificateStatus,
    Challenge,
    ChallengeState,
    EnrollmentRequest,
    EnrollmentStats,
    RequestState,
    RequestSummary,
    Reviewer,
    ValidationRecord,
)
from padlock.ca.issuance import (
    Clock,
    IssuedCertificate,
    Issuer,
    utcnow,
)
from padlock.ca.mpic.coordinator import CheckSpec, Corroborator
from padlock.ca.notify import Notifier, deliver
from padlock.ca.ports.certificates import CertificateStore
from padlock.ca.ports.enrollment import EnrollmentStore
from padlock.errors import (
    Conflict,
    NotFound,
    PadlockError,
)
from padlock.pki.profiles import still_reusable

log = logging.getLogger("padlock.enrollment")
PROBE_THREADS = 16


class EnrollmentCore:
    """The parts and the reading side; the use-case rooms (submit, validate, documents,
    review, issuing) extend it and :class:`~padlock.ca.enrollment.service.EnrollmentService`
    joins them."""

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
        corroborator: Corroborator | None = None,
    ) -> None:
        self._store = store
        self._certs = certificates
        self._issuer = issuer
        self._va = va_config
        self._documents = documents_dir
        self._base_url = base_url.rstrip("/")
        self._notifier = notifier
        self._clock = clock
        self._corroborator = corroborator
        resolver = va_config.resolver
        self._resolver = f"{resolver[0]}:{resolver[1]}" if resolver else "system resolver"

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

    def _corroborated(
        self, name: str, check: CheckSpec, primary: Callable[[], va.Evidence]
    ) -> tuple[va.Evidence, list[ValidationRecord]]:
        """``primary()`` (this VA's probe), corroborated by the remote perspectives asked to
        run ``check`` at the same time (BR 3.2.2.9): the evidence, and the corroboration's
        record when there are perspectives. NotCorroborated carries its record."""
        if self._corroborator is None:
            return primary(), []
        evidence, record = self._corroborator.corroborate([check], primary)
        return evidence, [self._mpic_record(name, record)]

    def _mpic_record(self, name: str, record: dict[str, Any]) -> ValidationRecord:
        """The corroboration as one validation record (method "mpic"), shown to reviewers."""
        ok = bool(record.get("ok"))
        detail = str(record.get("detail") or "")
        return ValidationRecord(
            name, "mpic", ok, self._clock(), detail, None if ok else "unauthorized", record
        )

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
