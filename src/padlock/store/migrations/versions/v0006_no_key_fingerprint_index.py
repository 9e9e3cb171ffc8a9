"""Certificates: no index on key_fingerprint.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

Nothing looked certificates up by key. The index's long random keys split pages that each
reservation's commit writes to the log: the reservation's SQL alone took 89-98 µs with the
index and 67-75 µs without; through the store (bench/store_ops.py) the median went from
72-79 to 66-68 µs. Revoking every certificate of a compromised key (BR 4.9.1.1), a rare
act, can scan.
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
