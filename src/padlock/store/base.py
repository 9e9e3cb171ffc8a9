"""What the repositories beside the certificate store share: UTC times, JSON, and
one write transaction (a SQLAlchemy ``Connection``) that can append audit events.

The certificate store's hot path runs on raw driver cursors for speed; the
enrollment, ACME and revocation repositories use this simpler API, which keeps
the same two rules: one transaction per use-case step, and the audit event that
records a change written in the same transaction as the change.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, DateTime, exc, insert, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from padlock.ca.audit import chain_hash
from padlock.ca.ports import AuditEntry
from padlock.errors import Conflict, PadlockError, StorageError
from padlock.store.engine import READ_ONLY, storage_error
from padlock.store.tables import audit_events, audit_head

if TYPE_CHECKING:
    from padlock.store.repositories import SqlStore

UTC = dt.UTC


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in and out, on SQLite (no time zones) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use UTC-aware times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        when: dt.datetime = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def to_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def from_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class Tx:
    """One write transaction: ``tx.conn`` runs Core statements, ``tx.audit`` chains an event."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def audit(self, entry: AuditEntry, at: dt.datetime) -> int:
        """Append ``entry`` to the hash-chained log inside this transaction; its seq."""
        head = self.conn.execute(
            select(audit_head.c.seq, audit_head.c.hash)
            .where(audit_head.c.id == 1)
            .with_for_update()
        ).first()
        if head is None:
            raise StorageError("The audit head row is missing; run `padlock audit verify`.")
        seq = int(head[0]) + 1
        digest = chain_hash(
            head[1],
            seq,
            at,
            entry.action,
            entry.actor,
            entry.object_type,
            entry.object_id,
            entry.details,
        )
        at_db: Any = at.astimezone(UTC)
        if self.conn.dialect.name == "sqlite":
            at_db = at_db.replace(tzinfo=None)
        self.conn.execute(
            insert(audit_events).values(
                seq=seq,
                at=at_db,
                action=entry.action,
                actor=entry.actor,
                object_type=entry.object_type,
                object_id=entry.object_id,
                details=json.dumps(entry.details, sort_keys=True, default=str),
                prev_hash=head[1],
                hash=digest,
            )
        )
        self.conn.execute(
            update(audit_head).where(audit_head.c.id == 1).values(seq=seq, hash=digest)
        )
        return seq


@contextlib.contextmanager
def write(store: SqlStore, doing: str) -> Iterator[Tx]:
    """A committed write transaction; database errors become StorageError (or Conflict)."""
    try:
        with store.engine.begin() as conn:
            yield Tx(conn)
    except PadlockError:
        raise
    except exc.IntegrityError as err:
        raise Conflict(f"The database refused {doing}: it conflicts with stored data.") from err
    except exc.SQLAlchemyError as err:
        raise storage_error(err, store.engine.url, doing) from err


@contextlib.contextmanager
def read(store: SqlStore, doing: str) -> Iterator[Connection]:
    try:
        with store.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
            yield conn
    except PadlockError:
        raise
    except exc.SQLAlchemyError as err:
        raise storage_error(err, store.engine.url, doing) from err
