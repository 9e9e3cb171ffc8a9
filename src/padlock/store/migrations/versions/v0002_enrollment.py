"""Enrollment: requests, challenges, validations with their evidence, documents, timeline.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

A frozen copy of the tables in padlock.store.tables_enrollment as of this revision.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _time(name: str, nullable: bool) -> sa.Column[dt.datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "enrollment_requests",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("contact", sa.String(254), nullable=False),
        sa.Column("names", sa.Text(), nullable=False),
        sa.Column("csr_pem", sa.Text(), nullable=False),
        sa.Column("key_fingerprint", sa.String(128), nullable=False),
        sa.Column("organization", sa.Text(), nullable=True),
        sa.Column("verified_organization", sa.Text(), nullable=True),
        sa.Column("previous_request", sa.String(64), nullable=True),
        sa.Column("reviewer", sa.String(64), nullable=True),
        sa.Column("reviewer_name", sa.String(200), nullable=True),
        sa.Column("reviewer_email", sa.String(254), nullable=True),
        sa.Column("certificate_serial", sa.String(40), nullable=True),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("claim_token", sa.String(64), nullable=True),
        _time("claimed_at", True),
        _time("created_at", False),
        _time("updated_at", False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrollment_requests")),
        sa.CheckConstraint(
            "kind IN ('test', 'dv', 'ov')", name=op.f("ck_enrollment_requests_kind")
        ),
        sa.CheckConstraint(
            "state IN ('submitted', 'validating', 'in_review', 'issued', 'rejected')",
            name=op.f("ck_enrollment_requests_state"),
        ),
    )
    op.create_index(
        op.f("ix_enrollment_requests_state_created_at"),
        "enrollment_requests",
        ["state", "created_at"],
    )

    op.create_table(
        "enrollment_challenges",
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("method", sa.String(16), nullable=True),
        _time("expires_at", False),
        _time("validated_at", True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("request_id", "name", name=op.f("pk_enrollment_challenges")),
        sa.UniqueConstraint("token", name=op.f("uq_enrollment_challenges_token")),
        sa.CheckConstraint(
            "state IN ('pending', 'valid', 'expired')",
            name=op.f("ck_enrollment_challenges_state"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["enrollment_requests.id"],
            name=op.f("fk_enrollment_challenges_request_id_enrollment_requests"),
            ondelete="CASCADE",
        ),
    )

    op.create_table(
        "enrollment_validations",
        sa.Column("id", _Id, nullable=False, autoincrement=True),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        _time("at", False),
        sa.Column("problem", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrollment_validations")),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["enrollment_requests.id"],
            name=op.f("fk_enrollment_validations_request_id_enrollment_requests"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        op.f("ix_enrollment_validations_request_id"), "enrollment_validations", ["request_id"]
    )
    op.create_index(
        op.f("ix_enrollment_validations_method_ok"), "enrollment_validations", ["method", "ok"]
    )

    op.create_table(
        "enrollment_documents",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("stored_as", sa.String(64), nullable=False),
        _time("uploaded_at", False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrollment_documents")),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["enrollment_requests.id"],
            name=op.f("fk_enrollment_documents_request_id_enrollment_requests"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        op.f("ix_enrollment_documents_request_id"), "enrollment_documents", ["request_id"]
    )

    op.create_table(
        "enrollment_events",
        sa.Column("id", _Id, nullable=False, autoincrement=True),
        sa.Column("request_id", sa.String(64), nullable=False),
        _time("at", False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("audit_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrollment_events")),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["enrollment_requests.id"],
            name=op.f("fk_enrollment_events_request_id_enrollment_requests"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(op.f("ix_enrollment_events_request_id"), "enrollment_events", ["request_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_enrollment_events_request_id"), table_name="enrollment_events")
    op.drop_table("enrollment_events")
    op.drop_index(op.f("ix_enrollment_documents_request_id"), table_name="enrollment_documents")
    op.drop_table("enrollment_documents")
    op.drop_index(op.f("ix_enrollment_validations_method_ok"), table_name="enrollment_validations")
    op.drop_index(op.f("ix_enrollment_validations_request_id"), table_name="enrollment_validations")
    op.drop_table("enrollment_validations")
    op.drop_table("enrollment_challenges")
    op.drop_index(op.f("ix_enrollment_requests_state_created_at"), table_name="enrollment_requests")
    op.drop_table("enrollment_requests")
