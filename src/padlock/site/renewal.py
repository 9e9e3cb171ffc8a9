"""``padlock renew``: every lineage in the state directory, renewed when due, one row each.

Renewal is due when forced (``--force``), when the certificate expired or has fewer than
``--renew-before`` left, when the CA says so (ACME: its renewal information, RFC 9773;
padlock's REST API: the certificate is revoked), else when a third of its lifetime is left.
A renewal is one more :class:`~padlock.site.obtain.Obtaining` over the lineage, with its
saved settings; a request still in flight is continued instead.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from padlock.errors import PadlockError
from padlock.site.ca_backend import ignore
from padlock.site.lineage import (
    Current,
    Lineage,
    SiteState,
    day,
    iso,
    parse_iso,
    passphrase_for,
    utcnow,
)
from padlock.site.obtain import Obtaining, Outcome, Progress, backend_for, finish, quiet

WAKE_INTERVAL = dt.timedelta(hours=12)  # how often renew is expected to run (RFC 9773 4.2)


@dataclass(frozen=True)
class Due:
    due: bool
    reason: str


@dataclass(frozen=True)
class Renewal:
    """One row of ``padlock renew``."""

    name: str
    action: str  # renewed | not due | would renew | would resume | waiting | failed
    reason: str
    old_serial: str | None = None
    new_serial: str | None = None
    not_after: dt.datetime | None = None
    detail: str = ""
    outcome: Outcome | None = None

    @property
    def failed(self) -> bool:
        return self.action == "failed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "action": self.action,
            "reason": self.reason,
            "old_serial": self.old_serial,
            "new_serial": self.new_serial,
            "not_after": iso(self.not_after) if self.not_after else None,
            "detail": self.detail,
            "outcome": self.outcome.to_dict() if self.outcome else None,
        }


def _lifetime_due(current: Current, now: dt.datetime) -> Due:
    start, end = parse_iso(current.not_before), parse_iso(current.not_after)
    at = end - (end - start) / 3
    if now >= at:
        return Due(True, f"a third of its lifetime is left (since {day(at)})")
    return Due(False, f"due {day(at)} (a third of its lifetime left)")


def is_due(
    lineage: Lineage,
    now: dt.datetime,
    state: SiteState,
    *,
    renew_before: dt.timedelta | None = None,
    wake_interval: dt.timedelta = WAKE_INTERVAL,
    rng: random.Random | None = None,
    force: bool = False,
) -> Due:
    """Whether the current certificate is due: forced (``renew --force``, certbot's
    ``--force-renewal``); expired; fewer than ``renew_before`` left;
    the CA's renewal window (ACME, RFC 9773 section 4.2: a uniform random time in the
    window, due when it comes before the next run); revoked at the CA (REST); else when a
    third of its lifetime is left."""
    cur = lineage.current
    if cur is None:
        return Due(True, "no certificate yet")
    if force:
        return Due(True, "forced (--force), whatever the renewal window")
    end = parse_iso(cur.not_after)
    if now >= end:
        return Due(True, f"expired on {day(end)}")
    if renew_before is not None and end - now < renew_before:
        days = (end - now).total_seconds() / 86400
        return Due(True, f"{days:.1f} days left, under --renew-before")
    with contextlib.closing(backend_for(lineage.settings, state, record=ignore)) as ca:
        advice = ca.advice(cur, now, wake_interval, rng)
    if advice.due is not None:
        return Due(advice.due, advice.reason)
    note = advice.reason
    due = _lifetime_due(cur, now)
    return Due(due.due, due.reason + note)


def renew(
    state: SiteState,
    *,
    passphrase: Callable[[Lineage], bytes | None],
    dry_run: bool = False,
    reuse_key: bool = False,
    renew_before: dt.timedelta | None = None,
    force: bool = False,
    progress: Progress = quiet,
    now: Callable[[], dt.datetime] = utcnow,
) -> list[Renewal]:
    """``padlock renew``: every lineage, one row each; a failure is a row, never an abort."""
    rows: list[Renewal] = []
    with state.locked():
        lineages = state.all()
        for lineage in lineages:
            rows.append(
                _renew_one(
                    state,
                    lineage,
                    passphrase=passphrase,
                    dry_run=dry_run,
                    reuse_key=reuse_key,
                    renew_before=renew_before,
                    force=force,
                    progress=progress,
                    now=now,
                )
            )
    return rows


def _renew_one(
    state: SiteState,
    lineage: Lineage,
    *,
    passphrase: Callable[[Lineage], bytes | None],
    dry_run: bool,
    reuse_key: bool,
    renew_before: dt.timedelta | None,
    progress: Progress,
    now: Callable[[], dt.datetime],
    force: bool = False,
) -> Renewal:
    name = lineage.name
    old = lineage.current.serial if lineage.current else None

    def say(message: str) -> None:
        progress(f"{name}: {message}")

    try:
        if lineage.pending is not None:
            reason = f"request {lineage.pending.reference or '(not sent)'} in progress"
            if dry_run:
                return Renewal(name, "would resume", reason, old)
            pw = passphrase_for(lineage, passphrase)
            run = Obtaining(state, lineage, passphrase=pw, agree_tos=False, progress=say, now=now)
            if lineage.pending.reference is None:
                run.start(reuse_key=reuse_key, previous=lineage.current)
            outcome = finish(run)
        else:
            due = is_due(lineage, now(), state, renew_before=renew_before, force=force)
            if not due.due:
                return Renewal(name, "not due", due.reason, old, not_after=_not_after(lineage))
            if dry_run:
                return Renewal(name, "would renew", due.reason, old, not_after=_not_after(lineage))
            reason = due.reason
            say(f"renewing: {due.reason}")
            pw = passphrase_for(lineage, passphrase)
            run = Obtaining(state, lineage, passphrase=pw, agree_tos=False, progress=say, now=now)
            run.start(reuse_key=reuse_key, previous=lineage.current)
            outcome = finish(run)
    except PadlockError as exc:
        return Renewal(name, "failed", exc.message, old, detail=exc.hint or "")
    except Exception as exc:  # one certificate's bug must not stop the others
        return Renewal(name, "failed", f"{type(exc).__name__}: {exc}", old)
    if outcome.status == "waiting":
        return Renewal(name, "waiting", reason, old, detail=outcome.message, outcome=outcome)
    return Renewal(
        name,
        "renewed",
        reason,
        old,
        new_serial=outcome.serial,
        not_after=outcome.not_after,
        detail=outcome.message,
        outcome=outcome,
    )


def _not_after(lineage: Lineage) -> dt.datetime | None:
    return parse_iso(lineage.current.not_after) if lineage.current else None


__all__ = ["WAKE_INTERVAL", "Due", "Renewal", "is_due", "renew"]
