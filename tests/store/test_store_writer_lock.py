"""padlock's writer lock on SQLite: one writer at a time across threads and processes,
taken before BEGIN IMMEDIATE, never a reason to fail."""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import threading
import time
from pathlib import Path

from padlock.ca.ports import AuditEntry
from padlock.store import open_store
from padlock.store.engine import WriterLock, parse_url, writer_lock_path


def _hold(path: str, seconds: float, held: object) -> None:
    lock = WriterLock(path)
    assert lock.acquire()
    held.set()  # type: ignore[attr-defined]
    time.sleep(seconds)
    lock.release()


def test_writer_lock_excludes_another_process_and_waits_for_it(tmp_path: Path) -> None:
    path = str(tmp_path / "db-writer.lock")
    held = mp.get_context("spawn").Event()
    other = mp.get_context("spawn").Process(target=_hold, args=(path, 0.3, held))
    other.start()
    try:
        assert held.wait(30)
        mine = WriterLock(path)
        assert not mine.acquire(timeout=0.05)  # taken elsewhere
        started = time.monotonic()
        assert mine.acquire(timeout=10)  # free once the other lets go
        assert time.monotonic() - started < 5
        mine.release()
    finally:
        other.join(30)


def test_writer_lock_excludes_another_thread(tmp_path: Path) -> None:
    path = str(tmp_path / "db-writer.lock")
    a, b = WriterLock(path), WriterLock(path)
    assert a.acquire()
    assert not b.acquire(timeout=0.02)
    a.release()
    assert b.acquire(timeout=1)
    b.release()
    a.close()
    b.close()


def test_writer_lock_is_let_go_when_its_process_dies(tmp_path: Path) -> None:
    path = str(tmp_path / "db-writer.lock")
    held = mp.get_context("spawn").Event()
    other = mp.get_context("spawn").Process(target=_hold, args=(path, 60, held))
    other.start()
    assert held.wait(30)
    other.kill()
    other.join(30)
    lock = WriterLock(path)
    assert lock.acquire(timeout=5)
    lock.release()


def test_writer_lock_unusable_directory_means_sqlite_alone(tmp_path: Path) -> None:
    assert not WriterLock(str(tmp_path / "no" / "such" / "dir" / "lock")).acquire(timeout=0.01)


def test_writer_lock_file_sits_beside_the_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'padlock.db'}"
    assert writer_lock_path(parse_url(url)) == f"{tmp_path / 'padlock.db'}-writer.lock"
    assert writer_lock_path(parse_url("postgresql+psycopg://u@h/db")) is None


def test_writes_wait_for_a_held_writer_lock_and_then_succeed(tmp_path: Path) -> None:
    # A writer holding the lock (another worker in the middle of its transaction) makes
    # the hot path and SQLAlchemy transactions wait, not fail.
    store = open_store(f"sqlite:///{tmp_path / 'padlock.db'}")
    try:
        lock = WriterLock(f"{tmp_path / 'padlock.db'}-writer.lock")
        assert lock.acquire()
        done: list[str] = []

        def write() -> None:
            store.append_event(AuditEntry("test.event", "t", "x", "1"), dt.datetime.now(dt.UTC))
            with store.engine.begin() as conn:
                conn.exec_driver_sql("SELECT 1")
            done.append("written")

        thread = threading.Thread(target=write)
        thread.start()
        time.sleep(0.3)
        assert done == []  # waiting for the lock
        lock.release()
        thread.join(10)
        assert done == ["written"]
        assert store.audit_head()[0] == 1 and store.verify_audit().ok
    finally:
        store.close()


def test_reads_never_wait_for_the_writer_lock(tmp_path: Path) -> None:
    from sqlalchemy import select

    from padlock.store.statements import Statements
    from padlock.store.tables import audit_head

    store = open_store(f"sqlite:///{tmp_path / 'padlock.db'}")
    try:
        sql = Statements(store, {"head": select(audit_head.c.seq)})
        lock = WriterLock(f"{tmp_path / 'padlock.db'}-writer.lock")
        assert lock.acquire()
        started = time.monotonic()
        with sql.reading("reading") as tx:  # a snapshot of several SELECTs
            assert tx.one("head") == {"seq": 0}
        assert sql.one("head", {}, "reading") == {"seq": 0}  # one SELECT
        assert list(store.iter_events()) == []  # a snapshot on a connection of its own
        assert time.monotonic() - started < 1
        lock.release()
    finally:
        store.close()


def test_lock_of_a_connection_is_let_go_when_it_returns_to_the_pool(tmp_path: Path) -> None:
    # A transaction never ended by commit or rollback (the connection simply closed)
    # does not keep the lock from other writers.
    store = open_store(f"sqlite:///{tmp_path / 'padlock.db'}")
    try:
        conn = store.engine.connect()
        conn.exec_driver_sql("SELECT 1")  # autobegins: BEGIN IMMEDIATE, lock taken
        other = WriterLock(f"{tmp_path / 'padlock.db'}-writer.lock")
        assert not other.acquire(timeout=0.02)
        conn.close()
        assert other.acquire(timeout=1)
        other.release()
    finally:
        store.close()
