"""BR 3.2.2.9's rules as pure functions: the date-driven minimum, the quorum table, the RIR
and 500 km rules, and what ``padlock doctor`` says of a configured set."""

from __future__ import annotations

import datetime as dt

import pytest

from padlock.ca.mpic.quorum import (
    Place,
    allowed_failures,
    assess,
    distance_km,
    judge,
    required_remote,
)

FRA = Place("fra", "RIPE NCC", 50.11, 8.68)
IAD = Place("iad", "ARIN", 38.95, -77.45)
SIN = Place("sin", "APNIC", 1.35, 103.99)
GRU = Place("gru", "LACNIC", -23.43, -46.47)
JNB = Place("jnb", "AFRINIC", -26.14, 28.24)
AMS = Place("ams", "RIPE NCC", 52.31, 4.76)  # 360 km from Frankfurt


@pytest.mark.parametrize(
    ("day", "need"),
    [
        ("2025-09-14", 0),
        ("2025-09-15", 2),
        ("2026-03-14", 2),
        ("2026-03-15", 3),
        ("2026-06-15", 4),
        ("2026-12-14", 4),
        ("2026-12-15", 5),
        ("2029-01-01", 5),
    ],
)
def test_quorum_required_remote_by_date(day: str, need: int) -> None:
    assert required_remote(dt.date.fromisoformat(day)) == need


@pytest.mark.parametrize(("remote", "allowed"), [(1, 0), (2, 1), (5, 1), (6, 2), (9, 2)])
def test_quorum_allowed_failures_table(remote: int, allowed: int) -> None:
    assert allowed_failures(remote) == allowed


def test_quorum_distance_frankfurt_amsterdam() -> None:
    assert 350 < distance_km(FRA, AMS) < 370
    assert distance_km(FRA, FRA) == 0


def test_quorum_judge_one_dissent_of_five_holds() -> None:
    five = [FRA, IAD, SIN, GRU, JNB]
    verdict = judge(five, ["fra", "iad", "sin", "gru"])
    assert verdict.ok and verdict.dissenting == ("jnb",) and verdict.allowed == 1


def test_quorum_judge_two_dissents_of_five_refused() -> None:
    verdict = judge([FRA, IAD, SIN, GRU, JNB], ["fra", "iad", "sin"])
    assert not verdict.ok
    assert set(verdict.dissenting) == {"gru", "jnb"}
    assert "2 of 5" in verdict.reason


def test_quorum_judge_two_dissents_of_six_hold() -> None:
    six = [FRA, IAD, SIN, GRU, JNB, AMS]
    assert judge(six, ["fra", "iad", "sin", "gru"]).ok


def test_quorum_judge_corroborating_in_one_rir_refused() -> None:
    verdict = judge([FRA, AMS, IAD], ["fra", "ams"])
    assert not verdict.ok and "one RIR" in verdict.reason


def test_quorum_judge_corroborating_too_close_refused() -> None:
    # Two RIRs configured but the only agreeing pair stands in one place.
    near = Place("fra2", "ARIN", 50.12, 8.69)  # an ARIN-registered network in Frankfurt
    verdict = judge([FRA, near, IAD], ["fra", "fra2"])
    assert not verdict.ok and "500 km" in verdict.reason


def test_quorum_assess_says_what_is_missing_today() -> None:
    found = assess([FRA, AMS], dt.date(2026, 12, 15))
    text = " | ".join(found)
    assert "2 remote perspectives configured" in text and "at least 5" in text
    assert "one RIR" in text and "fra and ams" in text
    assert "private CA may run fewer" in text


def test_quorum_assess_names_the_next_step() -> None:
    found = assess([FRA, IAD, SIN, GRU], dt.date(2026, 12, 7))
    assert found == ["from 2026-12-15 BR 3.2.2.9 asks for 5"]
    assert assess([FRA, IAD, SIN, GRU, JNB], dt.date(2026, 12, 15)) == []
