"""Issuing an enrollment request's certificate: CAA for every name right before issuance
(RFC 8659, BR 3.2.2.8), then the certificate, recorded with the request under a claim
(one request, at most one certificate)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from padlock.ca import validation as va
from padlock.ca.enrollment.core import EnrollmentCore, log
from padlock.ca.enrollment.model import (
    CertificateStatus,
    EnrollmentRequest,
    Event,
    RequestState,
    RequestUpdate,
    Reviewer,
    ValidationRecord,
)
from padlock.ca.enrollment.steps import (
    blocked_step,
    issued_step,
    timeline_entry,
)
from padlock.ca.issuance import (
    CheckedRequest,
    IssueRequest,
)
from padlock.ca.mpic.coordinator import CheckSpec, NotCorroborated
from padlock.ca.ports.certificates import GuardedWrite, StoreWrite
from padlock.ca.records import CertificateRecord
from padlock.errors import (
    CAAForbidden,
    NotFound,
    PadlockError,
)
from padlock.pki.certs import Organization


def _method_of(request: EnrollmentRequest, name: str) -> str | None:
    """How ``name`` was proven: "http" or "dns"; a reused validation's own method."""
    for ch in request.challenges:
        if ch.name == name and ch.method != "reused":
            return ch.method
    for v in request.validations:
        if v.name == name and v.method == "reused":
            return str(v.evidence.get("method") or "") or None
    return None


class EnrollmentIssuing(EnrollmentCore):
    """CAA and issuance, shared by submit (reused validations), validate (dv) and approve (ov)."""

    def _caa(self, request: EnrollmentRequest) -> list[ValidationRecord]:
        """CAA for every name of ``request``, each with the method that proved it."""
        found = self._run_parallel(
            lambda name: self._caa_one(name, _method_of(request, name)), list(request.names)
        )
        return [record for records in found for record in records]

    def _caa_one(self, name: str, method: str | None) -> list[ValidationRecord]:
        """The CAA record of ``name`` (and the remote perspectives' word on it)."""
        at = self._clock()
        # No ACME account here: a property with accounturi never allows this request;
        # validationmethods names the REST/portal method by CAA_METHOD_NAMES (RFC 8657).
        wildcard = name.startswith("*.")
        ask = {"name": name, "wildcard": wildcard, "method": method}
        check = CheckSpec("caa", ask | {"identities": list(self._va.caa_identities)})
        try:
            ev, mpic = self._corroborated(
                name,
                check,
                lambda: va.check_caa(self._va, name, wildcard=wildcard, method=method),
            )
        except (CAAForbidden, NotCorroborated) as exc:
            refused = ValidationRecord(
                name,
                "caa",
                False,
                at,
                exc.message,
                exc.problem,
                {"name": name, "at": at.isoformat(), "resolver": self._resolver},
            )
            seen = [self._mpic_record(name, exc.record)] if isinstance(exc, NotCorroborated) else []
            return [refused, *seen]
        ok = ValidationRecord(name, "caa", True, ev.at, ev.detail, None, self._evidence(ev))
        return [ok, *mpic]

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
        then issue, and record the outcome with the certificate. Holds ``claim``, and lets
        go of it if a step fails before recording its outcome.

        ``took_over``: the claim was taken over from an earlier step that never finished.
        That step may have stored a certificate and failed to record it (its last update
        refused, the process gone): the request is then completed with that certificate,
        never issued again (one request, at most one certificate).

        ``create``, when given, are the events of a request issued on submission: the
        request itself is then recorded with the certificate's reservation (until then
        it is not stored), and the answer is made from what was written, not read back.
        """
        state = request.state
        stored = [create is None]  # whether the request is in the database to be updated
        first = self._record_first(request, claim, create, stored)
        finished = False
        try:
            earlier = self._store.issued_serial(request.id) if took_over else None
            if earlier is not None:
                done = self._complete_with(request, claim, earlier, organization, reviewer, before)
                finished = True
                return done
            if caa is None:
                caa = self._caa(request)
            if not all(r.ok for r in caa):
                problem = self._record_caa_refusal(request, claim, caa, before, create)
                finished = True
                if reviewer is not None:
                    raise CAAForbidden(problem, hint="Issuance stopped; nothing was signed.")
                return self.get(request.id)
            record_issued, outcome = self._record_issued(
                request, claim, organization, reviewer, before, caa
            )
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
                if stored[-1]:  # else refused before the reservation: the request was never stored
                    self._record_refusal(request, claim, caa, before, exc, create)
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
        return _issued_on_submission(
            request, create, step, at, caa, issued.record, organization, reviewer
        )

    def _record_first(
        self,
        request: EnrollmentRequest,
        claim: str,
        create: tuple[Event, ...] | None,
        stored: list[bool],
    ) -> StoreWrite | None:
        """For a request issued on submission: the write that records it with the
        certificate's reservation (``stored`` learns that it was written)."""
        if create is None:
            return None
        record_request = self._store.request_writes(
            request, create, request.created_at, claim=claim
        )

        def first(cursor: Any) -> None:
            record_request(cursor)
            stored.append(True)  # written; committed unless the commit fails

        return first

    def _record_issued(
        self,
        request: EnrollmentRequest,
        claim: str,
        organization: Organization | None,
        reviewer: Reviewer | None,
        before: tuple[Event, ...],
        caa: list[ValidationRecord],
    ) -> tuple[
        Callable[[CertificateRecord], StoreWrite],
        list[tuple[GuardedWrite, RequestUpdate, dt.datetime]],
    ]:
        """The issuer's ``also``: the step that records the request issued with the
        certificate (made once its record is known), and the list it is kept in."""
        state = request.state
        outcome: list[tuple[GuardedWrite, RequestUpdate, dt.datetime]] = []

        def record_issued(record: CertificateRecord) -> StoreWrite:
            step = issued_step(state, claim, record, organization, reviewer, before, tuple(caa))
            at = self._clock()
            write = self._store.update_writes(request.id, step, at)
            outcome.append((write, step, at))
            return write

        return record_issued, outcome

    def _record_caa_refusal(
        self,
        request: EnrollmentRequest,
        claim: str,
        caa: list[ValidationRecord],
        before: tuple[Event, ...],
        create: tuple[Event, ...] | None,
    ) -> str:
        """Record that CAA stopped issuance (RFC 8659), letting go of the claim; the problem."""
        if create is not None:
            raise ValueError("record the request before recording its CAA refusal")
        refused = [r for r in caa if not r.ok and r.method == "caa"]
        problem = refused[0].detail + (
            f" (and {len(refused) - 1} more names)" if len(refused) > 1 else ""
        )
        self._store.update_request(
            request.id, blocked_step(request.state, claim, problem, caa, before), self._clock()
        )
        return problem

    def _record_refusal(
        self,
        request: EnrollmentRequest,
        claim: str,
        caa: list[ValidationRecord],
        before: tuple[Event, ...],
        exc: PadlockError,
        create: tuple[Event, ...] | None,
    ) -> None:
        """Record that the issuer refused after the request was stored."""
        try:
            self._store.update_request(
                request.id,
                blocked_step(
                    request.state,
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
        step = issued_step(
            request.state, claim, record, organization, reviewer, before, earlier=True
        )
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


def _issued_on_submission(
    request: EnrollmentRequest,
    create: tuple[Event, ...],
    step: RequestUpdate,
    at: dt.datetime,
    caa: list[ValidationRecord],
    record: CertificateRecord,
    organization: Organization | None,
    reviewer: Reviewer | None,
) -> EnrollmentRequest:
    """A request issued on submission as the store now holds it, made from what was
    written (its creation events, then the issued step) instead of read back."""
    state = request.state
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
            *(timeline_entry(e, request.created_at, state) for e in create),
            *(timeline_entry(e, at, RequestState.ISSUED) for e in step.events),
        ),
        certificate=CertificateStatus.of(record),
    )
