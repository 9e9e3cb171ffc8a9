"""Perspectives in this process, each with its own DNS view (a TestDNS of its own), reached
through a transport that hands the signed request to the real perspective use case."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from padlock.ca.mpic.config import PerspectiveConfig
from padlock.ca.mpic.coordinator import Corroborator
from padlock.ca.mpic.perspective import Perspective
from padlock.ca.mpic.quorum import Place
from padlock.ca.mpic.signing import RequestKey
from padlock.ca.validation import VAConfig
from padlock.net.perspectives import PerspectiveUnreachable
from tests.support.dnsserver import TestDNS, Zone

IDENTITY = "padlock.example"
PLACES = [
    Place("fra", "RIPE NCC", 50.11, 8.68),
    Place("iad", "ARIN", 38.95, -77.45),
    Place("sin", "APNIC", 1.35, 103.99),
    Place("gru", "LACNIC", -23.43, -46.47),
    Place("jnb", "AFRINIC", -26.14, 28.24),
]


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Direct:
    """A transport to perspectives of this process; a missing one is down."""

    def __init__(self) -> None:
        self.up: dict[str, Perspective] = {}

    def post(self, url: str, message: Mapping[str, str], timeout: float) -> Any:
        perspective = self.up.get(url)
        if perspective is None:
            raise PerspectiveUnreachable(f"{url} cannot be reached: connection refused.")
        return json.loads(json.dumps(perspective.answer(json.loads(json.dumps(message)))))


@dataclass
class Fleet:
    ca_key: RequestKey
    configs: list[PerspectiveConfig]
    perspectives: dict[str, Perspective]
    zones: dict[str, Zone]
    transport: Direct

    def corroborator(self, deadline: float = 20.0) -> Corroborator:
        return Corroborator(self.configs, self.ca_key, self.transport, now, deadline)

    def down(self, name: str) -> None:
        self.transport.up.pop(f"http://{name}.test/check")

    def forge(self, name: str) -> None:
        """``name`` now answers with a key that is not the one configured for it."""
        old = self.perspectives[name]
        other, _pem = RequestKey.generate()
        fake = Perspective(name, other, self.ca_key.public, old._va, now)
        self.transport.up[f"http://{name}.test/check"] = fake


@pytest.fixture(scope="module")
def dns_views() -> Iterator[dict[str, TestDNS]]:
    """One DNS server per perspective, for the module (stopping one takes a while)."""
    servers = {place.name: TestDNS().start() for place in PLACES}
    try:
        yield servers
    finally:
        for dns in servers.values():
            dns.stop()


@pytest.fixture
def fleet(dns_views: dict[str, TestDNS]) -> Fleet:
    """Five perspectives with fresh keys and empty DNS views."""
    ca_key, _pem = RequestKey.generate()
    configs, perspectives, zones = [], {}, {}
    transport = Direct()
    for place in PLACES:
        dns = dns_views[place.name]
        with dns.zone.lock:
            dns.zone.txt.clear()
            dns.zone.caa.clear()
        key, _kp = RequestKey.generate()
        va = VAConfig(dns.address, caa_identities=(IDENTITY,), timeout=2.0)
        perspectives[place.name] = Perspective(place.name, key, ca_key.public, va, now)
        zones[place.name] = dns.zone
        url = f"http://{place.name}.test"
        configs.append(PerspectiveConfig(place.name, url, key.public, place))
        transport.up[f"{url}/check"] = perspectives[place.name]
    return Fleet(ca_key, configs, perspectives, zones, transport)
