"""Tables of the review area (migration 0005); they share padlock.store.tables.metadata.

- ``reviewers``: the console's accounts. The password is an argon2id hash (PHC string);
  ``role`` is reviewer or admin; a disabled account keeps its row (audit names it).
- ``review_sessions``: one row per login. The cookie holds a random 256-bit token; only
  its SHA-256 is stored, so a copy of the database opens no session. Each session has
  its own CSRF token (the synchronizer token every console form carries).
- ``login_throttle``: failed logins per login name, shared by every worker, so that
  guessing a password is slowed down whichever process answers.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
)

from padlock.store.schema import UtcDateTime, metadata

ROLES = ("reviewer", "admin")

reviewers = Table(
    "reviewers",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("display_name", String(200), nullable=False),
    Column("email", String(254), nullable=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(256), nullable=False),
    Column("active", Boolean(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("password_changed_at", UtcDateTime(), nullable=False),
    Column("last_login_at", UtcDateTime(), nullable=True),
    CheckConstraint("role IN ('reviewer', 'admin')", name="role"),
)

review_sessions = Table(
    "review_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column(
        "reviewer",
        String(64),
        ForeignKey("reviewers.name", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_seen_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("client", String(200), nullable=True),
    Index(None, "reviewer"),
    Index(None, "expires_at"),
)

login_throttle = Table(
    "login_throttle",
    metadata,
    Column("login", String(64), primary_key=True),
    Column("failures", Integer(), nullable=False),
    Column("last_failure_at", UtcDateTime(), nullable=False),
    Column("locked_until", UtcDateTime(), nullable=True),
)

__all__ = ["ROLES", "login_throttle", "metadata", "review_sessions", "reviewers"]
