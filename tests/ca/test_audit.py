"""The audit chain's hash is a stable format: databases written by earlier versions must keep
verifying. The fast ``chain_hash`` is checked against the original definition, kept here."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from padlock.ca.audit import canonical_json, canonical_time, chain_hash, chain_hash_encoded

UTC = dt.UTC


def reference_chain_hash(
    prev_hash: str,
    seq: int,
    at: dt.datetime,
    action: str,
    actor: str,
    object_type: str,
    object_id: str,
    details: dict[str, Any],
) -> str:
    """chain_hash as first written (padlock 0.1): the definition of the format."""
    body = json.dumps(
        {
            "seq": seq,
            "at": at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
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


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
times = st.datetimes(
    min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 30), timezones=st.just(UTC)
) | st.datetimes(
    min_value=dt.datetime(1970, 1, 2),
    max_value=dt.datetime(2200, 1, 1),
    timezones=st.sampled_from([dt.timezone(dt.timedelta(hours=h)) for h in (-8, 0, 2, 14)]),
)


@settings(max_examples=300)
@given(
    prev=st.text(min_size=1, max_size=64),
    seq=st.integers(min_value=0, max_value=2**63),
    at=times,
    action=st.text(),
    actor=st.text(),
    object_type=st.text(),
    object_id=st.text(),
    details=st.dictionaries(st.text(), json_values, max_size=6),
)
def test_chain_hash_matches_the_original_definition(
    prev: str,
    seq: int,
    at: dt.datetime,
    action: str,
    actor: str,
    object_type: str,
    object_id: str,
    details: dict[str, Any],
) -> None:
    expected = reference_chain_hash(prev, seq, at, action, actor, object_type, object_id, details)
    assert chain_hash(prev, seq, at, action, actor, object_type, object_id, details) == expected
    assert (
        chain_hash_encoded(
            prev, seq, at, action, actor, object_type, object_id, canonical_json(details)
        )
        == expected
    )


def test_chain_hash_of_a_typical_event() -> None:
    at = dt.datetime(2026, 11, 27, 12, 0, 0, 123456, tzinfo=UTC)
    details = {"profile": "test", "names": ["www.example.com", "ü.example"], "request_id": None}
    args = ("0" * 64, 7, at, "certificate.reserved", "cli", "certificate", "ab12")
    assert chain_hash(*args, details) == reference_chain_hash(*args, details)
    # Values JSON has no type for are hashed as their text, both ways.
    odd = {"when": at, "serial": 2**130}
    assert chain_hash(*args, odd) == reference_chain_hash(*args, odd)


def test_canonical_time_always_has_microseconds_and_z() -> None:
    assert canonical_time(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == (
        "2026-01-02T03:04:05.000000Z"
    )
    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert canonical_time(dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=plus_two)) == (
        "2026-01-02T01:04:05.000006Z"
    )


def test_utc_text_is_isoformat_without_offset_and_kept_bounded() -> None:
    from padlock.ca import audit

    base = dt.datetime(2026, 12, 6, 16, 40, 40, 123456, tzinfo=UTC)
    for i in range(3 * audit._TEXTS_KEPT):  # more than are kept: the cache stays small
        at = base + dt.timedelta(microseconds=i)
        assert audit.utc_text(at) == at.isoformat(" ", "microseconds")[:-6]
        assert audit.utc_text(at) == at.isoformat(" ", "microseconds")[:-6]  # kept
        assert canonical_time(at) == at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert len(audit._TEXTS) <= audit._TEXTS_KEPT


def test_utc_text_refuses_other_zones_even_for_a_kept_instant() -> None:
    import pytest

    from padlock.ca.audit import utc_text

    at = dt.datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    assert utc_text(at) == "2026-12-06 12:00:00.000000"
    same_instant = at.astimezone(dt.timezone(dt.timedelta(hours=2)))
    for other in (same_instant, at.replace(tzinfo=None)):
        with pytest.raises(ValueError, match="UTC"):
            utc_text(other)
