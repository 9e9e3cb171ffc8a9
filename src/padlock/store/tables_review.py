"""Tables of the review area (migration 0005); they share padlock.store.tables.metadata."""

from __future__ import annotations

from padlock.store.tables import metadata

__all__ = ["metadata"]
