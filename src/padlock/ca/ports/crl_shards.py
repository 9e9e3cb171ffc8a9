"""The storage port of partitioned CRLs (``store.crl_shards.CrlShardRepository``).

A shard's revoked entries are written by the revocation itself (in its transaction,
``RevocationStore.revoke``); what is read and written here is the CRL numbers, the
revision each shard has reached, the entries to list, and the signed CRLs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from padlock.pki.crl_ocsp import half_way


@dataclass(frozen=True)
class ShardHead:
    """What a stored shard CRL is, without its bytes: for conditional GETs and upkeep."""

    issuer: str
    shard: int
    number: int
    revision: int  # the shard's revision (revocations into it) this CRL shows
    this_update: dt.datetime
    next_update: dt.datetime

    @property
    def etag(self) -> str:
        """An entity tag that changes with every new CRL of the shard (RFC 9110 8.8.3)."""
        return f'"{self.issuer}-{self.shard}-{self.number}"'

    def refresh_due(self, now: dt.datetime) -> bool:
        return half_way(self.this_update, self.next_update, now)


@dataclass(frozen=True)
class ShardCrl:
    head: ShardHead
    entries: int
    der: bytes


class CrlShardStore(Protocol):
    def allocate_number(self, issuer: str, shard: int) -> int:
        """The next CRL number of (issuer, shard), committed before it is used: two hosts
        asking at once get two numbers (RFC 5280 5.2.3: a CRL number is never reused)."""

    def allocate_numbers(self, issuer: str, shards: Sequence[int]) -> Mapping[int, int]:
        """:meth:`allocate_number` of each shard, in one transaction."""

    def revisions(self, issuer: str) -> Mapping[int, int]:
        """{shard: revision} of every shard of ``issuer`` that has had a revocation."""

    def heads(self, issuer: str) -> Mapping[int, ShardHead]:
        """{shard: head} of every stored shard CRL of ``issuer``."""

    def head(self, issuer: str, shard: int) -> ShardHead | None: ...

    def get(self, issuer: str, shard: int) -> ShardCrl | None: ...

    def entries(self, issuer: str, shard: int, expired_before: dt.datetime) -> Sequence[bytes]:
        """The DER entries (``pki.crl_shards.revoked_entry``) of the shard's revoked
        certificates still valid at ``expired_before``."""

    def all_entries(self, issuer: str, expired_before: dt.datetime) -> Iterator[tuple[int, bytes]]:
        """(shard, DER entry) of every entry of ``issuer`` still valid at ``expired_before``,
        in one pass over the table."""

    def save(self, crl: ShardCrl) -> bool:
        """Store ``crl`` unless a CRL of a higher number is stored already; whether it was."""

    def save_many(self, crls: Sequence[ShardCrl]) -> list[bool]:
        """:meth:`save` of each, in one transaction."""
