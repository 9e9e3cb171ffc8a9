"""The review console's storage: reviewer accounts, sessions and login throttling.

Implements :class:`padlock.ca.ports.reviewers.ReviewerStore` on the tables of
``tables_review`` through :mod:`padlock.store.statements` (one transaction per method,
the audit event in the same transaction as the change it records).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import ClauseElement, bindparam, delete, insert, select, update

from padlock.ca.ports import AuditEntry, Store
from padlock.ca.ports.reviewers import (
    Reviewer,
    ReviewerStore,
    StoredReviewer,
    StoredSession,
    Throttle,
)
from padlock.errors import Conflict, NotFound, StorageError
from padlock.store.certificates import SqlStore
from padlock.store.statements import Row, Statements, bound
from padlock.store.tables_review import login_throttle, review_sessions, reviewers

_r = reviewers.c
_s = review_sessions.c
_t = login_throttle.c

_STATEMENTS: dict[str, ClauseElement] = {
    "reviewer": select(reviewers).where(_r.name == bindparam("p_name")),
    "reviewers": select(reviewers).order_by(_r.name),
    "insert_reviewer": insert(reviewers),
    "rehash": update(reviewers)
    .where(_r.name == bindparam("p_name"))
    .values(password_hash=bindparam("p_hash")),
    "logged_in": update(reviewers)
    .where(_r.name == bindparam("p_name"))
    .values(last_login_at=bindparam("p_at")),
    "throttle": select(login_throttle).where(_t.login == bindparam("p_login")),
    "lock_throttle": select(login_throttle)
    .where(_t.login == bindparam("p_login"))
    .with_for_update(),
    "insert_throttle": insert(login_throttle),
    "update_throttle": update(login_throttle)
    .where(_t.login == bindparam("p_login"))
    .values(bound("failures", "last_failure_at", "locked_until")),
    "clear_throttle": delete(login_throttle).where(_t.login == bindparam("p_login")),
    "session": select(review_sessions).where(_s.token_hash == bindparam("p_token")),
    "insert_session": insert(review_sessions),
    "touch_session": update(review_sessions)
    .where(_s.token_hash == bindparam("p_token"))
    .values(last_seen_at=bindparam("p_at")),
    "delete_session": delete(review_sessions).where(_s.token_hash == bindparam("p_token")),
    "delete_sessions_of": delete(review_sessions).where(_s.reviewer == bindparam("p_name")),
    "delete_expired_sessions": delete(review_sessions).where(_s.expires_at <= bindparam("p_at")),
}


def _reviewer(row: Row) -> Reviewer:
    return Reviewer(
        name=row["name"],
        display_name=row["display_name"],
        email=row["email"],
        role=row["role"],
        active=bool(row["active"]),
        created_at=row["created_at"],
        last_login_at=row["last_login_at"],
    )


def _changed_columns(
    at: dt.datetime,
    role: str | None,
    active: bool | None,
    password_hash: str | None,
    display_name: str | None,
    email: str | None,
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if role is not None:
        values["role"] = role
    if active is not None:
        values["active"] = active
    if password_hash is not None:
        values["password_hash"] = password_hash
        values["password_changed_at"] = at
    if display_name is not None:
        values["display_name"] = display_name
    if email is not None:
        values["email"] = email
    return values


def _update_reviewer(columns: tuple[str, ...]) -> ClauseElement:
    """UPDATE of these columns of one reviewer (each bound by its own name)."""
    return (
        update(reviewers)
        .where(_r.name == bindparam("p_name"))
        .values({c: bindparam(c, type_=_r[c].type) for c in columns})
    )


class SqlReviewerStore:
    """Reviewer accounts and sessions in the CA's database."""

    def __init__(self, store: SqlStore | Store) -> None:
        if not isinstance(store, SqlStore):
            raise StorageError("The review console needs the SQL store.")
        self._sql = Statements(store, _STATEMENTS)

    def add_reviewer(self, stored: StoredReviewer, event: AuditEntry, at: dt.datetime) -> None:
        r = stored.reviewer
        with self._sql.write("adding a reviewer") as tx:
            if tx.one("reviewer", {"p_name": r.name}) is not None:
                raise Conflict(f"There is a reviewer {r.name!r} already.")
            tx.run(
                "insert_reviewer",
                {
                    "name": r.name,
                    "display_name": r.display_name,
                    "email": r.email,
                    "role": r.role,
                    "password_hash": stored.password_hash,
                    "active": r.active,
                    "created_at": r.created_at,
                    "password_changed_at": at,
                    "last_login_at": None,
                },
            )
            tx.audit(event, at)

    def get_reviewer(self, name: str) -> StoredReviewer | None:
        row = self._sql.one("reviewer", {"p_name": name}, "reading a reviewer")
        return None if row is None else StoredReviewer(_reviewer(row), row["password_hash"])

    def list_reviewers(self) -> list[Reviewer]:
        return [_reviewer(r) for r in self._sql.all("reviewers", {}, "listing reviewers")]

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
        values = _changed_columns(at, role, active, password_hash, display_name, email)
        with self._sql.write("changing a reviewer") as tx:
            if values:
                columns = tuple(sorted(values))
                stmt = self._sql.shaped(
                    ("update_reviewer", columns), lambda: _update_reviewer(columns)
                )
                if tx.run(stmt, {"p_name": name, **values}) != 1:
                    raise NotFound(f"There is no reviewer {name!r}.")
            if end_sessions:
                tx.run("delete_sessions_of", {"p_name": name})
            tx.audit(event, at)
            row = tx.one("reviewer", {"p_name": name})
        if row is None:
            raise NotFound(f"There is no reviewer {name!r}.")
        return _reviewer(row)

    def rehash_password(self, name: str, password_hash: str, at: dt.datetime) -> None:
        with self._sql.write("updating a password hash") as tx:
            tx.run("rehash", {"p_name": name, "p_hash": password_hash})

    def get_throttle(self, login: str) -> Throttle | None:
        row = self._sql.one("throttle", {"p_login": login}, "reading failed logins")
        return None if row is None else _throttle(row)

    def record_login_failure(
        self,
        login: str,
        at: dt.datetime,
        rule: Callable[[Throttle | None], Throttle],
        event: AuditEntry,
    ) -> Throttle:
        with self._sql.write("counting a failed login") as tx:
            # The audit head is locked first (FOR UPDATE on PostgreSQL; SQLite's write
            # transaction is exclusive), so concurrent failures for one name serialise.
            tx.audit(event, at)
            row = tx.one("lock_throttle", {"p_login": login})
            after = rule(None if row is None else _throttle(row))
            if row is None:
                tx.run(
                    "insert_throttle",
                    {
                        "login": login,
                        "failures": after.failures,
                        "last_failure_at": after.last_failure_at,
                        "locked_until": after.locked_until,
                    },
                )
            else:
                tx.run(
                    "update_throttle",
                    {
                        "p_login": login,
                        "p_failures": after.failures,
                        "p_last_failure_at": after.last_failure_at,
                        "p_locked_until": after.locked_until,
                    },
                )
        return after

    def create_session(self, stored: StoredSession, event: AuditEntry, at: dt.datetime) -> None:
        with self._sql.write("starting a session") as tx:
            tx.run("delete_expired_sessions", {"p_at": at})
            tx.run(
                "insert_session",
                {
                    "token_hash": stored.token_hash,
                    "reviewer": stored.reviewer,
                    "csrf_token": stored.csrf_token,
                    "created_at": stored.created_at,
                    "last_seen_at": stored.last_seen_at,
                    "expires_at": stored.expires_at,
                    "client": stored.client,
                },
            )
            tx.run("clear_throttle", {"p_login": stored.reviewer})
            tx.run("logged_in", {"p_name": stored.reviewer, "p_at": at})
            tx.audit(event, at)

    def get_session(self, token_hash: str) -> StoredSession | None:
        row = self._sql.one("session", {"p_token": token_hash}, "reading a session")
        if row is None:
            return None
        return StoredSession(
            token_hash=row["token_hash"],
            reviewer=row["reviewer"],
            csrf_token=row["csrf_token"],
            created_at=row["created_at"],
            last_seen_at=row["last_seen_at"],
            expires_at=row["expires_at"],
            client=row["client"],
        )

    def touch_session(self, token_hash: str, at: dt.datetime) -> None:
        with self._sql.write("refreshing a session") as tx:
            tx.run("touch_session", {"p_token": token_hash, "p_at": at})

    def delete_session(self, token_hash: str, event: AuditEntry | None, at: dt.datetime) -> None:
        with self._sql.write("ending a session") as tx:
            tx.run("delete_session", {"p_token": token_hash})
            if event is not None:
                tx.audit(event, at)


def _throttle(row: Row) -> Throttle:
    return Throttle(row["login"], int(row["failures"]), row["last_failure_at"], row["locked_until"])


def _is_a_reviewer_store(store: SqlReviewerStore) -> ReviewerStore:
    return store  # mypy checks that SqlReviewerStore implements the port
