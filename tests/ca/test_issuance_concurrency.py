"""Issuing from several threads (one Issuer) and several processes (an Issuer each) at once,
on SQLite and PostgreSQL: no duplicate serial, every issuance stored, the audit chain intact."""

from __future__ import annotations

import itertools
import multiprocessing
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography import x509

from padlock.ca.issuance import IssuancePolicy, Issuer
from padlock.ca.ports import CertState
from padlock.ca.signer import Signer
from padlock.pki.keypolicy import builtin_blocklist
from padlock.pki.profiles import Hierarchy
from padlock.store import SqlStore, open_store
from tests.ca import issue_loop
from tests.ca.conftest import BASE_URL, CA_PASSPHRASE

THREADS = 6
PER_THREAD = 20
PROCESSES = 3
PER_PROCESS = 40


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'padlock.db'}"
        return
    with issue_loop.pg_schema("padlock_conc") as url:
        yield url


def _check(
    store: SqlStore, signers: dict[Hierarchy, Signer], serials: list[int], workers: int
) -> None:
    assert len(serials) == len(set(serials)), "a serial was issued twice"
    records = store.list_certificates(None, limit=100_000)
    assert sorted(r.serial for r in records) == sorted(serials), "an issuance was not stored"
    der_serials = []
    for r in records:
        assert r.state is CertState.ISSUED and r.der is not None
        cert = x509.load_der_x509_certificate(r.der)
        assert cert.serial_number == r.serial
        cert.verify_directly_issued_by(signers[Hierarchy(r.hierarchy)].certificate)
        der_serials.append(cert.serial_number)
    assert len(der_serials) == len(set(der_serials))
    result = store.verify_audit()
    assert result.ok, result
    assert result.events == 2 * len(serials)  # reserved + issued, each exactly once
    actions: dict[str, list[str]] = {}
    actors: list[str] = []
    for event in store.iter_events():
        actions.setdefault(event.object_id, []).append(event.action)
        actors.append(event.actor)
    switches = sum(1 for a, b in itertools.pairwise(actors) if a != b)
    print(f"{len(serials)} issued; the writer changed {switches} times in the audit trail")
    # They did run at once: one after the other would change writers workers - 1 times.
    assert switches > workers - 1
    assert all(a == ["certificate.reserved", "certificate.issued"] for a in actions.values())
    assert len(actions) == len(serials)


def test_threads_sharing_one_issuer(db_url: str, signers: dict[Hierarchy, Signer]) -> None:
    store = open_store(db_url)
    try:
        issuer = Issuer(store, signers, IssuancePolicy(base_url=BASE_URL), builtin_blocklist())
        start = threading.Barrier(THREADS)

        def work(n: int) -> list[int]:
            start.wait(timeout=60)
            return issue_loop.issue_many(issuer, PER_THREAD, f"t{n}", lambda _serial: None)

        with ThreadPoolExecutor(THREADS) as pool:
            results = list(pool.map(work, range(THREADS)))
        serials = [s for chunk in results for s in chunk]
        assert len(serials) == THREADS * PER_THREAD
        _check(store, signers, serials, THREADS)
    finally:
        store.close()


def test_processes_each_with_an_issuer(
    db_url: str, ca_dir: Path, signers: dict[Hierarchy, Signer]
) -> None:
    open_store(db_url).close()  # migrate once, before the workers race to
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(PROCESSES)
    results = context.Queue()
    procs = [
        context.Process(
            target=issue_loop.process_worker,
            args=(str(ca_dir), CA_PASSPHRASE, db_url, PER_PROCESS, f"p{n}", start, results),
        )
        for n in range(PROCESSES)
    ]
    for proc in procs:
        proc.start()
    try:
        outcomes = dict(results.get(timeout=300) for _ in procs)
    finally:
        for proc in procs:
            proc.join(timeout=60)
            if proc.is_alive():  # pragma: no cover - only when a worker hangs
                proc.kill()
    failed = {tag: out for tag, out in outcomes.items() if isinstance(out, str)}
    assert not failed, failed
    assert all(proc.exitcode == 0 for proc in procs)
    serials = [s for out in outcomes.values() if not isinstance(out, str) for s in out]
    assert len(serials) == PROCESSES * PER_PROCESS
    store = open_store(db_url)
    try:
        _check(store, signers, serials, PROCESSES)
    finally:
        store.close()
