"""The shard tables on SQLite and PostgreSQL: numbers, revisions, entries, stored CRLs."""

from __future__ import annotations

import datetime as dt

from padlock.ca.ports.crl_shards import ShardCrl, ShardHead
from padlock.pki.crl_shards import FULL, revoked_entry
from padlock.store import SqlStore
from padlock.store.crl_shards import CrlShardRepository

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
ISSUER = "test-issuing"


def _crl(shard: int, number: int, revision: int = 0) -> ShardCrl:
    head = ShardHead(ISSUER, shard, number, revision, NOW, NOW + dt.timedelta(days=7))
    return ShardCrl(head, 0, f"crl {number}".encode())


def test_store_crl_shards_numbers_count_up_per_shard(store: SqlStore) -> None:
    repo = CrlShardRepository(store)
    assert [repo.allocate_number(ISSUER, 3) for _ in range(3)] == [1, 2, 3]
    assert repo.allocate_numbers(ISSUER, [3, 0, FULL]) == {FULL: 1, 0: 1, 3: 4}
    assert repo.allocate_number("trusted-issuing", 3) == 1
    assert repo.revisions(ISSUER) == {0: 0, 3: 0}  # the full CRL (-1) is no shard


def test_store_crl_shards_entries_bump_revisions_and_leave_when_expired(store: SqlStore) -> None:
    repo = CrlShardRepository(store)
    rows = [
        (0x1001, 1, NOW, "keyCompromise", NOW + dt.timedelta(days=30)),
        (0x1002, 1, NOW, "unspecified", NOW + dt.timedelta(days=1)),
        (0x1003, 2, NOW, "superseded", NOW + dt.timedelta(days=30)),
    ]
    repo.add_entries(ISSUER, rows)
    assert repo.revisions(ISSUER) == {1: 1, 2: 1}
    assert sorted(repo.entries(ISSUER, 1, NOW)) == sorted(
        [revoked_entry(0x1001, NOW, "keyCompromise"), revoked_entry(0x1002, NOW, "unspecified")]
    )
    later = NOW + dt.timedelta(days=2)
    assert repo.entries(ISSUER, 1, later) == [revoked_entry(0x1001, NOW, "keyCompromise")]
    assert sorted(repo.all_entries(ISSUER, later)) == sorted(
        [
            (1, revoked_entry(0x1001, NOW, "keyCompromise")),
            (2, revoked_entry(0x1003, NOW, "superseded")),
        ]
    )
    assert repo.entries("trusted-issuing", 1, NOW) == []


def test_store_crl_shards_a_lower_number_never_replaces_a_higher(store: SqlStore) -> None:
    repo = CrlShardRepository(store)
    assert repo.save(_crl(5, 7, revision=2))
    assert not repo.save(_crl(5, 6, revision=3))  # a slow host's older CRL
    assert not repo.save(_crl(5, 7, revision=3))  # the same number: never twice
    stored = repo.get(ISSUER, 5)
    assert stored is not None and stored.der == b"crl 7" and stored.head.revision == 2
    assert repo.save_many([_crl(5, 9), _crl(6, 1)]) == [True, True]
    assert repo.head(ISSUER, 5) == ShardHead(ISSUER, 5, 9, 0, NOW, NOW + dt.timedelta(days=7))
    assert sorted(repo.heads(ISSUER)) == [5, 6]
    assert repo.get(ISSUER, 7) is None and repo.head(ISSUER, 7) is None
