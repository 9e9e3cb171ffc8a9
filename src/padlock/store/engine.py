"""Engines for the two databases padlock runs on, and the one place errors are translated.

SQLite (the default, one file in the data directory) is tuned for several
processes writing at once: write-ahead logging, ``synchronous=NORMAL`` (durable
at every checkpoint, never corrupt; a power cut may lose the last commits, a
crashed process loses nothing), a 10 s busy timeout, foreign keys on, and
``BEGIN IMMEDIATE`` for every write transaction so that a writer takes the write
lock at the start (and waits for it under the busy timeout) instead of failing
with "database is locked" when it upgrades a read lock half-way through.

The pysqlite driver's own transaction handling is switched off
(``isolation_level = None``) and SQLAlchemy emits the BEGIN itself; this is the
recipe in SQLAlchemy's SQLite dialect documentation ("Enabling Non-Legacy SQLite
Transactional Modes").

PostgreSQL is reached through psycopg 3 (``postgresql+psycopg://``).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import sqlite3
import threading
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import URL, make_url

from padlock.errors import ConfigError, StorageError
from padlock.filelock import FileLock

BUSY_TIMEOUT_S = 10.0

# Checkpoints (copying the WAL into the database file, with two fsyncs) run in a
# background thread every CHECKPOINT_INTERVAL_S; a writer checkpoints itself
# only when the WAL passes WAL_AUTOCHECKPOINT_PAGES, which bounds the WAL (about
# 40 MB) even when no background thread runs.
CHECKPOINT_INTERVAL_S = 0.1
WAL_AUTOCHECKPOINT_PAGES = 10_000

log = logging.getLogger("padlock.store")

# Connections stay with the thread that used them (see SqlStore); a server with a
# thread pool of 40 keeps 40 connections. Connections above POOL_SIZE are closed
# when their thread ends instead of going back to the pool.
POOL_SIZE = 20


def parse_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except (exc.ArgumentError, ValueError) as err:
        raise ConfigError(
            f"The database URL {url!r} is not a URL SQLAlchemy understands.",
            hint="Use sqlite:////absolute/path/padlock.db or "
            "postgresql+psycopg://user@host:5432/dbname.",
        ) from err
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.get_driver_name() != "pysqlite":
            raise ConfigError(f"SQLite is supported through the sqlite3 module only, not {url!r}.")
        if not parsed.database or parsed.database == ":memory:" or "mode=memory" in url:
            raise ConfigError(
                "An in-memory SQLite database is not supported: every thread would see"
                " a different, empty database.",
                hint="Use a file, e.g. sqlite:////tmp/padlock.db.",
            )
    elif backend == "postgresql":
        if parsed.get_driver_name() != "psycopg":
            raise ConfigError(
                f"PostgreSQL is supported through psycopg 3 only, not {parsed.drivername!r}.",
                hint="Write the URL as postgresql+psycopg://user@host:5432/dbname.",
            )
    else:
        raise ConfigError(
            f"padlock stores its data in SQLite or PostgreSQL, not {backend!r}.",
            hint="Use sqlite:////path/padlock.db or postgresql+psycopg://user@host/dbname.",
        )
    return parsed


def safe_url(url: URL | str) -> str:
    """The URL without its password, for messages."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except (exc.ArgumentError, ValueError):
        return "<unparseable URL>"
    return parsed.render_as_string(hide_password=True)


class _LostConnectionReset(logging.Filter):
    """SQLAlchemy's pool logs a traceback when it cannot roll back a connection the database
    has already closed ("Exception during reset or similar"). padlock reports that failure
    itself (a StorageError, logged once with its incident id), so the pool's record is cut
    to one line without the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and str(record.msg).startswith("Exception during reset"):
            error = record.exc_info[1]
            record.msg = f"a lost database connection was discarded: {error}"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def _quiet_lost_connection_resets(engine: Engine) -> None:
    """On the pool's own logger (a logger's filters do not apply to its children's records)."""
    logger = getattr(engine.pool, "logger", None)
    if isinstance(logger, logging.Logger) and not any(
        isinstance(f, _LostConnectionReset) for f in logger.filters
    ):
        logger.addFilter(_LostConnectionReset())


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with padlock's connection settings; nothing is connected yet."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    engine = create_engine(
        parsed,
        pool_size=POOL_SIZE,
        max_overflow=-1,
        pool_pre_ping=True,
        # Prepare statements run more than twice on the server (psycopg's default is 5).
        connect_args={"prepare_threshold": 2, "connect_timeout": 10, **PG_KEEPALIVES},
    )
    event.listen(engine, "connect", _pg_session_limits)
    _quiet_lost_connection_resets(engine)
    return engine


# PostgreSQL session limits, so that one hung host cannot stop the others (several hosts
# share one database). A writer waits at most PG_LOCK_TIMEOUT for a row lock (the audit
# head's, above all) and then fails with a StorageError (503, Retry-After) instead of
# waiting for ever; a session left idle inside a transaction (a paused or wedged process
# holding that lock) is ended by the server after PG_IDLE_IN_TRANSACTION_TIMEOUT, which
# lets its locks go; no statement runs longer than PG_STATEMENT_TIMEOUT (migrations lift
# it). TCP keepalives (libpq's parameters) find a peer that vanished without closing.
PG_LOCK_TIMEOUT = "5s"
PG_IDLE_IN_TRANSACTION_TIMEOUT = "10s"
PG_STATEMENT_TIMEOUT = "60s"
PG_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}
PG_SESSION_SETTINGS = {
    "lock_timeout": PG_LOCK_TIMEOUT,
    "idle_in_transaction_session_timeout": PG_IDLE_IN_TRANSACTION_TIMEOUT,
    "statement_timeout": PG_STATEMENT_TIMEOUT,
}


def _pg_session_limits(dbapi_connection: Any, _record: Any) -> None:
    """Every new PostgreSQL connection gets padlock's session limits (PG_SESSION_SETTINGS)."""
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    try:
        with dbapi_connection.cursor() as cursor:
            for name, value in PG_SESSION_SETTINGS.items():
                cursor.execute(f"SET {name} = '{value}'")
    finally:
        dbapi_connection.autocommit = autocommit


def _sqlite_engine(parsed: URL) -> Engine:
    engine = create_engine(
        parsed,
        pool_size=POOL_SIZE,
        max_overflow=-1,
        # sqlite3 accepts :name parameters with a dict, as psycopg accepts %(name)s.
        paramstyle="named",
        connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # No implicit BEGIN from the driver: padlock says when a transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    # padlock's repositories run on raw cursors (store/database.py) and take the writer
    # lock themselves. A SQLAlchemy transaction on this engine (migrations, administration,
    # tests) may write: it takes padlock's writer lock first, then BEGIN IMMEDIATE. The
    # lock goes with the DBAPI connection (its pool record's ``info``), not the thread,
    # and is let go when the transaction ends or the connection goes back to the pool.
    path = writer_lock_path(parsed)
    if path is None:  # pragma: no cover - parse_url refuses SQLite without a file
        return engine

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        info = connection.info
        lock: WriterLock | None = info.get("padlock_writer")
        if lock is None:
            lock = info["padlock_writer"] = WriterLock(path)
        info["padlock_locked"] = lock.acquire()
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _let_go(info)
            raise

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _on_end(connection: Any) -> None:
        _let_go(connection.info)

    @event.listens_for(engine.pool, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            _let_go(record.info)

    @event.listens_for(engine.pool, "close")
    def _on_close(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            _let_go(record.info)
            lock = record.info.pop("padlock_writer", None)
            if lock is not None:
                lock.close()

    return engine


class WriterLock:
    """One thread's hold on the lock padlock's own SQLite writers take before BEGIN IMMEDIATE.

    SQLite lets one writer in at a time; the others wait in its busy handler, which
    sleeps 1 ms, then 2, 5, 10 ... between tries. Two workers issuing certificates
    each hold the write lock a fraction of a millisecond, so they met there all the
    time and slept longer than they worked. This lock (``flock`` on a file beside the
    database, one open file per thread, so threads exclude each other too) is tried
    every 20 to 500 µs instead. It only ever makes writers wait less: once the busy
    timeout is spent the writer goes on to BEGIN IMMEDIATE and SQLite decides as
    before; writers that do not take it (migrations, administration) meet SQLite's
    own lock as ever. A process that dies lets go of it with its files.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = FileLock(path)

    def acquire(self, timeout: float = BUSY_TIMEOUT_S) -> bool:
        """Take the lock; False if that was not possible in ``timeout`` seconds."""
        try:
            return self._lock.acquire(timeout, pause=20e-6, max_pause=500e-6)
        except OSError as err:  # no lock file (read-only directory): SQLite's lock alone
            log.debug("writer lock %s unusable: %s", self._path, err)
            return False

    def release(self) -> None:
        self._lock.release()

    def close(self) -> None:
        self._lock.close()


def _let_go(info: dict[str, Any]) -> None:
    if info.pop("padlock_locked", False):
        info["padlock_writer"].release()


def writer_lock_path(url: URL) -> str | None:
    """The lock file of a SQLite database file (beside its -wal and -shm files)."""
    if url.get_backend_name() != "sqlite" or not url.database:
        return None
    return f"{url.database}-writer.lock"


class WalCheckpointer:
    """Copies SQLite's write-ahead log into the database file from a background thread.

    SQLite's automatic checkpoint runs inside the commit that fills the log, so
    that one writer waits for two fsyncs (milliseconds on most disks) every few
    hundred transactions; most of an issuance's time went there. Here a daemon
    thread runs ``PRAGMA wal_checkpoint(PASSIVE)``, which never blocks writers or
    readers. Several processes may each run one; a busy checkpointer just
    skips its turn.
    """

    def __init__(self, engine: Engine, interval: float = CHECKPOINT_INTERVAL_S) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=_checkpoint_loop,
            args=(engine, self._stop, interval),
            name="padlock-wal-checkpoint",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=30)


def _checkpoint_loop(engine: Engine, stop: threading.Event, interval: float) -> None:
    fairy: Any = None
    warned = False
    try:
        while not stop.wait(interval):
            try:
                if fairy is None:
                    fairy = engine.raw_connection()
                fairy.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except Exception as err:  # keep going: the writers' own checkpoints still run
                if not warned:
                    log.warning("background WAL checkpoint failed: %s", err)
                    warned = True
                if fairy is not None:
                    with contextlib.suppress(Exception):
                        fairy.invalidate()
                    fairy = None
    finally:
        if fairy is not None:
            fairy.close()


def storage_error(err: BaseException, url: URL | str, doing: str) -> StorageError:
    """Our error for a database failure: what we were doing, where, and what the database said."""
    original = getattr(err, "orig", None) or err
    said = (str(original).strip().splitlines() or [type(original).__name__])[0]
    where = safe_url(url)
    hint = _hint(said.lower(), where)
    error = StorageError(f"The database {where} failed while {doing}: {said}", hint=hint)
    # Logged here, where every front end's failures pass: the public answer names only the
    # incident (StorageError.to_problem), the log says which database failed and how.
    error.incident = secrets.token_hex(6)
    log.warning("storage failure, incident %s: %s", error.incident, error.message)
    return error


def _hint(said: str, where: str) -> str:
    if "database is locked" in said or "database is busy" in said:
        return (
            f"Another process held the write lock for more than {BUSY_TIMEOUT_S:g} s;"
            " try again, and look for a stuck padlock process."
        )
    if "unable to open database file" in said:
        return "Check that the directory of the database file exists and is writable."
    if "no such table" in said or ("relation" in said and "does not exist" in said):
        return "The database has no padlock tables yet: run `padlock db upgrade`."
    if "connection" in said or "could not translate host name" in said or "timeout" in said:
        return (
            "Check that the database server is running and that the URL"
            " (PADLOCK_DATABASE_URL) names the right host, port, user and database."
        )
    if "closed" in said:
        return "The store was closed; open it again."
    return f"See the database's own message above; the database is {where}."
