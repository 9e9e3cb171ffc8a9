"""Several worker processes share nonces and orders through the database: parallel finalize
requests for one order, spread over two workers, issue exactly one certificate."""

from __future__ import annotations

import concurrent.futures
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.interop.conftest import Padlock, serving
from tests.support.acme_client import JOSE, Client, b64, jws, make_csr
from tests.support.dnsserver import TestDNS


@pytest.fixture(scope="module")
def two_workers(
    tmp_path_factory: pytest.TempPathFactory, dns: tuple[TestDNS, Path]
) -> Iterator[Padlock]:
    with serving(
        tmp_path_factory.mktemp("workers"),
        dns,
        tls=False,
        workers=2,
        extra_env={"PADLOCK_INSECURE_VA_ALWAYS_VALID": "1"},
    ) as server:
        yield server


def test_insecure_switch_is_announced(two_workers: Padlock) -> None:
    log = two_workers.log.read_text()
    assert "PADLOCK_INSECURE_VA_ALWAYS_VALID" in log
    assert "WITHOUT ANY CHECK" in log


def test_parallel_finalize_two_workers_one_certificate(two_workers: Padlock) -> None:
    with httpx.Client(timeout=60) as http:
        client = Client(http, two_workers.test_directory)
        assert client.register().status_code == 201
        name = "parallel.example.com"
        resp = client.new_order([name])
        order, order_url = resp.json(), resp.headers["Location"]
        authz = client.get(order["authorizations"][0]).json()
        chal = client.post(client.challenge_of(authz, "http-01")["url"], {}).json()
        assert chal["status"] == "valid"  # the insecure switch: test directory only
        csr = make_csr([name])
        bodies = [
            json.dumps(
                jws(
                    client.key,
                    client.protected(order["finalize"], nonce=client.fresh_nonce()),
                    {"csr": b64(csr)},
                )
            ).encode()
            for _ in range(8)
        ]
    start = threading.Barrier(len(bodies))

    def finalize(body: bytes) -> int:
        with httpx.Client(timeout=60) as one:
            start.wait(timeout=30)
            return one.post(
                order["finalize"], content=body, headers={"Content-Type": JOSE}
            ).status_code

    with concurrent.futures.ThreadPoolExecutor(len(bodies)) as pool:
        statuses = list(pool.map(finalize, bodies))
    assert sorted(statuses) == [200] + [403] * (len(bodies) - 1), statuses
    order_id = order_url.rsplit("/", 1)[1]
    with sqlite3.connect(two_workers.data_dir / "padlock.db") as db:
        count = db.execute(
            "SELECT count(*) FROM certificates WHERE request_id = ?", (f"acme-order:{order_id}",)
        ).fetchone()[0]
    assert count == 1
