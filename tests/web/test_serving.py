"""``padlock serve`` binds its socket itself: ``--port 0`` takes any free port and says which,
the base URL names it, its workers share it, and a taken port is a clear error."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from tests.conftest import PADLOCK_BIN
from tests.support.padlock_server import launch, refused_on_taken_port


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PADLOCK_")}


def test_serving_port_zero_with_two_workers(tmp_path: Path) -> None:
    args = [PADLOCK_BIN, "serve", "--port", "0", "--workers", "2"]
    server = launch(args, env=_env(), log=tmp_path / "serve.log", cwd=tmp_path)
    try:
        assert server.port != 0 and server.url == f"http://127.0.0.1:{server.port}"
        base = server.url
        directory = httpx.get(f"{base}/acme/directory", timeout=10).json()
        assert directory["newOrder"].startswith(f"{base}/acme/")  # the base URL names the port
        for _ in range(20):  # fresh connections, accepted by either worker on the one socket
            with httpx.Client(timeout=10) as client:
                assert client.get(f"{base}/healthz").status_code == 200
    finally:
        server.stop(timeout=30)


def test_serving_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    port, proc = refused_on_taken_port([PADLOCK_BIN, "serve"], env=_env(), cwd=tmp_path)
    assert proc.returncode == 1
    assert f"padlock cannot listen on 127.0.0.1:{port}: Address already in use." in proc.stderr
    assert "Choose another port" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "padlock-data" / "ca").exists()  # nothing made: it never ran
