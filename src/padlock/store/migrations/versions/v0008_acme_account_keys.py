"""ACME: the keys an account rolled over from.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

draft-ietf-acme-dns-persist-02 section 4.2: a CA keeps the SHA-256 JWK thumbprint of every
key an account has used, so that a dns-persist-01 record whose hashed account URI was made
with an earlier key still validates. Rollovers before this revision are in the audit log
(``acme.account.key_changed``, its ``old_thumbprint``): they are copied in here. A frozen
copy of the table in padlock.store.tables_acme as of this revision.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    keys = op.create_table(
        "acme_account_keys",
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("thumbprint", sa.String(64), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "thumbprint", name=op.f("pk_acme_account_keys")),
    )
    events = sa.table(
        "audit_events",
        sa.column("at", sa.DateTime(timezone=True)),
        sa.column("action", sa.String()),
        sa.column("object_id", sa.String()),
        sa.column("details", sa.Text()),
    )
    rows = op.get_bind().execute(
        sa.select(events.c.at, events.c.object_id, events.c.details).where(
            events.c.action == "acme.account.key_changed"
        )
    )
    seen: set[tuple[str, str]] = set()
    found = []
    for at, account_id, details in rows:
        thumb = str(json.loads(details).get("old_thumbprint") or "")
        if thumb and (account_id, thumb) not in seen:
            seen.add((account_id, thumb))
            found.append({"account_id": account_id, "thumbprint": thumb, "retired_at": at})
    if found:
        op.bulk_insert(keys, found)


def downgrade() -> None:
    op.drop_table("acme_account_keys")
