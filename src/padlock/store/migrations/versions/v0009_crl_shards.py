"""Partitioned CRLs: revoked entries per shard, CRL numbers per (issuer, shard), shard CRLs.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08

A frozen copy of the tables in padlock.store.tables_crl_shards as of this revision. The
number of each issuer's full CRL moves here (shard -1) from ``crls``, so the next one
allocated follows the last one signed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str) -> sa.Column[dt.datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "crl_entries",
        sa.Column("serial", sa.String(40), nullable=False),
        sa.Column("issuer", sa.String(64), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        _time("revoked_at"),
        sa.Column("reason", sa.String(32), nullable=False),
        _time("not_after"),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("serial", name=op.f("pk_crl_entries")),
    )
    op.create_index(op.f("ix_crl_entries_issuer_shard"), "crl_entries", ["issuer", "shard"])
    op.create_table(
        "crl_shard_state",
        sa.Column("issuer", sa.String(64), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("last_number", sa.BigInteger(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("issuer", "shard", name=op.f("pk_crl_shard_state")),
    )
    op.create_table(
        "crl_shards",
        sa.Column("issuer", sa.String(64), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        _time("this_update"),
        _time("next_update"),
        sa.Column("entries", sa.BigInteger(), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("issuer", "shard", name=op.f("pk_crl_shards")),
    )
    op.execute(
        "INSERT INTO crl_shard_state (issuer, shard, last_number, revision)"
        " SELECT issuer, -1, number, 0 FROM crls"
    )


def downgrade() -> None:
    op.drop_table("crl_shards")
    op.drop_table("crl_shard_state")
    op.drop_index(op.f("ix_crl_entries_issuer_shard"), table_name="crl_entries")
    op.drop_table("crl_entries")
