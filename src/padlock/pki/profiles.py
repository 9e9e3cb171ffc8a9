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
from collections.abc import Iterable, Iterator, Mapping
from importlib import resources

from padlock.errors import PolicyError
from padlock.pki.profile_model import (
    OID_DV,
    OID_OV,
    Hierarchy,
    Profile,
    ProfileFileError,
    parse_profile,
)

__all__ = [
    "BACKDATE",
    "OID_DV",
    "OID_OV",
    "PROFILES",
    "Hierarchy",
    "Profile",
    "ProfileSet",
    "br_max_days",
    "counted_days",
    "get_profile",
    "max_days",
    "reuse_days",
    "still_reusable",
    "validity",
]

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

SHIPPED_DIR = ("data", "profiles")


class ProfileSet(Mapping[str, Profile]):
    """The profiles a CA offers, by name; an alias (``dv``, ``short-lived``) finds its
    profile too, but iteration gives each profile once, by its own name."""

    def __init__(self, profiles: Iterable[Profile]) -> None:
        self._by_name: dict[str, Profile] = {}
        self._aliases: dict[str, str] = {}
        for profile in profiles:
            for name in (profile.name, *profile.aliases):
                if name in self._by_name or name in self._aliases:
                    raise ProfileFileError(
                        f"Two profiles are called {name!r} (a name or an alias).",
                        hint="Rename one profile file or drop the alias.",
                    )
                if name == profile.name:
                    self._by_name[name] = profile
                else:
                    self._aliases[name] = profile.name

    def __getitem__(self, name: str) -> Profile:
        return self._by_name[self._aliases.get(name, name)]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name or name in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    @property
    def aliases(self) -> Mapping[str, str]:
        """alias -> the profile's own name."""
        return dict(self._aliases)

    def get_profile(self, name: str) -> Profile:
        try:
            return self[name]
        except KeyError:
            raise PolicyError(
                f"There is no profile {name!r}.",
                hint="Choose one of: " + ", ".join(self),
            ) from None

    def ip_profiles(self) -> list[str]:
        """The profiles that certify IP addresses."""
        return [p.name for p in self.values() if p.ip_addresses]

    def of_hierarchy(self, hierarchy: Hierarchy) -> list[Profile]:
        return [p for p in self.values() if p.hierarchy is hierarchy]


def shipped_texts() -> dict[str, str]:
    """The profile files padlock ships (package data), name -> TOML text."""
    folder = resources.files("padlock.pki").joinpath(*SHIPPED_DIR)
    return {
        entry.name.removesuffix(".toml"): entry.read_text("utf-8")
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".toml")
    }


def load_profiles(texts: Mapping[str, tuple[str, str]]) -> ProfileSet:
    """The profiles of ``texts`` (name -> (TOML text, where it came from)), the enabled
    ones, in the order of :data:`ORDER` then by name."""
    read = [parse_profile(name, text, source) for name, (text, source) in texts.items()]
    enabled = [profile for profile, on in read if on]
    rank = {name: i for i, name in enumerate(ORDER)}
    enabled.sort(key=lambda p: (rank.get(p.name, len(ORDER)), p.name))
    return ProfileSet(enabled)


ORDER = ("test", "classic", "tlsserver", "shortlived", "ov")

# The shipped set: what a CA offers until the operator's files (wiring) say otherwise.
PROFILES = load_profiles(
    {name: (text, f"padlock's {name}.toml") for name, text in shipped_texts().items()}
)


def get_profile(name: str) -> Profile:
    return PROFILES.get_profile(name)


def ip_profiles() -> list[str]:
    """The shipped profiles that certify IP addresses."""
    return PROFILES.ip_profiles()


def br_max_days(issued_on: dt.date) -> int:
    """The longest validity BR 6.3.2 allows for a certificate issued on that day."""
    for start, days in _BR_SCHEDULE:
        if issued_on >= start:
            return days
    return _BR_BEFORE_2026


def max_days(profile: Profile, issued_on: dt.date) -> int:
    """The most whole days a certificate of ``profile`` issued that day may be asked for:
    the BR maximum, or the profile's own cap (160 hours allow 6 whole days)."""
    limit = br_max_days(issued_on)
    cap = profile.limit
    return limit if cap is None else min(limit, cap // dt.timedelta(days=1))


def validity_problem(
    profile: Profile, not_before: dt.datetime, not_after: dt.datetime
) -> str | None:
    """Why a certificate's validity is longer than BR 6.3.2 (by the day of notBefore) or
    the profile allow; None when it is not."""
    days = counted_days(not_before, not_after)
    limit = br_max_days(not_before.date())
    if days > limit:
        return f"validity of {days} days exceeds the BR maximum of {limit} (BR 6.3.2)"
    cap = profile.limit
    if cap is not None and not_after - not_before + dt.timedelta(seconds=1) > cap:
        return f"validity of {days} days exceeds the {profile.name} profile's {_span(cap)}"
    return None


def _span(span: dt.timedelta) -> str:
    hours = span // dt.timedelta(hours=1)
    return f"{span.days} days" if hours % 24 == 0 else f"{hours} hours"


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
    if days is None:
        span = min(profile.lifetime, dt.timedelta(days=br_max_days(rules_day)))
    else:
        if days < 1:
            raise PolicyError(f"A validity of {days} days is not possible.")
        if days > limit:
            raise PolicyError(
                f"The {profile.name} profile allows at most {limit} days on {rules_day}"
                f" (asked for {days}).",
                hint=f"Ask for {limit} days or fewer"
                + (
                    "."
                    if profile.max_validity is None
                    else f", or leave the validity out for {_span(profile.max_validity)}."
                ),
            )
        span = dt.timedelta(days=days)
    # Inclusive of both ends (BR 6.3.2): N days end one second before the N-th anniversary.
    not_after = not_before + span - dt.timedelta(seconds=1)
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
