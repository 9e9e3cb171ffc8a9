"""Killing the CA mid-issuance (SIGKILL) loses nothing and records everything.

A real process (``tests/ca/issue_loop.py``) opens the CA the way ``padlock ca
issue`` does and issues in a loop, printing each serial once it is stored. The
test kills it at a random moment, several times in a row on the same database,
then checks the database against what the process printed, and asks the real
CLI (``padlock ca list --state reserved``, ``padlock audit verify``) about it.
A deterministic variant stops the process right after a reservation is
committed, so the kill lands between reserve and sign every time.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes

from padlock.ca.ports import CertificateRecord, CertState
from padlock.pki.certs import assemble_certificate, tbs_fields
from padlock.store import SqlStore, open_store
from padlock.store.tables import certificates
from tests.ca import issue_loop
from tests.conftest import PADLOCK_BIN, Result

LOOP = Path(issue_loop.__file__)
CA_PASSPHRASE = "fault test pass phrase"
ROUNDS = 4
KILL_AFTER_S = (0.05, 1.5)  # after the first issuance; the child stops by itself after 3 s
CHILD_MAX = 2000
CHILD_SECONDS = 3.0
WAIT_S = 60.0  # for the child to start (imports, key loading) or to reach the pause


@dataclass
class Child:
    """One run of issue_loop.py: its output, line by line, as it comes."""

    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    first_issued: threading.Event = field(default_factory=threading.Event)
    reserved: threading.Event = field(default_factory=threading.Event)
    reader: threading.Thread | None = None

    def read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if not line.endswith("\n"):  # cut by the kill: nothing was promised
                continue
            self.lines.append(line.strip())
            if line.startswith("ISSUED "):
                self.first_issued.set()
            elif line.startswith("RESERVED "):
                self.reserved.set()

    def wait(self, event: threading.Event) -> bool:
        """Wait for ``event``, but not for a child that has died."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            if event.wait(0.05):
                return True
            if self.proc.poll() is not None:
                return event.wait(1.0)  # the reader may still hold its last lines
        return False

    def serials(self, word: str) -> list[int]:
        return [int(line.split()[1], 16) for line in self.lines if line.startswith(word + " ")]

    def finish(self) -> int:
        rc = self.proc.wait(timeout=WAIT_S)
        if self.reader is not None:
            self.reader.join(timeout=WAIT_S)
        return rc


@dataclass
class CA:
    data_dir: Path
    env: dict[str, str]
    db_url: str

    def cli(self, *args: str) -> Result:
        proc = subprocess.run(
            [str(PADLOCK_BIN), *args, "--data-dir", str(self.data_dir)],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=120,
            check=False,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def start(self, *, pause_after: int | None = None, tag: str = "run") -> Child:
        env = dict(self.env)
        if pause_after is not None:
            env[issue_loop.PAUSE_ENV] = str(pause_after)
        stderr = (self.data_dir / f"loop-{tag}.err").open("w")
        proc = subprocess.Popen(
            [
                sys.executable,
                str(LOOP),
                "--data-dir",
                str(self.data_dir),
                "--max",
                str(CHILD_MAX),
                "--seconds",
                str(CHILD_SECONDS),
                "--tag",
                tag,
            ],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
        )
        stderr.close()
        child = Child(proc)
        child.reader = threading.Thread(target=child.read, daemon=True)
        child.reader.start()
        return child

    def stderr_of(self, tag: str) -> str:
        return (self.data_dir / f"loop-{tag}.err").read_text()


def _make_ca(tmp_path: Path, db_url: str | None) -> CA:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PADLOCK_")}
    env["PADLOCK_CA_PASSPHRASE"] = CA_PASSPHRASE
    if db_url:
        env["PADLOCK_DATABASE_URL"] = db_url
    data = tmp_path / "data"
    ca = CA(data, env, db_url or f"sqlite:///{(data / 'padlock.db').resolve()}")
    res = ca.cli("ca", "init", "--name", "Faults", "--base-url", "http://ca.example.com")
    assert res.rc == 0, res.err
    return ca


@pytest.fixture(params=["sqlite", "postgresql"])
def ca(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CA]:
    if request.param == "sqlite":
        yield _make_ca(tmp_path, None)
        return
    with issue_loop.pg_schema("padlock_fault") as url:
        yield _make_ca(tmp_path, url)


@pytest.fixture
def rng() -> random.Random:
    seed = int(os.environ.get("PADLOCK_TEST_FAULT_SEED", "0")) or random.SystemRandom().randrange(
        1, 1 << 32
    )
    print(f"fault test seed: {seed} (PADLOCK_TEST_FAULT_SEED={seed} repeats it)")
    return random.Random(seed)


def _all_records(store: SqlStore) -> list[CertificateRecord]:
    return list(store.list_certificates(None, limit=1_000_000))


def _kill(child: Child) -> None:
    child.proc.send_signal(signal.SIGKILL)


def _check_database(ca: CA, issued: set[int], signed: set[int]) -> dict[str, set[int]]:
    """What must hold after any number of kills; returns the serials by state."""
    store = open_store(ca.db_url)
    try:
        records = _all_records(store)
        by_state: dict[str, set[int]] = {s.value: set() for s in CertState}
        for r in records:
            by_state[r.state.value].add(r.serial)
        serials = [r.serial for r in records]
        # No two certificates share a serial: not in the table, not in the signed DER.
        assert len(serials) == len(set(serials))
        ders = {r.serial: r.der for r in records if r.der is not None}
        der_serials = [x509.load_der_x509_certificate(d).serial_number for d in ders.values()]
        assert len(der_serials) == len(set(der_serials))
        # Every serial the process answered with is issued, with its DER.
        for serial in issued:
            record = store.get_certificate(serial)
            assert record is not None, f"{serial:x} was answered but is not in the database"
            assert record.state is CertState.ISSUED, f"{serial:x} is {record.state}"
            assert record.der is not None and record.sha256 is not None
            cert = x509.load_der_x509_certificate(record.der)
            assert cert.serial_number == serial
            assert cert.fingerprint(hashes.SHA256()).hex() == record.sha256
        # Every certificate that was signed is known: issued, or still a visible reservation
        # (signed in memory, killed before it was stored, never answered).
        for serial in signed:
            assert serial in by_state["issued"] | by_state["reserved"], f"{serial:x} unknown"
        # A reservation has no certificate; an issued record has one.
        for r in records:
            assert (r.der is None) == (r.state in (CertState.RESERVED, CertState.ABANDONED))
        # Nothing is issued that the audit trail does not record, in order.
        actions: dict[str, list[str]] = {}
        for event in store.iter_events():
            if event.object_type == "certificate":
                actions.setdefault(event.object_id, []).append(event.action)
        for r in records:
            expected = ["certificate.reserved"]
            if r.state is not CertState.RESERVED:
                expected.append(f"certificate.{r.state.value}")
            assert actions.get(r.serial_hex) == expected, (r.serial_hex, actions.get(r.serial_hex))
        assert store.verify_audit().ok
        return by_state
    finally:
        store.close()


def _check_cli(ca: CA, reserved: set[int]) -> None:
    listed = ca.cli("ca", "list", "--state", "reserved", "--json", "--limit", "100000")
    assert listed.rc == 0, listed.err
    rows = json.loads(listed.out)
    assert {int(row["serial"], 16) for row in rows} == reserved
    assert all(row["state"] == "reserved" and row["sha256"] is None for row in rows)
    verify = ca.cli("audit", "verify")
    assert verify.rc == 0, verify.out + verify.err
    assert "hash chain intact" in verify.out


def test_sigkill_during_issuance_loses_nothing(ca: CA, rng: random.Random) -> None:
    answered: set[int] = set()
    signed: set[int] = set()
    killed = 0
    for round_no in range(ROUNDS):
        tag = f"r{round_no}"
        child = ca.start(tag=tag)
        started = child.wait(child.first_issued)
        assert started, f"no issuance within {WAIT_S} s: {ca.stderr_of(tag)}"
        time.sleep(rng.uniform(*KILL_AFTER_S))
        _kill(child)
        rc = child.finish()
        if rc == -signal.SIGKILL:
            killed += 1
        else:  # it reached its bound before the kill: a clean exit
            assert rc == 0, ca.stderr_of(tag)
        round_issued = child.serials("ISSUED")
        assert len(round_issued) == len(set(round_issued))
        assert not answered & set(round_issued)
        answered |= set(round_issued)
        signed |= set(child.serials("SIGNED"))
        # Every answered certificate was signed first, in this process.
        assert set(round_issued) <= set(child.serials("SIGNED"))
    assert killed >= 1, "the child always finished before the kill"
    by_state = _check_database(ca, answered, signed)
    print(
        f"{ROUNDS} rounds, {killed} killed: {len(answered)} answered,"
        f" {len(by_state['issued'])} issued, {len(by_state['reserved'])} left reserved"
    )
    # Each kill cuts at most one issuance short: reserved (or issued, not yet answered).
    in_flight = (by_state["reserved"] | by_state["issued"]) - answered
    assert len(in_flight) <= killed
    assert by_state["abandoned"] == set()
    _check_cli(ca, by_state["reserved"])

    # The CA goes on issuing on the same database after all that.
    child = ca.start(tag="after")
    assert child.wait(child.first_issued), ca.stderr_of("after")
    _kill(child)
    child.finish()
    _check_database(ca, answered | set(child.serials("ISSUED")), signed)


def test_sigkill_between_reserve_and_sign_leaves_a_visible_reservation(ca: CA) -> None:
    child = ca.start(pause_after=6, tag="pause")
    reached = child.wait(child.reserved)
    assert reached, f"the child never paused after a reservation: {ca.stderr_of('pause')}"
    _kill(child)
    assert child.finish() == -signal.SIGKILL
    (paused,) = child.serials("RESERVED")
    answered = child.serials("ISSUED")
    signed = child.serials("SIGNED")
    assert len(answered) == 5  # the five before it went through
    assert paused not in signed and paused not in answered
    # Nothing was signed after the reservation the process was stopped at.
    reserved_at = child.lines.index(f"RESERVED {paused:x}")
    assert child.lines[reserved_at + 1 :] == []

    by_state = _check_database(ca, set(answered), set(signed))
    assert by_state["reserved"] == {paused}
    _check_cli(ca, {paused})

    shown = ca.cli("ca", "show", f"{paused:x}", "--json")
    assert shown.rc == 0, shown.err
    row = json.loads(shown.out)
    assert row["state"] == "reserved" and row["issued_at"] is None and row["sha256"] is None
    pem = ca.cli("ca", "show", f"{paused:x}", "--pem")
    assert pem.rc != 0 and "never issued" in pem.err

    # The reservation keeps the to-be-signed data (a tbsCertificate: no signature at all),
    # and no certificate carries its serial.
    store = open_store(ca.db_url)
    try:
        record = store.get_certificate(paused)
        assert record is not None and record.der is None
        assert all(
            x509.load_der_x509_certificate(r.der).serial_number != paused
            for r in _all_records(store)
            if r.der is not None
        )
        with store.engine.connect() as conn:
            tbs = bytes(
                conn.execute(
                    sqlalchemy.select(certificates.c.tbs_der).where(
                        certificates.c.serial == f"{paused:x}"
                    )
                ).scalar_one()
            )
        issuing = x509.load_pem_x509_certificate(
            (ca.data_dir / "ca" / record.hierarchy / "issuing.crt").read_bytes()
        )
        algorithm = tbs_fields(tbs)[1]  # the tbsCertificate names its signature algorithm
        unsigned = x509.load_der_x509_certificate(assemble_certificate(tbs, algorithm, b""))
        assert unsigned.serial_number == paused
        assert unsigned.issuer == issuing.subject
        assert unsigned.tbs_certificate_bytes == tbs
        with pytest.raises(InvalidSignature):
            unsigned.verify_directly_issued_by(issuing)
    finally:
        store.close()
