"""RevocationRepository on SQLite and PostgreSQL: the revocation transaction, blocked keys,
generations, CRL compare-and-set, pre-signed OCSP responses and their guard."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from store_helpers import NOW, entry, reserve

from padlock.ca.ports import CertState
from padlock.ca.ports.revocation import CachedResponse, StoredCrl
from padlock.errors import AlreadyRevoked, Conflict, NotFound
from padlock.store import SqlStore
from padlock.store.revocation import RevocationRepository


def _issue(store: SqlStore, **changes: object) -> int:
    r = reserve(store, **changes)  # type: ignore[arg-type]
    store.complete_certificate(
        r.serial, b"\x30der", "ab" * 32, NOW, entry("certificate.issued", r.serial)
    )
    return r.serial


@pytest.fixture
def repo(store: SqlStore) -> RevocationRepository:
    return RevocationRepository(store)


def test_revoke_in_one_transaction(store: SqlStore, repo: RevocationRepository) -> None:
    serial = _issue(store, key_fingerprint="sha256:" + "a" * 64)
    assert repo.generation("test-int") == 0
    record = repo.revoke(serial, "keyCompromise", NOW, entry("certificate.revoked", serial), True)
    assert record.state is CertState.REVOKED
    assert (record.revoked_at, record.revocation_reason) == (NOW, "keyCompromise")
    assert repo.is_key_blocked("sha256:" + "a" * 64)
    assert not repo.is_key_blocked("sha256:" + "b" * 64)
    assert repo.generation("test-int") == 1
    assert store.verify_audit().ok
    assert [e.action for e in store.iter_events()][-1] == "certificate.revoked"


def test_revoke_refusals_change_nothing(store: SqlStore, repo: RevocationRepository) -> None:
    serial = _issue(store)
    repo.revoke(serial, "superseded", NOW, entry("certificate.revoked", serial), False)
    head = store.audit_head()
    with pytest.raises(AlreadyRevoked):
        repo.revoke(serial, "superseded", NOW, entry("certificate.revoked", serial), False)
    reserved = reserve(store).serial
    head = store.audit_head()
    with pytest.raises(Conflict):
        repo.revoke(reserved, "superseded", NOW, entry("certificate.revoked", reserved), False)
    with pytest.raises(NotFound):
        repo.revoke(0xABC, "superseded", NOW, entry("certificate.revoked", 0xABC), False)
    assert store.audit_head() == head  # the failed attempts appended nothing
    assert repo.generation("test-int") == 1


def test_same_key_blocked_twice(store: SqlStore, repo: RevocationRepository) -> None:
    fp = "sha256:" + "c" * 64
    first = _issue(store, key_fingerprint=fp)
    repo.revoke(first, "keyCompromise", NOW, entry("certificate.revoked", first), True)
    # A certificate of the key issued after that (an older CA let it through) is revoked
    # for keyCompromise in its turn; the key's block is kept, not written twice.
    later = _issue(store, key_fingerprint=fp)
    repo.revoke(later, "keyCompromise", NOW, entry("certificate.revoked", later), True)
    assert repo.is_key_blocked(fp)


def test_revoke_key_revokes_the_keys_unexpired_certificates(
    store: SqlStore, repo: RevocationRepository
) -> None:
    fp = "sha256:" + "d" * 64
    named, second, third = (_issue(store, key_fingerprint=fp) for _ in range(3))
    expired = _issue(store, key_fingerprint=fp, not_after=NOW - dt.timedelta(seconds=1))
    superseded = _issue(store, key_fingerprint=fp)
    repo.revoke(superseded, "superseded", NOW, entry("certificate.revoked", superseded), False)
    reserved = reserve(store, key_fingerprint=fp).serial
    other_key = _issue(store)
    before = store.audit_head()[0]
    records = repo.revoke_key(named, NOW, entry("certificate.revoked", named, reason="x"))
    assert [r.serial for r in records] == [named, *sorted((second, third), key=lambda s: f"{s:x}")]
    assert all(r.state is CertState.REVOKED for r in records)
    assert all(r.revocation_reason == "keyCompromise" for r in records)
    assert repo.is_key_blocked(fp)

    def state(serial: int) -> CertState:
        record = store.get_certificate(serial)
        assert record is not None
        return record.state

    assert state(expired) is CertState.ISSUED and state(reserved) is CertState.RESERVED
    assert state(other_key) is CertState.ISSUED
    assert store.get_certificate(superseded).revocation_reason == "superseded"  # type: ignore[union-attr]
    events = [e for e in store.iter_events() if e.seq > before]
    assert [int(e.object_id, 16) for e in events] == [r.serial for r in records]
    assert [e.details.get("same_key_as") for e in events] == [None, f"{named:x}", f"{named:x}"]
    assert store.verify_audit().ok
    assert repo.generation("test-int") == 4  # superseded, then three
    # A refusal (the named certificate already revoked) changes nothing.
    head = store.audit_head()
    with pytest.raises(AlreadyRevoked):
        repo.revoke_key(second, NOW, entry("certificate.revoked", second))
    assert store.audit_head() == head


def test_concurrent_revocations_of_one_certificate(
    store: SqlStore, repo: RevocationRepository
) -> None:
    serial = _issue(store)
    outcomes: list[str] = []

    def attempt() -> None:
        try:
            repo.revoke(serial, "superseded", NOW, entry("certificate.revoked", serial), False)
            outcomes.append("revoked")
        except AlreadyRevoked:
            outcomes.append("already")

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["already", "already", "already", "revoked"]
    assert repo.generation("test-int") == 1
    assert store.verify_audit().ok


def test_revoked_entries_and_requests(store: SqlStore, repo: RevocationRepository) -> None:
    live = _issue(store, request_id="req-1")
    expired = _issue(store, not_after=NOW - dt.timedelta(days=1))
    other_issuer = _issue(store, issuer="trusted-int")
    for serial in (live, expired, other_issuer):
        repo.revoke(serial, "unspecified", NOW, entry("certificate.revoked", serial), False)
    entries = list(repo.revoked_entries("test-int", NOW))
    assert [(e.serial, e.revoked_at, e.reason) for e in entries] == [(live, NOW, "unspecified")]
    assert [r.serial for r in repo.certificates_for_request("req-1")] == [live]
    assert repo.certificates_for_request("nothing") == []


def test_crl_compare_and_set(repo: RevocationRepository) -> None:
    later = NOW + dt.timedelta(days=7)
    first = StoredCrl("test-int", 1, 0, NOW, later, 0, b"crl-1")
    assert repo.get_crl("test-int") is None and repo.crl_state("test-int") is None
    assert repo.save_crl(first, None)
    assert not repo.save_crl(first, None)  # someone else stored the first one
    second = StoredCrl("test-int", 2, 3, NOW, later, 5, b"crl-2")
    assert repo.save_crl(second, 1)
    assert not repo.save_crl(StoredCrl("test-int", 2, 3, NOW, later, 5, b"late"), 1)
    assert repo.get_crl("test-int") == second
    assert repo.crl_state("test-int") == (2, 3, NOW, later)


def test_ocsp_rows_guarded_by_certificate_state(
    store: SqlStore, repo: RevocationRepository
) -> None:
    serial = _issue(store)
    later = NOW + dt.timedelta(days=4)
    good = CachedResponse(serial, "sha1", "test-int", "issued", NOW, later, b"good")
    assert repo.save_ocsp(good)
    assert repo.get_ocsp(serial, "sha1") == good
    assert repo.get_ocsp(serial, "sha256") is None
    repo.revoke(serial, "superseded", NOW, entry("certificate.revoked", serial), False)
    assert repo.get_ocsp(serial, "sha1") is None  # dropped with the revocation
    assert not repo.save_ocsp(good)  # signed for "issued": refused now
    revoked = CachedResponse(serial, "sha1", "test-int", "revoked", NOW, later, b"revoked")
    assert repo.save_ocsp(revoked)
    assert repo.save_ocsp(revoked)  # stored again: an update, not a duplicate
    assert repo.get_ocsp(serial, "sha1") == revoked
    assert not repo.save_ocsp(CachedResponse(0xFFF, "sha1", "test-int", "issued", NOW, later, b"x"))


def test_ocsp_save_many_in_one_transaction(store: SqlStore, repo: RevocationRepository) -> None:
    good, revoked, old = _issue(store), _issue(store), _issue(store)
    reserved = reserve(store).serial
    later = NOW + dt.timedelta(days=4)
    repo.save_ocsp(CachedResponse(old, "sha1", "test-int", "issued", NOW, later, b"old"))
    repo.revoke(revoked, "superseded", NOW, entry("certificate.revoked", revoked), False)
    head = store.audit_head()
    batch = [
        CachedResponse(good, "sha1", "test-int", "issued", NOW, later, b"good"),
        CachedResponse(revoked, "sha1", "test-int", "issued", NOW, later, b"stale state"),
        CachedResponse(reserved, "sha1", "test-int", "issued", NOW, later, b"never issued"),
        CachedResponse(0xFFF, "sha1", "test-int", "issued", NOW, later, b"unknown"),
        CachedResponse(old, "sha1", "test-int", "issued", NOW, later, b"replaced"),
        CachedResponse(good, "sha256", "test-int", "issued", NOW, later, b"good256"),
    ]
    assert repo.save_ocsp_many(batch) == [True, False, False, False, True, True]
    assert repo.get_ocsp(good, "sha1") == batch[0]
    assert repo.get_ocsp(good, "sha256") == batch[5]
    assert repo.get_ocsp(old, "sha1") == batch[4]  # replaced, not duplicated
    for serial in (revoked, reserved, 0xFFF):
        assert repo.get_ocsp(serial, "sha1") is None
    assert repo.save_ocsp_many([]) == []
    assert store.audit_head() == head  # caching a response is not an audited change


def test_ocsp_due(store: SqlStore, repo: RevocationRepository) -> None:
    fresh, stale, missing = _issue(store), _issue(store), _issue(store)
    reserve(store)  # never issued: not pre-signed
    later = NOW + dt.timedelta(days=4)
    repo.save_ocsp(CachedResponse(fresh, "sha1", "test-int", "issued", NOW, later, b"f"))
    old = NOW - dt.timedelta(days=3)
    repo.save_ocsp(
        CachedResponse(stale, "sha1", "test-int", "issued", old, old + dt.timedelta(days=4), b"s")
    )
    due = repo.ocsp_due("test-int", NOW - dt.timedelta(days=1), NOW - dt.timedelta(days=2), 100)
    assert {r.serial for r in due} == {stale, missing}
    assert repo.ocsp_due("test-int", NOW, NOW, 0) == []
