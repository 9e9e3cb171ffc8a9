"""``padlock ca ceremony`` end to end: the CA made step by step (keys in files, the trusted
root's to go offline; or every key in a SoftHSM2 token), a transcript whose fingerprints are
openssl's own, written to a file and recorded in the audit trail, which still verifies."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.softhsm import make_softhsm
from tests.support.terminal import on_a_terminal

PADLOCK = str(Path(sys.executable).parent / "padlock")
OPENSSL = "/usr/bin/openssl"
PASSPHRASE = "ceremony test pass phrase"


def _run(args: list[str | Path], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PADLOCK_")}
    return subprocess.run(
        [str(a) for a in args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def _openssl_fingerprints(cert: Path) -> tuple[str, str]:
    """(certificate SHA-256 as openssl prints it, SHA-256 of the SPKI DER)."""
    printed = _run([OPENSSL, "x509", "-in", cert, "-noout", "-fingerprint", "-sha256"], {})
    fingerprint = printed.stdout.strip().split("=", 1)[1]
    pubkey = subprocess.run(
        [OPENSSL, "x509", "-in", str(cert), "-noout", "-pubkey"],
        capture_output=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    spki = subprocess.run(
        [OPENSSL, "pkey", "-pubin", "-outform", "DER"],
        input=pubkey, capture_output=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    digest = hashlib.sha256(spki).hexdigest().upper()
    return fingerprint, ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _check_ceremony(data: Path, transcript: Path, out: str, steps: int) -> None:
    text = transcript.read_text()
    assert text in out  # printed as written
    assert text.count(" step ") == steps
    assert "witnesses: Alice Auditor, Bob Officer" in text
    for hierarchy in ("test", "trusted"):
        for role in ("root", "issuing"):
            cert = data / "ca" / hierarchy / f"{role}.crt"
            fingerprint, spki = _openssl_fingerprints(cert)
            block = text.split(f"{hierarchy}-{role}:\n", 1)[1].split("\n\n", 1)[0]
            assert f"certificate SHA-256: {fingerprint}" in block
            assert f"public key (SPKI) SHA-256: {spki}" in block
            assert block.rstrip().endswith(": OK"), block
        root = data / "ca" / hierarchy / "root.crt"
        verified = _run(
            [OPENSSL, "verify", "-CAfile", root, root, data / "ca" / hierarchy / "issuing.crt"], {}
        )
        assert verified.returncode == 0, verified.stdout + verified.stderr
    body, trailer = text.split("---\n", 1)[0] + "---\n", text.split("---\n", 1)[1]
    with sqlite3.connect(data / "padlock.db") as db:
        seq, details = db.execute(
            "SELECT seq, details FROM audit_events WHERE action = 'ca.ceremony'"
        ).fetchone()
    recorded = json.loads(details)
    assert recorded["transcript_sha256"] == hashlib.sha256(body.encode()).hexdigest()
    assert recorded["witnesses"] == ["Alice Auditor", "Bob Officer"]
    assert set(recorded["certificates"]) == {
        "test-root", "test-issuing", "trusted-root", "trusted-issuing"
    }  # fmt: skip
    assert trailer.startswith(f"audit event {seq}: ca.ceremony, hash ")


WITNESSES = ["--witness", "Alice Auditor", "--witness", "Bob Officer"]


def test_ceremony_with_keys_in_files(tmp_path: Path) -> None:
    data, transcript = tmp_path / "data", tmp_path / "ceremony.txt"
    env = {"PADLOCK_CA_PASSPHRASE": PASSPHRASE}
    done = _run(
        [PADLOCK, "ca", "ceremony", "--data-dir", data, "--name", "Ceremony CA", "--yes",
         "--transcript", transcript, "--base-url", "http://ca.example.org", *WITNESSES],
        env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # per hierarchy: 2 keys, 2 signatures; then the OCSP responders
    _check_ceremony(data, transcript, done.stdout, steps=9)
    assert "offline" in transcript.read_text()
    assert (data / "offline" / "trusted-root.key").exists()
    audit = _run([PADLOCK, "audit", "verify", "--data-dir", data], env)
    assert audit.returncode == 0 and "hash chain intact" in audit.stdout, audit.stderr


def test_ceremony_with_keys_in_a_token(tmp_path: Path) -> None:
    hsm = make_softhsm(tmp_path / "hsm")
    data, transcript = tmp_path / "data", tmp_path / "ceremony.txt"
    env = {**hsm.env, "PADLOCK_HSM_PIN_FILE": str(hsm.pin_file)}
    done = _run(
        [PADLOCK, "ca", "ceremony", "--data-dir", data, "--yes", "--transcript", transcript,
         "--pkcs11-module", hsm.module, "--token-label", hsm.label, *WITNESSES],
        env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    _check_ceremony(data, transcript, done.stdout, steps=9)
    assert f"inside the token '{hsm.label}', not extractable" in transcript.read_text()
    assert not list(data.rglob("*.key"))
    audit = _run([PADLOCK, "audit", "verify", "--data-dir", data], env)
    assert audit.returncode == 0, audit.stderr


def test_ceremony_on_a_terminal_asks_before_every_step(tmp_path: Path) -> None:
    data, transcript = tmp_path / "data", tmp_path / "ceremony.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PADLOCK_")}
    env["PADLOCK_CA_PASSPHRASE"] = PASSPHRASE
    args = [PADLOCK, "ca", "ceremony", "--data-dir", str(data), "--transcript", str(transcript),
            *WITNESSES]  # fmt: skip
    status, output = on_a_terminal(args, env, {b"Go on? [y/N]:": ["y"]})
    assert status == 0, output
    assert output.count("Go on? [y/N]:") == 9
    assert "Next: make the test-root key (ec-p384)" in output
    assert "step 9: make each issuing CA's OCSP responder" in transcript.read_text()


def test_ceremony_stopped_at_a_step_records_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PADLOCK_")}
    env["PADLOCK_CA_PASSPHRASE"] = PASSPHRASE
    args = [PADLOCK, "ca", "ceremony", "--data-dir", str(data)]
    status, output = on_a_terminal(args, env, {b"Go on? [y/N]:": ["y", "n"]})
    assert status != 0 and "Aborted" in output, output
    assert "Traceback" not in output
    assert output.count("Go on? [y/N]:") == 2  # the second step was refused
    assert not (data / "ca" / "ca.json").exists() and not (data / "ceremony.txt").exists()


@pytest.mark.parametrize("args", [["--yes"], []])
def test_ceremony_refuses_without_a_secret_or_a_terminal(tmp_path: Path, args: list[str]) -> None:
    data = tmp_path / "data"
    done = _run([PADLOCK, "ca", "ceremony", "--data-dir", data, *args], {})
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert ("pass phrase" in done.stderr) if args else ("--yes" in done.stderr), done.stderr
    assert not (data / "ca" / "ca.json").exists()
