"""Database failures leave store/ as padlock's own errors, with a message saying what happened."""

from __future__ import annotations

import logging
import sqlite3
import uuid
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy.engine import make_url
from store_helpers import NOW, entry, issue, pg_base_url, reservation

from padlock.ca.ports import AuditEntry
from padlock.errors import ConfigError, Conflict, StorageError
from padlock.store import engine as store_engine
from padlock.store import open_store, upgrade


def test_store_postgres_unreachable() -> None:
    url = "postgresql+psycopg://padlock:secret@127.0.0.1:1/nothing"
    with pytest.raises(StorageError) as caught:
        open_store(url)
    err = caught.value
    assert "127.0.0.1:1" in err.message
    assert "secret" not in err.message  # the password is never shown
    assert "upgrading the schema" in err.message
    assert err.hint is not None and "server is running" in err.hint
    assert isinstance(err.__cause__, sqlalchemy.exc.OperationalError)


def test_store_postgres_unreachable_without_migration() -> None:
    with pytest.raises(StorageError, match="connecting"):
        open_store("postgresql+psycopg://postgres@127.0.0.1:1/test", migrate=False)


def test_store_sqlite_directory_missing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'padlock.db'}"
    with pytest.raises(StorageError, match="unable to open database file") as caught:
        upgrade(url)
    assert caught.value.hint is not None and "directory" in caught.value.hint


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "mysql://root@localhost/padlock",
        "sqlite://",
        "sqlite:///:memory:",
        "postgresql+psycopg2://postgres@127.0.0.1:1/test",
    ],
)
def test_store_unusable_url_config_error(url: str) -> None:
    with pytest.raises(ConfigError):
        open_store(url)


def test_store_closed(store: object) -> None:
    from padlock.store import SqlStore

    assert isinstance(store, SqlStore)
    issue(store)
    store.close()
    with pytest.raises(StorageError, match="closed"):
        store.audit_head()
    with pytest.raises(StorageError, match="closed"):
        store.reserve_certificate(reservation(), entry("certificate.reserved", 1))
    with pytest.raises(StorageError, match="closed"):
        list(store.iter_events())


def test_store_not_migrated(db_url: str) -> None:
    with open_store(db_url, migrate=False) as store:
        with pytest.raises(StorageError) as caught:
            store.reserve_certificate(reservation(), entry("certificate.reserved", 1))
        assert caught.value.hint is not None and "padlock db upgrade" in caught.value.hint
        assert caught.value.__cause__ is not None
        with pytest.raises(StorageError, match="reading certificate"):
            store.get_certificate(1)
        with pytest.raises(StorageError, match="audit log"):
            list(store.iter_events())
        # a failed transaction leaves the connection usable
        upgrade(db_url)
        issue(store)
        assert store.audit_head()[0] == 2


def test_store_sqlite_locked_past_timeout(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    upgrade(sqlite_url)
    monkeypatch.setattr(store_engine, "BUSY_TIMEOUT_S", 0.2)
    path = sqlite_url.removeprefix("sqlite:///")
    with open_store(sqlite_url) as store:
        holder = sqlite3.connect(path, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")  # another process keeps the write lock
            with pytest.raises(StorageError, match="database is locked") as caught:
                store.append_event(AuditEntry("a", "b", "c", "d"), NOW)
            assert caught.value.hint is not None and "write lock" in caught.value.hint
            holder.execute("ROLLBACK")
        finally:
            holder.close()
        store.append_event(AuditEntry("a", "b", "c", "d"), NOW)  # and then it works
        assert store.audit_head()[0] == 1


def test_store_broken_row_is_storage_error(store: object) -> None:
    from padlock.store import SqlStore

    assert isinstance(store, SqlStore)
    r = issue(store)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE audit_events")
    with pytest.raises(StorageError, match=f"revoking certificate {r.serial:x}"):
        store.revoke_certificate(r.serial, "superseded", NOW, entry("x", r.serial))
    # the revocation was rolled back with its audit event
    record = store.get_certificate(r.serial)
    assert record is not None and record.revoked_at is None


def test_store_integrity_error_not_a_conflict(store: object) -> None:
    # Only a duplicate serial is a Conflict (the issuer then draws another serial);
    # any other constraint failing is a bug and must not be retried as one.
    from padlock.store import SqlStore

    assert isinstance(store, SqlStore)
    with pytest.raises(StorageError, match="reserving certificate") as caught:
        store.reserve_certificate(reservation(hierarchy=None), entry("certificate.reserved", 1))
    assert not isinstance(caught.value, Conflict)
    assert store.audit_head()[0] == 0


def test_store_postgres_connection_lost_then_recovers(pg_url: str) -> None:
    app = f"padlock_test_{uuid.uuid4().hex[:12]}"
    url = make_url(pg_url).update_query_dict({"application_name": app})
    with open_store(url.render_as_string(hide_password=False)) as store:
        issue(store)
        admin = sqlalchemy.create_engine(pg_base_url(), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                killed = conn.exec_driver_sql(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE application_name = %s",
                    (app,),
                ).scalar()
        finally:
            admin.dispose()
        assert killed
        with pytest.raises(StorageError, match="reading the audit head"):
            store.audit_head()
        # the dead connection was thrown away: the next call gets a new one
        assert store.audit_head()[0] == 2
        issue(store)
        assert store.verify_audit().ok


def test_store_pool_reset_of_a_lost_connection_logs_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The pool's failed rollback of a connection the database closed is one WARNING line,
    not a traceback: padlock's own StorageError already reports the failure (a loaded CI run
    once found the pool's traceback in the log of tests/web/test_storage_unavailable.py)."""
    from padlock.store.engine import make_engine

    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")
    try:
        with caplog.at_level(logging.WARNING):
            try:
                raise OSError("the connection is lost")
            except OSError:
                engine.pool.logger.error("Exception during reset or similar", exc_info=True)
    finally:
        engine.dispose()
    [record] = [r for r in caplog.records if r.name.startswith("sqlalchemy.pool")]
    assert record.levelname == "WARNING" and record.exc_info is None
    assert record.getMessage() == "a lost database connection was discarded: the connection is lost"
