"""The BR schedule as it applies on a day, per profile, and the test hierarchy's offset clock.

Ballot SC-081 shortens subscriber validity (BR 6.3.2: 398, then 200 days from 2026-03-15,
100 from 2027-03-15, 47 from 2029-03-15) and domain validation reuse (BR 4.2.1: 398, 200,
100, then 10 days on the same days). ``padlock ca schedule`` prints what a day's rules give;
the test hierarchy may run its rules on a later day (``--clock-offset``) so that an
operator and their clients rehearse 2029 today. The trusted hierarchy never does: its
certificates follow the rules of the day they are issued on.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

from padlock.errors import PolicyError
from padlock.pki.profiles import (
    PROFILES,
    Hierarchy,
    Profile,
    br_max_days,
    max_days,
    reuse_days,
)

# The days SC-081's steps take effect (BR 6.3.2 and 4.2.1 change on the same days).
CHANGES = (dt.date(2026, 3, 15), dt.date(2027, 3, 15), dt.date(2029, 3, 15))

MAX_OFFSET_DAYS = 3650  # a rehearsal of the next ten years at most
_OFFSET = re.compile(r"(?:(?P<hierarchy>[a-z]+):)?\+?(?P<days>[0-9]{1,6})d")


@dataclass(frozen=True)
class ProfileRules:
    """What the rules of ``rules_on`` give a profile: its longest and default validity
    and how old a reused domain validation may be (days)."""

    profile: str
    hierarchy: str
    rules_on: dt.date
    max_days: int
    default_days: int
    reuse_days: int
    br_max_days: int
    br_reuse_days: int

    def to_dict(self) -> dict[str, object]:
        return {
            "profile": self.profile,
            "hierarchy": self.hierarchy,
            "rules_on": self.rules_on.isoformat(),
            "max_days": self.max_days,
            "default_days": self.default_days,
            "reuse_days": self.reuse_days,
            "br_max_days": self.br_max_days,
            "br_reuse_days": self.br_reuse_days,
        }


def rules_day(hierarchy: Hierarchy, day: dt.date, test_offset: dt.timedelta) -> dt.date:
    """The day whose rules a certificate of ``hierarchy`` issued on ``day`` follows: the
    test hierarchy's runs ``test_offset`` ahead; the trusted one's is the day itself."""
    return day + test_offset if hierarchy is Hierarchy.TEST else day


def rules(
    on: dt.date,
    test_offset: dt.timedelta = dt.timedelta(0),
    profiles: Iterable[Profile] | None = None,
) -> list[ProfileRules]:
    """Each profile's validity and reuse by the rules of ``on`` (its hierarchy's day)."""
    found = []
    for profile in PROFILES.values() if profiles is None else profiles:
        day = rules_day(profile.hierarchy, on, test_offset)
        longest = max_days(profile, day)
        found.append(
            ProfileRules(
                profile.name,
                profile.hierarchy.value,
                day,
                longest,
                min(profile.default_days, longest),
                reuse_days(day, profile),
                br_max_days(day),
                reuse_days(day),
            )
        )
    return found


def next_change(on: dt.date) -> dt.date | None:
    """The next day the schedule changes after ``on`` (None: no further step is set)."""
    return next((day for day in CHANGES if day > on), None)


def parse_clock_offset(text: str) -> dt.timedelta:
    """``800d`` (or ``test:800d``) as the test hierarchy's clock offset. Refused for the
    trusted hierarchy (BR 6.3.2 and 4.2.1 apply on the day of issuance), backwards, and
    beyond ten years."""
    found = _OFFSET.fullmatch(text.strip().lower())
    if found is None:
        raise PolicyError(
            f"{text!r} is not a clock offset.", hint="Give days ahead, for example 800d."
        )
    if found.group("hierarchy") not in (None, Hierarchy.TEST.value):
        raise PolicyError(
            f"The clock offset {text!r} names the {found.group('hierarchy')} hierarchy; only"
            " the test hierarchy can run on an offset clock.",
            hint="Trusted certificates follow the rules of the day they are issued on"
            " (BR 6.3.2, 4.2.1): give the offset alone, for example 800d.",
        )
    days = int(found.group("days"))
    if days > MAX_OFFSET_DAYS:
        raise PolicyError(f"A clock offset of {days} days is more than {MAX_OFFSET_DAYS}.")
    return dt.timedelta(days=days)
