"""``padlock conformance`` refuses bad options with a clear error, before any client runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PADLOCK = str(Path(sys.executable).parent / "padlock")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PADLOCK, "conformance", *args], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip


def test_conformance_unknown_client_refused() -> None:
    proc = _run("https://127.0.0.1:9/dir", "--clients", "curl")
    assert proc.returncode != 0
    assert "Unknown client or feature: curl" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_conformance_unreachable_directory_is_a_clear_error() -> None:
    proc = _run("https://127.0.0.1:9/dir", "--clients", "lego", "--dns-port", "0")
    assert proc.returncode != 0
    assert "could not be read" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_conformance_half_eab_refused() -> None:
    proc = _run("https://127.0.0.1:9/dir", "--eab-kid", "k")
    assert proc.returncode != 0
    assert "--eab-kid and --eab-hmac-key go together" in proc.stderr
