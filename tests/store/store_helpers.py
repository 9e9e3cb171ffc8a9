"""Helpers shared by the store tests (and their worker processes, which import this by name)."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from typing import Any

from sqlalchemy.engine import make_url

from padlock.ca.ports import AuditEntry, Reservation
from padlock.store import SqlStore

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = ["sqlite", "postgresql"]
NOW = dt.datetime(2026, 11, 27, 12, 0, 0, 123456, tzinfo=dt.UTC)


def pg_base_url() -> str:
    return os.environ.get("PADLOCK_TEST_PG_URL", DEFAULT_PG_URL)


def url_with_schema(base: str, schema: str) -> str:
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def random_serial() -> int:
    return secrets.randbits(127) | (1 << 127)


def reservation(serial: int | None = None, **changes: Any) -> Reservation:
    fields: dict[str, Any] = {
        "serial": random_serial() if serial is None else serial,
        "hierarchy": "test",
        "issuer": "test-int",
        "profile": "test",
        "request_id": None,
        "subject": "CN=www.example.com",
        "names": ("www.example.com", "example.com"),
        "not_before": NOW,
        "not_after": NOW + dt.timedelta(days=21),
        "tbs_der": b"\x30\x82tbs" + secrets.token_bytes(64),
        "reserved_at": NOW,
        "key_fingerprint": secrets.token_hex(32),
    }
    fields.update(changes)
    return Reservation(**fields)


def entry(action: str, serial: int, **details: Any) -> AuditEntry:
    return AuditEntry(action, "test", "certificate", format(serial, "x"), dict(details))


def reserve(store: SqlStore, serial: int | None = None, **changes: Any) -> Reservation:
    r = reservation(serial, **changes)
    store.reserve_certificate(r, entry("certificate.reserved", r.serial, profile=r.profile))
    return r


def issue(store: SqlStore, serial: int | None = None, **changes: Any) -> Reservation:
    r = reserve(store, serial, **changes)
    der = b"\x30\x82cert" + secrets.token_bytes(64)
    store.complete_certificate(
        r.serial, der, secrets.token_hex(32), NOW, entry("certificate.issued", r.serial)
    )
    return r


def contend(url: str, worker: int, shared: list[int], own: int) -> tuple[list[int], int]:
    """Reserve and issue: every worker tries all of ``shared``, plus ``own`` serials of its own.

    Returns (serials this worker reserved, Conflicts it met). Runs in a thread or
    in a spawned process (which opens, and so also migrates, the store itself).
    """
    from padlock.errors import Conflict
    from padlock.store import open_store

    store = open_store(url)
    try:
        won: list[int] = []
        conflicts = 0
        mine = [(worker << 64) | i | (1 << 100) for i in range(1, own + 1)]
        for serial in [*shared, *mine]:
            try:
                reserve(store, serial)
            except Conflict:
                conflicts += 1
                continue
            won.append(serial)
            store.complete_certificate(
                serial, b"DER", "00" * 32, NOW, entry("certificate.issued", serial)
            )
        return won, conflicts
    finally:
        store.close()
