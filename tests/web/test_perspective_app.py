"""``padlock perspective serve`` as a process on 127.0.0.1: its HTTP front answers only the
CA's signed requests, and every bad request with a problem document, never a 500."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from padlock.ca.mpic.signing import RequestKey, public_text, unseal
from tests.support.padlock_server import Launched, launch

PADLOCK = str(Path(sys.executable).parent / "padlock")


@dataclass
class Served:
    server: Launched
    ca: RequestKey
    key: RequestKey


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("perspective")
    subprocess.run(
        [PADLOCK, "perspective", "init", "--dir", str(root)], check=True, capture_output=True
    )
    key = RequestKey.from_pem((root / "perspective.key").read_bytes(), "key")
    ca, _pem = RequestKey.generate()
    args = [PADLOCK, "perspective", "serve", "--dir", root, "--name", "fra", "--port", "0"]
    args += ["--ca-key", public_text(ca.public)]
    server = launch(args, env={**os.environ}, log=root / "serve.log")
    try:
        yield Served(server, ca, key)
    finally:
        server.stop()


def _request(**changes: object) -> dict[str, object]:
    payload: dict[str, object] = {
        "v": 1,
        "perspective": "fra",
        "nonce": os.urandom(12).hex(),
        "at": dt.datetime.now(dt.UTC).isoformat(),
        # a method no registry holds: answered (as a failed result) without any lookup
        "checks": [{"method": "carrier-pigeon-01", "params": {}}],
    }
    payload.update(changes)
    return payload


def test_perspective_app_answers_the_ca_signed(served: Served) -> None:
    resp = httpx.post(f"{served.server.url}/check", json=served.ca.seal(_request()), timeout=30)
    assert resp.status_code == 200, resp.text
    payload, _sent = unseal(resp.json(), served.key.public, "answer")
    assert payload["perspective"] == "fra"
    assert [r["ok"] for r in payload["results"]] == [False]


def test_perspective_app_refuses_a_stranger(served: Served) -> None:
    stranger, _pem = RequestKey.generate()
    resp = httpx.post(f"{served.server.url}/check", json=stranger.seal(_request()), timeout=30)
    assert resp.status_code == 403
    assert resp.json()["type"] == "urn:ietf:params:acme:error:unauthorized"


def test_perspective_app_refuses_a_replay(served: Served) -> None:
    message = served.ca.seal(_request())
    assert httpx.post(f"{served.server.url}/check", json=message, timeout=30).status_code == 200
    again = httpx.post(f"{served.server.url}/check", json=message, timeout=30)
    assert again.status_code == 403 and "answered before" in again.json()["detail"]


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"not json", 400), (b"[" * 5000, 400), (b"{}", 400), (b"x" * 300_000, 413)],
)
def test_perspective_app_bad_bodies(served: Served, body: bytes, status: int) -> None:
    resp = httpx.post(f"{served.server.url}/check", content=body, timeout=30)
    assert resp.status_code == status
    assert resp.headers["content-type"] == "application/problem+json"
    json.loads(resp.text)


def test_perspective_app_other_paths(served: Served) -> None:
    assert httpx.get(f"{served.server.url}/healthz", timeout=30).text == "ok"
    assert httpx.get(f"{served.server.url}/check", timeout=30).status_code == 405
    assert httpx.get(f"{served.server.url}/nothing", timeout=30).status_code == 404
