"""``padlock serve`` binds its socket itself: ``--port 0`` takes any free port and says which,
the base URL names it, its workers share it, and a taken port is a clear error."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import PADLOCK_BIN

SERVING = re.compile(r"padlock serving on http://127\.0\.0\.1:(\d+) ")


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PADLOCK_")}


def _port_of(log: Path, proc: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        found = SERVING.search(log.read_text())
        if found:
            return int(found.group(1))
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    pytest.fail(f"serve never said its port:\n{log.read_text()[-3000:]}")


def test_serving_port_zero_with_two_workers(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(PADLOCK_BIN), "serve", "--port", "0", "--workers", "2"],
            cwd=tmp_path, env=_env(), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        port = _port_of(log, proc)
        assert port != 0
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        directory = httpx.get(f"{base}/acme/directory", timeout=10).json()
        assert directory["newOrder"].startswith(f"{base}/acme/")  # the base URL names the port
        for _ in range(20):  # fresh connections, accepted by either worker on the one socket
            with httpx.Client(timeout=10) as client:
                assert client.get(f"{base}/healthz").status_code == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_serving_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [str(PADLOCK_BIN), "serve", "--port", str(port)],
            cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert proc.returncode == 1
    assert f"padlock cannot listen on 127.0.0.1:{port}: Address already in use." in proc.stderr
    assert "Choose another port" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "padlock-data" / "ca").exists()  # nothing made: it never ran
