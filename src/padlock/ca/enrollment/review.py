"""The reviewer's actions: take a request, approve an ov request with the organization
verified (BR 3.2.2.2), reject one."""

from __future__ import annotations

import secrets

from padlock.ca.enrollment.checks import (
    check_organization,
    new_token,
)
from padlock.ca.enrollment.issuing import EnrollmentIssuing
from padlock.ca.enrollment.model import (
    CHALLENGE_LIFETIME,
    MAX_REASON,
    OPEN_STATES,
    Challenge,
    EnrollmentRequest,
    Event,
    Kind,
    RequestState,
    RequestUpdate,
    Reviewer,
)
from padlock.ca.enrollment.steps import (
    org_dict,
    org_text,
)
from padlock.errors import (
    Conflict,
    Malformed,
    PolicyError,
)
from padlock.pki.certs import Organization
from padlock.pki.profiles import reuse_days


class EnrollmentReview(EnrollmentIssuing):
    """``assign``, ``approve`` and ``reject``."""

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
            "organization verified: " + org_text(verified),
            {"organization": org_dict(verified)},
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
