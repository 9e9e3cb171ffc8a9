"""``Database``: padlock's one way to its SQL database, and the one audit append.

Every repository (certificates, enrollment, ACME, revocation, review, identity) works
through this class's public methods, never around them (most through
``store/statements.py``, which runs a repository's Core statements on them):

- ``write(work, doing)``: ``work(cursor)`` in one committed write transaction on this
  thread's pooled connection (SQLite: padlock's writer lock, then ``BEGIN IMMEDIATE``);
- ``transaction(make, write=...)``: the same as a ``with`` block, for a repository's
  transaction object built around the cursor (the ACME store's);
- ``read(work, doing)``, ``read_row`` and ``snapshot(work, doing)``: one SELECT, or
  several in one read-only snapshot;
- ``stream(work, doing)``: a long read (the audit log, a CRL's entries) in a snapshot on
  a connection of its own, so the caller may use the store while it iterates;
- ``append(cursor, entry, at)``: the audit event that records a change, chained in the
  caller's transaction. It is the only code that writes ``audit_events``.

Statements run as SQL compiled once per dialect on the DBAPI cursor: the CA aims at
thousands of issuances a second, and SQLAlchemy's result machinery costs several
times more than SQLite itself there. Every append reads the audit head (locking it
on PostgreSQL with ``SELECT ... FOR UPDATE``; on SQLite ``BEGIN IMMEDIATE`` holds the
one write lock already), appends event ``head.seq + 1`` chained to ``head.hash`` and
moves the head, so appends serialise and the chain has no gaps and no forks.

Errors: whatever SQLAlchemy or the driver raises leaves as
:class:`~padlock.errors.StorageError` (or ``Conflict``), raised ``from`` the original.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Self, TypeVar

from sqlalchemy import ClauseElement, Engine, bindparam, exc, insert, literal_column, select, update
from sqlalchemy.engine import URL, Dialect

from padlock.ca.audit import (
    VerifyResult,
    canonical_json,
    chain_hash_encoded,
    utc_text,
    verify_chain,
)
from padlock.ca.ports import AuditEntry, AuditEvent
from padlock.errors import Conflict, PadlockError, StorageError
from padlock.store.engine import WalCheckpointer, WriterLock, storage_error, writer_lock_path
from padlock.store.tables import audit_events, audit_head

T = TypeVar("T")

UTC = dt.UTC
EVENT_PAGE = 1000  # events fetched per round trip by iter_events

_e = audit_events.c
_h = audit_head.c

_EVENT_COLUMNS = (
    _e.seq,
    _e.at,
    _e.action,
    _e.actor,
    _e.object_type,
    _e.object_id,
    _e.details,
    _e.prev_hash,
    _e.hash,
)


_HEAD_ROW = _h.id == literal_column("1")

# Parameters of UPDATE statements carry a "p_" prefix: SQLAlchemy reserves the
# plain column names for the SET clause.
_AUDIT_STATEMENTS: dict[str, ClauseElement] = {
    "lock_head": select(_h.seq, _h.hash).where(_HEAD_ROW).with_for_update(),
    "read_head": select(_h.seq, _h.hash).where(_HEAD_ROW),
    "insert_event": insert(audit_events),
    "move_head": update(audit_head)
    .where(_HEAD_ROW)
    .values(seq=bindparam("p_seq"), hash=bindparam("p_hash")),
    "events_page": select(*_EVENT_COLUMNS)
    .where(_e.seq > bindparam("p_after"))
    .order_by(_e.seq)
    .limit(bindparam("p_limit"))
    .offset(bindparam("p_offset")),  # SQLite's compiler adds an OFFSET anyway; name it
}


def compile_statements(dialect: Dialect, statements: Mapping[str, ClauseElement]) -> dict[str, str]:
    """Each statement's SQL text for the DBAPI cursor of ``dialect``.

    Every parameter must be one the caller passes by name: a "p_" name, or a column
    of an INSERT (a statement whose name starts with ``insert_``).
    """
    text: dict[str, str] = {}
    for name, stmt in statements.items():
        compiled = stmt.compile(dialect=dialect)
        stray = [
            key
            for key in compiled.params
            if not key.startswith("p_") and not name.startswith("insert_")
        ]
        if stray:  # pragma: no cover - a programming error, caught by any test
            raise RuntimeError(f"statement {name} has unnamed parameters {stray}")
        text[name] = str(compiled)
    return text


def _aware(value: dt.datetime, what: str) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (UTC), got naive {value!r}")
    return value


class _SqliteTimes:
    """SQLite keeps UTC as text, in SQLAlchemy's own SQLite format."""

    # datetime.replace() costs more than the rest of a conversion: the offset is cut
    # from the text, and put on the text before parsing, instead.

    @staticmethod
    def out(value: dt.datetime, what: str) -> str:
        if value.tzinfo is not UTC:
            value = _aware(value, what).astimezone(UTC)
        return utc_text(value)

    @staticmethod
    def back(value: str) -> dt.datetime:
        try:
            return dt.datetime.fromisoformat(value + "+00:00")  # tzinfo is dt.UTC itself
        except ValueError:  # not written by padlock's store: take its fields as UTC
            return dt.datetime.fromisoformat(value).replace(tzinfo=UTC)


class _PgTimes:
    """PostgreSQL keeps ``timestamptz``; psycopg returns it in the session's zone."""

    @staticmethod
    def out(value: dt.datetime, what: str) -> dt.datetime:
        return _aware(value, what)

    @staticmethod
    def back(value: dt.datetime) -> dt.datetime:
        return value.astimezone(UTC)


# chain_hash's own canonical form, so the stored text reads back to a value that
# hashes the same, and the text is made once for both the row and the hash.
_details_json = canonical_json

# What the drivers call a duplicate key: psycopg's SQLSTATE, sqlite3's error name.
_DUPLICATE_KEY = frozenset({"23505", "SQLITE_CONSTRAINT_PRIMARYKEY", "SQLITE_CONSTRAINT_UNIQUE"})


def is_duplicate_key(err: BaseException) -> bool:
    code = getattr(err, "sqlstate", None) or getattr(err, "sqlite_errorname", None)
    return code in _DUPLICATE_KEY


class _Link:
    """One thread's pooled connection, returned to the pool when the thread ends.

    On PostgreSQL the connection is put in autocommit mode while the thread
    holds it: a read is then one round trip instead of three (BEGIN, SELECT,
    ROLLBACK), and a write says BEGIN and COMMIT itself. It goes back to the
    pool in the driver's ordinary mode, as SQLAlchemy expects it.
    """

    __slots__ = ("__weakref__", "autocommit", "cursor", "driver", "fairy", "writer")

    def __init__(self, fairy: Any, autocommit: bool, writer: WriterLock | None = None) -> None:
        self.fairy = fairy
        self.driver = fairy.driver_connection
        self.autocommit = autocommit
        if autocommit:
            self.driver.autocommit = True
        self.cursor = self.driver.cursor()
        self.writer = writer

    def release(self) -> None:
        if self.writer is not None:
            self.writer.close()
        fairy, self.fairy = self.fairy, None
        if fairy is not None:
            try:
                self.cursor.close()
                if self.autocommit:
                    self.driver.autocommit = False
                fairy.close()
            except Exception:
                # Not fit to go back to the pool (or the pool is gone): discard it.
                with contextlib.suppress(Exception):
                    fairy.invalidate()

    def __del__(self) -> None:
        self.release()


class Database:
    """One database's connections, transactions and audit log; the base of ``SqlStore``."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._url: URL = engine.url
        self._sqlite = engine.dialect.name == "sqlite"
        self._dbapi_error: type[Exception] = engine.dialect.loaded_dbapi.Error
        self._integrity_error: type[Exception] = engine.dialect.loaded_dbapi.IntegrityError
        self._disconnect_errors: tuple[type[Exception], ...] = (
            engine.dialect.loaded_dbapi.OperationalError,
            engine.dialect.loaded_dbapi.InterfaceError,
        )
        # How times go in and out of this database's rows (``out(when, what)``, ``back``).
        self.times: type[_SqliteTimes] | type[_PgTimes] = _SqliteTimes if self._sqlite else _PgTimes
        self._begin = "BEGIN IMMEDIATE" if self._sqlite else "BEGIN"
        self._writer_lock = writer_lock_path(engine.url)
        self._local = threading.local()
        self._links: weakref.WeakSet[_Link] = weakref.WeakSet()
        self._links_lock = threading.Lock()
        self._closed = False
        # Compile after a first connection: the dialect learns the server's
        # version (RETURNING needs SQLite >= 3.35) when it first connects.
        self._with_link(lambda link: None, "connecting")
        self._audit_sql = compile_statements(engine.dialect, _AUDIT_STATEMENTS)
        self._checkpointer: WalCheckpointer | None = None
        if self._sqlite:
            self._checkpointer = WalCheckpointer(engine)
            # Stop the thread even if nobody calls close().
            self._stop_checkpointer = weakref.finalize(self, self._checkpointer.stop)

    # -- connections and transactions ---------------------------------------------------

    @property
    def url(self) -> str:
        return self._url.render_as_string(hide_password=True)

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for migrations, administration and tests)."""
        return self._engine

    @property
    def dialect(self) -> Dialect:
        """The engine's dialect, to compile a repository's statements for."""
        return self._engine.dialect

    @property
    def is_sqlite(self) -> bool:
        return self._sqlite

    def _link(self) -> _Link:
        link: _Link | None = getattr(self._local, "link", None)
        if link is not None and link.fairy is not None:
            return link
        if self._closed:
            raise StorageError(f"The store for {self.url} is closed.")
        lock = WriterLock(self._writer_lock) if self._writer_lock else None
        link = _Link(self._engine.raw_connection(), autocommit=not self._sqlite, writer=lock)
        with self._links_lock:
            self._links.add(link)
        self._local.link = link
        return link

    def _drop_link(self, link: _Link) -> None:
        """Throw away a connection that can no longer be trusted; the next call opens another."""
        if getattr(self._local, "link", None) is link:
            self._local.link = None
        fairy, link.fairy = link.fairy, None
        if fairy is not None:
            with contextlib.suppress(Exception):  # it is being thrown away anyway
                fairy.invalidate()

    def _check_link(self, link: _Link | None) -> None:
        """After an error: keep the connection only if it is still usable."""
        if link is None or link.fairy is None:
            return
        driver = link.driver
        if getattr(driver, "closed", False) or getattr(driver, "broken", False):
            self._drop_link(link)

    def _with_link(self, work: Callable[[_Link], T], doing: str) -> T:
        try:
            return work(self._link())
        except PadlockError:
            raise
        except (exc.SQLAlchemyError, self._dbapi_error) as err:
            raise storage_error(err, self._url, doing) from err

    def write(self, work: Callable[[Any], T], doing: str) -> T:
        """Run ``work(cursor)`` in one write transaction and commit it."""
        link = None
        try:
            link = self._link()
            # What transaction() does, without a generator per transaction (two an issuance).
            writer = link.writer
            held = writer is not None and writer.acquire()
            try:
                cursor = link.cursor
                # SQLite: take the write lock now (waiting up to the busy timeout),
                # not half-way through, where SQLite could only fail.
                cursor.execute(self._begin)
                # The audit head of this transaction, read once and written once (below),
                # however many events it appends (a test certificate's completion: three).
                head: list[Any] = [cursor, None, None]
                self._local.head = head
                try:
                    result = work(cursor)
                    if head[1] is not None:
                        cursor.execute(
                            self._audit_sql["move_head"], {"p_seq": head[1], "p_hash": head[2]}
                        )
                    self._commit(link)
                except BaseException:
                    self._rollback(link)
                    raise
                finally:
                    self._local.head = None
            finally:
                if held and writer is not None:
                    writer.release()
            return result
        except PadlockError:
            raise
        except (exc.SQLAlchemyError, self._dbapi_error) as err:
            self._check_link(link)
            raise storage_error(err, self._url, doing) from err

    @contextlib.contextmanager
    def transaction(
        self, make: Callable[[Any], T], *, write: bool, doing: str, conflict: str
    ) -> Iterator[T]:
        """``make(cursor)`` for a ``with`` block: one transaction on this thread's
        connection, committed when the block ends. A write takes padlock's writer lock
        (SQLite files) and the write lock; a read is a snapshot that never waits for
        writers. A uniqueness clash leaves as Conflict(``conflict``)."""
        link = None
        try:
            link = self._link()
            writer = link.writer if write else None
            held = writer is not None and writer.acquire()
            try:
                cursor = link.cursor
                # SQLite: a write takes the lock now; a deferred BEGIN is a read snapshot.
                cursor.execute(self._begin if write else "BEGIN")
                try:
                    yield make(cursor)
                    self._commit(link)
                except BaseException:
                    self._rollback(link)
                    raise
            finally:
                if held and writer is not None:
                    writer.release()
        except PadlockError:
            raise
        except self._integrity_error as err:
            self._check_link(link)
            raise Conflict(conflict) from err
        except (exc.SQLAlchemyError, self._dbapi_error) as err:
            self._check_link(link)
            raise storage_error(err, self._url, doing) from err

    def read(self, work: Callable[[Any], T], doing: str) -> T:
        """Run ``work(cursor)``: a single SELECT, outside any transaction."""
        link = None
        try:
            link = self._link()
            # No transaction: each read is one SELECT, which stands alone.
            return work(link.cursor)
        except PadlockError:
            raise
        except (exc.SQLAlchemyError, self._dbapi_error) as err:
            self._check_link(link)
            raise storage_error(err, self._url, doing) from err

    def read_row(self, sql: str, params: Mapping[str, Any], doing: str) -> Any:
        """The first row of one SELECT (SQL compiled for this store's dialect), or None,
        on this thread's connection: for the other repositories' hot reads."""

        def work(cursor: Any) -> Any:
            cursor.execute(sql, params)
            rows = cursor.fetchall()  # to the end: SQLite's statement is reset, its snapshot let go
            return rows[0] if rows else None

        return self.read(work, doing)

    def snapshot(self, work: Callable[[Any], T], doing: str) -> T:
        """Run ``work(cursor)``, several SELECTs, in one read-only snapshot (SQLite: a
        deferred transaction, which never waits for writers; PostgreSQL: REPEATABLE READ)."""
        link = None
        try:
            link = self._link()
            cursor = link.cursor
            cursor.execute(
                "BEGIN" if self._sqlite else "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
            )
            try:
                return work(cursor)
            finally:
                self._rollback(link)
        except PadlockError:
            raise
        except (exc.SQLAlchemyError, self._dbapi_error) as err:
            self._check_link(link)
            raise storage_error(err, self._url, doing) from err

    def _commit(self, link: _Link) -> None:
        # A statement, not sqlite3's Connection.commit(), which prepares "COMMIT" anew
        # every time; every caller has begun a transaction.
        link.cursor.execute("COMMIT")

    def _rollback(self, link: _Link) -> None:
        try:
            if self._sqlite:
                link.driver.rollback()  # only if a transaction is still open
            else:
                link.cursor.execute("ROLLBACK")
        except self._dbapi_error:
            # A connection that cannot roll back may still be inside the failed
            # transaction: never hand it out again.
            self._drop_link(link)

    def close(self) -> None:
        """Return every connection and close the pool; later calls raise StorageError."""
        self._closed = True
        if self._checkpointer is not None:
            self._stop_checkpointer()
        with self._links_lock:
            links = list(self._links)
        for link in links:
            link.release()
        self._local = threading.local()
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _event(self, row: Sequence[Any]) -> AuditEvent:
        return AuditEvent(
            seq=row[0],
            at=self.times.back(row[1]),
            action=row[2],
            actor=row[3],
            object_type=row[4],
            object_id=row[5],
            details=json.loads(row[6]),
            prev_hash=row[7],
            hash=row[8],
        )

    # -- the audit log -----------------------------------------------------------------

    def append(
        self, cursor: Any, entry: AuditEntry, at: dt.datetime, at_db: Any = None
    ) -> tuple[int, str, str, str]:
        """Append ``entry`` in the write transaction ``cursor`` is in; (seq, prev_hash,
        hash, details). The one place an audit event is written: ``details`` is stored as
        the canonical JSON the hash covers (``ca.audit.canonical_json``). ``at_db`` is
        ``self.times.out(at)`` when the caller has it already."""
        if at_db is None:
            at_db = self.times.out(at, "at")
        pending = getattr(self._local, "head", None)
        if pending is not None and pending[0] is not cursor:
            pending = None  # another transaction's cursor: on its own, as ever
        if pending is not None and pending[1] is not None:
            seq, prev = pending[1] + 1, pending[2]  # the head is locked: nobody else moved it
        else:
            cursor.execute(self._audit_sql["lock_head"])
            head = cursor.fetchone()
            if head is None:
                raise StorageError(
                    "The audit head row is missing: the database was not created by padlock"
                    " or has been tampered with.",
                    hint="Run `padlock audit verify`; restore the database from a backup.",
                )
            seq = head[0] + 1
            prev = head[1]
        details = _details_json(entry.details)
        # The stored text reads back to a value with the same canonical JSON, so the
        # hash of the caller's mapping is the hash verify_chain recomputes.
        digest = chain_hash_encoded(
            prev,
            seq,
            at,
            entry.action,
            entry.actor,
            entry.object_type,
            entry.object_id,
            details,
        )
        cursor.execute(
            self._audit_sql["insert_event"],
            {
                "seq": seq,
                "at": at_db,
                "action": entry.action,
                "actor": entry.actor,
                "object_type": entry.object_type,
                "object_id": entry.object_id,
                "details": details,
                "prev_hash": prev,
                "hash": digest,
            },
        )
        if pending is None:
            cursor.execute(self._audit_sql["move_head"], {"p_seq": seq, "p_hash": digest})
        else:
            pending[1], pending[2] = seq, digest  # written by write() before it commits
        return seq, prev, digest, details

    def append_event(self, event: AuditEntry, at: dt.datetime) -> AuditEvent:
        at_db = self.times.out(at, "at")
        seq, prev, digest, details = self.write(
            lambda cursor: self.append(cursor, event, at, at_db), "appending an audit event"
        )
        return AuditEvent(
            seq,
            at,
            event.action,
            event.actor,
            event.object_type,
            event.object_id,
            json.loads(details),
            prev,
            digest,
        )

    def audit_head(self) -> tuple[int, str]:
        def work(cursor: Any) -> tuple[int, str]:
            cursor.execute(self._audit_sql["read_head"])
            row = cursor.fetchone()
            if row is None:
                raise StorageError(
                    "The audit head row is missing: the database was not created by padlock"
                    " or has been tampered with."
                )
            return int(row[0]), str(row[1])

        return self.read(work, "reading the audit head")

    def iter_events(self) -> Iterator[AuditEvent]:
        """All events in seq order, fetched a page at a time from one consistent snapshot."""
        yield from self._snapshot_events(with_head=None)

    def verify_audit(self) -> VerifyResult:
        """Check the chain against the head, both read from one snapshot.

        ``verify_chain(store.iter_events(), store.audit_head())`` reads the head
        and the events at different moments, so events appended meanwhile by
        another process make it report a mismatch; this does not.
        """
        heads: list[tuple[int, str]] = []
        events = self._snapshot_events(with_head=heads)
        first = next(events, None)
        if not heads:  # pragma: no cover - the generator records the head before any event
            raise StorageError("The audit head could not be read.")

        def chained() -> Iterator[AuditEvent]:
            if first is not None:
                yield first
                yield from events

        return verify_chain(chained(), heads[0])

    def _snapshot_events(self, with_head: list[tuple[int, str]] | None) -> Iterator[AuditEvent]:
        def work(cursor: Any) -> Iterator[AuditEvent]:
            if with_head is not None:
                cursor.execute(self._audit_sql["read_head"])
                row = cursor.fetchone()
                with_head.append((int(row[0]), str(row[1])) if row else (0, ""))
            after = 0
            while True:
                cursor.execute(
                    self._audit_sql["events_page"],
                    {"p_after": after, "p_limit": EVENT_PAGE, "p_offset": 0},
                )
                rows = cursor.fetchall()
                for row in rows:
                    yield self._event(row)
                if len(rows) < EVENT_PAGE:
                    break
                after = rows[-1][0]

        return self.stream(work, "reading the audit log")

    def stream(self, work: Callable[[Any], Iterator[T]], doing: str) -> Iterator[T]:
        """What ``work(cursor)`` yields, read in one read-only snapshot on a connection of
        its own, so the caller may use the store while it iterates (the audit log, a CRL's
        revoked certificates). The connection goes back when the iterator ends or is closed."""
        if self._closed:
            raise StorageError(f"The store for {self.url} is closed.")
        try:
            fairy = self._engine.raw_connection()
        except (exc.SQLAlchemyError, self._dbapi_error) as err:
            raise storage_error(err, self._url, doing) from err
        try:
            driver: Any = fairy.driver_connection
            cursor = driver.cursor()
            try:
                if self._sqlite:
                    cursor.execute("BEGIN")  # deferred: a read snapshot, no lock on writers
                else:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield from work(cursor)
            finally:
                try:
                    driver.rollback()
                finally:
                    cursor.close()
        except (exc.SQLAlchemyError, self._dbapi_error) as err:
            raise storage_error(err, self._url, doing) from err
        finally:
            fairy.close()
