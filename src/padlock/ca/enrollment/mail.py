"""The mail to the applicant about a request's state (sent after each commit)."""

from __future__ import annotations

from padlock.ca.enrollment.model import (
    ChallengeState,
    EnrollmentRequest,
    RequestState,
    Reviewer,
)

_STATE_WORDS = {
    RequestState.SUBMITTED: "received: prove control of your domain names",
    RequestState.VALIDATING: "waiting for the domain checks",
    RequestState.IN_REVIEW: "in review: a person at the CA checks your organization",
    RequestState.ISSUED: "issued",
    RequestState.REJECTED: "rejected",
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
