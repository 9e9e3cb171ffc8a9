"""Tables of the acme area (migration 0003); they share padlock.store.tables.metadata.

- ``acme_accounts``: one row per account key per directory (``directory`` is ``acme``
  for the trusted directory, ``test`` for the test one); the key as canonical JWK and
  its RFC 7638 thumbprint, unique per directory.
- ``acme_orders``, ``acme_authorizations``, ``acme_challenges``: RFC 8555 resources.
  An order keeps its authorization ids (JSON) so that it is read in one query.
- ``acme_nonces``: nonces already *used*. A nonce is ``time || random || MAC``; the
  server checks the MAC and the age, then inserts the ``time || random`` part here:
  the primary key makes a second use fail, in every worker at once. The key sorts by
  time, so expired rows are purged by a range delete.
- ``acme_secrets``: the nonce MAC key, shared by every worker.
- ``acme_rate_limits``: per-account counters per fixed window (orders, failed validations).
- ``acme_account_keys`` (migration 0008): the thumbprints of keys an account rolled over
  from, so that a dns-persist-01 record made with one still validates
  (draft-ietf-acme-dns-persist-02 section 4.2's retention rule).

Times follow tables.py (UTC; text on SQLite); JSON columns are text.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from padlock.store.schema import metadata

_Time = DateTime(timezone=True)

acme_accounts = Table(
    "acme_accounts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("directory", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("jwk", Text, nullable=False),
    Column("thumbprint", String(64), nullable=False),
    Column("contact", Text, nullable=False),
    Column("tos_agreed", Boolean, nullable=False),
    Column("eab_kid", String(), nullable=True),
    Column("created_at", _Time, nullable=False),
    Column("updated_at", _Time, nullable=False),
    CheckConstraint("status IN ('valid', 'deactivated', 'revoked')", name="status"),
    UniqueConstraint("directory", "thumbprint"),
)

acme_orders = Table(
    "acme_orders",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", String(32), ForeignKey("acme_accounts.id"), nullable=False),
    Column("directory", String(16), nullable=False),
    Column("profile", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("identifiers", Text, nullable=False),
    Column("authz_ids", Text, nullable=False),
    Column("expires", _Time, nullable=False),
    Column("created_at", _Time, nullable=False),
    Column("updated_at", _Time, nullable=False),
    Column("csr", LargeBinary, nullable=True),
    Column("cert_serial", String(40), nullable=True),
    Column("error", Text, nullable=True),
    Column("replaces", String(), nullable=True),
    CheckConstraint(
        "status IN ('pending', 'ready', 'processing', 'valid', 'invalid')", name="status"
    ),
    Index(None, "account_id", "created_at"),
    Index(None, "cert_serial"),
    Index(None, "replaces"),
    Index(None, "status", "profile"),
)

acme_authorizations = Table(
    "acme_authorizations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("order_id", String(32), ForeignKey("acme_orders.id"), nullable=False),
    Column("account_id", String(32), nullable=False),
    Column("identifier_type", String(8), nullable=False),
    Column("identifier_value", String(255), nullable=False),
    Column("wildcard", Boolean, nullable=False),
    Column("status", String(16), nullable=False),
    Column("expires", _Time, nullable=False),
    Column("updated_at", _Time, nullable=False),
    CheckConstraint(
        "status IN ('pending', 'valid', 'invalid', 'deactivated', 'expired', 'revoked')",
        name="status",
    ),
    Index(None, "order_id"),
    Index(None, "account_id", "identifier_value"),
)

acme_challenges = Table(
    "acme_challenges",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("authz_id", String(32), ForeignKey("acme_authorizations.id"), nullable=False),
    Column("type", String(16), nullable=False),
    Column("token", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("validated_at", _Time, nullable=True),
    Column("claimed_at", _Time, nullable=True),
    Column("error", Text, nullable=True),
    Column("evidence", Text, nullable=True),
    CheckConstraint("status IN ('pending', 'processing', 'valid', 'invalid')", name="status"),
    Index(None, "authz_id"),
)

acme_nonces = Table(
    "acme_nonces",
    metadata,
    Column("nonce", String(40), primary_key=True),
)

acme_secrets = Table(
    "acme_secrets",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("value", LargeBinary, nullable=False),
    Column("created_at", _Time, nullable=False),
)

acme_rate_limits = Table(
    "acme_rate_limits",
    metadata,
    Column("account_id", String(32), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("window_start", _Time, primary_key=True),
    Column("count", Integer, nullable=False),
)

__all__ = [
    "acme_accounts",
    "acme_authorizations",
    "acme_challenges",
    "acme_nonces",
    "acme_orders",
    "acme_rate_limits",
    "acme_secrets",
    "metadata",
]

acme_account_keys = Table(
    "acme_account_keys",
    metadata,
    Column("account_id", String(32), primary_key=True),
    Column("thumbprint", String(64), primary_key=True),
    Column("retired_at", _Time, nullable=False),
)
