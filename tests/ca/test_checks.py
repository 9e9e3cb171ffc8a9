"""The check registry (ca/checks.py) as a remote perspective runs it: the parameters travel
as JSON values, so dns-account-01 and dns-persist-01 must arrive whole and be judged as the
CA's own VA judges them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from padlock.acme import persist
from padlock.ca import checks
from padlock.ca.validation import ProbeFailed, VAConfig
from padlock.errors import Malformed
from tests.support.dnsserver import TestDNS

NAME = "www.example.com"
ACCOUNT = "https://ca.example/acme/acct/1"
THUMB = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
PREFIX = "https://ca.example/acme/"


@pytest.fixture
def dns() -> Iterator[TestDNS]:
    server = TestDNS().start()
    yield server
    server.stop()


@pytest.fixture
def cfg(dns: TestDNS) -> VAConfig:
    return VAConfig(resolver=dns.address, timeout=2, caa_identities=("ca.example",))


def _persist_params(now: dt.datetime) -> dict[str, Any]:
    return {
        "name": NAME,
        "qname": persist.persist_name(NAME),
        "issuers": ["ca.example"],
        "account_url": ACCOUNT,
        "thumbprints": [THUMB],
        "hash_prefix": PREFIX,
        "wildcard": False,
        "now": now.isoformat(),
    }


def test_checks_dns_account_01_by_name(cfg: VAConfig, dns: TestDNS) -> None:
    qname = f"_abcdefghijklmnop._acme-challenge.{NAME}"
    dns.zone.add_txt(qname, "value-1")
    params = {"name": NAME, "qname": qname, "expected": "value-1"}
    assert checks.run(cfg, "dns-account-01", params).ok
    with pytest.raises(ProbeFailed):
        checks.run(cfg, "dns-account-01", params | {"expected": "another"})


def test_checks_dns_persist_01_by_name(cfg: VAConfig, dns: TestDNS) -> None:
    now = dt.datetime.now(dt.UTC)
    uri = persist.hashed_account_uri(PREFIX, NAME, THUMB, ACCOUNT)
    value = persist.record_value("ca.example", uri, wildcard=False, until=None)
    dns.zone.add_txt(persist.persist_name(NAME), value)
    assert checks.run(cfg, "dns-persist-01", _persist_params(now)).ok
    with pytest.raises(ProbeFailed):
        other = _persist_params(now) | {"account_url": "https://ca.example/acme/acct/2"}
        checks.run(cfg, "dns-persist-01", other)


@pytest.mark.parametrize(
    "change",
    [
        {"issuers": []},
        {"issuers": "ca.example"},
        {"thumbprints": [1]},
        {"now": "yesterday"},
        {"now": "2026-12-07T00:00:00"},
        {"wildcard": "no"},
    ],
)
def test_checks_dns_persist_01_malformed_parameters(cfg: VAConfig, change: dict[str, Any]) -> None:
    with pytest.raises(Malformed):
        checks.run(cfg, "dns-persist-01", _persist_params(dt.datetime.now(dt.UTC)) | change)
