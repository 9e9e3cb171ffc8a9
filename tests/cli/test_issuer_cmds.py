"""``padlock ca new-issuer``, ``ca issuers`` and ``ca schedule`` as an operator runs them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.ca.conftest import build_csr
from tests.conftest import Result

Run = Callable[..., Result]
CA_ENV = {"PADLOCK_CA_PASSPHRASE": "cli issuer pass phrase"}


@pytest.fixture
def ca(padlock_proc: Run, tmp_path: Path) -> Path:
    data = tmp_path / "data"
    res = padlock_proc(
        "ca", "init", "--data-dir", data, "--base-url", "http://ca.example.com", env=CA_ENV
    )
    assert res.rc == 0, res.err
    return data


def test_issuer_cmds_new_issuer_then_issue_and_list(
    ca: Path, padlock_proc: Run, tmp_path: Path
) -> None:
    made = padlock_proc(
        "ca", "new-issuer", "--hierarchy", "test", "--data-dir", ca, "--json", env=CA_ENV
    )
    assert made.rc == 0, made.err
    doc = json.loads(made.out)
    assert doc["issuer"] == "test-issuing-2" and doc["succeeds"] == "test-issuing"
    assert Path(doc["certificate"]).exists()
    csr = tmp_path / "www.csr"
    csr.write_bytes(build_csr(["www.example.com"]))
    out = tmp_path / "www.pem"
    issued = padlock_proc(
        "ca", "issue", csr, "--profile", "test", "--data-dir", ca, "-o", out, env=CA_ENV
    )
    assert issued.rc == 0, issued.err
    leaf = x509.load_pem_x509_certificate(out.read_bytes())
    new = x509.load_pem_x509_certificate(Path(doc["certificate"]).read_bytes())
    leaf.verify_directly_issued_by(new)
    listed = padlock_proc("ca", "issuers", "--data-dir", ca, "--json", env=CA_ENV)
    rows = {r["issuer"]: r for r in json.loads(listed.out)["issuers"]}
    states = {issuer: r["state"] for issuer, r in rows.items()}
    assert states == {
        "test-issuing": "succeeded",
        "test-issuing-2": "issuing",
        "trusted-issuing": "issuing",
    }
    assert rows["test-issuing-2"]["unexpired_certificates"] == 1
    assert rows["test-issuing-2"]["last_certificate_expires"][:10] == (
        leaf.not_valid_after_utc.date().isoformat()
    )
    assert rows["test-issuing"]["unexpired_certificates"] == 0
    table = padlock_proc("ca", "issuers", "--data-dir", ca, env=CA_ENV)
    assert "test-issuing-2" in table.out and "succeeded" in table.out
    audit = padlock_proc("audit", "verify", "--data-dir", ca, env=CA_ENV)
    assert audit.rc == 0, audit.err


def test_issuer_cmds_new_issuer_trusted_needs_its_root_key(
    ca: Path, padlock_proc: Run, tmp_path: Path
) -> None:
    offline = ca / "offline" / "trusted-root.key"
    kept = tmp_path / "usb" / "trusted-root.key"
    kept.parent.mkdir()
    offline.rename(kept)
    refused = padlock_proc("ca", "new-issuer", "--data-dir", ca, env=CA_ENV)
    assert refused.rc != 0 and "Traceback" not in refused.err
    assert "root key" in refused.err
    made = padlock_proc("ca", "new-issuer", "--data-dir", ca, "--root-key", kept, env=CA_ENV)
    assert made.rc == 0, made.err
    assert "trusted-issuing-2" in made.out and "trusted-issuing issues nothing more" in made.out
    cert = x509.load_pem_x509_certificate((ca / "ca/trusted/issuing-2.crt").read_bytes())
    assert (
        cert.public_bytes(serialization.Encoding.PEM)
        != (ca / "ca/trusted/issuing.crt").read_bytes()
    )


def test_issuer_cmds_new_issuer_bad_hierarchy(ca: Path, padlock_proc: Run) -> None:
    res = padlock_proc("ca", "new-issuer", "--hierarchy", "prod", "--data-dir", ca, env=CA_ENV)
    assert res.rc != 0 and "no hierarchy 'prod'" in res.err and "Traceback" not in res.err


def test_issuer_cmds_schedule_json_and_table(padlock_proc: Run, tmp_path: Path) -> None:
    env = {"PADLOCK_DATA_DIR": str(tmp_path / "none")}
    res = padlock_proc("ca", "schedule", "--on", "2029-03-15", "--json", env=env)
    assert res.rc == 0, res.err
    doc = json.loads(res.out)
    rows = {r["profile"]: r for r in doc["profiles"]}
    assert (rows["classic"]["max_days"], rows["classic"]["reuse_days"]) == (47, 10)
    assert doc["next_change"] is None
    table = padlock_proc("ca", "schedule", "--on", "2027-03-15", env=env)
    assert table.rc == 0, table.err
    ov = next(line for line in table.out.splitlines() if line.split()[:1] == ["ov"])
    assert ov.split()[-3:] == ["100", "90", "100"]
    assert "Next change: 2029-03-15" in table.out


def test_issuer_cmds_schedule_with_the_test_clock_offset(padlock_proc: Run, tmp_path: Path) -> None:
    env = {"PADLOCK_DATA_DIR": str(tmp_path / "none"), "PADLOCK_TEST_CLOCK_OFFSET": "800d"}
    res = padlock_proc("ca", "schedule", "--on", "2027-01-01", "--json", env=env)
    doc = json.loads(res.out)
    rows = {r["profile"]: r for r in doc["profiles"]}
    assert doc["test_clock_offset_days"] == 800
    assert rows["test"]["rules_on"] == "2029-03-11" and rows["classic"]["rules_on"] == "2027-01-01"
    refused = padlock_proc(
        "ca", "schedule", env={**env, "PADLOCK_TEST_CLOCK_OFFSET": "trusted:800d"}
    )
    assert refused.rc != 0 and "only the test hierarchy" in refused.err
    bad_day = padlock_proc("ca", "schedule", "--on", "someday", env=env)
    assert bad_day.rc != 0 and "is not a day" in bad_day.err
