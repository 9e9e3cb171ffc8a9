"""Review console: reviewer accounts, login sessions and login throttling.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27

A frozen copy of the tables in padlock.store.tables_review as of this revision.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, nullable: bool) -> sa.Column[dt.datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "reviewers",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _time("created_at", False),
        _time("password_changed_at", False),
        _time("last_login_at", True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_reviewers")),
        sa.CheckConstraint("role IN ('reviewer', 'admin')", name=op.f("ck_reviewers_role")),
    )
    op.create_table(
        "review_sessions",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("reviewer", sa.String(64), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        _time("created_at", False),
        _time("last_seen_at", False),
        _time("expires_at", False),
        sa.Column("client", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_review_sessions")),
        sa.ForeignKeyConstraint(
            ["reviewer"],
            ["reviewers.name"],
            name=op.f("fk_review_sessions_reviewer_reviewers"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(op.f("ix_review_sessions_reviewer"), "review_sessions", ["reviewer"])
    op.create_index(op.f("ix_review_sessions_expires_at"), "review_sessions", ["expires_at"])
    op.create_table(
        "login_throttle",
        sa.Column("login", sa.String(64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        _time("last_failure_at", False),
        _time("locked_until", True),
        sa.PrimaryKeyConstraint("login", name=op.f("pk_login_throttle")),
    )


def downgrade() -> None:
    op.drop_table("login_throttle")
    op.drop_index(op.f("ix_review_sessions_expires_at"), table_name="review_sessions")
    op.drop_index(op.f("ix_review_sessions_reviewer"), table_name="review_sessions")
    op.drop_table("review_sessions")
    op.drop_table("reviewers")
