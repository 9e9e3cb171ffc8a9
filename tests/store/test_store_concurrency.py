"""Many writers at once: no lost or duplicated serial, and an audit chain with no gap or fork."""

from __future__ import annotations

import gc
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest
from store_helpers import contend, issue

from padlock.ca.audit import verify_chain
from padlock.ca.ports import CertState
from padlock.store import SqlStore, open_store

SHARED = list(range(1, 41))  # every worker tries these; exactly one may win each
OWN = 25


def _check(store: SqlStore, results: list[tuple[list[int], int]], workers: int) -> None:
    won = [serial for serials, _ in results for serial in serials]
    conflicts = sum(c for _, c in results)
    assert len(won) == len(set(won)), "a serial was reserved twice"
    assert set(SHARED) <= set(won)
    assert len(won) == len(SHARED) + workers * OWN
    assert conflicts == (workers - 1) * len(SHARED)

    records = store.list_certificates(limit=10_000)
    assert sorted(r.serial for r in records) == sorted(won)
    assert all(r.state is CertState.ISSUED for r in records)

    head = store.audit_head()
    assert head[0] == 2 * len(won)  # one reserved + one issued event each, no more
    events = list(store.iter_events())
    assert [e.seq for e in events] == list(range(1, head[0] + 1))
    assert verify_chain(events, head).ok
    # each certificate: reserved before issued, both recorded exactly once
    actions: dict[str, list[str]] = {}
    for e in events:
        actions.setdefault(e.object_id, []).append(e.action)
    assert all(a == ["certificate.reserved", "certificate.issued"] for a in actions.values())


def test_store_concurrent_threads(db_url: str) -> None:
    workers = 8
    with open_store(db_url) as store:
        with ThreadPoolExecutor(workers) as pool:
            results = list(
                pool.map(
                    contend, [db_url] * workers, range(workers), [SHARED] * workers, [OWN] * workers
                )
            )
        _check(store, results, workers)


def test_store_concurrent_threads_one_store(db_url: str) -> None:
    # Threads share one SqlStore: each gets a pooled connection of its own.
    workers = 12
    with open_store(db_url) as store:
        won: list[int] = []
        lock = threading.Lock()

        def work(_: int) -> None:
            serials = [issue(store).serial for _ in range(OWN)]
            with lock:
                won.extend(serials)

        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(work, range(workers)))
        assert len(set(won)) == workers * OWN
        assert store.audit_head()[0] == 2 * workers * OWN
        assert store.verify_audit().ok


def test_store_thread_connections_return_to_pool(db_url: str) -> None:
    with open_store(db_url) as store:
        issue(store)  # this thread's connection
        threads = [threading.Thread(target=issue, args=(store,)) for _ in range(25)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        gc.collect()
        assert store.engine.pool.checkedout() <= 2  # type: ignore[attr-defined]  # ours (+checkpointer)
        assert store.audit_head()[0] == 2 * 26


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_store_concurrent_processes(backend: str, request: pytest.FixtureRequest) -> None:
    # Fresh database: the workers also race to create the schema.
    url: str = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
    workers = 4
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        results = list(
            pool.map(contend, [url] * workers, range(workers), [SHARED] * workers, [OWN] * workers)
        )
    with open_store(url) as store:
        _check(store, results, workers)


def test_store_pooled_connection_returns_in_plain_mode(db_url: str) -> None:
    # A thread's connection goes back to the pool when the thread ends; a
    # SQLAlchemy transaction on it afterwards must still be all-or-nothing.
    with open_store(db_url) as store:
        thread = threading.Thread(target=issue, args=(store,))
        thread.start()
        thread.join()
        gc.collect()
        head = store.audit_head()
        for _ in range(3):  # whichever pooled connection comes out
            with pytest.raises(RuntimeError), store.engine.begin() as conn:
                conn.exec_driver_sql("UPDATE audit_head SET seq = seq + 100")
                raise RuntimeError("roll back")
        assert store.audit_head() == head
