"""Tables of the enrollment area (migration 0002); they share padlock.store.tables.metadata.

- ``enrollment_requests``: one row per request; its id is the applicant's capability (192
  random bits). ``claim_token``/``claimed_at`` guard issuance (compare-and-set, so two
  workers never issue twice for one request). Organizations are JSON objects; the reviewer
  is copied (login, display name, email) because reviewers live in a later migration.
- ``enrollment_challenges``: one per DNS name, with its random token and expiry.
- ``enrollment_validations``: every check and what it saw (URL or DNS name, addresses,
  resolver, time, outcome); append-only.
- ``enrollment_documents``: metadata of uploaded files; the content lies in
  ``DATA_DIR/documents/<request id>/<stored_as>``, never under a web root.
- ``enrollment_events``: the request's timeline; each row is written with the audit event
  (``audit_seq``) that records the same step, in the same transaction.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from padlock.store.schema import UtcDateTime, metadata

REQUEST_KINDS = ("test", "dv", "ov")
REQUEST_STATES = ("submitted", "validating", "in_review", "issued", "rejected")
CHALLENGE_STATES = ("pending", "valid", "expired")

_Id = BigInteger().with_variant(Integer(), "sqlite")

enrollment_requests = Table(
    "enrollment_requests",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("state", String(16), nullable=False),
    Column("contact", String(254), nullable=False),
    Column("names", Text, nullable=False),  # JSON array
    Column("csr_pem", Text, nullable=False),
    Column("key_fingerprint", String(128), nullable=False),
    Column("organization", Text, nullable=True),  # JSON, as the applicant gave it
    Column("verified_organization", Text, nullable=True),  # JSON, as the reviewer verified it
    Column("previous_request", String(64), nullable=True),
    Column("reviewer", String(64), nullable=True),
    Column("reviewer_name", String(200), nullable=True),
    Column("reviewer_email", String(254), nullable=True),
    Column("certificate_serial", String(40), nullable=True),
    Column("rejection_reason", Text, nullable=True),
    Column("problem", Text, nullable=True),
    Column("claim_token", String(64), nullable=True),
    Column("claimed_at", UtcDateTime(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    CheckConstraint("kind IN ('test', 'dv', 'ov')", name="kind"),
    CheckConstraint(
        "state IN ('submitted', 'validating', 'in_review', 'issued', 'rejected')", name="state"
    ),
    Index(None, "state", "created_at"),
)

enrollment_challenges = Table(
    "enrollment_challenges",
    metadata,
    Column(
        "request_id",
        String(64),
        ForeignKey("enrollment_requests.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("name", String(255), primary_key=True),
    Column("token", String(64), nullable=False, unique=True),
    Column("state", String(16), nullable=False),
    Column("method", String(16), nullable=True),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("validated_at", UtcDateTime(), nullable=True),
    Column("error", Text, nullable=True),
    CheckConstraint("state IN ('pending', 'valid', 'expired')", name="state"),
)

enrollment_validations = Table(
    "enrollment_validations",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column(
        "request_id",
        String(64),
        ForeignKey("enrollment_requests.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(255), nullable=False),
    Column("method", String(16), nullable=False),
    Column("ok", Boolean(), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("problem", String(64), nullable=True),
    Column("detail", Text, nullable=False),
    Column("evidence", Text, nullable=False),  # JSON object
    Index(None, "request_id"),
    Index(None, "method", "ok"),
)

enrollment_documents = Table(
    "enrollment_documents",
    metadata,
    Column("id", String(64), primary_key=True),
    Column(
        "request_id",
        String(64),
        ForeignKey("enrollment_requests.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("filename", String(255), nullable=False),
    Column("content_type", String(64), nullable=False),
    Column("size", BigInteger(), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("stored_as", String(64), nullable=False),
    Column("uploaded_at", UtcDateTime(), nullable=False),
    Index(None, "request_id"),
)

enrollment_events = Table(
    "enrollment_events",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column(
        "request_id",
        String(64),
        ForeignKey("enrollment_requests.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("at", UtcDateTime(), nullable=False),
    Column("action", String(32), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("state", String(16), nullable=False),
    Column("note", Text, nullable=False),
    Column("audit_seq", BigInteger(), nullable=False),
    Index(None, "request_id"),
)

__all__ = [
    "CHALLENGE_STATES",
    "REQUEST_KINDS",
    "REQUEST_STATES",
    "enrollment_challenges",
    "enrollment_documents",
    "enrollment_events",
    "enrollment_requests",
    "enrollment_validations",
    "metadata",
]
