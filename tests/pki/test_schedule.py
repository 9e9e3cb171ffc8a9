"""The BR schedule per profile on a day (SC-081: 200/100/47 days of validity, 200/100/10 days
of validation reuse), and the test hierarchy's offset clock, refused for the trusted one."""

from __future__ import annotations

import datetime as dt

import pytest

from padlock.errors import PolicyError
from padlock.pki import schedule
from padlock.pki.profiles import PROFILES, Hierarchy, validity


def _by_profile(on: dt.date, offset_days: int = 0) -> dict[str, schedule.ProfileRules]:
    rows = schedule.rules(on, dt.timedelta(days=offset_days))
    return {r.profile: r for r in rows}


@pytest.mark.parametrize(
    ("on", "br_days", "reuse"),
    [
        (dt.date(2026, 3, 14), 398, 398),
        (dt.date(2026, 3, 15), 200, 200),
        (dt.date(2027, 3, 15), 100, 100),
        (dt.date(2029, 3, 14), 100, 100),
        (dt.date(2029, 3, 15), 47, 10),
    ],
)
def test_schedule_rules_follow_sc081(on: dt.date, br_days: int, reuse: int) -> None:
    rows = _by_profile(on)
    assert set(rows) == set(PROFILES)
    ov = rows["ov"]  # no cap of its own: the BR schedule alone
    assert (ov.br_max_days, ov.br_reuse_days, ov.reuse_days) == (br_days, reuse, reuse)
    assert ov.max_days == br_days and ov.default_days == min(90, br_days)
    assert rows["classic"].max_days == min(90, br_days)  # classic: 90 days at most
    assert rows["shortlived"].max_days == 6  # 160 hours: 6 whole days, under every step
    assert rows["test"].max_days == 21


def test_schedule_offset_moves_only_the_test_hierarchy() -> None:
    today = dt.date(2026, 12, 7)
    ahead = (dt.date(2029, 3, 15) - today).days
    rows = _by_profile(today, ahead)
    assert rows["test"].rules_on == dt.date(2029, 3, 15)
    assert (rows["test"].br_max_days, rows["test"].reuse_days) == (47, 10)
    for name in ("classic", "tlsserver", "ov", "shortlived"):
        assert rows[name].rules_on == today and rows[name].br_max_days == 200
    assert schedule.rules_day(Hierarchy.TRUSTED, today, dt.timedelta(days=ahead)) == today


def test_schedule_next_change() -> None:
    assert schedule.next_change(dt.date(2026, 12, 7)) == dt.date(2027, 3, 15)
    assert schedule.next_change(dt.date(2027, 3, 15)) == dt.date(2029, 3, 15)
    assert schedule.next_change(dt.date(2029, 3, 15)) is None


def test_schedule_validity_by_the_rules_of_a_later_day() -> None:
    now = dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC)
    dv = PROFILES["ov"]
    # 200 days may be asked for today; by 2029's rules at most 47, and the times stay today's
    not_before, _ = validity(dv, now, 200)
    assert not_before.date() == now.date()
    with pytest.raises(PolicyError, match="at most 47 days on 2029-03-15"):
        validity(dv, now, 200, rules_on=dt.date(2029, 3, 15))
    start, end = validity(dv, now, 47, rules_on=dt.date(2029, 3, 15))
    assert start.date() == now.date() and (end - start).days == 46


@pytest.mark.parametrize(
    ("text", "days"), [("800d", 800), ("test:830d", 830), (" +10d ", 10), ("0d", 0)]
)
def test_schedule_clock_offset_parsed(text: str, days: int) -> None:
    assert schedule.parse_clock_offset(text) == dt.timedelta(days=days)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("trusted:800d", "only the test hierarchy"),
        ("-800d", "is not a clock offset"),
        ("800", "is not a clock offset"),
        ("eight hundred days", "is not a clock offset"),
        ("99999d", "more than 3650"),
    ],
)
def test_schedule_clock_offset_refused(text: str, says: str) -> None:
    with pytest.raises(PolicyError, match=says):
        schedule.parse_clock_offset(text)
