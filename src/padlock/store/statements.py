"""A repository's SQL: statements declared with SQLAlchemy Core, compiled once for the
database's dialect, run on :class:`~padlock.store.database.Database`'s DBAPI cursor.

This is how every repository in ``store/`` talks to its database (the certificate and
ACME stores' hot paths write the same cursor calls by hand): no SQLAlchemy
``Connection``, no result machinery, one connection per thread. What SQLAlchemy's
types did for a ``Connection`` is done here from the statement's own column types:

- a parameter bound to a time column (``DateTime``, ``UtcDateTime``) goes through the
  dialect's time codec (``Database.times.out``: UTC text on SQLite, ``timestamptz`` on
  PostgreSQL), and so does a selected time column on the way back (``times.back``);
- rows are read by name (a ``dict`` of the statement's selected columns);
- values a statement carries itself (``.limit(100)``, ``.in_(("a", "b"))``) are bound
  with it, and an expanding ``IN`` is expanded for the values given.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import ClauseElement, DateTime, Table, bindparam, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import TypeDecorator, TypeEngine

from padlock.ca.audit import AuditEntry

if TYPE_CHECKING:
    from padlock.store.database import Database

Row = dict[str, Any]
"""A row read by name: the statement's selected columns, times as aware UTC datetimes."""


def bound(*columns: str) -> dict[str, Any]:
    """``.values(...)`` of an UPDATE that sets each column from the parameter ``p_<column>``
    (the plain column names are SQLAlchemy's own in a SET clause)."""
    return {column: bindparam(f"p_{column}") for column in columns}


def to_json(value: Any) -> str:
    """A list or mapping as the text a JSON column keeps (tables.py: keys sorted, compact)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def from_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _is_time(type_: TypeEngine[Any]) -> bool:
    if isinstance(type_, TypeDecorator):
        type_ = type_.impl_instance
    return isinstance(type_, DateTime)


class Compiled:
    """One statement's SQL for one dialect, and what its parameters and columns are."""

    __slots__ = ("_compiler", "expanding", "fixed", "names", "sql", "times_in", "times_out")

    def __init__(
        self, stmt: ClauseElement, dialect: Dialect, column_keys: Sequence[str] | None = None
    ) -> None:
        compiler = cast(
            SQLCompiler,
            stmt.compile(
                dialect=dialect, column_keys=None if column_keys is None else [*column_keys]
            ),
        )
        self._compiler = compiler
        self.sql = str(compiler)
        binds = compiler.binds.values()
        self.times_in = tuple({b.key for b in binds if _is_time(b.type)})
        # Values the statement carries itself; the caller's parameters come on top.
        self.fixed = {key: v for key, v in compiler.params.items() if v is not None}
        self.expanding = any(b.expanding for b in binds)
        columns = getattr(stmt, "exported_columns", ())
        self.names = tuple(c.key for c in columns)
        self.times_out = tuple(i for i, c in enumerate(columns) if _is_time(c.type))

    def bind(self, params: Mapping[str, Any], out: Callable[[dt.datetime, str], Any]) -> Any:
        """The parameters for the driver: the statement's own values, the caller's, the
        times through ``out``."""
        bound = {**self.fixed, **params} if self.fixed else dict(params)
        for key in self.times_in:
            value = bound.get(key)
            if value is not None:
                bound[key] = out(value, key)
        return bound

    def expand(self, bound: dict[str, Any]) -> tuple[str, Any]:
        """The SQL and parameters with every expanding ``IN`` written out for its values."""
        if not self.expanding:
            return self.sql, bound
        state = self._compiler.construct_expanded_state(bound)
        return state.statement, state.parameters

    def row(self, values: Sequence[Any], back: Callable[[Any], dt.datetime]) -> Row:
        row = dict(zip(self.names, values, strict=True))
        for i in self.times_out:
            value = values[i]
            if value is not None:
                row[self.names[i]] = back(value)
        return row


class Tx:
    """One transaction's statements (or one read's) on the database's DBAPI cursor."""

    __slots__ = ("_database", "_statements", "cursor")

    def __init__(self, statements: Statements, cursor: Any) -> None:
        self._statements = statements
        self._database = statements.database
        self.cursor = cursor

    def _execute(self, stmt: str | Compiled, params: Mapping[str, Any]) -> Compiled:
        compiled = self._statements[stmt] if isinstance(stmt, str) else stmt
        sql, bound = compiled.expand(compiled.bind(params, self._database.times.out))
        self.cursor.execute(sql, bound)
        return compiled

    def run(self, stmt: str | Compiled, params: Mapping[str, Any] | None = None) -> int:
        """Execute an INSERT, UPDATE or DELETE; the number of rows it changed."""
        self._execute(stmt, params or {})
        rowcount: int = self.cursor.rowcount
        return rowcount

    def run_many(self, stmt: str | Compiled, rows: Sequence[Mapping[str, Any]]) -> None:
        """Execute one statement for each of ``rows`` (no expanding ``IN``)."""
        if not rows:
            return
        compiled = self._statements[stmt] if isinstance(stmt, str) else stmt
        out = self._database.times.out
        self.cursor.executemany(compiled.sql, [compiled.bind(r, out) for r in rows])

    def all(self, stmt: str | Compiled, params: Mapping[str, Any] | None = None) -> list[Row]:
        compiled = self._execute(stmt, params or {})
        back = self._database.times.back
        return [compiled.row(values, back) for values in self.cursor.fetchall()]

    def raw(
        self, stmt: str | Compiled, params: Mapping[str, Any] | None = None
    ) -> list[Sequence[Any]]:
        """Every row as the driver gives it (stored forms, by position), for a mapper of
        the statement's own columns (``certificates.record_from_row``)."""
        self._execute(stmt, params or {})
        rows: list[Sequence[Any]] = self.cursor.fetchall()
        return rows

    def one(self, stmt: str | Compiled, params: Mapping[str, Any] | None = None) -> Row | None:
        """The first row, or None (every row is fetched: SQLite lets the statement go)."""
        rows = self.all(stmt, params)
        return rows[0] if rows else None

    def audit(self, entry: AuditEntry, at: dt.datetime) -> int:
        """Append ``entry`` to the hash-chained log in this transaction (the one append)."""
        return self._database.append(self.cursor, entry, at)[0]


class Statements:
    """One repository's statements, compiled for one database: those declared up front by
    name, and those whose shape is chosen at run time (``shaped``), on first use."""

    def __init__(self, database: Database, declared: Mapping[str, ClauseElement]) -> None:
        self.database = database
        self._dialect = database.dialect
        self._declared = {name: Compiled(s, self._dialect) for name, s in declared.items()}
        self._shaped: dict[Hashable, Compiled] = {}

    def __getitem__(self, name: str) -> Compiled:
        return self._declared[name]

    def shaped(self, key: Hashable, build: Callable[[], ClauseElement]) -> Compiled:
        """The statement ``build()`` makes, compiled once per ``key`` (e.g. a column set)."""
        compiled = self._shaped.get(key)
        if compiled is None:
            compiled = self._shaped[key] = Compiled(build(), self._dialect)
        return compiled

    def insert(self, table: Table, columns: Sequence[str]) -> Compiled:
        """INSERT of these columns of ``table`` (the others take their defaults or NULL)."""
        key = ("insert", table.name, tuple(columns))
        compiled = self._shaped.get(key)
        if compiled is None:
            compiled = self._shaped[key] = Compiled(insert(table), self._dialect, columns)
        return compiled

    @contextlib.contextmanager
    def write(self, doing: str) -> Iterator[Tx]:
        """One committed write transaction; a uniqueness clash leaves as Conflict."""
        with self.database.transaction(
            self._tx,
            write=True,
            doing=doing,
            conflict=f"The database refused {doing}: it conflicts with stored data.",
        ) as tx:
            yield tx

    @contextlib.contextmanager
    def reading(self, doing: str) -> Iterator[Tx]:
        """Several SELECTs in one read snapshot, which never waits for writers."""
        with self.database.transaction(
            self._tx, write=False, doing=doing, conflict=f"{doing} failed"
        ) as tx:
            yield tx

    def one(self, stmt: str, params: Mapping[str, Any], doing: str) -> Row | None:
        """The first row of one SELECT, outside any transaction."""
        return self.database.read(lambda cursor: Tx(self, cursor).one(stmt, params), doing)

    def all(self, stmt: str, params: Mapping[str, Any], doing: str) -> list[Row]:
        """Every row of one SELECT, outside any transaction."""
        return self.database.read(lambda cursor: Tx(self, cursor).all(stmt, params), doing)

    def _tx(self, cursor: Any) -> Tx:
        return Tx(self, cursor)
