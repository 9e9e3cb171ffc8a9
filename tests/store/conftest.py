"""Fixtures for the store tests: every test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``PADLOCK_TEST_PG_URL`` (default: the server on this
machine). Each test gets a schema of its own, ``padlock_test_<random>``, reached
through ``search_path`` in the URL and dropped afterwards, so parallel runs
(``pytest -n 2``) never meet. When PostgreSQL cannot be reached the tests fail:
they are never skipped.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy
from store_helpers import BACKENDS, pg_base_url, url_with_schema

from padlock.store import SqlStore, open_store


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL schema; its URL. Fails if the server is unreachable."""
    base = pg_base_url()
    schema = f"padlock_test_{uuid.uuid4().hex[:16]}"
    admin = sqlalchemy.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        yield url_with_schema(base, schema)
    finally:
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql("SET lock_timeout = '10s'")
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        except sqlalchemy.exc.OperationalError:
            pass  # unreachable: the test has failed already, with the reason
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'padlock.db'}"


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest) -> str:
    """An empty database on each backend in turn."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture
def store(db_url: str) -> Iterator[SqlStore]:
    s = open_store(db_url)
    try:
        yield s
    finally:
        s.close()
