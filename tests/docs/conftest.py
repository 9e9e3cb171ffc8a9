"""Fixtures the docs' page tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.dnsserver import TestDNS


@pytest.fixture
def dns() -> Iterator[TestDNS]:
    """The loopback DNS the CA's checks ask in place of the internet's (every name is
    127.0.0.1)."""
    server = TestDNS().start()
    yield server
    server.stop()
