"""Storage: SQLAlchemy tables, the ``Store`` the CA core talks to, Alembic migrations.

    from padlock.store import open_store
    store = open_store("sqlite:////var/lib/padlock/padlock.db")   # migrates, then opens

``ca/`` never imports this package; it sees only :class:`padlock.ca.ports.Store`.
"""

from padlock.store.certificates import SqlStore, open_store
from padlock.store.migrate import upgrade

__all__ = ["SqlStore", "open_store", "upgrade"]
