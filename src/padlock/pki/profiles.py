"""Certificate profiles: which hierarchy, how long, which names and fields.

Validity rules come from CA/Browser Forum BR section 6.3.2 as amended by ballot
SC-081: a subscriber certificate may be valid at most 398 days if issued before
2026-03-15, 200 days from then, 100 days from 2027-03-15 and 47 days from
2029-03-15. The validity period counts from notBefore to notAfter *inclusive*,
and any part of a day counts as a whole day, so a certificate of N days ends
one second before notBefore + N days.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from padlock.errors import PolicyError

# BR 7.1.6.1 reserved policy identifiers.
OID_DV = "2.23.140.1.2.1"
OID_OV = "2.23.140.1.2.2"

_BR_SCHEDULE: tuple[tuple[dt.date, int], ...] = (
    (dt.date(2029, 3, 15), 47),
    (dt.date(2027, 3, 15), 100),
    (dt.date(2026, 3, 15), 200),
)
_BR_BEFORE_2026 = 398

# BR 4.2.1 as amended by ballot SC-081: how old a domain validation may be when it is
# reused, by the day of issuance.
_REUSE_SCHEDULE: tuple[tuple[dt.date, int], ...] = (
    (dt.date(2029, 3, 15), 10),
    (dt.date(2027, 3, 15), 100),
    (dt.date(2026, 3, 15), 200),
)
_REUSE_BEFORE_2026 = 398

# notBefore is set this far in the past, for clocks that run a little behind.
BACKDATE = dt.timedelta(minutes=1)


class Hierarchy(StrEnum):
    TEST = "test"
    TRUSTED = "trusted"


@dataclass(frozen=True)
class Profile:
    name: str
    hierarchy: Hierarchy
    default_days: int
    cap_days: int | None  # a fixed cap of the profile itself; the BR maximum applies on top
    policy_oid: str
    needs_validation: bool  # domain control must have been shown
    needs_organization: bool  # verified O/L/ST/C are put in the subject
    pkilint: bool  # run pkilint before signing (BR 4.3.1.2)
    description: str
    # IP address identifiers (RFC 8738; BR 3.2.2.5): only where certificates are short-lived
    # (as Let's Encrypt's shortlived profile), since an address changes hands sooner than a name.
    ip_addresses: bool = False
    # Days a domain validation may be reused for this profile, when shorter than BR 4.2.1's.
    reuse_cap_days: int | None = None


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            "test",
            Hierarchy.TEST,
            21,
            21,
            OID_DV,
            False,
            False,
            False,
            "Instant test certificate from the test root, valid 21 days; browsers warn.",
            ip_addresses=True,
        ),
        Profile(
            "dv",
            Hierarchy.TRUSTED,
            90,
            None,
            OID_DV,
            True,
            False,
            True,
            "Domain validated: issued after the applicant proves control of every name.",
        ),
        Profile(
            "ov",
            Hierarchy.TRUSTED,
            90,
            None,
            OID_OV,
            True,
            True,
            True,
            "Organization validated: domain control plus organization documents"
            " checked by a reviewer.",
        ),
        Profile(
            "short-lived",
            Hierarchy.TRUSTED,
            7,
            7,
            OID_DV,
            True,
            False,
            True,
            "Domain validated, valid at most 7 days (BR short-lived subscriber certificate);"
            " the one trusted profile for IP addresses.",
            ip_addresses=True,
        ),
    )
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise PolicyError(
            f"There is no profile {name!r}.",
            hint="Choose one of: " + ", ".join(PROFILES),
        ) from None


def ip_profiles() -> list[str]:
    """The profiles that certify IP addresses."""
    return [p.name for p in PROFILES.values() if p.ip_addresses]


def br_max_days(issued_on: dt.date) -> int:
    """The longest validity BR 6.3.2 allows for a certificate issued on that day."""
    for start, days in _BR_SCHEDULE:
        if issued_on >= start:
            return days
    return _BR_BEFORE_2026


def max_days(profile: Profile, issued_on: dt.date) -> int:
    limit = br_max_days(issued_on)
    return min(limit, profile.cap_days) if profile.cap_days else limit


def validity(
    profile: Profile, now: dt.datetime, days: int | None = None, rules_on: dt.date | None = None
) -> tuple[dt.datetime, dt.datetime]:
    """(notBefore, notAfter) for a certificate issued ``now``, ``days`` long at most, by the
    rules of ``rules_on`` (default the day of ``now``; later for the test hierarchy's
    offset clock, see :mod:`padlock.pki.schedule`)."""
    # (now - BACKDATE) to the second, without datetime.replace (slow for what it does).
    not_before = now - (BACKDATE + dt.timedelta(microseconds=now.microsecond))
    rules_day = now.date() if rules_on is None else rules_on
    limit = max_days(profile, rules_day)
    wanted = days if days is not None else min(profile.default_days, limit)
    if wanted < 1:
        raise PolicyError(f"A validity of {wanted} days is not possible.")
    if wanted > limit:
        raise PolicyError(
            f"The {profile.name} profile allows at most {limit} days on {rules_day}"
            f" (asked for {wanted}).",
            hint=f"Ask for {limit} days or fewer.",
        )
    # Inclusive of both ends (BR 6.3.2): N days end one second before the N-th anniversary.
    not_after = not_before + dt.timedelta(days=wanted) - dt.timedelta(seconds=1)
    return not_before, not_after


def counted_days(not_before: dt.datetime, not_after: dt.datetime) -> int:
    """Days of validity as BR 6.3.2 counts them (inclusive, any part of a day is a day)."""
    seconds = int((not_after - not_before).total_seconds()) + 1
    return -(-seconds // 86400)


def reuse_days(on: dt.date, profile: Profile | None = None) -> int:
    """Days a domain validation may be reused for issuance on ``on`` (BR 4.2.1, SC-081),
    or fewer when the profile asks for less: the one schedule ACME and enrollment share."""
    days = _REUSE_BEFORE_2026
    for start, limit in _REUSE_SCHEDULE:
        if on >= start:
            days = limit
            break
    cap = profile.reuse_cap_days if profile is not None else None
    return min(days, cap) if cap else days


def still_reusable(
    validated_at: dt.datetime,
    now: dt.datetime,
    profile: Profile | None = None,
    rules_on: dt.date | None = None,
) -> bool:
    """Whether a validation made at ``validated_at`` may back issuance at ``now``: the
    schedule of the day of issuance applies (``rules_on``, when the test hierarchy's clock
    runs ahead), not that of the day of validation."""
    day = now.date() if rules_on is None else rules_on
    return now - validated_at <= dt.timedelta(days=reuse_days(day, profile))
