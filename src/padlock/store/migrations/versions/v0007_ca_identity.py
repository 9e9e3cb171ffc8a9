"""The CA's identity: the fingerprints of its roots and issuing CAs.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-10

A frozen copy of the table in padlock.store.tables_identity as of this revision. A
database made before it has no rows: the first host that starts on it records its CA.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ca_identity",
        sa.Column("issuer", sa.String(64), nullable=False),
        sa.Column("cert_sha256", sa.String(64), nullable=False),
        sa.Column("key_sha256", sa.String(64), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("issuer", name=op.f("pk_ca_identity")),
    )


def downgrade() -> None:
    op.drop_table("ca_identity")
