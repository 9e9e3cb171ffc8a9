"""Apache's mod_md (Debian's apache2-bin), unmodified, against ``padlock serve --tls`` made as
the README says: http-01 and tls-alpn-01, MDProfile, and a renewal that names the certificate
it replaces (RFC 9773). After each certificate Apache reloads gracefully and its HTTPS port
serves what padlock issued; padlock issued exactly one certificate per order (issue 14 item
2: mod_md once looped on a rel="up" link, AH10056).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from padlock.acme import messages as m
from padlock.pki import serials
from tests.interop.mod_md_apache import MdApache, md_apache
from tests.interop.readme_server import Served, readme_serve
from tests.site.conftest import eventually_serial
from tests.support.dnsserver import TestDNS
from tests.support.ports import free_port


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, dns: tuple[TestDNS, Path]) -> Iterator[Served]:
    """One README-made padlock for the module; its VA's tls-alpn-01 port is Apache's HTTPS."""
    with readme_serve(tmp_path_factory.mktemp("mod-md"), dns[0], tls_port=free_port()) as s:
        yield s


def _query(served: Served, sql: str, *args: str) -> list[sqlite3.Row]:
    """Rows of the database the README's ``padlock serve`` made."""
    with sqlite3.connect(served.data / "padlock.db") as db:
        db.row_factory = sqlite3.Row
        return db.execute(sql, args).fetchall()


def _orders(served: Served, name: str) -> list[sqlite3.Row]:
    """padlock's orders for ``name``, oldest first."""
    rows = _query(served, "SELECT * FROM acme_orders ORDER BY created_at")
    return [r for r in rows if json.loads(r["identifiers"]) == [["dns", name]]]


def _one_certificate_per_order(served: Served, name: str) -> list[sqlite3.Row]:
    """Every order for ``name`` is valid with its own certificate, and padlock issued no other
    certificate for it (mod_md did not loop); the orders, oldest first."""
    orders = _orders(served, name)
    issued = [
        r["serial"]
        for r in _query(served, "SELECT serial, names FROM certificates")
        if json.loads(r["names"]) == [name]
    ]
    assert [o["status"] for o in orders] == ["valid"] * len(orders), [dict(o) for o in orders]
    assert sorted(o["cert_serial"] for o in orders) == sorted(issued)
    return orders


def _challenge_types(served: Served, order_id: str) -> list[str]:
    """The types of the order's valid challenges: what padlock's VA checked."""
    rows = _query(
        served,
        "SELECT c.type FROM acme_challenges c JOIN acme_authorizations a ON c.authz_id = a.id"
        " WHERE a.order_id = ? AND c.status = 'valid'",
        order_id,
    )
    return [r["type"] for r in rows]


def _obtained(apache: MdApache, served: Served, count: int = 1) -> x509.Certificate:
    """Wait for mod_md's ``count``-th certificate, reload, see it served and check it."""
    apache.wait_event("renewed", count)
    staged = apache.leaf(apache.staged())
    apache.graceful()
    root = served.trusted_root.read_bytes()
    eventually_serial(apache.https_port, apache.name, root, serials.display(staged.serial_number))
    active = apache.active()
    leaf = served.check(active, active, [apache.name])
    assert leaf.serial_number == staged.serial_number
    errors = [e for e in apache.events() if e.startswith("errored")]
    assert not errors, apache.log()  # no AH10056 retries (issue 14 item 2)
    return leaf


def _serial(leaf: x509.Certificate) -> str:
    return format(leaf.serial_number, "x")


def test_mod_md_http01_certificate_served(served: Served) -> None:
    name = f"md-http-{secrets.token_hex(4)}.example.com"
    with md_apache(served, name, ["MDCAChallenges http-01"]) as apache:
        leaf = _obtained(apache, served)
    (order,) = _one_certificate_per_order(served, name)
    assert order["cert_serial"] == _serial(leaf) and order["profile"] == "classic"
    assert _challenge_types(served, order["id"]) == ["http-01"]
    print(f"mod_md http-01: {serials.display(leaf.serial_number)}")


def test_mod_md_tls_alpn01_certificate_served(served: Served) -> None:
    name = f"md-alpn-{secrets.token_hex(4)}.example.com"
    directives = ["Protocols h2 http/1.1 acme-tls/1", "MDCAChallenges tls-alpn-01"]
    with md_apache(served, name, directives) as apache:
        leaf = _obtained(apache, served)
    (order,) = _one_certificate_per_order(served, name)
    assert order["cert_serial"] == _serial(leaf)
    assert _challenge_types(served, order["id"]) == ["tls-alpn-01"]
    print(f"mod_md tls-alpn-01: {serials.display(leaf.serial_number)}")


def test_mod_md_profile_short_lived(served: Served) -> None:
    name = f"md-short-{secrets.token_hex(4)}.example.com"
    with md_apache(served, name, ["MDProfile short-lived", "MDProfileMandatory on"]) as apache:
        leaf = _obtained(apache, served)
    (order,) = _one_certificate_per_order(served, name)
    assert order["profile"] == "short-lived"
    (row,) = _query(served, "SELECT profile FROM certificates WHERE serial = ?", _serial(leaf))
    assert row["profile"] == "short-lived"
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc <= dt.timedelta(days=7)
    print(f"mod_md MDProfile short-lived: {serials.display(leaf.serial_number)}")


def test_mod_md_renewal_replaces(served: Served) -> None:
    """A renewal window longer than any certificate makes mod_md renew at once; its newOrder
    names the certificate it replaces (RFC 9773 section 5), in either spelling."""
    name = f"md-renew-{secrets.token_hex(4)}.example.com"
    with md_apache(served, name, ["MDRenewWindow 3650d"]) as apache:
        first = _obtained(apache, served)
        apache.directives = []  # from the next reload on: the default window, no third renewal
        apache.write_conf()
        renewed = _obtained(apache, served, count=2)
    assert renewed.serial_number != first.serial_number
    original, renewal = _one_certificate_per_order(served, name)
    assert (original["cert_serial"], renewal["cert_serial"]) == (_serial(first), _serial(renewed))
    aki = first.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier is not None
    assert renewal["replaces"] in m.cert_id_forms(aki.key_identifier, first.serial_number)
    print(
        f"mod_md renewal: {serials.display(first.serial_number)} -> "
        f"{serials.display(renewed.serial_number)} replaces={renewal['replaces']}"
    )
