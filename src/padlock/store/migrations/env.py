"""Alembic's environment for padlock.

padlock runs its migrations through :func:`padlock.store.migrate.upgrade`, which
hands a connection in ``config.attributes["connection"]`` (already inside the
transaction that holds the migration lock). The plain ``alembic`` command works
too, given ``sqlalchemy.url`` in an ini file or ``-x url=...``.
"""

from __future__ import annotations

from alembic import context

from padlock.store.engine import make_engine
from padlock.store.tables import metadata

config = context.config


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("No database URL: pass -x url=... or set sqlalchemy.url.")
    return url


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url())
    try:
        with engine.begin() as conn:  # one transaction, as migrate.upgrade does
            context.configure(connection=conn, target_metadata=metadata)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
