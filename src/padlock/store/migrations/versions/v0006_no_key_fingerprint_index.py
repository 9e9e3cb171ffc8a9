"""Certificates: no index on key_fingerprint.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

Nothing looked certificates up by key. The index's long random keys cost every reservation
about a fifth of its time (bench/store_ops.py: page splits written to the log at each
commit). Revoking every certificate of a compromised key (BR 4.9.1.1), a rare act, can scan.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index(op.f("ix_certificates_key_fingerprint"), table_name="certificates")


def downgrade() -> None:
    op.create_index(op.f("ix_certificates_key_fingerprint"), "certificates", ["key_fingerprint"])
