"""``SqlStore``: the CA's storage port on SQLite or PostgreSQL.

Every method is one transaction. Each state change writes the audit event that
records it in the same transaction: it reads the audit head (locking it on
PostgreSQL with ``SELECT ... FOR UPDATE``; on SQLite ``BEGIN IMMEDIATE`` already
holds the one write lock), appends event ``head.seq + 1`` chained to
``head.hash``, and moves the head. Appends therefore serialise, and the chain
has no gaps and no forks whatever number of threads and processes write.

Speed: issuing one certificate is two transactions (reserve, complete), and the
CA aims at thousands of issuances a second on one core. So the statements are
built once with SQLAlchemy Core, compiled once for the engine's dialect, and run
through the DBAPI cursor of a pooled connection that stays with its thread;
values are converted by hand (times, JSON) instead of through SQLAlchemy's
result machinery, which costs several times more than SQLite itself here.
Migrations and administration use ordinary SQLAlchemy connections.

Errors: whatever SQLAlchemy or the driver raises leaves this module as
:class:`~padlock.errors.StorageError` (or ``Conflict``/``NotFound``/
``AlreadyRevoked`` when the database said something the CA must act on),
raised ``from`` the original.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import (
    ClauseElement,
    Engine,
    bindparam,
    exc,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.engine import URL

from padlock.ca.audit import (
    VerifyResult,
    canonical_json,
    chain_hash_encoded,
    utc_text,
    verify_chain,
)
from padlock.ca.ports import (
    AuditEntry,
    AuditEvent,
    CertificateRecord,
    CertState,
    Reservation,
    StoreWrite,
)
from padlock.errors import AlreadyRevoked, Conflict, NotFound, PadlockError, StorageError
from padlock.store.engine import (
    WalCheckpointer,
    WriterLock,
    make_engine,
    storage_error,
    writer_lock_path,
)
from padlock.store.migrate import upgrade_engine
from padlock.store.tables import audit_events, audit_head, certificates

if TYPE_CHECKING:
    from padlock.ca.ports import Store

T = TypeVar("T")

UTC = dt.UTC
MAX_SERIAL = 1 << 160
EVENT_PAGE = 1000  # events fetched per round trip by iter_events

_c = certificates.c
_e = audit_events.c
_h = audit_head.c

# The columns of a CertificateRecord, in the order the row mapper reads them.
_RECORD_COLUMNS = (
    _c.serial,
    _c.hierarchy,
    _c.issuer,
    _c.profile,
    _c.request_id,
    _c.state,
    _c.subject,
    _c.names,
    _c.not_before,
    _c.not_after,
    _c.reserved_at,
    _c.key_fingerprint,
    _c.der,
    _c.sha256,
    _c.issued_at,
    _c.revoked_at,
    _c.revocation_reason,
)
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


def _state(state: CertState) -> Any:
    return literal_column(f"'{state.value}'")


_HEAD_ROW = _h.id == literal_column("1")

_COMPLETE = (
    update(certificates)
    .where(_c.serial == bindparam("p_serial"), _c.state == _state(CertState.RESERVED))
    .values(
        state=_state(CertState.ISSUED),
        der=bindparam("p_der"),
        sha256=bindparam("p_sha256"),
        issued_at=bindparam("p_issued_at"),
    )
)

# Parameters of UPDATE statements carry a "p_" prefix: SQLAlchemy reserves the
# plain column names for the SET clause.
_STATEMENTS: dict[str, ClauseElement] = {
    # A reservation's row: the columns it fills, the others NULL by leaving them out (a
    # NULL parameter is one the sqlite3 driver tries to adapt, at a cost).
    "insert_certificate": insert(certificates).values(
        {
            column: bindparam(column)
            for column in (
                "serial",
                "hierarchy",
                "issuer",
                "profile",
                "request_id",
                "state",
                "subject",
                "names",
                "not_before",
                "not_after",
                "reserved_at",
                "key_fingerprint",
                "tbs_der",
            )
        }
    ),
    "get_certificate": select(*_RECORD_COLUMNS).where(_c.serial == bindparam("p_serial")),
    "get_state": select(_c.state).where(_c.serial == bindparam("p_serial")),
    "list_all": select(*_RECORD_COLUMNS)
    .order_by(_c.reserved_at.desc(), _c.serial.desc())
    .limit(bindparam("p_limit"))
    .offset(bindparam("p_offset")),
    "list_state": select(*_RECORD_COLUMNS)
    .where(_c.state == bindparam("p_state"))
    .order_by(_c.reserved_at.desc(), _c.serial.desc())
    .limit(bindparam("p_limit"))
    .offset(bindparam("p_offset")),
    "complete": _COMPLETE.returning(*_RECORD_COLUMNS),
    "complete_bare": _COMPLETE,
    "revoke": update(certificates)
    .where(_c.serial == bindparam("p_serial"), _c.state == _state(CertState.ISSUED))
    .values(
        state=_state(CertState.REVOKED),
        revoked_at=bindparam("p_revoked_at"),
        revocation_reason=bindparam("p_reason"),
    )
    .returning(*_RECORD_COLUMNS),
    "abandon": update(certificates)
    .where(_c.serial == bindparam("p_serial"), _c.state == _state(CertState.RESERVED))
    .values(state=_state(CertState.ABANDONED)),
    "counts": select(_c.profile, _c.state, func.count()).group_by(_c.profile, _c.state),
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


class _Sql:
    """The statements above compiled once for one dialect: SQL text for the DBAPI cursor."""

    def __init__(self, engine: Engine) -> None:
        text: dict[str, str] = {}
        for name, stmt in _STATEMENTS.items():
            compiled = stmt.compile(dialect=engine.dialect)
            # Every parameter must be one we pass: a "p_" name, or a column of an INSERT.
            stray = [
                key
                for key in compiled.params
                if not key.startswith("p_") and not name.startswith("insert_")
            ]
            if stray:  # pragma: no cover - a programming error, caught by any test
                raise RuntimeError(f"statement {name} has unnamed parameters {stray}")
            text[name] = str(compiled)
        self.insert_certificate = text["insert_certificate"]
        self.get_certificate = text["get_certificate"]
        self.get_state = text["get_state"]
        self.list_all = text["list_all"]
        self.list_state = text["list_state"]
        self.complete = text["complete"]
        self.complete_bare = text["complete_bare"]
        self.revoke = text["revoke"]
        self.abandon = text["abandon"]
        self.counts = text["counts"]
        self.lock_head = text["lock_head"]
        self.read_head = text["read_head"]
        self.insert_event = text["insert_event"]
        self.move_head = text["move_head"]
        self.events_page = text["events_page"]


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
_STATES = {state.value: state for state in CertState}


_quote = json.encoder.encode_basestring_ascii


def _names_json(names: Sequence[str]) -> str:
    """``json.dumps(list(names))`` for a list of strings, without making an encoder."""
    return "[" + ", ".join(map(_quote, names)) + "]"


# What the drivers call a duplicate key: psycopg's SQLSTATE, sqlite3's error name.
_DUPLICATE_KEY = frozenset({"23505", "SQLITE_CONSTRAINT_PRIMARYKEY", "SQLITE_CONSTRAINT_UNIQUE"})


def _is_duplicate_key(err: BaseException) -> bool:
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


class SqlStore:
    """The CA's :class:`~padlock.ca.ports.Store` on SQLAlchemy; see :func:`open_store`."""

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
        self._times: type[_SqliteTimes] | type[_PgTimes] = (
            _SqliteTimes if self._sqlite else _PgTimes
        )
        self._begin = "BEGIN IMMEDIATE" if self._sqlite else "BEGIN"
        self._writer_lock = writer_lock_path(engine.url)
        self._local = threading.local()
        self._links: weakref.WeakSet[_Link] = weakref.WeakSet()
        self._links_lock = threading.Lock()
        self._closed = False
        # Compile after a first connection: the dialect learns the server's
        # version (RETURNING needs SQLite >= 3.35) when it first connects.
        self._with_link(lambda link: None, "connecting")
        self._sql = _Sql(engine)
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

    def _write(self, work: Callable[[Any], T], doing: str) -> T:
        """Run ``work(cursor)`` in one write transaction and commit it."""
        link = None
        try:
            link = self._link()
            # What writing() does, without a generator per transaction (two an issuance).
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
                        cursor.execute(self._sql.move_head, {"p_seq": head[1], "p_hash": head[2]})
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
    def writing(self, link: _Link) -> Iterator[None]:
        """Around a write transaction on ``link``: padlock's writer lock (SQLite files)."""
        writer = link.writer
        held = writer is not None and writer.acquire()
        try:
            yield
        finally:
            if held and writer is not None:
                writer.release()

    def _read(self, work: Callable[[Any], T], doing: str) -> T:
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

        return self._read(work, doing)

    def _snapshot(self, work: Callable[[Any], T], doing: str) -> T:
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

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- rows -------------------------------------------------------------------------

    def _record(self, row: Sequence[Any]) -> CertificateRecord:
        back = self._times.back
        return CertificateRecord(
            serial=int(row[0], 16),
            hierarchy=row[1],
            issuer=row[2],
            profile=row[3],
            request_id=row[4],
            state=_STATES[row[5]],
            subject=row[6],
            names=tuple(json.loads(row[7])),
            not_before=back(row[8]),
            not_after=back(row[9]),
            reserved_at=back(row[10]),
            key_fingerprint=row[11],
            der=row[12],
            sha256=row[13],
            issued_at=None if row[14] is None else back(row[14]),
            revoked_at=None if row[15] is None else back(row[15]),
            revocation_reason=row[16],
        )

    def _event(self, row: Sequence[Any]) -> AuditEvent:
        return AuditEvent(
            seq=row[0],
            at=self._times.back(row[1]),
            action=row[2],
            actor=row[3],
            object_type=row[4],
            object_id=row[5],
            details=json.loads(row[6]),
            prev_hash=row[7],
            hash=row[8],
        )

    # -- the audit log -----------------------------------------------------------------

    def _append(
        self, cursor: Any, entry: AuditEntry, at: dt.datetime, at_db: Any
    ) -> tuple[int, str, str, str]:
        """Append ``entry`` in the caller's write transaction; (seq, prev_hash, hash, details)."""
        pending = getattr(self._local, "head", None)
        if pending is not None and pending[0] is not cursor:
            pending = None  # another transaction's cursor: on its own, as ever
        if pending is not None and pending[1] is not None:
            seq, prev = pending[1] + 1, pending[2]  # the head is locked: nobody else moved it
        else:
            cursor.execute(self._sql.lock_head)
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
            self._sql.insert_event,
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
            cursor.execute(self._sql.move_head, {"p_seq": seq, "p_hash": digest})
        else:
            pending[1], pending[2] = seq, digest  # written by _write before it commits
        return seq, prev, digest, details

    def append_event(self, event: AuditEntry, at: dt.datetime) -> AuditEvent:
        at_db = self._times.out(at, "at")
        seq, prev, digest, details = self._write(
            lambda cursor: self._append(cursor, event, at, at_db), "appending an audit event"
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
            cursor.execute(self._sql.read_head)
            row = cursor.fetchone()
            if row is None:
                raise StorageError(
                    "The audit head row is missing: the database was not created by padlock"
                    " or has been tampered with."
                )
            return int(row[0]), str(row[1])

        return self._read(work, "reading the audit head")

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
        # A connection of its own, so the caller may use the store while iterating.
        doing = "reading the audit log"
        if self._closed:
            raise StorageError(f"The store for {self.url} is closed.")
        try:
            fairy = self._engine.raw_connection()
        except (exc.SQLAlchemyError, self._dbapi_error) as err:
            raise storage_error(err, self._url, doing) from err
        try:
            cursor = fairy.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                if self._sqlite:
                    cursor.execute("BEGIN")  # deferred: a read snapshot, no lock on writers
                else:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                if with_head is not None:
                    cursor.execute(self._sql.read_head)
                    row = cursor.fetchone()
                    with_head.append((int(row[0]), str(row[1])) if row else (0, ""))
                after = 0
                while True:
                    cursor.execute(
                        self._sql.events_page,
                        {"p_after": after, "p_limit": EVENT_PAGE, "p_offset": 0},
                    )
                    rows = cursor.fetchall()
                    for row in rows:
                        yield self._event(row)
                    if len(rows) < EVENT_PAGE:
                        break
                    after = rows[-1][0]
            finally:
                try:
                    fairy.driver_connection.rollback()  # type: ignore[union-attr]
                finally:
                    cursor.close()
        except (exc.SQLAlchemyError, self._dbapi_error) as err:
            raise storage_error(err, self._url, doing) from err
        finally:
            fairy.close()

    # -- certificates -----------------------------------------------------------------

    def reserve_certificate(
        self, reservation: Reservation, event: AuditEntry, also: StoreWrite | None = None
    ) -> None:
        r = reservation
        if not 0 < r.serial < MAX_SERIAL:
            raise ValueError(f"serial must be positive and below 2**160, got {r.serial}")
        out = self._times.out
        serial_hex = format(r.serial, "x")
        reserved_at = out(r.reserved_at, "reserved_at")
        params = {
            "serial": serial_hex,
            "hierarchy": r.hierarchy,
            "issuer": r.issuer,
            "profile": r.profile,
            "request_id": r.request_id,
            "state": CertState.RESERVED.value,
            "subject": r.subject,
            "names": _names_json(r.names),
            "not_before": out(r.not_before, "not_before"),
            "not_after": out(r.not_after, "not_after"),
            "reserved_at": reserved_at,
            "key_fingerprint": r.key_fingerprint,
            "tbs_der": r.tbs_der,
        }

        def work(cursor: Any) -> None:
            try:
                cursor.execute(self._sql.insert_certificate, params)
            except self._integrity_error as err:
                if not _is_duplicate_key(err):
                    raise  # NOT NULL, CHECK: a bug, reported as StorageError
                raise Conflict(
                    f"A certificate with serial {serial_hex} exists already.",
                    hint="Draw another serial number.",
                ) from err
            self._append(cursor, event, r.reserved_at, reserved_at)
            if also is not None:
                also(cursor)

        self._write(work, f"reserving certificate {serial_hex}")

    def _not_in_state(self, cursor: Any, serial_hex: str, wanted: CertState, verb: str) -> None:
        """After an UPDATE matched nothing: is the serial unknown, or in another state?"""
        cursor.execute(self._sql.get_state, {"p_serial": serial_hex})
        row = cursor.fetchone()
        if row is None:
            raise NotFound(f"There is no certificate with serial {serial_hex}.")
        state = CertState(row[0])
        if wanted is CertState.ISSUED and state is CertState.REVOKED:
            raise AlreadyRevoked(f"Certificate {serial_hex} is already revoked.")
        raise Conflict(
            f"Certificate {serial_hex} is {state.value}: only a {wanted.value} certificate"
            f" can be {verb}."
        )

    def complete_certificate(
        self,
        serial: int,
        der: bytes,
        sha256: str,
        issued_at: dt.datetime,
        event: AuditEntry,
        issued: CertificateRecord | None = None,
        also: StoreWrite | None = None,
    ) -> CertificateRecord:
        serial_hex = format(serial, "x")
        issued_db = self._times.out(issued_at, "issued_at")
        params = {
            "p_serial": serial_hex,
            "p_der": der,
            "p_sha256": sha256,
            "p_issued_at": issued_db,
        }
        if issued is not None and (issued.serial, issued.der) != (serial, der):
            raise ValueError("the record given is not the one being completed")

        def work(cursor: Any) -> CertificateRecord:
            if issued is None:
                cursor.execute(self._sql.complete, params)
                row = cursor.fetchone()
                if row is None:
                    self._not_in_state(cursor, serial_hex, CertState.RESERVED, "completed")
                record = self._record(row)
            else:
                # The caller holds what the row says; the UPDATE matches one reserved row or
                # none, and nothing needs reading back.
                cursor.execute(self._sql.complete_bare, params)
                if cursor.rowcount != 1:
                    self._not_in_state(cursor, serial_hex, CertState.RESERVED, "completed")
                record = issued
            self._append(cursor, event, issued_at, issued_db)
            if also is not None:
                also(cursor)
            return record

        return self._write(work, f"storing certificate {serial_hex}")

    def abandon_certificate(self, serial: int, event: AuditEntry) -> None:
        serial_hex = format(serial, "x")
        now = dt.datetime.now(UTC)
        now_db = self._times.out(now, "now")

        def work(cursor: Any) -> None:
            cursor.execute(self._sql.abandon, {"p_serial": serial_hex})
            if cursor.rowcount != 1:
                self._not_in_state(cursor, serial_hex, CertState.RESERVED, "abandoned")
            self._append(cursor, event, now, now_db)

        self._write(work, f"abandoning reservation {serial_hex}")

    def revoke_certificate(
        self, serial: int, reason: str, at: dt.datetime, event: AuditEntry
    ) -> CertificateRecord:
        serial_hex = format(serial, "x")
        at_db = self._times.out(at, "at")
        params = {"p_serial": serial_hex, "p_revoked_at": at_db, "p_reason": reason}

        def work(cursor: Any) -> CertificateRecord:
            cursor.execute(self._sql.revoke, params)
            row = cursor.fetchone()
            if row is None:
                self._not_in_state(cursor, serial_hex, CertState.ISSUED, "revoked")
            self._append(cursor, event, at, at_db)
            return self._record(row)

        return self._write(work, f"revoking certificate {serial_hex}")

    def get_certificate(self, serial: int) -> CertificateRecord | None:
        if not 0 < serial < MAX_SERIAL:
            return None
        serial_hex = format(serial, "x")

        def work(cursor: Any) -> CertificateRecord | None:
            cursor.execute(self._sql.get_certificate, {"p_serial": serial_hex})
            row = cursor.fetchone()
            return None if row is None else self._record(row)

        return self._read(work, f"reading certificate {serial_hex}")

    def list_certificates(
        self, state: CertState | None = None, limit: int = 100, offset: int = 0
    ) -> Sequence[CertificateRecord]:
        """Certificates newest first (by reservation time), optionally in one state."""
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must not be negative")
        params: dict[str, Any] = {"p_limit": limit, "p_offset": offset}
        if state is None:
            sql = self._sql.list_all
        else:
            sql = self._sql.list_state
            params["p_state"] = CertState(state).value

        def work(cursor: Any) -> list[CertificateRecord]:
            cursor.execute(sql, params)
            return [self._record(row) for row in cursor.fetchall()]

        return self._read(work, "listing certificates")

    def certificate_counts(self) -> dict[tuple[str, str], int]:
        """{(profile, state): number of certificates}, for metrics (counts every row)."""

        def work(cursor: Any) -> dict[tuple[str, str], int]:
            cursor.execute(self._sql.counts)
            return {(profile, state): int(n) for profile, state, n in cursor.fetchall()}

        return self._read(work, "counting certificates")


def open_store(url: str, *, migrate: bool = True) -> SqlStore:
    """Open padlock's database at ``url``, upgrading its schema first unless told not to.

    ``url`` is ``sqlite:////abs/path/padlock.db`` or
    ``postgresql+psycopg://user@host:5432/dbname``. Raises ConfigError for a URL
    padlock cannot use and StorageError when the database cannot be reached.
    """
    engine = make_engine(url)
    try:
        if migrate:
            upgrade_engine(engine)
        return SqlStore(engine)
    except BaseException:
        engine.dispose()
        raise


if TYPE_CHECKING:

    def _is_a_store(store: SqlStore) -> Store:
        return store
