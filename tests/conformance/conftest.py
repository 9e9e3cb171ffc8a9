"""The kit against a real ``padlock serve --tls`` (tests/interop's server), told to use the
kit's DNS and ports, with EAB keys configured (not required) so the EAB column runs."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.interop.conftest import Padlock, start_padlock, stop_padlock
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
PADLOCK = str(Path(sys.executable).parent / "padlock")
# A random-looking key: dehydrated hex-dumps it with hexdump(1), which folds repeated lines
# into "*", so a key of one byte repeated would fail there for a reason no real key has.
EAB_KID = "kit-kid"
EAB_KEY = base64.urlsafe_b64encode(hashlib.sha256(b"kit eab").digest()).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def kit_padlock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Padlock, int]]:
    """padlock, resolving with the kit's DNS port (the kit starts that server itself)."""
    dns_port = free_port()
    kit_dns: Any = SimpleNamespace(spec=f"127.0.0.1:{dns_port}")
    root = tmp_path_factory.mktemp("kit")
    env = {"PADLOCK_ACME_EAB_KEYS": f"{EAB_KID}:{EAB_KEY}"}
    server = start_padlock(root, kit_dns, root / "unused-txt", extra_env=env)
    try:
        yield server, dns_port
    finally:
        stop_padlock(server)


def kit_env() -> dict[str, str]:
    """Where CI keeps certbot 5 and acme-client (the kit would install them otherwise)."""
    return {
        **os.environ,
        "PADLOCK_CERTBOT5": str(ROOT / ".ci/clients/certbot5/bin/certbot"),
        "PADLOCK_ACME_CLIENT_JS": str(ROOT / "tests/interop/acme-client"),
    }


def run_kit(
    server: Any, dns_port: int, cache: Path, *extra: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """``padlock conformance --json`` against ``server`` (a Padlock or a Pebble): (the
    process, its report)."""
    ca_file = server.test_root if isinstance(server, Padlock) else server.ca_file
    args = [
        PADLOCK, "conformance", server.directory, "--json", "--ca-file", str(ca_file),
        "--dns-port", str(dns_port), "--http-port", str(server.http_port),
        "--tls-port", str(server.tls_port), "--eab-kid", EAB_KID, "--eab-hmac-key", EAB_KEY,
        "--cache-dir", str(cache), *extra,
    ]  # fmt: skip
    proc = subprocess.run(
        args, capture_output=True, text=True, env=kit_env(), timeout=600, check=False
    )
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        pytest.fail(
            f"no JSON report; exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc, report


@pytest.fixture(scope="module")
def kit_pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, int]]:
    """Pebble from Debian, resolving with the kit's DNS port, the same EAB key as padlock."""
    from tests.support.pebble import pebble

    dns_port = free_port()
    with pebble(
        tmp_path_factory.mktemp("pebble"), f"127.0.0.1:{dns_port}", {EAB_KID: EAB_KEY}
    ) as served:
        yield served, dns_port
