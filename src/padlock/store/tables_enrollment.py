"""Tables of the enrollment area (migration 0002); they share padlock.store.tables.metadata."""

from __future__ import annotations

from padlock.store.tables import metadata

__all__ = ["metadata"]
