"""The reviewer store: what the review console's use cases (``ca/reviewers.py``) need
from storage (``store/review.py`` implements it), and the accounts, sessions and
failed-login counts that cross that border. Each method is one transaction, its audit
event in it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from padlock.ca.audit import AuditEntry


@dataclass(frozen=True)
class Reviewer:
    """A console account as everything above storage sees it (never the password hash)."""

    name: str
    display_name: str
    email: str | None
    role: str
    active: bool
    created_at: dt.datetime
    last_login_at: dt.datetime | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def actor(self) -> str:
        """How the audit trail names this reviewer."""
        return f"reviewer:{self.name}"


@dataclass(frozen=True)
class StoredReviewer:
    reviewer: Reviewer
    password_hash: str


@dataclass(frozen=True)
class StoredSession:
    token_hash: str  # SHA-256 of the cookie's token, hex
    reviewer: str
    csrf_token: str
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime
    client: str | None = None


@dataclass(frozen=True)
class Throttle:
    """Failed logins for one login name."""

    login: str
    failures: int
    last_failure_at: dt.datetime
    locked_until: dt.datetime | None = None


class ReviewerStore(Protocol):
    """What the reviewer use cases need from storage; each method is one transaction."""

    def add_reviewer(self, stored: StoredReviewer, event: AuditEntry, at: dt.datetime) -> None:
        """Insert; Conflict if the name exists."""

    def get_reviewer(self, name: str) -> StoredReviewer | None: ...

    def list_reviewers(self) -> list[Reviewer]: ...

    def update_reviewer(
        self,
        name: str,
        event: AuditEntry,
        at: dt.datetime,
        *,
        role: str | None = None,
        active: bool | None = None,
        password_hash: str | None = None,
        display_name: str | None = None,
        email: str | None = None,
        end_sessions: bool = False,
    ) -> Reviewer:
        """Change the given fields (NotFound if no such name); optionally end its sessions."""

    def rehash_password(self, name: str, password_hash: str, at: dt.datetime) -> None:
        """Store a stronger hash of the same password (no audit: nothing changed for anyone)."""

    def get_throttle(self, login: str) -> Throttle | None: ...

    def record_login_failure(
        self,
        login: str,
        at: dt.datetime,
        rule: Callable[[Throttle | None], Throttle],
        event: AuditEntry,
    ) -> Throttle:
        """Replace the throttle row by ``rule(current row)`` and audit, in one transaction."""

    def create_session(self, stored: StoredSession, event: AuditEntry, at: dt.datetime) -> None:
        """Insert the session, clear the login's throttle row, set last_login_at, and drop
        expired sessions, in one transaction."""

    def get_session(self, token_hash: str) -> StoredSession | None: ...

    def touch_session(self, token_hash: str, at: dt.datetime) -> None: ...

    def delete_session(
        self, token_hash: str, event: AuditEntry | None, at: dt.datetime
    ) -> None: ...
