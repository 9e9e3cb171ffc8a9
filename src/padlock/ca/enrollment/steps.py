"""The recorded steps a request goes through that more than one use case writes: issued,
blocked (CAA or a refusal), and the texts of their events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from padlock.ca.enrollment.model import (
    Event,
    RequestState,
    RequestUpdate,
    Reviewer,
    TimelineEntry,
    ValidationRecord,
)
from padlock.ca.records import CertificateRecord
from padlock.pki.certs import Organization

REVIEW_NOTE = "every name proven; waiting for a reviewer to check the organization"


def blocked_step(
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


def issued_step(
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


def timeline_entry(event: Event, at: dt.datetime, state: RequestState) -> TimelineEntry:
    """The timeline entry the store keeps for ``event`` (as get_request reads it back)."""
    return TimelineEntry(at, event.action, event.actor[:128], event.state or state, event.note)


def org_text(org: Organization) -> str:
    parts = [f"O={org.organization}"]
    if org.locality:
        parts.append(f"L={org.locality}")
    if org.state:
        parts.append(f"ST={org.state}")
    parts.append(f"C={org.country}")
    return ", ".join(parts)


def org_dict(org: Organization) -> dict[str, str | None]:
    return {
        "organization": org.organization,
        "locality": org.locality,
        "state": org.state,
        "country": org.country,
    }
