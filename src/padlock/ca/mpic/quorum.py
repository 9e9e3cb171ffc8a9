"""The rules of BR 3.2.2.9 as pure functions: how many remote perspectives a CA must use on
a given day, how many of them may fail to corroborate, and what the corroborating set must
span (two Regional Internet Registries; perspectives at least 500 km apart). ``today`` is
passed in; no I/O.

Open MPIC's coordinator (open-mpic-core 6.5.0) applies the same table ("quorum = count - 1
up to 5, count - 2 above") and the same two-RIR rule over the successful perspectives;
padlock keeps its own copy of the rules because the library brings its own checks, models
and transports (docs/design.md says why).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

# BR 3.2.2.9: the Regional Internet Registries a perspective's location falls in.
RIRS = ("ARIN", "RIPE NCC", "APNIC", "LACNIC", "AFRINIC")
# BR 3.2.2.9's phase-in of the minimum number of remote perspectives: (from, minimum).
# MPIC is required from 2025-03-15 and its quorum enforced from 2025-09-15 (two remote).
MINIMUM_REMOTE: tuple[tuple[dt.date, int], ...] = (
    (dt.date(2025, 9, 15), 2),
    (dt.date(2026, 3, 15), 3),
    (dt.date(2026, 6, 15), 4),
    (dt.date(2026, 12, 15), 5),
)
MIN_DISTANCE_KM = 500.0  # BR 3.2.2.9: distinct perspectives are at least 500 km apart
EARTH_RADIUS_KM = 6371.0088  # the mean radius (IUGG)


@dataclass(frozen=True)
class Place:
    """Where a remote perspective stands: its RIR and its coordinates (degrees)."""

    name: str
    rir: str
    latitude: float
    longitude: float


def required_remote(today: dt.date) -> int:
    """The fewest remote perspectives BR 3.2.2.9 allows on ``today`` (0 before the rule)."""
    need = 0
    for since, count in MINIMUM_REMOTE:
        if today >= since:
            need = count
    return need


def next_step(today: dt.date) -> tuple[dt.date, int] | None:
    """The next date the minimum rises, and to what; None once the phase-in is complete."""
    return next(((d, n) for d, n in MINIMUM_REMOTE if d > today), None)


def allowed_failures(remote: int) -> int:
    """BR 3.2.2.9's table: with 2 to 5 remote perspectives one may fail to corroborate, with
    6 or more two may. A private CA that runs a single perspective allows none."""
    if remote >= 6:
        return 2
    return 1 if remote >= 2 else 0


def distance_km(a: Place, b: Place) -> float:
    """The great-circle distance (haversine) between two places."""
    la1, la2 = math.radians(a.latitude), math.radians(b.latitude)
    dlat = la2 - la1
    dlon = math.radians(b.longitude - a.longitude)
    h = math.sin(dlat / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def spans_rirs(places: Sequence[Place]) -> bool:
    """At least two distinct RIRs among ``places``."""
    return len({p.rir for p in places}) >= 2


def spread(places: Sequence[Place]) -> bool:
    """At least two of ``places`` stand 500 km or more apart."""
    return any(
        distance_km(a, b) >= MIN_DISTANCE_KM for i, a in enumerate(places) for b in places[i + 1 :]
    )


def too_close(places: Sequence[Place]) -> list[tuple[str, str, float]]:
    """Pairs of configured perspectives under 500 km apart: they are not distinct."""
    return [
        (a.name, b.name, distance_km(a, b))
        for i, a in enumerate(places)
        for b in places[i + 1 :]
        if distance_km(a, b) < MIN_DISTANCE_KM
    ]


@dataclass(frozen=True)
class Verdict:
    """Whether the remote perspectives corroborate, and why not."""

    ok: bool
    reason: str
    corroborating: tuple[str, ...]
    dissenting: tuple[str, ...]
    allowed: int


def judge(configured: Sequence[Place], corroborating: Sequence[str]) -> Verdict:
    """BR 3.2.2.9 over one validation: of the ``configured`` remote perspectives, those named
    in ``corroborating`` agreed with the primary. What the configured set can show (two
    RIRs, two places 500 km apart) the corroborating set must show too."""
    agreed = [p for p in configured if p.name in set(corroborating)]
    dissent = tuple(p.name for p in configured if p.name not in set(corroborating))
    allowed = allowed_failures(len(configured))
    names = tuple(p.name for p in agreed)
    if len(dissent) > allowed:
        return Verdict(
            False,
            f"{len(dissent)} of {len(configured)} remote perspectives did not corroborate;"
            f" BR 3.2.2.9 allows {allowed}",
            names,
            dissent,
            allowed,
        )
    if spans_rirs(configured) and not spans_rirs(agreed):
        rirs = ", ".join(sorted({p.rir for p in agreed})) or "none"
        why = f"the corroborating perspectives span one RIR ({rirs}); BR 3.2.2.9 asks for two"
        return Verdict(False, why, names, dissent, allowed)
    if spread(configured) and not spread(agreed):
        why = "no two corroborating perspectives stand 500 km apart (BR 3.2.2.9)"
        return Verdict(False, why, names, dissent, allowed)
    return Verdict(
        True,
        f"{len(agreed)} of {len(configured)} remote perspectives corroborate"
        f" ({allowed} may fail, BR 3.2.2.9)",
        names,
        dissent,
        allowed,
    )


def assess(configured: Sequence[Place], today: dt.date) -> list[str]:
    """What keeps ``configured`` from meeting BR 3.2.2.9 on ``today`` (empty: nothing); for
    ``padlock doctor``. A private CA may run fewer, and is told so."""
    problems: list[str] = []
    need = required_remote(today)
    if len(configured) < need:
        problems.append(
            f"{len(configured)} remote perspectives configured; BR 3.2.2.9 asks for at least"
            f" {need} from {_since(today)} (a private CA may run fewer)"
        )
    if len(configured) >= 2 and not spans_rirs(configured):
        problems.append("the perspectives all stand in one RIR; BR 3.2.2.9 asks for two")
    for a, b, km in too_close(configured):
        problems.append(f"{a} and {b} are {km:.0f} km apart, under 500 km (BR 3.2.2.9)")
    step = next_step(today)
    if step is not None and len(configured) < step[1]:
        problems.append(f"from {step[0].isoformat()} BR 3.2.2.9 asks for {step[1]}")
    return problems


def _since(today: dt.date) -> str:
    started = [d for d, _n in MINIMUM_REMOTE if d <= today]
    return started[-1].isoformat() if started else today.isoformat()
