"""Bring a database's schema up to date: ``alembic upgrade head`` without an ini file.

The migration scripts ship inside the package (``padlock/store/migrations``),
so an installed padlock finds them wherever it lives. Upgrading is idempotent
and safe to start from several processes at once: the whole upgrade runs in one
transaction that first takes a lock (``BEGIN IMMEDIATE`` on SQLite, an advisory
transaction lock on PostgreSQL), so the second process waits, then finds the
schema at head and does nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, exc

from padlock.store.engine import make_engine, storage_error

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# The pg_advisory_xact_lock key padlock's migrations serialise on (any fixed int64 would do).
_PG_LOCK_KEY = 0x2A6F_5C0D_71B3_4E19


def _one_line_per_step(record: logging.LogRecord) -> bool:
    """Keep Alembic's "Running upgrade A -> B" lines, drop its chatter ("Context impl
    SQLiteImpl.", "Will assume non-transactional DDL.") that every start would print twice."""
    return record.levelno >= logging.WARNING or record.getMessage().startswith("Running ")


_alembic_log = logging.getLogger("alembic.runtime.migration")
if _one_line_per_step not in _alembic_log.filters:
    _alembic_log.addFilter(_one_line_per_step)


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration pointing at padlock's migrations (no ini file)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision the package knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def upgrade(url: str) -> None:
    """Create or upgrade padlock's tables in the database at ``url``."""
    engine = make_engine(url)
    try:
        upgrade_engine(engine)
    finally:
        engine.dispose()


def upgrade_engine(engine: Engine) -> None:
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # A second host waits for the first one's upgrade however long it takes.
                conn.exec_driver_sql("SET LOCAL lock_timeout = 0")
                conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
            command.upgrade(alembic_config(conn), "head")
    except exc.SQLAlchemyError as err:
        raise storage_error(err, engine.url, "upgrading the schema") from err


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: no padlock tables yet)."""
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except exc.SQLAlchemyError as err:
        raise storage_error(err, engine.url, "reading the schema version") from err
