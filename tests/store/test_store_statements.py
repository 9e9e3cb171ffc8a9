"""store/statements.py on SQLite and PostgreSQL: Core statements compiled once, run on the
Database's cursor, times through the dialect's codec, rows by name."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import bindparam, delete, insert, select, update
from store_helpers import NOW

from padlock.errors import Conflict, StorageError
from padlock.store import SqlStore
from padlock.store.statements import Statements, bound
from padlock.store.tables_review import login_throttle

_t = login_throttle.c
LATER = NOW + dt.timedelta(minutes=5)

_STATEMENTS = {
    "insert": insert(login_throttle),
    "since": select(login_throttle)
    .where(_t.last_failure_at >= bindparam("p_since"))
    .order_by(_t.login),
    "named": select(_t.login, _t.failures).where(
        _t.login.in_(bindparam("p_logins", expanding=True))
    ),
    "fixed": select(_t.login).where(_t.login.in_(("a", "c"))).order_by(_t.login).limit(1),
    "set": update(login_throttle)
    .where(_t.login == bindparam("p_login"))
    .values(bound("failures", "locked_until")),
    "clear": delete(login_throttle),
}


def _row(login: str, failures: int, at: dt.datetime, until: dt.datetime | None = None) -> dict:
    return {"login": login, "failures": failures, "last_failure_at": at, "locked_until": until}


@pytest.fixture
def sql(store: SqlStore) -> Statements:
    statements = Statements(store, _STATEMENTS)
    with statements.write("adding rows") as tx:
        tx.run_many("insert", [_row("a", 1, NOW), _row("b", 2, LATER, LATER), _row("c", 3, LATER)])
    return statements


def test_store_statements_times_in_and_out_through_the_codec(sql: Statements) -> None:
    # A time parameter is compared in SQL as the stored form; times come back aware UTC.
    rows = sql.all("since", {"p_since": LATER - dt.timedelta(microseconds=1)}, "reading")
    assert [r["login"] for r in rows] == ["b", "c"]
    assert rows[0]["last_failure_at"] == LATER and rows[0]["last_failure_at"].tzinfo is dt.UTC
    assert rows[0]["locked_until"] == LATER and rows[1]["locked_until"] is None
    # Another zone is the same instant.
    east = dt.timezone(dt.timedelta(hours=5))
    assert len(sql.all("since", {"p_since": LATER.astimezone(east)}, "reading")) == 2
    with pytest.raises(ValueError, match="timezone-aware"):
        sql.all("since", {"p_since": NOW.replace(tzinfo=None)}, "reading")


def test_store_statements_rows_by_name_and_expanding_in(sql: Statements) -> None:
    with sql.reading("reading") as tx:
        assert sorted(
            (r["login"], r["failures"]) for r in tx.all("named", {"p_logins": ["a", "c", "x"]})
        ) == [("a", 1), ("c", 3)]
        assert tx.all("named", {"p_logins": []}) == []
        assert tx.one("fixed") == {"login": "a"}  # the statement's own IN and LIMIT values


def test_store_statements_update_counts_rows_and_conflict(sql: Statements) -> None:
    with sql.write("changing a row") as tx:
        assert tx.run("set", {"p_login": "a", "p_failures": 9, "p_locked_until": LATER}) == 1
        assert tx.run("set", {"p_login": "zz", "p_failures": 9, "p_locked_until": None}) == 0
    rows = sql.all("since", {"p_since": NOW}, "reading")
    assert (rows[0]["failures"], rows[0]["locked_until"]) == (9, LATER)
    with (
        pytest.raises(Conflict, match="refused adding a row: it conflicts"),
        sql.write("adding a row") as tx,
    ):
        tx.run("insert", _row("a", 1, NOW))
    # The refused transaction left nothing behind; the connection is fit for the next one.
    assert len(sql.all("since", {"p_since": NOW}, "reading")) == 3


def test_store_statements_shaped_compiled_once_per_key(sql: Statements) -> None:
    built: list[int] = []

    def build() -> object:
        built.append(1)
        return select(_t.login).where(_t.failures > bindparam("p_n"))

    first = sql.shaped(("more than",), build)  # type: ignore[arg-type]
    assert sql.shaped(("more than",), build) is first  # type: ignore[arg-type]
    assert built == [1]
    with sql.reading("reading") as tx:
        assert [r["login"] for r in tx.all(first, {"p_n": 1})] == ["b", "c"]


def test_store_statements_errors_are_storage_errors(store: SqlStore) -> None:
    sql = Statements(store, {"bad": select(login_throttle).where(_t.login == bindparam("p_x"))})
    store.close()
    with pytest.raises(StorageError, match="closed"):
        sql.one("bad", {"p_x": "a"}, "reading after close")
