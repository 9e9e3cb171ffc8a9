"""Storage speed: reserve + complete pairs per second (one issuance's two transactions).

Each pair is what ``ca/issuance.py`` does per certificate: reserve the serial and
the to-be-signed data (one committed transaction with its audit event), then
store the signed certificate (another, with its event). Inputs are built before
the clock starts, so only the store is measured. Runs on a fresh SQLite file in
a temporary directory and on a fresh schema in PostgreSQL, first from one
thread, then from 8 threads sharing the store ("threaded"), and prints JSON.

    python bench/store_ops.py [--pairs 20000] [--pg-pairs 5000] [--pg-url URL] [--no-pg]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import hashlib
import json
import os
import platform
import secrets
import sqlite3
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy

from padlock.ca.ports import AuditEntry, Reservation
from padlock.store import SqlStore, open_store

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
THREADS = 8


def _inputs(n: int) -> list[tuple[Reservation, AuditEntry, bytes, str, AuditEntry]]:
    now = dt.datetime.now(dt.UTC)
    out = []
    for i in range(n):
        serial = secrets.randbits(127) | (1 << 127)
        hexs = format(serial, "x")
        names = (f"www{i}.example.com", f"example{i}.com")
        der = secrets.token_bytes(560)
        res = Reservation(
            serial=serial,
            hierarchy="test",
            issuer="test-int",
            profile="test",
            request_id=None,
            subject=f"CN={names[0]}",
            names=names,
            not_before=now,
            not_after=now + dt.timedelta(days=21),
            tbs_der=secrets.token_bytes(480),
            reserved_at=now,
            key_fingerprint=hashlib.sha256(secrets.token_bytes(32)).hexdigest(),
        )
        reserved = AuditEntry(
            "certificate.reserved",
            "bench",
            "certificate",
            hexs,
            {"profile": "test", "names": list(names), "request_id": None},
        )
        issued = AuditEntry(
            "certificate.issued",
            "bench",
            "certificate",
            hexs,
            {"profile": "test", "request_id": None},
        )
        out.append((res, reserved, der, hashlib.sha256(der).hexdigest(), issued))
    return out


def run(store: SqlStore, pairs: int) -> dict[str, Any]:
    inputs = _inputs(pairs)
    at = dt.datetime.now(dt.UTC)
    # warm up: compile caches, prepared statements, page cache
    for res, reserved, der, digest, issued in _inputs(200):
        store.reserve_certificate(res, reserved)
        store.complete_certificate(res.serial, der, digest, at, issued)

    # The inputs are long-lived; keep the cyclic GC from walking them over and over.
    gc.collect()
    gc.freeze()
    reserve: list[float] = []
    complete: list[float] = []
    clock = time.perf_counter
    cpu_start = time.process_time()
    start = clock()
    for res, reserved, der, digest, issued in inputs:
        t0 = clock()
        store.reserve_certificate(res, reserved)
        t1 = clock()
        store.complete_certificate(res.serial, der, digest, at, issued)
        t2 = clock()
        reserve.append(t1 - t0)
        complete.append(t2 - t1)
    total = clock() - start
    cpu = time.process_time() - cpu_start
    gc.unfreeze()

    t0 = clock()
    result = store.verify_audit()
    verify_s = clock() - t0
    if not result.ok:
        raise SystemExit(f"audit chain does not verify: {result}")
    return {
        "pairs": pairs,
        "pairs_per_s": round(pairs / total),
        # CPU time of the whole process (all threads): what one core sustains
        # when nothing else competes for it.
        "pairs_per_cpu_s": round(pairs / cpu),
        "reserve_us_mean": round(sum(reserve) / pairs * 1e6, 1),
        "reserve_us_median": round(statistics.median(reserve) * 1e6, 1),
        "complete_us_mean": round(sum(complete) / pairs * 1e6, 1),
        "complete_us_median": round(statistics.median(complete) * 1e6, 1),
        "slowest_ms": round(max(max(reserve), max(complete)) * 1e3, 1),
        "audit_events": result.events,
        "verify_events_per_s": round(result.events / verify_s),
    }


def run_threads(store: SqlStore, pairs: int, threads: int) -> dict[str, Any]:
    """The same pairs from several threads sharing the store: how appends serialise."""
    inputs = _inputs(pairs)
    at = dt.datetime.now(dt.UTC)
    chunks = [inputs[i::threads] for i in range(threads)]

    def work(chunk: list[tuple[Reservation, AuditEntry, bytes, str, AuditEntry]]) -> None:
        for res, reserved, der, digest, issued in chunk:
            store.reserve_certificate(res, reserved)
            store.complete_certificate(res.serial, der, digest, at, issued)

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, chunks))
    total = time.perf_counter() - start
    return {"threads": threads, "pairs": pairs, "pairs_per_s": round(pairs / total)}


def bench_sqlite(pairs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="padlock-bench-") as tmp:
        path = Path(tmp) / "padlock.db"
        store = open_store(f"sqlite:///{path}")
        try:
            result = run(store, pairs)
            result["threaded"] = run_threads(store, pairs // 2, THREADS)
        finally:
            store.close()
        result["db_bytes"] = path.stat().st_size
        return {"sqlite": sqlite3.sqlite_version, **result}


def bench_postgres(url: str, pairs: int) -> dict[str, Any]:
    schema = f"padlock_bench_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            version = conn.exec_driver_sql("SHOW server_version").scalar()
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        sep = "&" if "?" in url else "?"
        store = open_store(f"{url}{sep}options={quote(f'-csearch_path={schema}')}")
        try:
            result = run(store, pairs)
            result["threaded"] = run_threads(store, pairs, THREADS)
        finally:
            store.close()
        return {"postgresql": version, **result}
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=20000, help="pairs on SQLite")
    parser.add_argument("--pg-pairs", type=int, default=5000, help="pairs on PostgreSQL")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("PADLOCK_TEST_PG_URL", DEFAULT_PG_URL),
        help="PostgreSQL URL (a schema is created there and dropped afterwards)",
    )
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    args = parser.parse_args()
    report: dict[str, Any] = {
        "benchmark": "store reserve+complete pairs, in-process",
        "threads": f"1, then {THREADS} sharing one store (threaded)",
        "python": platform.python_version(),
        "sqlalchemy": sqlalchemy.__version__,
        "sqlite": bench_sqlite(args.pairs),
    }
    if not args.no_pg:
        report["postgresql"] = bench_postgres(args.pg_url, args.pg_pairs)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
