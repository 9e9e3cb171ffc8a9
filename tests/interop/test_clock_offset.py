"""``padlock serve --clock-offset``: the test hierarchy rehearses the BR schedule's 2029 step
today. lego (Debian's, unmodified) orders from the test directory of a server whose test
rules run on 2029-03-15 or later: its authorization may be reused 10 days (BR 4.2.1, not
today's 200), its certificate is the test profile's 21 days (under 2029's 47), and
``lego renew --days 47`` (a 47-day certificate's renewal window) renews it. The trusted
directory of the same server keeps today's rules, and the offset is refused for it."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from padlock.pki.schedule import CHANGES
from tests.interop.conftest import (
    PADLOCK,
    PASSPHRASE,
    Padlock,
    check_certificate,
    program,
    run,
    serving,
)
from tests.support.dnsserver import TestDNS

STEP_2029 = CHANGES[-1]  # 2029-03-15: 47 days of validity, 10 days of validation reuse


def _offset_days() -> int:
    """Days from today to a day of 2029's rules (at least one)."""
    return max(1, (STEP_2029 - dt.datetime.now(dt.UTC).date()).days + 1)


@pytest.fixture(scope="module")
def rehearsal(
    tmp_path_factory: pytest.TempPathFactory, dns: tuple[TestDNS, Path]
) -> Iterator[Padlock]:
    offset = ("--clock-offset", f"{_offset_days()}d")
    with serving(tmp_path_factory.mktemp("clock-offset"), dns, extra_args=offset) as server:
        yield server


def _lego(server: Padlock, work: Path, *args: str) -> str:
    proc = run(
        [
            program("lego"), "--server", server.test_directory, "--accept-tos",
            "--email", "webmaster@example.com", "--path", str(work / "lego"), *args,
        ],
        env={"LEGO_CA_CERTIFICATES": str(server.test_root)},
    )  # fmt: skip
    return proc.stdout + proc.stderr


def _authorizations(server: Padlock, name: str) -> list[tuple[dt.datetime, dt.datetime]]:
    """(validated, expires) of the valid authorizations for ``name``."""
    with sqlite3.connect(server.data_dir / "padlock.db") as db:
        rows = db.execute(
            "SELECT c.validated_at, a.expires FROM acme_authorizations a"
            " JOIN acme_challenges c ON c.authz_id = a.id"
            " WHERE a.identifier_value = ? AND a.status = 'valid' AND c.status = 'valid'",
            (name,),
        ).fetchall()
    return [(_time(v), _time(e)) for v, e in rows]


def _time(text: str) -> dt.datetime:
    found = dt.datetime.fromisoformat(text)
    return found if found.tzinfo else found.replace(tzinfo=dt.UTC)


def test_clock_offset_lego_rehearses_2029_and_renews(rehearsal: Padlock, tmp_path: Path) -> None:
    said = rehearsal.log.read_text()
    assert "the test hierarchy follows the rules of 2029-" in said, said[-2000:]

    name = f"rehearse-{secrets.token_hex(4)}.example.com"
    http = ("--domains", name, "--http", "--http.port", f":{rehearsal.http_port}")
    _lego(rehearsal, tmp_path, *http, "run")
    cert_path = tmp_path / "lego" / "certificates" / f"{name}.crt"
    chain_path = tmp_path / "lego" / "certificates" / f"{name}.issuer.crt"
    first = check_certificate(rehearsal, cert_path, chain_path, [name], root=rehearsal.test_root)
    lifetime = first.not_valid_after_utc - first.not_valid_before_utc
    assert lifetime < dt.timedelta(days=21)  # the test profile: 21 days, within 2029's 47
    assert first.not_valid_before_utc <= dt.datetime.now(dt.UTC)  # the times stay today's

    # BR 4.2.1 by 2029's rules: the validation is reused 10 days at most, not today's 200.
    authorizations = _authorizations(rehearsal, name)
    assert authorizations, "no valid authorization recorded"
    for validated, expires in authorizations:
        assert expires - validated <= dt.timedelta(days=10)

    # A 47-day certificate's renewal window (2029): every certificate is due; lego renews.
    _lego(rehearsal, tmp_path, *http, "renew", "--days", "47", "--no-random-sleep")
    renewed = check_certificate(rehearsal, cert_path, chain_path, [name], root=rehearsal.test_root)
    assert renewed.serial_number != first.serial_number
    x509.load_pem_x509_certificates(chain_path.read_bytes())[0]  # the issuer came with it

    # What padlock ca schedule says for this server's settings.
    env = {"PADLOCK_CA_PASSPHRASE": PASSPHRASE, "PADLOCK_DATA_DIR": str(rehearsal.data_dir)}
    env["PADLOCK_TEST_CLOCK_OFFSET"] = f"{_offset_days()}d"
    rows = json.loads(run([PADLOCK, "ca", "schedule", "--json"], env=env).stdout)["profiles"]
    by_profile = {r["profile"]: r for r in rows}
    assert by_profile["test"]["rules_on"] >= STEP_2029.isoformat()
    assert (by_profile["test"]["br_max_days"], by_profile["test"]["reuse_days"]) == (47, 10)
    assert by_profile["classic"]["rules_on"] == dt.datetime.now(dt.UTC).date().isoformat()


def test_clock_offset_refused_for_the_trusted_hierarchy(tmp_path: Path) -> None:
    refused = subprocess.run(
        [PADLOCK, "serve", "--port", "0", "--data-dir", tmp_path, "--clock-offset", "trusted:800d"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "only the test hierarchy can run on an offset clock" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (tmp_path / "ca").exists()  # refused before anything was made
