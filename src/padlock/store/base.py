"""SQLAlchemy Core transactions on a :class:`~padlock.store.database.Database`: UTC
times, JSON, and one write transaction (a ``Connection``) that can append audit events.

The hot paths run compiled SQL on the database's raw cursors (``Database.write``,
``transaction``, ``read``); the enrollment, revocation, review and identity
repositories write their less frequent steps with Core statements here. Both keep
the same two rules: one transaction per use-case step, and the audit event that
records a change written in the same transaction as the change, by the one append
(``Database.append``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, exc

from padlock.ca.ports import AuditEntry
from padlock.errors import Conflict, PadlockError
from padlock.store.engine import READ_ONLY, storage_error

if TYPE_CHECKING:
    from padlock.store.database import Database

UTC = dt.UTC


def to_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def from_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class Tx:
    """One write transaction: ``tx.conn`` runs Core statements, ``tx.audit`` chains an event."""

    def __init__(self, conn: Connection, database: Database) -> None:
        self.conn = conn
        self._database = database

    def audit(self, entry: AuditEntry, at: dt.datetime) -> int:
        """Append ``entry`` to the hash-chained log inside this transaction; its seq.

        The database's one append, on a cursor of this transaction's own connection."""
        cursor = self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            return self._database.append(cursor, entry, at)[0]
        finally:
            cursor.close()


@contextlib.contextmanager
def write(store: Database, doing: str) -> Iterator[Tx]:
    """A committed write transaction; database errors become StorageError (or Conflict)."""
    try:
        with store.engine.begin() as conn:
            yield Tx(conn, store)
    except PadlockError:
        raise
    except exc.IntegrityError as err:
        raise Conflict(f"The database refused {doing}: it conflicts with stored data.") from err
    except exc.SQLAlchemyError as err:
        raise storage_error(err, store.engine.url, doing) from err


@contextlib.contextmanager
def read(store: Database, doing: str) -> Iterator[Connection]:
    try:
        with store.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
            yield conn
    except PadlockError:
        raise
    except exc.SQLAlchemyError as err:
        raise storage_error(err, store.engine.url, doing) from err
