"""PostgreSQL session limits: one hung host cannot stop the others (real PostgreSQL)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from store_helpers import NOW

from padlock.ca.ports import AuditEntry
from padlock.errors import StorageError
from padlock.store import SqlStore, engine, open_store
from padlock.store.statements import Statements


def _event(n: int) -> AuditEntry:
    return AuditEntry("test.event", "tester", "thing", str(n))


def test_store_pg_session_limits_set_on_every_connection(pg_url: str) -> None:
    with open_store(pg_url) as store, store.engine.connect() as conn:
        shown = {
            name: conn.exec_driver_sql(f"SHOW {name}").scalar()
            for name in engine.PG_SESSION_SETTINGS
        }
        dsn = conn.connection.driver_connection.info.dsn  # type: ignore[union-attr]
    assert shown == {
        "lock_timeout": "5s",
        "idle_in_transaction_session_timeout": "10s",
        "statement_timeout": "1min",
    }
    for name, value in engine.PG_KEEPALIVES.items():
        assert f"{name}={value}" in dsn


@pytest.fixture
def short_limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Limits of a second or two, so the test does not wait the defaults out."""
    monkeypatch.setitem(engine.PG_SESSION_SETTINGS, "lock_timeout", "1s")
    monkeypatch.setitem(engine.PG_SESSION_SETTINGS, "idle_in_transaction_session_timeout", "2s")
    yield


def test_store_pg_stalled_audit_head_holder_does_not_stop_writers(
    pg_url: str, short_limits: None
) -> None:
    """Host B takes the audit head and stalls (a paused process); host A's writer gives up
    after lock_timeout instead of waiting, the server ends B's session after
    idle_in_transaction_session_timeout, and then A writes again; B's work is rolled back."""
    host_a, host_b = open_store(pg_url), open_store(pg_url)
    holding, resume = threading.Event(), threading.Event()
    outcome: list[BaseException | None] = []

    def stalled_host(store: SqlStore) -> None:
        try:
            with Statements(store, {}).write("a stalled host's write") as tx:
                tx.audit(_event(1), NOW)  # holds the audit head's row lock from here
                holding.set()
                resume.wait(timeout=60)  # paused, as a SIGSTOPped process would be
            outcome.append(None)
        except BaseException as err:  # reported to the test below
            outcome.append(err)

    thread = threading.Thread(target=stalled_host, args=(host_b,))
    thread.start()
    try:
        assert holding.wait(timeout=30)
        with pytest.raises(StorageError) as refused:
            host_a.append_event(_event(2), NOW)  # waits 1 s for the lock, not for ever
        assert "lock" in str(refused.value).lower()
        assert refused.value.to_problem()["status"] == 503
        written = None
        for _ in range(60):  # the server ends the stalled session within its idle limit
            try:
                written = host_a.append_event(_event(3), NOW)
                break
            except StorageError:
                time.sleep(0.5)
        assert written is not None and written.seq == 1
        resume.set()
        thread.join(timeout=30)
        assert outcome and isinstance(outcome[0], StorageError)  # its commit failed
        assert [e.object_id for e in host_a.iter_events()] == ["3"]
        assert host_a.verify_audit().ok
    finally:
        resume.set()
        thread.join(timeout=30)
        host_a.close()
        host_b.close()
