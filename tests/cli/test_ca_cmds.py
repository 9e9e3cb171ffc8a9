"""The CA from the command line: init, issue, list, show, roots, audit verify, doctor."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.ca.conftest import build_csr
from tests.conftest import Result

Run = Callable[..., Result]
CA_ENV = {"PADLOCK_CA_PASSPHRASE": "cli ca pass phrase"}


@pytest.fixture
def ca(padlock_proc: Run, tmp_path: Path) -> Path:
    res = padlock_proc(
        "ca",
        "init",
        "--data-dir",
        tmp_path / "data",
        "--name",
        "Widgets",
        "--base-url",
        "http://ca.example.com",
        env=CA_ENV,
    )
    assert res.rc == 0, res.err
    assert "test root" in res.out and "trusted root" in res.out
    return tmp_path / "data"


def test_ca_init_writes_keys_0600_and_root_key_apart(ca: Path) -> None:
    for key in (
        ca / "ca/test/root.key",
        ca / "ca/test/issuing.key",
        ca / "ca/trusted/issuing.key",
        ca / "offline/trusted-root.key",
    ):
        assert key.stat().st_mode & 0o777 == 0o600, key
        assert b"ENCRYPTED PRIVATE KEY" in key.read_bytes()
    assert not (ca / "ca/trusted/root.key").exists()


def test_ca_init_twice_refused(ca: Path, padlock_proc: Run) -> None:
    res = padlock_proc("ca", "init", "--data-dir", ca, env=CA_ENV)
    assert res.rc == 1
    assert "exists already" in res.err and "Traceback" not in res.err


def test_ca_init_without_terminal_generates_passphrase_file(
    padlock_proc: Run, tmp_path: Path
) -> None:
    res = padlock_proc("ca", "init", "--data-dir", tmp_path / "d2", "--json")
    assert res.rc == 0, res.err
    info = json.loads(res.out)
    phrase = Path(info["passphrase_file"])
    assert phrase.stat().st_mode & 0o777 == 0o600
    csr = tmp_path / "r.csr"
    csr.write_bytes(build_csr(["www.example.com"]))
    issued = padlock_proc("ca", "issue", csr, "--data-dir", tmp_path / "d2")
    assert issued.rc == 0, issued.err


def test_ca_issue_test_then_verify_with_openssl(
    ca: Path, padlock_proc: Run, tmp_path: Path
) -> None:
    csr = tmp_path / "www.csr"
    csr.write_bytes(build_csr(["www.example.com"]))
    res = padlock_proc("ca", "issue", csr, "--data-dir", ca, "-o", tmp_path / "www.crt", env=CA_ENV)
    assert res.rc == 0, res.err
    assert "Issued test certificate" in res.err
    roots = padlock_proc("ca", "roots", "--hierarchy", "test", "--data-dir", ca)
    (tmp_path / "root.pem").write_text(roots.out)
    full = padlock_proc("ca", "issue", csr, "--data-dir", ca, "--fullchain", env=CA_ENV)
    chain = x509.load_pem_x509_certificates(full.out.encode())
    assert len(chain) == 2
    (tmp_path / "int.pem").write_bytes(chain[1].public_bytes(serialization.Encoding.PEM))
    proc = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            tmp_path / "root.pem",
            "-untrusted",
            tmp_path / "int.pem",
            tmp_path / "www.crt",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_ca_issue_dv_needs_validation_flag(ca: Path, padlock_proc: Run, tmp_path: Path) -> None:
    csr = tmp_path / "www.csr"
    csr.write_bytes(build_csr(["www.example.com"]))
    res = padlock_proc("ca", "issue", csr, "--profile", "dv", "--data-dir", ca, env=CA_ENV)
    assert res.rc == 1 and "domain control" in res.err
    ok = padlock_proc(
        "ca",
        "issue",
        csr,
        "--profile",
        "dv",
        "--i-have-validated",
        "--json",
        "--data-dir",
        ca,
        env=CA_ENV,
    )
    assert ok.rc == 0, ok.err
    assert json.loads(ok.out)["profile"] == "dv"


def test_ca_issue_ov_with_verified_org(ca: Path, padlock_proc: Run, tmp_path: Path) -> None:
    csr = tmp_path / "www.csr"
    csr.write_bytes(build_csr(["www.example.com"]))
    res = padlock_proc(
        "ca",
        "issue",
        csr,
        "--profile",
        "ov",
        "--i-have-validated",
        "--org",
        "Widgets Inc.",
        "--country",
        "US",
        "--state",
        "Texas",
        "--locality",
        "Dallas",
        "--data-dir",
        ca,
        env=CA_ENV,
    )
    assert res.rc == 0, res.err
    cert = x509.load_pem_x509_certificate(res.out.encode())
    assert "O=Widgets Inc." in cert.subject.rfc4514_string()


def test_ca_issue_wrong_passphrase_clear_error(ca: Path, padlock_proc: Run, tmp_path: Path) -> None:
    csr = tmp_path / "www.csr"
    csr.write_bytes(build_csr(["www.example.com"]))
    res = padlock_proc(
        "ca", "issue", csr, "--data-dir", ca, env={"PADLOCK_CA_PASSPHRASE": "not the pass phrase"}
    )
    assert res.rc == 1
    assert "pass phrase is wrong" in res.err and "Traceback" not in res.err


def test_ca_issue_bad_csr_clear_error(ca: Path, padlock_proc: Run, tmp_path: Path) -> None:
    junk = tmp_path / "junk.csr"
    junk.write_text("hello")
    res = padlock_proc("ca", "issue", junk, "--data-dir", ca, env=CA_ENV)
    assert res.rc == 1 and "CSR could not be read" in res.err
    listed = padlock_proc("ca", "list", "--json", "--data-dir", ca)
    assert json.loads(listed.out) == []


def test_ca_list_show_and_states(ca: Path, padlock_proc: Run, tmp_path: Path) -> None:
    csr = tmp_path / "www.csr"
    csr.write_bytes(build_csr(["www.example.com"]))
    issued = json.loads(
        padlock_proc("ca", "issue", csr, "--json", "--data-dir", ca, env=CA_ENV).out
    )
    listed = json.loads(padlock_proc("ca", "list", "--json", "--data-dir", ca).out)
    assert [r["serial"] for r in listed] == [issued["serial"]]
    assert (
        json.loads(
            padlock_proc("ca", "list", "--json", "--state", "reserved", "--data-dir", ca).out
        )
        == []
    )
    table = padlock_proc("ca", "list", "--data-dir", ca)
    assert issued["serial"] in table.out.replace("\n", "") or issued["serial"][:8] in table.out
    shown = json.loads(padlock_proc("ca", "show", issued["serial"], "--json", "--data-dir", ca).out)
    assert shown["state"] == "issued" and shown["names"] == ["www.example.com"]
    pem = padlock_proc("ca", "show", issued["serial"], "--pem", "--data-dir", ca)
    assert x509.load_pem_x509_certificate(pem.out.encode()).serial_number == int(
        issued["serial"], 16
    )
    missing = padlock_proc("ca", "show", "abcdef", "--data-dir", ca)
    assert missing.rc == 1 and "No certificate" in missing.err
    bad_state = padlock_proc("ca", "list", "--state", "bogus", "--data-dir", ca)
    assert bad_state.rc == 1 and "no state" in bad_state.err


def test_audit_verify_detects_edit_and_delete(ca: Path, padlock_proc: Run, tmp_path: Path) -> None:
    csr = tmp_path / "www.csr"
    csr.write_bytes(build_csr(["www.example.com"]))
    for _ in range(3):
        assert padlock_proc("ca", "issue", csr, "--data-dir", ca, env=CA_ENV).rc == 0
    ok = padlock_proc("audit", "verify", "--data-dir", ca)
    # Event 1 records the CA's identity (ca init), then two events an issuance.
    assert ok.rc == 0 and "7 audit events" in ok.out, ok.err
    db = sqlite3.connect(ca / "padlock.db")
    db.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3")
    db.commit()
    edited = padlock_proc("audit", "verify", "--data-dir", ca)
    assert edited.rc == 1 and "event 3" in edited.err and "changed" in edited.err
    db.execute("UPDATE audit_events SET actor = 'cli' WHERE seq = 3")
    db.execute("DELETE FROM audit_events WHERE seq = 7")
    db.commit()
    truncated = padlock_proc("audit", "verify", "--json", "--data-dir", ca)
    assert truncated.rc == 1
    assert json.loads(truncated.out)["ok"] is False
    db.close()


def test_doctor_says_no_full_blocklist(ca: Path, padlock_proc: Run) -> None:
    res = padlock_proc("doctor", "--data-dir", ca, "--offline")  # ca.example.com: no fetch
    assert res.rc == 0
    assert "NO full blocklist" in res.out


def test_ca_roots_der_and_unknown_hierarchy(ca: Path, padlock_proc: Run, tmp_path: Path) -> None:
    res = padlock_proc(
        "ca", "roots", "--hierarchy", "trusted", "--der", "-o", tmp_path / "r.der", "--data-dir", ca
    )
    assert res.rc == 0
    root = x509.load_der_x509_certificate((tmp_path / "r.der").read_bytes())
    assert "Trusted Root" in root.subject.rfc4514_string()
    bad = padlock_proc("ca", "roots", "--hierarchy", "prod", "--data-dir", ca)
    assert bad.rc == 1 and "no hierarchy" in bad.err


def test_ca_commands_without_ca_say_how_to_make_one(padlock_proc: Run, tmp_path: Path) -> None:
    res = padlock_proc("ca", "list", "--data-dir", tmp_path / "nothing")
    assert res.rc == 1 and "padlock ca init" in res.err
