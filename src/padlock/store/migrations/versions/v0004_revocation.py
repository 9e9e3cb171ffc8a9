"""Revocation: CRLs, OCSP responders and blocked keys.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27

A frozen copy of the tables in padlock.store.tables_revocation as of this revision.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str) -> sa.Column[dt.datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "revocation_state",
        sa.Column("issuer", sa.String(64), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("issuer", name=op.f("pk_revocation_state")),
    )
    op.create_table(
        "crls",
        sa.Column("issuer", sa.String(64), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        _time("this_update"),
        _time("next_update"),
        sa.Column("entries", sa.BigInteger(), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("issuer", name=op.f("pk_crls")),
    )
    op.create_table(
        "ocsp_responses",
        sa.Column("serial", sa.String(40), nullable=False),
        sa.Column("hash_alg", sa.String(16), nullable=False),
        sa.Column("issuer", sa.String(64), nullable=False),
        sa.Column("cert_state", sa.String(16), nullable=False),
        _time("this_update"),
        _time("next_update"),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("serial", "hash_alg", name=op.f("pk_ocsp_responses")),
    )
    op.create_index(op.f("ix_ocsp_responses_next_update"), "ocsp_responses", ["next_update"])
    op.create_table(
        "blocked_keys",
        sa.Column("key_fingerprint", sa.String(), nullable=False),
        sa.Column("serial", sa.String(40), nullable=False),
        _time("blocked_at"),
        sa.Column("actor", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("key_fingerprint", name=op.f("pk_blocked_keys")),
    )


def downgrade() -> None:
    op.drop_table("blocked_keys")
    op.drop_index(op.f("ix_ocsp_responses_next_update"), table_name="ocsp_responses")
    op.drop_table("ocsp_responses")
    op.drop_table("crls")
    op.drop_table("revocation_state")
