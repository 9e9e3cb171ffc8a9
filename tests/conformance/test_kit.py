"""The kit end to end: ``padlock conformance`` against padlock (every client; the table must
equal tests/conformance/expected_padlock.json, so a regression fails CI) and against Pebble
from Debian (checks and lego, to show the kit drives another server)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.conftest import run_kit

EXPECTED = Path(__file__).with_name("expected_padlock.json")


def verdicts(report: dict[str, Any]) -> dict[str, Any]:
    """The statuses only (reasons carry names and ports that change every run)."""
    return {
        "clients": {
            row["client"]: {k: v["status"] for k, v in row["features"].items()}
            for row in report["clients"]
        },
        "checks": {c["check"]: c["status"] for c in report["checks"]},
    }


@pytest.mark.slow
def test_kit_padlock_matches_expected_table(kit_padlock: Any, tmp_path: Path) -> None:
    server, dns_port = kit_padlock
    proc, report = run_kit(server, dns_port, tmp_path / "cache")
    got = verdicts(report)
    failed = [
        f"{row['client']} {key}: {cell['reason']}"
        for row in report["clients"] for key, cell in row["features"].items()
        if cell["status"] == "fail"
    ]  # fmt: skip
    assert got == json.loads(EXPECTED.read_text()), "\n".join(failed) + "\n" + proc.stderr[-2000:]
    assert proc.returncode == (1 if failed else 0), proc.stderr[-2000:]


@pytest.mark.slow
def test_kit_pebble_checks_and_lego(kit_pebble: Any, tmp_path: Path) -> None:
    server, dns_port = kit_pebble
    proc, report = run_kit(server, dns_port, tmp_path / "cache", "--clients", "lego")
    got = verdicts(report)
    assert got["clients"]["lego"]["http-01"] == "pass", report["clients"]
    assert got["clients"]["lego"]["profile"] == "n/a"
    # Pebble 2.4 answers a wrong url with malformed where RFC 8555 6.4 says unauthorized
    wrong_url = "wrong url in the protected header: unauthorized"
    assert got["checks"][wrong_url] == "fail"
    assert proc.returncode == 1  # a failed check makes the command fail
