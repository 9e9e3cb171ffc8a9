"""The certificate life cycle in storage: reserve, complete, revoke, abandon, and their refusals."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from store_helpers import NOW, entry, issue, reservation, reserve

from padlock.ca.ports import CertState
from padlock.errors import AlreadyRevoked, Conflict, NotFound
from padlock.store import SqlStore

MAX_SERIAL = (1 << 160) - 1


def test_store_reserve_then_get(store: SqlStore) -> None:
    r = reserve(store, request_id="req-1")
    record = store.get_certificate(r.serial)
    assert record is not None
    assert record.serial == r.serial
    assert record.state is CertState.RESERVED
    assert (record.hierarchy, record.issuer, record.profile) == ("test", "test-int", "test")
    assert record.request_id == "req-1"
    assert record.subject == r.subject
    assert record.names == r.names
    assert isinstance(record.names, tuple)
    assert record.not_before == r.not_before
    assert record.not_after == r.not_after
    assert record.reserved_at == r.reserved_at
    assert record.key_fingerprint == r.key_fingerprint
    assert record.der is None and record.sha256 is None and record.issued_at is None
    assert record.revoked_at is None and record.revocation_reason is None


def test_store_get_unknown_serial_is_none(store: SqlStore) -> None:
    assert store.get_certificate(12345) is None
    assert store.get_certificate(-1) is None
    assert store.get_certificate(1 << 200) is None


def test_store_serial_up_to_160_bits(store: SqlStore) -> None:
    for serial in (1, MAX_SERIAL, 1 << 159):
        reserve(store, serial)
        record = store.get_certificate(serial)
        assert record is not None and record.serial == serial
    with store.engine.connect() as conn:
        stored = {row[0] for row in conn.exec_driver_sql("SELECT serial FROM certificates")}
    assert stored == {"1", "f" * 40, "8" + "0" * 39}


@pytest.mark.parametrize("serial", [0, -5, 1 << 160])
def test_store_serial_out_of_range_refused(store: SqlStore, serial: int) -> None:
    with pytest.raises(ValueError, match="serial"):
        store.reserve_certificate(reservation(serial), entry("certificate.reserved", 1))
    assert store.audit_head()[0] == 0


def test_store_duplicate_serial_conflict(store: SqlStore) -> None:
    r = reserve(store)
    head = store.audit_head()
    with pytest.raises(Conflict, match=format(r.serial, "x")) as caught:
        store.reserve_certificate(
            reservation(r.serial, subject="CN=other.example"),
            entry("certificate.reserved", r.serial),
        )
    assert caught.value.__cause__ is not None  # raised from the database's IntegrityError
    # nothing of the refused reservation was written, not even its audit event
    assert store.audit_head() == head
    record = store.get_certificate(r.serial)
    assert record is not None and record.subject == "CN=www.example.com"


@pytest.mark.parametrize("with_record", [False, True])
def test_store_complete_reserved(store: SqlStore, with_record: bool) -> None:
    r = reserve(store)
    issued_at = NOW + dt.timedelta(seconds=2)
    record = store.complete_certificate(
        r.serial,
        b"DER",
        "ab" * 32,
        issued_at,
        entry("certificate.issued", r.serial),
        r.issued(b"DER", "ab" * 32, issued_at) if with_record else None,
    )
    assert record.state is CertState.ISSUED
    assert record.der == b"DER"
    assert type(record.der) is bytes  # not a memoryview
    assert record.sha256 == "ab" * 32
    assert record.issued_at == issued_at
    assert record.serial == r.serial and record.names == r.names
    assert store.get_certificate(r.serial) == record


@pytest.mark.parametrize("with_record", [False, True])
def test_store_complete_issued_conflict(store: SqlStore, with_record: bool) -> None:
    r = issue(store)
    head = store.audit_head()
    with pytest.raises(Conflict, match="is issued"):
        store.complete_certificate(
            r.serial,
            b"X",
            "00" * 32,
            NOW,
            entry("certificate.issued", r.serial),
            r.issued(b"X", "00" * 32, NOW) if with_record else None,
        )
    assert store.audit_head() == head
    record = store.get_certificate(r.serial)
    assert record is not None and record.der != b"X"


def test_store_complete_abandoned_conflict(store: SqlStore) -> None:
    r = reserve(store)
    store.abandon_certificate(r.serial, entry("certificate.abandoned", r.serial))
    with pytest.raises(Conflict, match="is abandoned"):
        store.complete_certificate(
            r.serial, b"X", "00" * 32, NOW, entry("certificate.issued", r.serial)
        )


def test_store_complete_unknown_not_found(store: SqlStore) -> None:
    with pytest.raises(NotFound):
        store.complete_certificate(777, b"X", "00" * 32, NOW, entry("certificate.issued", 777))
    assert store.audit_head()[0] == 0


def test_store_complete_refuses_another_record(store: SqlStore) -> None:
    r, other = reserve(store), reserve(store)
    head = store.audit_head()
    for wrong in (other.issued(b"X", "00" * 32, NOW), r.issued(b"Y", "00" * 32, NOW)):
        with pytest.raises(ValueError, match="not the one"):
            store.complete_certificate(
                r.serial, b"X", "00" * 32, NOW, entry("certificate.issued", r.serial), wrong
            )
    assert store.audit_head() == head


def test_store_revoke_issued(store: SqlStore) -> None:
    r = issue(store)
    at = NOW + dt.timedelta(days=1)
    record = store.revoke_certificate(
        r.serial, "keyCompromise", at, entry("certificate.revoked", r.serial)
    )
    assert record.state is CertState.REVOKED
    assert record.revoked_at == at
    assert record.revocation_reason == "keyCompromise"
    assert record.der is not None
    assert store.get_certificate(r.serial) == record


def test_store_revoke_twice_already_revoked(store: SqlStore) -> None:
    r = issue(store)
    store.revoke_certificate(r.serial, "superseded", NOW, entry("certificate.revoked", r.serial))
    head = store.audit_head()
    with pytest.raises(AlreadyRevoked):
        store.revoke_certificate(
            r.serial, "keyCompromise", NOW, entry("certificate.revoked", r.serial)
        )
    assert store.audit_head() == head
    record = store.get_certificate(r.serial)
    assert record is not None and record.revocation_reason == "superseded"


def test_store_revoke_reserved_conflict(store: SqlStore) -> None:
    r = reserve(store)
    with pytest.raises(Conflict, match="is reserved"):
        store.revoke_certificate(r.serial, "unspecified", NOW, entry("x", r.serial))


def test_store_revoke_unknown_not_found(store: SqlStore) -> None:
    with pytest.raises(NotFound):
        store.revoke_certificate(99, "unspecified", NOW, entry("x", 99))


def test_store_abandon_reserved(store: SqlStore) -> None:
    r = reserve(store)
    store.abandon_certificate(r.serial, entry("certificate.abandoned", r.serial, lint=["E1"]))
    record = store.get_certificate(r.serial)
    assert record is not None and record.state is CertState.ABANDONED
    assert record.der is None
    last = list(store.iter_events())[-1]
    assert last.action == "certificate.abandoned"
    assert last.details == {"lint": ["E1"]}


def test_store_abandon_issued_conflict(store: SqlStore) -> None:
    r = issue(store)
    with pytest.raises(Conflict, match="is issued"):
        store.abandon_certificate(r.serial, entry("certificate.abandoned", r.serial))
    record = store.get_certificate(r.serial)
    assert record is not None and record.state is CertState.ISSUED


def test_store_abandon_unknown_not_found(store: SqlStore) -> None:
    with pytest.raises(NotFound):
        store.abandon_certificate(5, entry("certificate.abandoned", 5))


def test_store_every_change_is_audited(store: SqlStore) -> None:
    a = issue(store)
    b = reserve(store)
    store.abandon_certificate(b.serial, entry("certificate.abandoned", b.serial))
    store.revoke_certificate(a.serial, "superseded", NOW, entry("certificate.revoked", a.serial))
    events = list(store.iter_events())
    assert [(e.action, e.object_id) for e in events] == [
        ("certificate.reserved", format(a.serial, "x")),
        ("certificate.issued", format(a.serial, "x")),
        ("certificate.reserved", format(b.serial, "x")),
        ("certificate.abandoned", format(b.serial, "x")),
        ("certificate.revoked", format(a.serial, "x")),
    ]
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert store.audit_head() == (5, events[-1].hash)


def test_store_list_newest_first(store: SqlStore) -> None:
    serials = [reserve(store, reserved_at=NOW + dt.timedelta(minutes=i)).serial for i in range(5)]
    listed = [r.serial for r in store.list_certificates()]
    assert listed == serials[::-1]
    assert [r.serial for r in store.list_certificates(limit=2)] == serials[::-1][:2]
    assert [r.serial for r in store.list_certificates(limit=2, offset=2)] == serials[::-1][2:4]
    assert store.list_certificates(limit=10, offset=5) == []


def test_store_list_by_state(store: SqlStore) -> None:
    issued = issue(store, reserved_at=NOW)
    reserved = reserve(store, reserved_at=NOW + dt.timedelta(minutes=1))
    revoked = issue(store, reserved_at=NOW + dt.timedelta(minutes=2))
    store.revoke_certificate(revoked.serial, "superseded", NOW, entry("x", revoked.serial))
    abandoned = reserve(store, reserved_at=NOW + dt.timedelta(minutes=3))
    store.abandon_certificate(abandoned.serial, entry("x", abandoned.serial))

    def serials(state: CertState) -> list[int]:
        return [r.serial for r in store.list_certificates(state)]

    assert serials(CertState.ISSUED) == [issued.serial]
    assert serials(CertState.RESERVED) == [reserved.serial]
    assert serials(CertState.REVOKED) == [revoked.serial]
    assert serials(CertState.ABANDONED) == [abandoned.serial]
    assert len(store.list_certificates()) == 4


def test_store_list_negative_limit_refused(store: SqlStore) -> None:
    with pytest.raises(ValueError):
        store.list_certificates(limit=-1)


def test_store_times_come_back_utc(store: SqlStore) -> None:
    plus2 = dt.timezone(dt.timedelta(hours=2))
    local = dt.datetime(2026, 6, 1, 14, 30, 0, 5, tzinfo=plus2)
    r = reserve(store, not_before=local, reserved_at=local)
    record = store.get_certificate(r.serial)
    assert record is not None
    assert record.not_before == local
    assert record.not_before.tzinfo == dt.UTC
    assert record.not_before.hour == 12
    assert record.not_before.microsecond == 5
    assert record.reserved_at.tzinfo == dt.UTC


def test_store_naive_time_refused(store: SqlStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        reserve(store, not_before=dt.datetime(2026, 1, 1))
    assert store.list_certificates() == []
    assert store.audit_head()[0] == 0


def test_store_names_and_subject_unicode(store: SqlStore) -> None:
    names = ("xn--bcher-kva.example", "*.example.org", "192.0.2.1")
    r = reserve(store, names=names, subject="CN=bücher.example,O=Ünïcode")
    record = store.get_certificate(r.serial)
    assert record is not None
    assert record.names == names
    assert record.subject == "CN=bücher.example,O=Ünïcode"


def test_store_certificate_counts(store: SqlStore) -> None:
    assert store.certificate_counts() == {}
    issue(store)
    issue(store)
    issue(store, profile="dv")
    reserve(store, profile="dv")
    gone = reserve(store)
    store.abandon_certificate(gone.serial, entry("certificate.abandoned", gone.serial))
    assert store.certificate_counts() == {
        ("test", "issued"): 2,
        ("test", "abandoned"): 1,
        ("dv", "issued"): 1,
        ("dv", "reserved"): 1,
    }


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(), max_size=5))
def test_names_json_is_json_dumps(names: list[str]) -> None:
    import json

    from padlock.store.certificates import _names_json

    assert _names_json(names) == json.dumps(names)
    assert json.loads(_names_json(tuple(names))) == names


def test_reservation_issued_is_the_record_the_constructor_makes() -> None:
    import dataclasses

    from padlock.ca.ports import CertificateRecord

    r = reservation(not_before=NOW.astimezone(dt.timezone(dt.timedelta(hours=2))))
    record = r.issued(b"DER", "ab" * 32, NOW)
    made = CertificateRecord(
        serial=r.serial,
        hierarchy=r.hierarchy,
        issuer=r.issuer,
        profile=r.profile,
        request_id=r.request_id,
        state=CertState.ISSUED,
        subject=r.subject,
        names=tuple(r.names),
        not_before=r.not_before.astimezone(dt.UTC),
        not_after=r.not_after.astimezone(dt.UTC),
        reserved_at=r.reserved_at.astimezone(dt.UTC),
        key_fingerprint=r.key_fingerprint,
        der=b"DER",
        sha256="ab" * 32,
        issued_at=NOW,
    )
    assert record == made and hash(record) == hash(made)
    assert vars(record) == vars(made)  # every field, none more
    assert {f.name for f in dataclasses.fields(CertificateRecord)} == set(vars(record))
    assert record.not_before.tzinfo is dt.UTC
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.serial = 1  # type: ignore[misc]
