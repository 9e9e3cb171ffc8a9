"""Issuance speed: certificates per second per profile, in-process, on one core.

Each issuance is the whole use case, ``Issuer.issue``: CSR parse and signature
check, key policy, name policy, the tbsCertificate from the profile's template
and its reservation (committed), padlock's structural checks (and, on the bytes
signed by a throwaway key, pkilint for dv, ov and short-lived), the signature,
and storing the certificate (committed). It runs
on a fresh SQLite file in a temporary directory and on a fresh schema in
PostgreSQL.

For comparison the same run measures bare ``cryptography`` on the same CSRs:
CSR load and signature check, building a certificate with the same extensions,
signing it with a P-256 key, DER out. All CSRs are distinct (a pool of P-256
keys and CSRs made before any clock starts, so key generation is not counted).

Then one more run of the test profile on SQLite, with timers around each step
of ``Issuer.issue``, says where the time goes.

The process is pinned to one CPU (``--no-pin`` to leave it free); the
PostgreSQL server is another process and is not pinned. Each measurement stops
after ``--n`` issuances or ``--seconds``, whichever comes first. Prints JSON.

Then, on a fresh SQLite file, ``--rounds`` short runs of bare cryptography and the test
profile in turn: the test profile's share of bare cryptography measured on the same
machine minute (its median is ``goals.test_share_of_bare_measured_in_turns``). Each
round also runs bare cryptography with the two commits of an issuance written by the
sqlite3 module alone (``RawRows``): the ceiling of a durably stored issuance on this
machine, with no padlock code at all (``goals.bare_stored_durably_here_per_s``).

    python bench/issuance.py [--n 5000] [--seconds 4] [--rounds 5] [--pg-url URL] [--no-pg]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import gc
import importlib
import importlib.util
import json
import os
import platform
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import cryptography
import sqlalchemy
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from padlock.ca import issuance
from padlock.ca.issuance import IssuancePolicy, Issuer, IssueRequest
from padlock.ca.signer import Signer, create_authority, load_issuing_signers
from padlock.pki import certcheck, certs, keypolicy, policy
from padlock.pki.certs import Organization
from padlock.pki.keypolicy import builtin_blocklist
from padlock.pki.profiles import OID_DV, Hierarchy
from padlock.store import SqlStore, open_store

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BASE_URL = "http://ca.example.com"
PASSPHRASE = b"bench pass phrase, not a secret"
ORG = Organization("Widgets Inc.", "Dallas", "Texas", "US")
PROFILES = ("test", "dv", "ov", "short-lived")
WARM_UP = 30  # issuances per profile before the clock starts
GOAL_MACHINE_BARE_PER_S = 7400  # bare cryptography where issue 3's goals were measured
GOALS = {"test": 3000, "dv": 250}  # issuances per second on one core (issue 3)
TBS_LIKE = os.urandom(440)  # as long as a test certificate's tbsCertificate, for RawRows


# --- inputs -----------------------------------------------------------------------------------


def csr_pool(n: int) -> list[bytes]:
    """``n`` distinct PEM CSRs, each with its own P-256 key and two names."""
    out = []
    for i in range(n):
        key = ec.generate_private_key(ec.SECP256R1())
        names = [f"www{i}.bench.example.com", f"api{i}.bench.example.com"]
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        out.append(csr.public_bytes(serialization.Encoding.PEM))
    return out


def request(csr: bytes, profile: str) -> IssueRequest:
    return IssueRequest(
        csr=csr,
        profile=profile,
        actor="bench",
        domain_control_shown=profile != "test",
        organization=ORG if profile == "ov" else None,
    )


@contextlib.contextmanager
def quiet_gc() -> Iterator[None]:
    """Long-lived inputs frozen out of the cyclic GC, as in bench/store_ops.py."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def timed(work: Callable[[int], object], n: int, seconds: float) -> dict[str, Any]:
    """Run ``work(i)`` for i in 0..n-1, stopping early after ``seconds``."""
    clock = time.perf_counter
    with quiet_gc():
        cpu0 = time.process_time()
        start = clock()
        deadline = start + seconds
        done = 0
        for i in range(n):
            work(i)
            done += 1
            if clock() > deadline:
                break
        wall = clock() - start
        cpu = time.process_time() - cpu0
    return {
        "n": done,
        "per_s": round(done / wall),
        "us_each": round(wall / done * 1e6, 1),
        "per_cpu_s": round(done / cpu) if cpu else None,
    }


# --- bare cryptography -----------------------------------------------------------------------


def bare_cryptography(
    pool: list[bytes], seconds: float, rows: RawRows | None = None
) -> dict[str, Any]:
    """CSR load + verify, a certificate with the leaf's extensions, signed with P-256;
    with ``rows``, also the two durable commits an issuance makes (see RawRows)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    issuer_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bench Issuing CA")])
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    aia = x509.AuthorityInformationAccess(
        [
            x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS,
                x509.UniformResourceIdentifier(f"{BASE_URL}/ca/test-issuing.der"),
            )
        ]
    )
    crl_dp = x509.CRLDistributionPoints(
        [
            x509.DistributionPoint(
                [x509.UniformResourceIdentifier(f"{BASE_URL}/crl/test-issuing.crl")],
                None,
                None,
                None,
            )
        ]
    )
    policies = x509.CertificatePolicies(
        [x509.PolicyInformation(x509.ObjectIdentifier(OID_DV), None)]
    )
    eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
    ku = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
    bc = x509.BasicConstraints(ca=False, path_length=None)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def work(i: int) -> None:
        csr = x509.load_pem_x509_csr(pool[i])
        if not csr.is_signature_valid:
            raise SystemExit("bad CSR in the pool")
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        serial = certs.new_serial()
        if rows is not None:
            rows.reserve(serial)
        cert = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(issuer_name)
            .public_key(csr.public_key())
            .serial_number(serial)
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=21))
            .add_extension(aki, critical=False)
            .add_extension(aia, critical=False)
            .add_extension(policies, critical=False)
            .add_extension(eku, critical=False)
            .add_extension(san, critical=False)
            .add_extension(ku, critical=True)
            .add_extension(bc, critical=True)
            .add_extension(crl_dp, critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        der = cert.public_bytes(serialization.Encoding.DER)
        if rows is not None:
            rows.complete(serial, der)

    for i in range(min(WARM_UP, len(pool))):
        work(i)
    return timed(work, len(pool), seconds)


class RawRows:
    """The rows an issuance writes, written by the sqlite3 module alone: no padlock code.

    Bare cryptography plus these two commits (a reservation row, then the certificate;
    each with its audit event after reading the audit head, and the head moved) on
    padlock's own schema, with padlock's pragmas (WAL, ``synchronous=NORMAL``): what a
    test issuance stored durably costs with no Python checks, templates, audit hashing
    or store code around it. The test profile's share of this is what padlock adds.
    """

    def __init__(self, path: Path) -> None:
        open_store(f"sqlite:///{path}").close()  # the schema, by padlock's migrations
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        # The cheapest arrangement for the writer, so that this is a ceiling: no checkpoint
        # inside a commit (padlock moves them to a thread); checkpoint() between rounds.
        self._db.execute("PRAGMA wal_autocheckpoint = 0")
        self._cur = self._db.cursor()

    def checkpoint(self) -> None:
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def _event(self, serial_hex: str, at: str, action: str) -> None:
        cur = self._cur
        seq, _prev = cur.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
        cur.execute(
            "INSERT INTO audit_events (seq, at, action, actor, object_type, object_id,"
            " details, prev_hash, hash) VALUES (?, ?, ?, 'bench', 'certificate', ?, ?, ?, ?)",
            (seq + 1, at, action, serial_hex, '{"profile":"test"}', "0" * 64, "1" * 64),
        )
        cur.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (seq + 1, "1" * 64))

    def reserve(self, serial: int) -> None:
        serial_hex = format(serial, "x")
        at = dt.datetime.now(dt.UTC).isoformat(" ")
        self._cur.execute("BEGIN IMMEDIATE")
        self._cur.execute(
            "INSERT INTO certificates (serial, hierarchy, issuer, profile, state, subject, names,"
            " not_before, not_after, reserved_at, key_fingerprint, tbs_der)"
            " VALUES (?, 'test', 'bench', 'test', 'reserved', ?, ?, ?, ?, ?, ?, ?)",
            (serial_hex, "CN=bench", '["bench"]', at, at, at, "sha256:" + "0" * 64, TBS_LIKE),
        )
        self._event(serial_hex, at, "certificate.reserved")
        self._cur.execute("COMMIT")

    def complete(self, serial: int, der: bytes) -> None:
        serial_hex = format(serial, "x")
        at = dt.datetime.now(dt.UTC).isoformat(" ")
        self._cur.execute("BEGIN IMMEDIATE")
        self._cur.execute(
            "UPDATE certificates SET state = 'issued', der = ?, sha256 = ?, issued_at = ?"
            " WHERE serial = ? AND state = 'reserved'",
            (der, "0" * 64, at, serial_hex),
        )
        self._event(serial_hex, at, "certificate.issued")
        self._cur.execute("COMMIT")

    def close(self) -> None:
        self._db.close()


# --- padlock -------------------------------------------------------------------------------


def make_issuer(store: SqlStore, signers: dict[Hierarchy, Signer]) -> Issuer:
    """An Issuer as ``wiring.open_authority`` makes one, keys revoked as compromised included."""
    extra: dict[str, Any] = {}
    try:
        from padlock.store.revocation import RevocationRepository
    except ImportError:  # versions before revocation had no blocked-key lookup
        pass
    else:
        extra["blocked_keys"] = RevocationRepository(store)
    try:
        from padlock.store.identity import IdentityRepository
    except ImportError:  # versions before the CA identity was recorded
        pass
    else:
        if hasattr(IdentityRepository, "recorded_in"):  # ca new-issuer's successor check
            extra["watch"] = _SuccessorWatch(IdentityRepository(store))
    return Issuer(store, signers, IssuancePolicy(base_url=BASE_URL), builtin_blocklist(), **extra)


class _SuccessorWatch:
    """The read ``wiring``'s watch makes in every reservation (is the issuing CA's successor
    recorded?); nothing is ever succeeded here, so it never reloads."""

    def __init__(self, repo: Any) -> None:
        self._repo = repo

    def recorded_in(self, cursor: Any, issuer: str) -> bool:
        return bool(self._repo.recorded_in(cursor, issuer))

    def unknown(self, known: set[str]) -> bool:
        return False

    def reload(self) -> Any:
        raise AssertionError("the benchmark's issuing CAs never change")


def run_profiles(
    store: SqlStore,
    signers: dict[Hierarchy, Signer],
    pool: list[bytes],
    n: int,
    seconds: float,
    profiles: tuple[str, ...],
) -> dict[str, Any]:
    issuer = make_issuer(store, signers)
    out: dict[str, Any] = {}
    for profile in profiles:
        for i in range(WARM_UP):  # pkilint's validators, the PSL, prepared statements
            issuer.issue(request(pool[-1 - i], profile))
        requests = [request(csr, profile) for csr in pool[:n]]
        out[profile] = timed(lambda i, r=requests: issuer.issue(r[i]), len(requests), seconds)
    result = store.verify_audit()
    if not result.ok:
        raise SystemExit(f"the audit chain does not verify: {result}")
    out["audit_events"] = result.events
    return out


def median_and_range(shares: list[float]) -> tuple[float, list[float]]:
    shares = sorted(shares)
    return round(shares[len(shares) // 2], 3), [round(shares[0], 3), round(shares[-1], 3)]


def interleaved(
    store: SqlStore,
    signers: dict[Hierarchy, Signer],
    pool: list[bytes],
    rounds: int,
    n: int,
    seconds: float,
) -> dict[str, Any]:
    """The test profile against bare cryptography in alternating short runs.

    This machine's speed drifts from minute to minute, so a rate measured now and a
    reference measured a minute earlier can differ by a third for no reason of their
    own; measured in turns, both see the same machine. Each round runs bare
    cryptography, then the test profile, on the same ``n`` CSRs.
    """
    issuer = make_issuer(store, signers)
    for i in range(WARM_UP):
        issuer.issue(request(pool[-1 - i], "test"))
    requests = [request(csr, "test") for csr in pool[:n]]
    bare: list[int] = []
    stored: list[int] = []
    test: list[int] = []
    with tempfile.TemporaryDirectory(prefix="padlock-bench-raw-") as tmp:
        rows = RawRows(Path(tmp) / "raw.db")
        try:
            for _ in range(rounds):
                bare.append(bare_cryptography(pool[:n], seconds)["per_s"])
                rows.checkpoint()
                stored.append(bare_cryptography(pool[:n], seconds, rows)["per_s"])
                test.append(
                    timed(lambda i, r=requests: issuer.issue(r[i]), len(requests), seconds)["per_s"]
                )
        finally:
            rows.close()

    vs_bare, vs_bare_range = median_and_range([t / b for t, b in zip(test, bare, strict=True)])
    vs_stored, vs_stored_range = median_and_range(
        [t / s for t, s in zip(test, stored, strict=True)]
    )
    return {
        "rounds": rounds,
        "bare_per_s": bare,
        "bare_stored_per_s": stored,
        "bare_stored_median_per_s": sorted(stored)[len(stored) // 2],
        "test_per_s": test,
        "test_vs_bare_median": vs_bare,
        "test_vs_bare_range": vs_bare_range,
        "test_vs_bare_stored_median": vs_stored,
        "test_vs_bare_stored_range": vs_stored_range,
    }


class Timers:
    """Wrap functions and methods with timers, and put everything back afterwards."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.totals: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._undo: list[Callable[[], None]] = []

    def wrap(self, owner: Any, attribute: str, label: str) -> None:
        original = getattr(owner, attribute, None)
        if original is None:
            return
        clock = self.clock
        totals, calls = self.totals, self.calls
        totals.setdefault(label, 0.0)
        calls.setdefault(label, 0)

        @functools.wraps(original)
        def timed_call(*args: Any, **kwargs: Any) -> Any:
            t0 = clock()
            try:
                return original(*args, **kwargs)
            finally:
                totals[label] += clock() - t0
                calls[label] += 1

        had_own = attribute in getattr(owner, "__dict__", {})
        setattr(owner, attribute, timed_call)
        self._undo.append(
            (lambda: setattr(owner, attribute, original))
            if had_own
            else (lambda: delattr(owner, attribute))
        )

    def restore(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()


CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.thread_time, "wall": time.perf_counter}


def breakdown(
    store: SqlStore, signers: dict[Hierarchy, Signer], pool: list[bytes], n: int, clock: str
) -> dict[str, Any]:
    """Where an issuance of the test profile spends its time (microseconds per issuance).

    ``clock`` "cpu" counts this thread's CPU time (steady on a busy machine; leaves out
    waiting, and the background WAL checkpoints), "wall" the elapsed time.
    """
    tick = CLOCKS[clock]
    stores = [  # the store's modules that compute the audit hash (named so in turn)
        importlib.import_module(f"padlock.store.{name}")
        for name in ("repositories", "certificates", "database")
        if importlib.util.find_spec(f"padlock.store.{name}") is not None
    ]
    issuer = make_issuer(store, signers)
    for i in range(WARM_UP):
        issuer.issue(request(pool[-1 - i], "test"))
    timers = Timers(tick)
    signer = signers[Hierarchy.TEST]
    # Steps that do not nest inside one another, in the order issue() runs them.
    probes: list[tuple[Any, str, str]] = [
        (issuance, "load_csr", "csr_parse"),
        (keypolicy, "public_key_from_csr", "key_policy"),
        (keypolicy, "check_public_key", "key_policy"),
        (keypolicy, "check_csr_proof_of_possession", "csr_signature_verify"),
        (certs, "inspect_csr", "csr_inspect"),
        (getattr(issuer, "_blocked_keys", None), "is_key_blocked", "blocked_key_lookup"),
        (policy, "check_identifiers", "name_policy"),
        (getattr(certs, "LeafTemplate", None), "tbs", "build_certificate"),
        (getattr(certs, "LeafTemplate", None), "build", "build_certificate"),  # earlier versions
        (certs, "leaf_builder", "build_certificate"),  # earlier versions
        (signer, "rehearse", "rehearsal_signature"),
        (store, "reserve_certificate", "reserve"),
        (certcheck, "leaf_problems", "certcheck"),
        (signer, "sign_tbs", "sign"),
        (signer, "sign_rehearsal", "sign"),  # earlier versions
        (signer, "sign_certificate", "sign"),  # earlier versions
        (store, "complete_certificate", "complete"),
        (issuer, "_package", "package_answer"),
        (issuer, "package", "package_answer"),  # earlier versions
    ]
    for owner, attribute, label in probes:
        timers.wrap(owner, attribute, label)
    # Inside reserve and complete: the audit hash (shown apart, also counted in them).
    inner = Timers(tick)
    for module in stores:
        inner.wrap(module, "chain_hash", "audit_chain_hash_inside_store")  # earlier versions
        inner.wrap(module, "chain_hash_encoded", "audit_chain_hash_inside_store")
    # Since the fifth session issue() asks about blocked keys inside the reservation.
    inner.wrap(
        getattr(issuer, "_blocked_keys", None),
        "is_key_blocked_in",
        "blocked_key_lookup_inside_reserve",
    )
    requests = [request(csr, "test") for csr in pool[:n]]
    try:
        with quiet_gc():
            start = tick()
            for r in requests:
                issuer.issue(r)
            total = tick() - start
    finally:
        timers.restore()
        inner.restore()
    count = len(requests)
    per = {label: round(t / count * 1e6, 1) for label, t in timers.totals.items()}
    per["other"] = round((total - sum(timers.totals.values())) / count * 1e6, 1)
    per["total"] = round(total / count * 1e6, 1)
    for label, t in inner.totals.items():
        if inner.calls[label]:
            per[label] = round(t / count * 1e6, 1)
    return {"n": count, "clock": clock, "us_per_issuance": per}


# --- databases -----------------------------------------------------------------------------


@contextlib.contextmanager
def sqlite_store() -> Iterator[SqlStore]:
    with tempfile.TemporaryDirectory(prefix="padlock-bench-") as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'padlock.db'}")
        try:
            yield store
        finally:
            store.close()


@contextlib.contextmanager
def pg_store(url: str) -> Iterator[SqlStore]:
    schema = f"padlock_bench_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        sep = "&" if "?" in url else "?"
        store = open_store(f"{url}{sep}options={quote(f'-csearch_path={schema}')}")
        try:
            yield store
        finally:
            store.close()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


def pg_version(url: str) -> str:
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.exec_driver_sql("SHOW server_version").scalar())
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="issuances per measurement, at most")
    parser.add_argument("--seconds", type=float, default=4.0, help="time bound per measurement")
    parser.add_argument("--profiles", default=",".join(PROFILES), help="comma-separated")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("PADLOCK_TEST_PG_URL", DEFAULT_PG_URL),
        help="PostgreSQL URL (a schema is created there and dropped afterwards)",
    )
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--no-pin", action="store_true", help="do not pin to one CPU")
    parser.add_argument(
        "--breakdown-n", type=int, default=2000, help="issuances for the time breakdown (0: none)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="rounds of bare cryptography and the test profile in turn (0: none)",
    )
    parser.add_argument(
        "--breakdown-clock", choices=sorted(CLOCKS), default="cpu", help="see breakdown()"
    )
    args = parser.parse_args()
    profiles = tuple(p for p in args.profiles.split(",") if p)

    pinned = None
    if not args.no_pin and hasattr(os, "sched_setaffinity"):
        pinned = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {pinned})

    t0 = time.perf_counter()
    pool = csr_pool(max(args.n, args.breakdown_n) + WARM_UP)
    pool_s = time.perf_counter() - t0

    report: dict[str, Any] = {
        "benchmark": "in-process issuance (Issuer.issue), one thread",
        "pinned_cpu": pinned,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "cryptography": cryptography.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "csr_pool": {"csrs": len(pool), "key": "ECDSA P-256", "made_in_s": round(pool_s, 2)},
        "n_max": args.n,
        "seconds_max": args.seconds,
        "bare_cryptography": bare_cryptography(pool[: args.n], args.seconds),
    }
    with tempfile.TemporaryDirectory(prefix="padlock-bench-ca-") as tmp:
        ca_dir = Path(tmp) / "ca"
        create_authority(
            ca_dir,
            name="padlock bench",
            passphrase=PASSPHRASE,
            now=dt.datetime.now(dt.UTC),
            base_url=BASE_URL,
        )
        signers = load_issuing_signers(ca_dir, PASSPHRASE)
        with sqlite_store() as store:
            report["sqlite"] = run_profiles(store, signers, pool, args.n, args.seconds, profiles)
        if args.rounds > 0 and "test" in profiles:
            with sqlite_store() as store:
                report["interleaved_test_sqlite"] = interleaved(
                    store,
                    signers,
                    pool,
                    args.rounds,
                    min(args.n, 2000),
                    args.seconds / 2,
                )
        if args.breakdown_n > 0:  # 0: no breakdown (nothing to divide by)
            with sqlite_store() as store:
                report["breakdown_test_sqlite"] = breakdown(
                    store, signers, pool, args.breakdown_n, args.breakdown_clock
                )
        if not args.no_pg:
            with pg_store(args.pg_url) as store:
                report["postgresql"] = {
                    "server": pg_version(args.pg_url),
                    **run_profiles(store, signers, pool, args.n, args.seconds, profiles),
                }
    bare = report["bare_cryptography"]["per_s"]
    test_rate = report["sqlite"].get("test", {}).get("per_s", 0)
    report["test_sqlite_vs_bare"] = round(test_rate / bare, 3)
    # Issue 3's goals were set on a machine where bare cryptography did 7,400 a second;
    # this machine's speed differs from run to run, so each goal is also given as the
    # same share of this run's bare rate.
    scale = bare / GOAL_MACHINE_BARE_PER_S
    report["goals"] = {
        "set_where_bare_per_s": GOAL_MACHINE_BARE_PER_S,
        "bare_here_per_s": bare,
        **{
            f"{profile}_sqlite": {
                "goal_per_s": goal,
                "goal_scaled_to_this_run_per_s": round(goal * scale),
                "measured_per_s": report["sqlite"].get(profile, {}).get("per_s"),
            }
            for profile, goal in GOALS.items()
            if profile in report["sqlite"]
        },
        # The test profile's goal as a share of bare cryptography (3,000 of 7,400), and
        # that share measured in turns with bare cryptography (interleaved_test_sqlite).
        "test_share_of_bare_goal": round(GOALS["test"] / GOAL_MACHINE_BARE_PER_S, 3),
    }
    if "interleaved_test_sqlite" in report:
        turns = report["interleaved_test_sqlite"]
        report["goals"]["test_share_of_bare_measured_in_turns"] = turns["test_vs_bare_median"]
        # The most any code around cryptography and the two commits could reach here: if
        # it is below the goal's 3,000, the absolute goal cannot be met on this machine.
        report["goals"]["bare_stored_durably_here_per_s"] = turns["bare_stored_median_per_s"]
        report["goals"]["test_share_of_bare_stored_measured_in_turns"] = turns[
            "test_vs_bare_stored_median"
        ]
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
