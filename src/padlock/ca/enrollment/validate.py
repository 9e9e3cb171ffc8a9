"""Validating a request: the domain checks for every name not yet proven (an HTTP file,
BR 3.2.2.4.18, or a DNS TXT record, BR 3.2.2.4.7); then issue (dv) or queue for review (ov)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import replace

from padlock.ca import validation as va
from padlock.ca.enrollment.issuing import EnrollmentIssuing
from padlock.ca.enrollment.model import (
    OPEN_STATES,
    Challenge,
    ChallengeState,
    EnrollmentRequest,
    Event,
    Kind,
    RequestState,
    RequestUpdate,
    ValidationRecord,
)
from padlock.ca.enrollment.steps import (
    REVIEW_NOTE,
)
from padlock.ca.mpic.coordinator import CheckSpec, NotCorroborated
from padlock.errors import (
    Conflict,
    PadlockError,
)


def _check_of(
    cfg: va.VAConfig, ch: Challenge, method: str
) -> tuple[CheckSpec, Callable[[], va.Evidence]]:
    """One method's check, as the remote perspectives are asked to run it (``ca/checks.py``)
    and as this VA runs it: a file (BR 3.2.2.4.18) or a TXT record (BR 3.2.2.4.7)."""
    if method == "http":
        params = {"name": ch.name, "path": ch.http_path, "expected": ch.token}
        return CheckSpec("http", params), lambda: va.check_http(
            cfg, ch.name, ch.http_path, ch.token, exact=False
        )
    params = {"name": ch.base_name, "qname": ch.dns_record, "expected": ch.token}
    return CheckSpec("dns", params), lambda: va.check_dns_txt(
        cfg, ch.base_name, ch.dns_record, ch.token
    )


class EnrollmentValidation(EnrollmentIssuing):
    """``validate``."""

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
        # BR 3.2.2.9: every remote perspective's signed evidence goes to the audit log too
        seen = [r.evidence for _ch, records in results for r in records if r.method == "mpic"]
        details = {"corroboration": seen} if seen else {}
        events = [Event("checked", actor, RequestState.VALIDATING, note, details)]
        if new_state is RequestState.IN_REVIEW:
            events.append(Event("in_review", "system", RequestState.IN_REVIEW, REVIEW_NOTE))
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

    def _probe(self, ch: Challenge) -> tuple[Challenge, list[ValidationRecord]]:
        """Try each method for one name; the first that succeeds proves it."""
        records: list[ValidationRecord] = []
        errors: list[str] = []
        for method in ch.methods:
            try:
                ev, mpic = self._corroborated(ch.name, *_check_of(self._va, ch, method))
            except NotCorroborated as exc:
                records.append(self._mpic_record(ch.name, exc.record))
                errors.append(f"{method.upper()}: {exc.message}")
                continue
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
            records.extend(mpic)
            proven = replace(
                ch, state=ChallengeState.VALID, method=method, validated_at=ev.at, error=None
            )
            return proven, records
        return replace(ch, state=ChallengeState.PENDING, error=" ".join(errors)[:1000]), records
