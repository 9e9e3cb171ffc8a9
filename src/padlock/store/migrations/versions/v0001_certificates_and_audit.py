"""Certificates and the hash-chained audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

A frozen copy of the schema in padlock.store.tables as of this revision; it
never imports that module, so later edits there cannot change what it did.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64

_Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _time(name: str, nullable: bool) -> sa.Column[dt.datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "certificates",
        sa.Column("serial", sa.String(40), nullable=False),
        sa.Column("hierarchy", sa.String(), nullable=False),
        sa.Column("issuer", sa.String(), nullable=False),
        sa.Column("profile", sa.String(), nullable=False),
        sa.Column("request_id", sa.String(), nullable=True),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("names", sa.Text(), nullable=False),
        _time("not_before", False),
        _time("not_after", False),
        _time("reserved_at", False),
        _time("issued_at", True),
        _time("revoked_at", True),
        sa.Column("revocation_reason", sa.String(), nullable=True),
        sa.Column("key_fingerprint", sa.String(), nullable=False),
        sa.Column("tbs_der", sa.LargeBinary(), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("serial", name=op.f("pk_certificates")),
        sa.CheckConstraint(
            "state IN ('reserved', 'issued', 'revoked', 'abandoned')",
            name=op.f("ck_certificates_state"),
        ),
        sa.CheckConstraint(
            "serial = lower(serial) AND length(serial) BETWEEN 1 AND 40",
            name=op.f("ck_certificates_serial"),
        ),
    )
    op.create_index(op.f("ix_certificates_key_fingerprint"), "certificates", ["key_fingerprint"])
    op.create_index(op.f("ix_certificates_reserved_at"), "certificates", ["reserved_at"])
    op.create_index(
        op.f("ix_certificates_state_reserved_at"), "certificates", ["state", "reserved_at"]
    )

    op.create_table(
        "audit_events",
        sa.Column("seq", _Seq, nullable=False, autoincrement=False),
        _time("at", False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("object_type", sa.String(), nullable=False),
        sa.Column("object_id", sa.String(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_events")),
    )

    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("seq", _Seq, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_head_single_row")),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS}])


def downgrade() -> None:
    op.drop_table("audit_head")
    op.drop_table("audit_events")
    op.drop_index(op.f("ix_certificates_state_reserved_at"), table_name="certificates")
    op.drop_index(op.f("ix_certificates_reserved_at"), table_name="certificates")
    op.drop_index(op.f("ix_certificates_key_fingerprint"), table_name="certificates")
    op.drop_table("certificates")
