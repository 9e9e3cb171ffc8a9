"""Migrations: found inside the package, idempotent, and the same schema as tables.py."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import sqlalchemy
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from store_helpers import NOW
from tests.web.conftest import start_padlock_server

import padlock
from padlock.ca.ports import AuditEntry
from padlock.store import open_store, upgrade
from padlock.store.engine import make_engine
from padlock.store.migrate import MIGRATIONS_DIR, current_revision, head_revision
from padlock.store.tables import metadata


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(sqlalchemy.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_store_migrations_ship_in_package() -> None:
    package = Path(padlock.__file__).resolve().parent
    assert package / "store" / "migrations" == MIGRATIONS_DIR
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    assert list((MIGRATIONS_DIR / "versions").glob("v*.py"))


def test_store_upgrade_creates_tables(db_url: str) -> None:
    assert _tables(db_url) == set()
    upgrade(db_url)
    assert {"certificates", "audit_events", "audit_head", "alembic_version"} <= _tables(db_url)
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_store_upgrade_twice_is_harmless(db_url: str) -> None:
    upgrade(db_url)
    with open_store(db_url, migrate=False) as store:
        store.append_event(AuditEntry("test.event", "tester", "thing", "1"), NOW)
        head = store.audit_head()
    upgrade(db_url)
    with open_store(db_url) as store:  # migrates a third time
        assert store.audit_head() == head
        assert len(list(store.iter_events())) == 1
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM audit_head").scalar() == 1
            versions = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
            assert versions == [(head_revision(),)]
    finally:
        engine.dispose()


def test_store_migrated_schema_matches_tables(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_store_sqlite_settings(sqlite_url: str) -> None:
    with open_store(sqlite_url) as store, store.engine.connect() as conn:
        pragma = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
        }
    assert pragma == {
        "journal_mode": "wal",
        "synchronous": 1,
        "busy_timeout": 10000,
        "foreign_keys": 1,
    }


def _steps() -> int:
    return len(list((MIGRATIONS_DIR / "versions").glob("v*.py")))


def test_store_upgrade_logs_one_line_per_step(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    upgrade(sqlite_url)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("alembic")]
    assert len(lines) == _steps()
    assert all(line.startswith("Running upgrade ") for line in lines), lines
    caplog.clear()
    upgrade(sqlite_url)  # at head: nothing to say
    assert [r for r in caplog.records if r.name.startswith("alembic")] == []


def test_store_serve_prints_no_alembic_flood(tmp_path: Path) -> None:
    """``padlock serve`` on a fresh data dir, then again on the same one: its stderr has at
    most one Alembic line per migration step, and none once the schema is at head."""
    server = start_padlock_server(tmp_path)
    server.stop()
    first = [line for line in server.log().splitlines() if "alembic" in line]
    assert len(first) <= _steps(), first
    assert all("Running upgrade" in line for line in first), first
    mark = len(server.log())
    server.start()
    server.stop()
    again = [line for line in server.log()[mark:].splitlines() if "alembic" in line]
    assert again == [], again
