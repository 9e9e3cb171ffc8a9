"""The audit trail: every state change is an event, and events are hash-chained.

Each event's hash covers the previous event's hash and its own canonical JSON,
so an edited, deleted or reordered row breaks the chain at that row
(the same idea as RFC 6962's Merkle log, kept linear because one CA writes it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from padlock.ca.ports import AuditEvent

GENESIS = "0" * 64


def canonical_time(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def chain_hash(
    prev_hash: str,
    seq: int,
    at: dt.datetime,
    action: str,
    actor: str,
    object_type: str,
    object_id: str,
    details: dict[str, Any],
) -> str:
    body = json.dumps(
        {
            "seq": seq,
            "at": canonical_time(at),
            "action": action,
            "actor": actor,
            "object_type": object_type,
            "object_id": object_id,
            "details": details,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        default=str,
    )
    return hashlib.sha256(prev_hash.encode() + b"\n" + body.encode()).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    events: int
    first_bad_seq: int | None = None
    problem: str | None = None


def verify_chain(events: Iterable[AuditEvent], head: tuple[int, str]) -> VerifyResult:
    """Walk the chain from the start; report the first event that does not fit.

    ``head`` is the (seq, hash) the store recorded for the last append: events
    deleted from the end show as a chain shorter than its head.
    """
    prev = GENESIS
    expected_seq = 1
    count = 0
    for event in events:
        count += 1
        if event.seq != expected_seq:
            return VerifyResult(
                False, count, event.seq, f"event {expected_seq} is missing (next is {event.seq})"
            )
        if event.prev_hash != prev:
            return VerifyResult(False, count, event.seq, "its link to the previous event is broken")
        digest = chain_hash(
            prev,
            event.seq,
            event.at,
            event.action,
            event.actor,
            event.object_type,
            event.object_id,
            event.details,
        )
        if digest != event.hash:
            return VerifyResult(False, count, event.seq, "its contents were changed after writing")
        prev = event.hash
        expected_seq += 1
    head_seq, head_hash = head
    if head_seq != expected_seq - 1 or (head_seq and head_hash != prev):
        return VerifyResult(
            False,
            count,
            expected_seq,
            f"the log ends at event {expected_seq - 1} but its head"
            f" records event {head_seq}: events were deleted or the head was changed",
        )
    return VerifyResult(True, count)
