"""Tables of partitioned CRLs (migration 0009); they share padlock.store.tables.metadata.

- ``crl_entries``: one row per revoked certificate that names a CRL shard, written in its
  revocation's transaction, with the shard it names and its entry's DER as every CRL of
  the shard lists it: a shard's CRL is one indexed read and a join of bytes.
- ``crl_shard_state``: per (issuer, shard), the last CRL number handed out (allocated
  in its own committed UPDATE, so no number is signed twice, RFC 5280 5.2.3) and the
  revision, bumped by every revocation into the shard. Shard -1 is the issuer's full
  CRL, whose number lives here too.
- ``crl_shards``: each shard's current CRL (DER), its number, and the revision it shows;
  replaced only by a CRL of a higher number.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, String, Table

from padlock.store.schema import UtcDateTime, metadata

__all__ = ["crl_entries", "crl_shard_state", "crl_shards", "metadata"]

_Time = UtcDateTime()

crl_entries = Table(
    "crl_entries",
    metadata,
    Column("serial", String(40), primary_key=True),
    Column("issuer", String(64), nullable=False),
    Column("shard", Integer, nullable=False),
    Column("revoked_at", _Time, nullable=False),
    Column("reason", String(32), nullable=False),
    Column("not_after", _Time, nullable=False),
    Column("der", LargeBinary, nullable=False),  # its revokedCertificates entry, as signed
    Index(None, "issuer", "shard"),
)

crl_shard_state = Table(
    "crl_shard_state",
    metadata,
    Column("issuer", String(64), primary_key=True),
    Column("shard", Integer, primary_key=True),
    Column("last_number", BigInteger, nullable=False),
    Column("revision", BigInteger, nullable=False),
)

crl_shards = Table(
    "crl_shards",
    metadata,
    Column("issuer", String(64), primary_key=True),
    Column("shard", Integer, primary_key=True),
    Column("number", BigInteger, nullable=False),
    Column("revision", BigInteger, nullable=False),
    Column("this_update", _Time, nullable=False),
    Column("next_update", _Time, nullable=False),
    Column("entries", BigInteger, nullable=False),
    Column("der", LargeBinary, nullable=False),
)
