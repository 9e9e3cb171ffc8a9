"""The audit trail: every state change is an event, and events are hash-chained.

Each event's hash covers the previous event's hash and its own canonical JSON,
so an edited, deleted or reordered row breaks the chain at that row
(the same idea as RFC 6962's Merkle log, kept linear because one CA writes it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditEntry:
    """An event to append: who did what to which object."""

    action: str  # e.g. "certificate.reserved"
    actor: str  # "cli", "acme:acct-id", "reviewer:alice", "system"
    object_type: str
    object_id: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditEvent:
    """An appended event, with its place in the hash chain."""

    seq: int
    at: dt.datetime
    action: str
    actor: str
    object_type: str
    object_id: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


_UTC = dt.UTC

# One encoder for every hash: json.dumps with options builds a new encoder per call.
_encoder = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
_quote: Callable[[str], str] = json.encoder.encode_basestring_ascii
# JSONEncoder.encode makes its C encoder anew for every call; this one is made once, with
# the same settings (json/encoder.py, iterencode), less the check for circular references.
_c_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
_chunks: Any = (
    None
    if _c_make_encoder is None
    else _c_make_encoder(None, str, _quote, None, ":", ",", True, False, True)
)


def canonical_json(value: object) -> str:
    """The canonical JSON of a value as the chain hashes it (also how stores keep ``details``):
    keys sorted, no spaces, ASCII only, anything else as its ``str``."""
    if _chunks is None or isinstance(value, str):
        return _encoder.encode(value)
    return "".join(_chunks(value, 0))


def utc_text(at: dt.datetime) -> str:
    """``at``, a datetime in UTC (``tzinfo`` is ``dt.UTC``), as ``YYYY-MM-DD HH:MM:SS.ffffff``.

    An issuance writes each of its times more than once (its row, its audit event and
    the event's hash), and issuances within one second share their validity: the last
    few texts are kept, as ``isoformat`` costs more than the lookup.
    """
    if at.tzinfo is not _UTC:
        raise ValueError(f"utc_text takes a datetime in UTC, not {at!r}")
    text = _TEXTS.get(at)
    if text is None:
        text = at.isoformat(" ", "microseconds")[:-6]  # without "+00:00"
        if len(_TEXTS) >= _TEXTS_KEPT:
            _TEXTS.clear()
        _TEXTS[at] = text  # equal datetimes are the same instant: the same UTC text
    return text


_TEXTS: dict[dt.datetime, str] = {}
_TEXTS_KEPT = 16


def canonical_time(at: dt.datetime) -> str:
    """``at`` in UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (always six fraction digits)."""
    if at.tzinfo is _UTC and at.year >= 1000:
        # utc_text's isoformat is several times cheaper than strftime, the same text here.
        text = utc_text(at)
        return text[:10] + "T" + text[11:] + "Z"
    return at.astimezone(_UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
    """The event's hash: SHA-256 over the previous hash, a newline and the event's
    canonical JSON (keys sorted, no spaces, ASCII only)."""
    return chain_hash_encoded(
        prev_hash, seq, at, action, actor, object_type, object_id, canonical_json(details)
    )


def chain_hash_encoded(
    prev_hash: str,
    seq: int,
    at: dt.datetime,
    action: str,
    actor: str,
    object_type: str,
    object_id: str,
    details_json: str,
) -> str:
    """:func:`chain_hash` for details already in canonical JSON (``canonical_json``).

    The object is written out key by key, in sorted order, exactly as
    ``json.dumps(..., sort_keys=True, separators=(",", ":"))`` writes it.
    """
    body = _EVENT_JSON % (
        _json_text(action),
        _json_text(actor),
        canonical_time(at),
        details_json,
        _json_text(object_id),
        _json_text(object_type),
        str(seq) if type(seq) is int else canonical_json(seq),
    )
    return hashlib.sha256(prev_hash.encode() + b"\n" + body.encode()).hexdigest()


# The keys in sorted order; "at" is ASCII digits and punctuation, which JSON never escapes.
_EVENT_JSON = (
    '{"action":%s,"actor":%s,"at":"%s","details":%s,"object_id":%s,"object_type":%s,"seq":%s}'
)


def _json_text(value: object) -> str:
    # What canonical_json does for a str, without JSONEncoder.encode's Python-level checks.
    return _quote(value) if type(value) is str else canonical_json(value)


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
