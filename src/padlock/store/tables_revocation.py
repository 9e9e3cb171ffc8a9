"""Tables of the revocation area (migration 0004); they share padlock.store.tables.metadata.

- ``revocation_state``: per issuer, a generation number bumped by every revocation
  (in the revocation's transaction). The OCSP responders' in-process caches and
  the CRL refresher compare it with what they hold: one indexed single-row read.
- ``crls``: the current CRL of each issuer (DER), with its CRL number (monotonic,
  replaced by compare-and-set on the number) and the generation it reflects.
- ``ocsp_responses``: pre-signed OCSP responses per (serial, CertID hash
  algorithm), with the certificate state they were signed for.
- ``blocked_keys``: keys revoked for keyCompromise; never certified again.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, LargeBinary, String, Table

from padlock.store.schema import UtcDateTime, metadata

__all__ = ["blocked_keys", "crls", "metadata", "ocsp_responses", "revocation_state"]

_Time = UtcDateTime()

revocation_state = Table(
    "revocation_state",
    metadata,
    Column("issuer", String(64), primary_key=True),
    Column("generation", BigInteger, nullable=False),
)

crls = Table(
    "crls",
    metadata,
    Column("issuer", String(64), primary_key=True),
    Column("number", BigInteger, nullable=False),
    Column("generation", BigInteger, nullable=False),
    Column("this_update", _Time, nullable=False),
    Column("next_update", _Time, nullable=False),
    Column("entries", BigInteger, nullable=False),
    Column("der", LargeBinary, nullable=False),
)

ocsp_responses = Table(
    "ocsp_responses",
    metadata,
    Column("serial", String(40), primary_key=True),
    Column("hash_alg", String(16), primary_key=True),
    Column("issuer", String(64), nullable=False),
    Column("cert_state", String(16), nullable=False),
    Column("this_update", _Time, nullable=False),
    Column("next_update", _Time, nullable=False),
    Column("der", LargeBinary, nullable=False),
    Index(None, "next_update"),
)

blocked_keys = Table(
    "blocked_keys",
    metadata,
    Column("key_fingerprint", String(), primary_key=True),
    Column("serial", String(40), nullable=False),
    Column("blocked_at", _Time, nullable=False),
    Column("actor", String(), nullable=False),
)
