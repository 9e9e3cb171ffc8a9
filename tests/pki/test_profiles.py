"""Profiles and validity: the BR 6.3.2 schedule (SC-081), inclusive day counting, each
profile's length, and the refusals."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from padlock.errors import PolicyError
from padlock.pki.profiles import (
    BACKDATE,
    OID_DV,
    OID_OV,
    PROFILES,
    Hierarchy,
    br_max_days,
    counted_days,
    get_profile,
    max_days,
    reuse_days,
    still_reusable,
    validity,
)

UTC = dt.UTC
DAY = dt.timedelta(days=1)
SECOND = dt.timedelta(seconds=1)


def at(
    year: int, month: int, day: int, hour: int = 12, minute: int = 0, second: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# --- the BR schedule ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "days"),
    [
        (dt.date(2020, 9, 1), 398),
        (dt.date(2026, 3, 14), 398),  # the last day of 398
        (dt.date(2026, 3, 15), 200),  # SC-081: from 2026-03-15
        (dt.date(2027, 3, 14), 200),
        (dt.date(2027, 3, 15), 100),  # from 2027-03-15
        (dt.date(2029, 3, 14), 100),
        (dt.date(2029, 3, 15), 47),  # from 2029-03-15
        (dt.date(2040, 1, 1), 47),
    ],
)
def test_br_max_days_schedule_with_exact_boundaries(day: dt.date, days: int) -> None:
    assert br_max_days(day) == days


@pytest.mark.parametrize(
    ("before", "after", "limit_before", "limit_after"),
    [
        (at(2026, 3, 14, 23, 59, 59), at(2026, 3, 15, 0, 0, 0), 398, 200),
        (at(2027, 3, 14, 23, 59, 59), at(2027, 3, 15, 0, 0, 0), 200, 100),
        (at(2029, 3, 14, 23, 59, 59), at(2029, 3, 15, 0, 0, 0), 100, 47),
    ],
)
def test_boundary_second_by_second(
    before: dt.datetime, after: dt.datetime, limit_before: int, limit_after: int
) -> None:
    dv = PROFILES["ov"]  # no cap of its own: the BR schedule alone
    # On the last second before a step the old maximum is allowed, and one day more is not.
    not_before, not_after = validity(dv, before, limit_before)
    assert counted_days(not_before, not_after) == limit_before
    with pytest.raises(PolicyError):
        validity(dv, before, limit_before + 1)
    # From the first second of the step day the new maximum holds.
    validity(dv, after, limit_after)
    with pytest.raises(PolicyError) as caught:
        validity(dv, after, limit_after + 1)
    assert f"at most {limit_after} days" in caught.value.message
    assert caught.value.hint == f"Ask for {limit_after} days or fewer."


def test_the_limit_follows_the_day_of_issuance_not_the_backdated_not_before() -> None:
    # Issued at 00:00:30 on 2026-03-15: notBefore falls on the 14th (backdated one minute),
    # but the certificate is issued on the 15th, so the shorter maximum applies.
    now = at(2026, 3, 15, 0, 0, 30)
    not_before, _ = validity(PROFILES["ov"], now, 200)
    assert not_before.date() == dt.date(2026, 3, 14)
    with pytest.raises(PolicyError):
        validity(PROFILES["ov"], now, 201)


# --- counting days (BR 6.3.2: inclusive, any part of a day is a day) ---------------------------


def test_counted_days_one_second_is_one_day() -> None:
    start = at(2026, 1, 1)
    assert counted_days(start, start) == 1  # notBefore and notAfter the same second


def test_counted_days_a_day_less_a_second_is_one_day() -> None:
    start = at(2026, 1, 1)
    assert counted_days(start, start + DAY - SECOND) == 1


def test_counted_days_a_whole_day_is_two_days() -> None:
    # Both ends count: from 12:00:00 to 12:00:00 the next day is 86,401 seconds.
    start = at(2026, 1, 1)
    assert counted_days(start, start + DAY) == 2


@pytest.mark.parametrize("days", [1, 7, 21, 47, 90, 100, 200, 398])
def test_counted_days_n_days_end_one_second_before_the_anniversary(days: int) -> None:
    start = at(2026, 1, 1)
    assert counted_days(start, start + days * DAY - SECOND) == days
    assert counted_days(start, start + days * DAY) == days + 1


def test_counted_days_398_exactly_is_399() -> None:
    # The classic mistake: notAfter = notBefore + 398 days is 398 days and one second.
    start = at(2025, 6, 1)
    assert counted_days(start, start + 398 * DAY) == 399


# --- profiles ------------------------------------------------------------------------------------


def test_profiles_are_the_five_shipped_and_the_old_names_are_aliases() -> None:
    assert list(PROFILES) == ["test", "classic", "tlsserver", "shortlived", "ov"]
    assert PROFILES["dv"] is PROFILES["classic"]
    assert PROFILES["short-lived"] is PROFILES["shortlived"]
    assert PROFILES.aliases == {"dv": "classic", "short-lived": "shortlived"}


def test_test_profile_is_21_days_from_the_test_hierarchy() -> None:
    test = PROFILES["test"]
    assert test.hierarchy is Hierarchy.TEST
    assert not test.needs_validation and not test.needs_organization
    now = at(2026, 6, 1)
    not_before, not_after = validity(test, now)
    assert counted_days(not_before, not_after) == 21
    assert not_after == not_before + 21 * DAY - SECOND


def test_test_profile_never_more_than_21_days() -> None:
    assert max_days(PROFILES["test"], dt.date(2025, 1, 1)) == 21
    with pytest.raises(PolicyError) as caught:
        validity(PROFILES["test"], at(2025, 1, 1), 22)
    assert "at most 21 days" in caught.value.message


def test_test_profile_may_be_shorter() -> None:
    not_before, not_after = validity(PROFILES["test"], at(2026, 6, 1), 3)
    assert counted_days(not_before, not_after) == 3


@pytest.mark.parametrize("now", [at(2025, 1, 1), at(2026, 6, 1), at(2030, 1, 1)])
def test_shortlived_is_160_hours(now: dt.datetime) -> None:
    short = PROFILES["short-lived"]
    assert short.hierarchy is Hierarchy.TRUSTED and short.needs_validation
    not_before, not_after = validity(short, now)
    assert not_after - not_before == dt.timedelta(hours=160) - SECOND
    assert counted_days(not_before, not_after) == 7  # BR 6.3.2: a part of a day is a day
    assert max_days(short, now.date()) == 6  # whole days that fit in 160 hours
    with pytest.raises(PolicyError) as caught:
        validity(short, now, 7)
    assert caught.value.hint == "Ask for 6 days or fewer, or leave the validity out for 160 hours."


def test_classic_is_capped_at_90_days_and_tlsserver_too() -> None:
    for name in ("classic", "tlsserver"):
        with pytest.raises(PolicyError) as caught:
            validity(PROFILES[name], at(2026, 6, 1), 91)
        assert f"The {name} profile allows at most 90 days on 2026-06-01" in caught.value.message


def test_dv_defaults_to_90_days() -> None:
    dv = PROFILES["dv"]
    assert dv.hierarchy is Hierarchy.TRUSTED and dv.needs_validation and dv.pkilint
    assert not dv.needs_organization and dv.policy_oid == OID_DV
    not_before, not_after = validity(dv, at(2026, 6, 1))
    assert counted_days(not_before, not_after) == 90


def test_dv_default_is_cut_to_the_br_maximum() -> None:
    # From 2029-03-15 the BR allow 47 days: the 90-day default gives way.
    not_before, not_after = validity(PROFILES["dv"], at(2029, 3, 15))
    assert counted_days(not_before, not_after) == 47


def test_ov_carries_the_ov_policy_and_organization() -> None:
    ov = PROFILES["ov"]
    assert ov.policy_oid == OID_OV == "2.23.140.1.2.2"
    assert ov.needs_organization and ov.needs_validation and ov.pkilint
    assert OID_DV == "2.23.140.1.2.1"


@pytest.mark.parametrize("name", ["ov"])
def test_trusted_profiles_up_to_the_br_maximum(name: str) -> None:
    profile = PROFILES[name]
    not_before, not_after = validity(profile, at(2025, 12, 1), 398)
    assert counted_days(not_before, not_after) == 398


@pytest.mark.parametrize("days", [0, -1, -90])
@pytest.mark.parametrize("name", sorted(PROFILES))
def test_zero_or_negative_days_refused(name: str, days: int) -> None:
    with pytest.raises(PolicyError) as caught:
        validity(PROFILES[name], at(2026, 6, 1), days)
    assert "not possible" in caught.value.message


@pytest.mark.parametrize("name", ["ov"])
def test_too_long_refused_with_what_to_ask_for(name: str) -> None:
    with pytest.raises(PolicyError) as caught:
        validity(PROFILES[name], at(2026, 6, 1), 201)
    assert f"The {name} profile allows at most 200 days on 2026-06-01" in caught.value.message
    assert "asked for 201" in caught.value.message


def test_not_before_is_backdated_a_minute_to_the_second() -> None:
    now = dt.datetime(2026, 6, 1, 12, 0, 30, 987654, tzinfo=UTC)
    not_before, _ = validity(PROFILES["test"], now)
    assert dt.timedelta(minutes=1) == BACKDATE
    assert not_before == dt.datetime(2026, 6, 1, 11, 59, 30, tzinfo=UTC)


def test_unknown_profile_refused_with_the_choices() -> None:
    with pytest.raises(PolicyError) as caught:
        get_profile("ev")
    assert "no profile 'ev'" in caught.value.message
    assert caught.value.hint == "Choose one of: test, classic, tlsserver, shortlived, ov"
    assert get_profile("dv") is PROFILES["dv"]


@given(
    now=st.datetimes(
        min_value=dt.datetime(2024, 1, 1),
        max_value=dt.datetime(2035, 12, 31),
        timezones=st.just(UTC),
    ),
    name=st.sampled_from(sorted(PROFILES)),
    data=st.data(),
)
def test_validity_is_exactly_the_days_asked_and_never_over_the_limit(
    now: dt.datetime, name: str, data: st.DataObject
) -> None:
    profile = PROFILES[name]
    limit = max_days(profile, now.date())
    assert limit <= br_max_days(now.date())
    days = data.draw(st.integers(min_value=1, max_value=limit))
    not_before, not_after = validity(profile, now, days)
    assert counted_days(not_before, not_after) == days
    assert not_before <= now and not_before.microsecond == 0
    with pytest.raises(PolicyError):
        validity(profile, now, limit + 1)


# --------------------------------------------------------------------------- BR 4.2.1 reuse


@pytest.mark.parametrize(
    ("day", "days"),
    [
        (dt.date(2025, 6, 1), 398),
        (dt.date(2026, 3, 14), 398),
        (dt.date(2026, 3, 15), 200),
        (dt.date(2027, 3, 14), 200),
        (dt.date(2027, 3, 15), 100),
        (dt.date(2029, 3, 14), 100),
        (dt.date(2029, 3, 15), 10),
        (dt.date(2035, 1, 1), 10),
    ],
)
def test_reuse_days_schedule_at_each_boundary(day: dt.date, days: int) -> None:
    assert reuse_days(day) == days
    now = dt.datetime.combine(day, dt.time(12), UTC)
    assert still_reusable(now - dt.timedelta(days=days), now)
    assert not still_reusable(now - dt.timedelta(days=days) - SECOND, now)


def test_reuse_days_the_day_of_issuance_decides() -> None:
    """Validated under the 100-day rule, used the day the 10-day rule starts: 10 days."""
    validated = dt.datetime(2029, 3, 1, 12, tzinfo=UTC)
    assert still_reusable(validated, dt.datetime(2029, 3, 14, 23, 59, 59, tzinfo=UTC))
    assert not still_reusable(validated, dt.datetime(2029, 3, 15, 0, 0, tzinfo=UTC))


def test_reuse_days_a_profile_may_ask_for_less_never_more() -> None:
    strict = dataclasses.replace(PROFILES["dv"], reuse_cap_days=30)
    lax = dataclasses.replace(PROFILES["dv"], reuse_cap_days=1000)
    assert reuse_days(dt.date(2025, 6, 1), strict) == 30
    assert reuse_days(dt.date(2029, 3, 15), strict) == 10
    assert reuse_days(dt.date(2025, 6, 1), lax) == 398
    now = dt.datetime(2025, 6, 1, tzinfo=UTC)
    assert not still_reusable(now - dt.timedelta(days=31), now, strict)
    assert still_reusable(now - dt.timedelta(days=31), now, PROFILES["dv"])


def test_ip_profiles_short_lived_and_test_only() -> None:
    from padlock.pki.profiles import ip_profiles

    assert ip_profiles() == ["test", "shortlived"]
