"""ACME accounts, orders, authorizations, challenges and nonces.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

A frozen copy of the tables in padlock.store.tables_acme as of this revision.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, nullable: bool) -> sa.Column[dt.datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "acme_accounts",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("directory", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("jwk", sa.Text(), nullable=False),
        sa.Column("thumbprint", sa.String(64), nullable=False),
        sa.Column("contact", sa.Text(), nullable=False),
        sa.Column("tos_agreed", sa.Boolean(), nullable=False),
        sa.Column("eab_kid", sa.String(), nullable=True),
        _time("created_at", False),
        _time("updated_at", False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acme_accounts")),
        sa.CheckConstraint(
            "status IN ('valid', 'deactivated', 'revoked')", name=op.f("ck_acme_accounts_status")
        ),
        sa.UniqueConstraint(
            "directory", "thumbprint", name=op.f("uq_acme_accounts_directory_thumbprint")
        ),
    )
    op.create_table(
        "acme_orders",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("directory", sa.String(16), nullable=False),
        sa.Column("profile", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("identifiers", sa.Text(), nullable=False),
        sa.Column("authz_ids", sa.Text(), nullable=False),
        _time("expires", False),
        _time("created_at", False),
        _time("updated_at", False),
        sa.Column("csr", sa.LargeBinary(), nullable=True),
        sa.Column("cert_serial", sa.String(40), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("replaces", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acme_orders")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["acme_accounts.id"],
            name=op.f("fk_acme_orders_account_id_acme_accounts"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'ready', 'processing', 'valid', 'invalid')",
            name=op.f("ck_acme_orders_status"),
        ),
    )
    op.create_index(
        op.f("ix_acme_orders_account_id_created_at"), "acme_orders", ["account_id", "created_at"]
    )
    op.create_index(op.f("ix_acme_orders_cert_serial"), "acme_orders", ["cert_serial"])
    op.create_index(op.f("ix_acme_orders_replaces"), "acme_orders", ["replaces"])
    op.create_index(op.f("ix_acme_orders_status_profile"), "acme_orders", ["status", "profile"])
    op.create_table(
        "acme_authorizations",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("order_id", sa.String(32), nullable=False),
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("identifier_type", sa.String(8), nullable=False),
        sa.Column("identifier_value", sa.String(255), nullable=False),
        sa.Column("wildcard", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _time("expires", False),
        _time("updated_at", False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acme_authorizations")),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["acme_orders.id"],
            name=op.f("fk_acme_authorizations_order_id_acme_orders"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'valid', 'invalid', 'deactivated', 'expired', 'revoked')",
            name=op.f("ck_acme_authorizations_status"),
        ),
    )
    op.create_index(op.f("ix_acme_authorizations_order_id"), "acme_authorizations", ["order_id"])
    op.create_index(
        op.f("ix_acme_authorizations_account_id_identifier_value"),
        "acme_authorizations",
        ["account_id", "identifier_value"],
    )
    op.create_table(
        "acme_challenges",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("authz_id", sa.String(32), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _time("validated_at", True),
        _time("claimed_at", True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acme_challenges")),
        sa.ForeignKeyConstraint(
            ["authz_id"],
            ["acme_authorizations.id"],
            name=op.f("fk_acme_challenges_authz_id_acme_authorizations"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'processing', 'valid', 'invalid')",
            name=op.f("ck_acme_challenges_status"),
        ),
    )
    op.create_index(op.f("ix_acme_challenges_authz_id"), "acme_challenges", ["authz_id"])
    op.create_table(
        "acme_nonces",
        sa.Column("nonce", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_acme_nonces")),
    )
    op.create_table(
        "acme_secrets",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        _time("created_at", False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_acme_secrets")),
    )
    op.create_table(
        "acme_rate_limits",
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        _time("window_start", False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "account_id", "kind", "window_start", name=op.f("pk_acme_rate_limits")
        ),
    )


def downgrade() -> None:
    op.drop_table("acme_rate_limits")
    op.drop_table("acme_secrets")
    op.drop_table("acme_nonces")
    op.drop_index(op.f("ix_acme_challenges_authz_id"), table_name="acme_challenges")
    op.drop_table("acme_challenges")
    op.drop_index(
        op.f("ix_acme_authorizations_account_id_identifier_value"),
        table_name="acme_authorizations",
    )
    op.drop_index(op.f("ix_acme_authorizations_order_id"), table_name="acme_authorizations")
    op.drop_table("acme_authorizations")
    op.drop_index(op.f("ix_acme_orders_status_profile"), table_name="acme_orders")
    op.drop_index(op.f("ix_acme_orders_replaces"), table_name="acme_orders")
    op.drop_index(op.f("ix_acme_orders_cert_serial"), table_name="acme_orders")
    op.drop_index(op.f("ix_acme_orders_account_id_created_at"), table_name="acme_orders")
    op.drop_table("acme_orders")
    op.drop_table("acme_accounts")
