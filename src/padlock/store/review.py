"""The review console's storage: reviewer accounts, sessions and login throttling.

Implements :class:`padlock.ca.reviewers.ReviewerStore` on the tables of
``tables_review`` with :mod:`padlock.store.base` (one transaction per method, the audit
event in the same transaction as the change it records).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Row

from padlock.ca.ports import AuditEntry, Store
from padlock.ca.reviewers import (
    Reviewer,
    ReviewerStore,
    StoredReviewer,
    StoredSession,
    Throttle,
)
from padlock.errors import Conflict, NotFound, StorageError
from padlock.store import base
from padlock.store.certificates import SqlStore
from padlock.store.tables_review import login_throttle, review_sessions, reviewers


def _reviewer(row: Row[Any]) -> Reviewer:
    return Reviewer(
        name=row.name,
        display_name=row.display_name,
        email=row.email,
        role=row.role,
        active=bool(row.active),
        created_at=row.created_at,
        last_login_at=row.last_login_at,
    )


class SqlReviewerStore:
    """Reviewer accounts and sessions in the CA's database."""

    def __init__(self, store: SqlStore | Store) -> None:
        if not isinstance(store, SqlStore):
            raise StorageError("The review console needs the SQL store.")
        self._store = store

    def add_reviewer(self, stored: StoredReviewer, event: AuditEntry, at: dt.datetime) -> None:
        r = stored.reviewer
        with base.write(self._store, "adding a reviewer") as tx:
            exists = tx.conn.execute(
                select(reviewers.c.name).where(reviewers.c.name == r.name)
            ).first()
            if exists is not None:
                raise Conflict(f"There is a reviewer {r.name!r} already.")
            tx.conn.execute(
                insert(reviewers).values(
                    name=r.name,
                    display_name=r.display_name,
                    email=r.email,
                    role=r.role,
                    password_hash=stored.password_hash,
                    active=r.active,
                    created_at=r.created_at,
                    password_changed_at=at,
                    last_login_at=None,
                )
            )
            tx.audit(event, at)

    def get_reviewer(self, name: str) -> StoredReviewer | None:
        with base.read(self._store, "reading a reviewer") as conn:
            row = conn.execute(select(reviewers).where(reviewers.c.name == name)).first()
        return None if row is None else StoredReviewer(_reviewer(row), row.password_hash)

    def list_reviewers(self) -> list[Reviewer]:
        with base.read(self._store, "listing reviewers") as conn:
            rows = conn.execute(select(reviewers).order_by(reviewers.c.name)).all()
        return [_reviewer(r) for r in rows]

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
        with base.write(self._store, "changing a reviewer") as tx:
            if values:
                done = tx.conn.execute(
                    update(reviewers).where(reviewers.c.name == name).values(**values)
                )
                if done.rowcount != 1:
                    raise NotFound(f"There is no reviewer {name!r}.")
            if end_sessions:
                tx.conn.execute(delete(review_sessions).where(review_sessions.c.reviewer == name))
            tx.audit(event, at)
            row = tx.conn.execute(select(reviewers).where(reviewers.c.name == name)).first()
        if row is None:
            raise NotFound(f"There is no reviewer {name!r}.")
        return _reviewer(row)

    def rehash_password(self, name: str, password_hash: str, at: dt.datetime) -> None:
        with base.write(self._store, "updating a password hash") as tx:
            tx.conn.execute(
                update(reviewers)
                .where(reviewers.c.name == name)
                .values(password_hash=password_hash)
            )

    def get_throttle(self, login: str) -> Throttle | None:
        with base.read(self._store, "reading failed logins") as conn:
            row = conn.execute(
                select(login_throttle).where(login_throttle.c.login == login)
            ).first()
        return None if row is None else _throttle(row)

    def record_login_failure(
        self,
        login: str,
        at: dt.datetime,
        rule: Callable[[Throttle | None], Throttle],
        event: AuditEntry,
    ) -> Throttle:
        with base.write(self._store, "counting a failed login") as tx:
            # The audit head is locked first (FOR UPDATE on PostgreSQL; SQLite's write
            # transaction is exclusive), so concurrent failures for one name serialise.
            tx.audit(event, at)
            row = tx.conn.execute(
                select(login_throttle).where(login_throttle.c.login == login).with_for_update()
            ).first()
            after = rule(None if row is None else _throttle(row))
            values = {
                "failures": after.failures,
                "last_failure_at": after.last_failure_at,
                "locked_until": after.locked_until,
            }
            if row is None:
                tx.conn.execute(insert(login_throttle).values(login=login, **values))
            else:
                tx.conn.execute(
                    update(login_throttle).where(login_throttle.c.login == login).values(**values)
                )
        return after

    def create_session(self, stored: StoredSession, event: AuditEntry, at: dt.datetime) -> None:
        with base.write(self._store, "starting a session") as tx:
            tx.conn.execute(delete(review_sessions).where(review_sessions.c.expires_at <= at))
            tx.conn.execute(
                insert(review_sessions).values(
                    token_hash=stored.token_hash,
                    reviewer=stored.reviewer,
                    csrf_token=stored.csrf_token,
                    created_at=stored.created_at,
                    last_seen_at=stored.last_seen_at,
                    expires_at=stored.expires_at,
                    client=stored.client,
                )
            )
            tx.conn.execute(delete(login_throttle).where(login_throttle.c.login == stored.reviewer))
            tx.conn.execute(
                update(reviewers)
                .where(reviewers.c.name == stored.reviewer)
                .values(last_login_at=at)
            )
            tx.audit(event, at)

    def get_session(self, token_hash: str) -> StoredSession | None:
        with base.read(self._store, "reading a session") as conn:
            row = conn.execute(
                select(review_sessions).where(review_sessions.c.token_hash == token_hash)
            ).first()
        if row is None:
            return None
        return StoredSession(
            token_hash=row.token_hash,
            reviewer=row.reviewer,
            csrf_token=row.csrf_token,
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            expires_at=row.expires_at,
            client=row.client,
        )

    def touch_session(self, token_hash: str, at: dt.datetime) -> None:
        with base.write(self._store, "refreshing a session") as tx:
            tx.conn.execute(
                update(review_sessions)
                .where(review_sessions.c.token_hash == token_hash)
                .values(last_seen_at=at)
            )

    def delete_session(self, token_hash: str, event: AuditEntry | None, at: dt.datetime) -> None:
        with base.write(self._store, "ending a session") as tx:
            tx.conn.execute(
                delete(review_sessions).where(review_sessions.c.token_hash == token_hash)
            )
            if event is not None:
                tx.audit(event, at)


def _throttle(row: Row[Any]) -> Throttle:
    return Throttle(row.login, int(row.failures), row.last_failure_at, row.locked_until)


def _is_a_reviewer_store(store: SqlReviewerStore) -> ReviewerStore:
    return store  # mypy checks that SqlReviewerStore implements the port
