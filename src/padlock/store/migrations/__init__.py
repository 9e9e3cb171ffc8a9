"""Alembic migrations of padlock's database (run by padlock.store.migrate)."""
