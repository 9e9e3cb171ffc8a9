"""The database schema, as SQLAlchemy Core tables.

These definitions describe the schema the Alembic migrations create; the
migrations themselves are frozen copies and never import this module.
``tests/store`` checks that the two agree.

Conventions:

- a serial number is stored as lower-case hexadecimal without leading zeros
  (``format(serial, "x")``), at most 40 digits (160 bits), and is the primary key;
- times are UTC. PostgreSQL stores ``timestamptz``; SQLite has no time zones, so
  the value is stored as UTC text (``YYYY-MM-DD HH:MM:SS.ffffff``, SQLAlchemy's
  own SQLite format) and read back with ``tzinfo=UTC`` attached;
- lists and mappings (``names``, ``details``) are JSON text.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from padlock.store.schema import metadata as metadata  # the whole schema, once imported

CERT_STATES = ("reserved", "issued", "revoked", "abandoned")

# SQLite only makes "INTEGER PRIMARY KEY" an alias of the rowid; elsewhere 64 bits.
_SeqType = BigInteger().with_variant(Integer(), "sqlite")
_Time = DateTime(timezone=True)

certificates = Table(
    "certificates",
    metadata,
    Column("serial", String(40), primary_key=True),
    Column("hierarchy", String(), nullable=False),
    Column("issuer", String(), nullable=False),
    Column("profile", String(), nullable=False),
    Column("request_id", String(), nullable=True),
    Column("state", String(), nullable=False),
    Column("subject", Text, nullable=False),
    Column("names", Text, nullable=False),  # JSON array of strings
    Column("not_before", _Time, nullable=False),
    Column("not_after", _Time, nullable=False),
    Column("reserved_at", _Time, nullable=False),
    Column("issued_at", _Time, nullable=True),
    Column("revoked_at", _Time, nullable=True),
    Column("revocation_reason", String(), nullable=True),
    Column("key_fingerprint", String(), nullable=False),
    Column("tbs_der", LargeBinary, nullable=False),
    Column("der", LargeBinary, nullable=True),
    Column("sha256", String(64), nullable=True),
    CheckConstraint(
        "state IN ('reserved', 'issued', 'revoked', 'abandoned')",
        name="state",
    ),
    CheckConstraint("serial = lower(serial) AND length(serial) BETWEEN 1 AND 40", name="serial"),
    # No index on key_fingerprint (migration 0006): nothing looks certificates up by key.
    Index(None, "reserved_at"),
    Index(None, "state", "reserved_at"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", _SeqType, primary_key=True, autoincrement=False),
    Column("at", _Time, nullable=False),
    Column("action", String(), nullable=False),
    Column("actor", String(), nullable=False),
    Column("object_type", String(), nullable=False),
    Column("object_id", String(), nullable=False),
    Column("details", Text, nullable=False),  # JSON object
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", _SeqType, nullable=False),
    Column("hash", String(64), nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)

# The other areas' tables join the same metadata (kept in their own modules, one
# migration each, importing ``store.schema`` and never this module); importing them
# here makes `metadata` the whole schema.
from padlock.store import (  # noqa: E402, F401
    tables_acme,
    tables_crl_shards,
    tables_enrollment,
    tables_identity,
    tables_review,
    tables_revocation,
)
