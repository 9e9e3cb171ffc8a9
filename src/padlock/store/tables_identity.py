"""The CA's identity (migration 0007); it shares padlock.store.tables.metadata.

- ``ca_identity``: one row per CA certificate of the authority that owns this database
  (``test-root``, ``test-issuing``, ``trusted-root``, ``trusted-issuing``): the SHA-256 of
  the certificate's DER and of its SubjectPublicKeyInfo, and the certificate itself.
  Written by ``ca init`` (or on the first start of a database made before it existed);
  every host that signs compares its data dir's CA with it, so a second host cannot
  bring a second CA into the same tables.
"""

from __future__ import annotations

from sqlalchemy import Column, LargeBinary, String, Table

from padlock.store.schema import UtcDateTime, metadata

__all__ = ["ca_identity", "metadata"]

ca_identity = Table(
    "ca_identity",
    metadata,
    Column("issuer", String(64), primary_key=True),
    Column("cert_sha256", String(64), nullable=False),
    Column("key_sha256", String(64), nullable=False),
    Column("der", LargeBinary, nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
)
