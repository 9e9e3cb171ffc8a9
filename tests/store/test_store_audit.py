"""The audit log in storage: a hash chain that verifies, and shows every edit and deletion."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
import sqlalchemy
from store_helpers import NOW, issue

from padlock.ca.audit import GENESIS, canonical_json, chain_hash, verify_chain
from padlock.ca.ports import AuditEntry
from padlock.store import SqlStore, database
from padlock.store.acme import SqlAcmeStore
from padlock.store.statements import Statements
from padlock.store.tables import audit_events, audit_head


def _append(store: SqlStore, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        store.append_event(
            AuditEntry("test.event", "tester", "thing", str(i), {"i": i}),
            NOW + dt.timedelta(seconds=i),
        )


def _sql(store: SqlStore, statement: str, **params: object) -> None:
    """Change the database behind the store's back, as an intruder would."""
    with store.engine.begin() as conn:
        conn.execute(sqlalchemy.text(statement), params)


def test_store_empty_log(store: SqlStore) -> None:
    assert store.audit_head() == (0, GENESIS)
    assert list(store.iter_events()) == []
    assert verify_chain(store.iter_events(), store.audit_head()).ok
    assert store.verify_audit().ok


def test_store_append_event_chains(store: SqlStore) -> None:
    first = store.append_event(AuditEntry("a", "cli", "t", "1", {"k": "v"}), NOW)
    second = store.append_event(AuditEntry("b", "cli", "t", "2"), NOW)
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS
    assert second.prev_hash == first.hash
    assert first.hash == chain_hash(GENESIS, 1, NOW, "a", "cli", "t", "1", {"k": "v"})
    assert store.audit_head() == (2, second.hash)
    assert list(store.iter_events()) == [first, second]


def test_store_several_events_in_one_transaction_read_and_move_the_head_once(
    store: SqlStore,
) -> None:
    _append(store, 2)
    entries = [AuditEntry("t.many", "tester", "thing", str(i), {"i": i}) for i in range(3)]
    made = store.write(
        lambda cursor: [store.append(cursor, e, NOW, store.times.out(NOW, "at")) for e in entries],
        "appending three events",
    )
    assert [m[0] for m in made] == [3, 4, 5]
    assert [m[1] for m in made[1:]] == [m[2] for m in made[:-1]]  # each chains to the last
    assert store.audit_head() == (5, made[-1][2])
    assert store.verify_audit().ok
    # A transaction that fails after appending leaves neither events nor head behind.
    head = store.audit_head()

    def fails(cursor: object) -> None:
        for e in entries:
            store.append(cursor, e, NOW, store.times.out(NOW, "at"))
        raise RuntimeError("a fault after the appends")

    with pytest.raises(RuntimeError):
        store.write(fails, "a transaction that fails")
    assert store.audit_head() == head
    assert len(list(store.iter_events())) == 5
    # And the next transaction reads the head afresh.
    _append(store, 1, start=10)
    assert store.audit_head()[0] == 6 and store.verify_audit().ok


def test_store_chain_verifies(store: SqlStore) -> None:
    for _ in range(3):
        issue(store)
    _append(store, 5)
    result = verify_chain(store.iter_events(), store.audit_head())
    assert result.ok, result
    assert result.events == 11
    assert store.verify_audit() == result


def test_store_details_round_trip_hash(store: SqlStore) -> None:
    # Values JSON has no type for come back as the text chain_hash hashed them as.
    details = {
        "when": NOW,
        "names": ("a.example", "b.example"),
        "nested": {"z": 1, "a": [1.5, None, True]},
        "text": "ünïcode ✓",
    }
    event = store.append_event(AuditEntry("odd", "cli", "t", "1", details), NOW)
    (stored,) = store.iter_events()
    assert stored.hash == event.hash
    assert stored.details == {
        "when": str(NOW),
        "names": ["a.example", "b.example"],
        "nested": {"z": 1, "a": [1.5, None, True]},
        "text": "ünïcode ✓",
    }
    assert event.details == stored.details
    assert store.verify_audit().ok


def test_store_event_time_utc(store: SqlStore) -> None:
    plus5 = dt.timezone(dt.timedelta(hours=5, minutes=30))
    at = dt.datetime(2026, 3, 1, 8, 0, 0, 999999, tzinfo=plus5)
    store.append_event(AuditEntry("a", "cli", "t", "1"), at)
    (event,) = store.iter_events()
    assert event.at == at
    assert event.at.tzinfo == dt.UTC
    assert store.verify_audit().ok


def test_store_edited_details_detected(store: SqlStore) -> None:
    _append(store, 5)
    _sql(store, "UPDATE audit_events SET details = :d WHERE seq = 3", d='{"i":99}')
    result = verify_chain(store.iter_events(), store.audit_head())
    assert not result.ok
    assert result.first_bad_seq == 3
    assert result.problem is not None and "changed" in result.problem


def test_store_edited_actor_detected(store: SqlStore) -> None:
    _append(store, 3)
    _sql(store, "UPDATE audit_events SET actor = 'someone-else' WHERE seq = 1")
    result = store.verify_audit()
    assert not result.ok and result.first_bad_seq == 1


def test_store_deleted_middle_event_detected(store: SqlStore) -> None:
    _append(store, 5)
    _sql(store, "DELETE FROM audit_events WHERE seq = 3")
    result = verify_chain(store.iter_events(), store.audit_head())
    assert not result.ok
    assert result.first_bad_seq == 4
    assert result.problem is not None and "missing" in result.problem


def test_store_deleted_last_event_detected(store: SqlStore) -> None:
    _append(store, 5)
    _sql(store, "DELETE FROM audit_events WHERE seq = 5")
    result = verify_chain(store.iter_events(), store.audit_head())
    assert not result.ok
    assert result.problem is not None and "deleted" in result.problem
    assert not store.verify_audit().ok


def test_store_rewritten_hash_detected(store: SqlStore) -> None:
    # Recomputing one event's hash after an edit breaks the link of the next.
    _append(store, 4)
    events = list(store.iter_events())
    forged = chain_hash(
        events[1].prev_hash, 2, events[1].at, "test.event", "tester", "thing", "1", {"i": 42}
    )
    _sql(
        store,
        "UPDATE audit_events SET details = :details, hash = :forged WHERE seq = 2",
        details='{"i":42}',
        forged=forged,
    )
    result = store.verify_audit()
    assert not result.ok
    assert result.first_bad_seq == 3


def test_store_missing_head_row_is_storage_error(store: SqlStore) -> None:
    from padlock.errors import StorageError

    _sql(store, "DELETE FROM audit_head")
    with pytest.raises(StorageError, match="audit head"):
        store.append_event(AuditEntry("a", "cli", "t", "1"), NOW)
    with pytest.raises(StorageError, match="audit head"):
        store.audit_head()


def test_store_iter_events_pages(store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database, "EVENT_PAGE", 7)
    _append(store, 30)
    events = list(store.iter_events())
    assert [e.seq for e in events] == list(range(1, 31))
    assert [e.details["i"] for e in events] == list(range(30))
    assert store.verify_audit().ok


def test_store_iter_events_is_a_snapshot(store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database, "EVENT_PAGE", 4)
    _append(store, 10)
    events = store.iter_events()
    seen = [next(events).seq]
    # The store stays usable while a reader iterates, and the reader's view stays put.
    _append(store, 10, start=10)
    seen += [e.seq for e in events]
    assert seen == list(range(1, 11))
    assert store.audit_head()[0] == 20


def test_store_iter_events_abandoned_returns_connection(store: SqlStore) -> None:
    _append(store, 3)
    checked_out = store.engine.pool.checkedout()  # type: ignore[attr-defined]
    events = store.iter_events()
    next(events)
    assert store.engine.pool.checkedout() == checked_out + 1  # type: ignore[attr-defined]
    events.close()
    assert store.engine.pool.checkedout() == checked_out  # type: ignore[attr-defined]


def test_store_verify_audit_while_writing(store: SqlStore) -> None:
    # verify_audit reads the head and the events from one snapshot, so a writer
    # appending meanwhile never makes an intact chain look broken.
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        i = 0
        try:
            while not stop.is_set():
                _append(store, 1, start=i)
                i += 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        results = [store.verify_audit() for _ in range(20)]
    finally:
        stop.set()
        thread.join()
    assert errors == []
    assert all(r.ok for r in results), [r for r in results if not r.ok]
    assert store.verify_audit().ok


# -- one audit append (issue 16) ------------------------------------------------------

# Details whose canonical JSON differs from json.dumps's default form: spaces, an
# accent, a nested mapping, a tuple and a value JSON has no type for (kept as its str).
_AWKWARD = {
    "zeta": "Zoë",
    "alpha": {"b": [1, 2], "a": None},
    "names": ("a.example", "b.example"),
    "when": dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC),
}
_ENTRY = AuditEntry("test.same", "tester", "thing", "x1", _AWKWARD)


def _rows(store: SqlStore) -> list[tuple[object, ...]]:
    with store.engine.connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                sqlalchemy.text(
                    "SELECT seq, at, action, actor, object_type, object_id, details,"
                    " prev_hash, hash FROM audit_events ORDER BY seq"
                )
            )
        ]


def _restart_chain(store: SqlStore) -> None:
    _sql(store, "DELETE FROM audit_events")
    _sql(store, "UPDATE audit_head SET seq = 0, hash = :genesis WHERE id = 1", genesis=GENESIS)


def test_store_audit_every_append_path_writes_equal_rows(store: SqlStore) -> None:
    """The certificate store's write (certificates, enrollment's hot paths), a repository's
    Statements.write (enrollment, revocation, review, identity) and the ACME store's
    transaction all append through the one Database.append: the same row and hash,
    details in canonical JSON."""
    seq = store.write(lambda cursor: store.append(cursor, _ENTRY, NOW)[0], "appending")
    by_cursor = _rows(store)
    _restart_chain(store)
    with Statements(store, {}).write("appending") as tx:
        assert tx.audit(_ENTRY, NOW) == seq == 1
    by_repository = _rows(store)
    _restart_chain(store)
    with SqlAcmeStore(store).transaction() as acme:
        acme.audit(_ENTRY, NOW)
    by_acme = _rows(store)
    assert by_repository == by_cursor == by_acme
    assert by_cursor[0][6] == canonical_json(_AWKWARD)
    assert by_cursor[0][8] == chain_hash(
        GENESIS, 1, NOW, "test.same", "tester", "thing", "x1", _AWKWARD
    )
    assert store.verify_audit().ok


def _old_core_audit(conn: sqlalchemy.Connection, entry: AuditEntry, at: dt.datetime) -> None:
    """What base.Tx.audit wrote before the one append: details as json.dumps's default
    form (spaces after separators), the hash over the canonical form."""
    head = conn.execute(sqlalchemy.select(audit_head.c.seq, audit_head.c.hash)).one()
    seq = int(head[0]) + 1
    digest = chain_hash(
        head[1], seq, at, entry.action, entry.actor, entry.object_type, entry.object_id,
        entry.details,
    )  # fmt: skip
    at_db = at if conn.dialect.name != "sqlite" else at.replace(tzinfo=None)
    conn.execute(
        sqlalchemy.insert(audit_events).values(
            seq=seq, at=at_db, action=entry.action, actor=entry.actor,
            object_type=entry.object_type, object_id=entry.object_id,
            details=json.dumps(entry.details, sort_keys=True, default=str),
            prev_hash=head[1], hash=digest,
        )
    )  # fmt: skip
    conn.execute(sqlalchemy.update(audit_head).values(seq=seq, hash=digest))


def test_store_audit_chain_written_before_one_append_still_verifies(store: SqlStore) -> None:
    """A database made before the change (old-form details) verifies, and chains on."""
    with store.engine.begin() as conn:
        for i in range(3):
            _old_core_audit(conn, AuditEntry("old", "cli", "thing", str(i), _AWKWARD), NOW)
    assert ", " in _rows(store)[0][6]  # the old, non-canonical form
    assert store.verify_audit().ok
    store.write(lambda cursor: store.append(cursor, _ENTRY, NOW), "appending")
    with Statements(store, {}).write("appending") as tx:
        tx.audit(_ENTRY, NOW)
    result = store.verify_audit()
    assert (result.ok, result.events) == (True, 5)
    assert [row[6] == canonical_json(_AWKWARD) for row in _rows(store)] == [False] * 3 + [True] * 2
