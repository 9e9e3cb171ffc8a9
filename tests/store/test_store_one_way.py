"""store/ talks to its database one way (issue 16): every repository runs its statements
on ``Database``'s connections (``store/statements.py``, or the cursor directly on the hot
paths), and only ``database.py`` writes the audit log.

Read from the source: a repository that opened a SQLAlchemy ``Connection`` of its own
(``engine.begin()``, ``engine.connect()``, ``raw_connection()``) or wrote ``audit_events``
itself would pass every behaviour test and still be a second way.
"""

from __future__ import annotations

import ast
from pathlib import Path

import padlock.store

STORE = Path(padlock.store.__file__).parent

# The modules that own connections: the Database itself, the engines, the migrations.
CONNECTION_OWNERS = {"database.py", "engine.py", "migrate.py"}
# What opens or drives a connection around the Database.
CONNECTION_CALLS = {"begin", "connect", "raw_connection", "exec_driver_sql", "execution_options"}
SQLALCHEMY_CONNECTIONS = {"Connection", "Session", "sessionmaker", "scoped_session"}
AUDIT_TABLES = {"audit_events", "audit_head"}


def second_ways(source: str) -> list[str]:
    """What in ``source`` reaches the database other than through ``Database``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        where = f"line {getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in CONNECTION_CALLS:
                found.append(f"{where}: .{node.func.attr}()")
        elif isinstance(node, ast.Attribute) and node.attr == "engine":
            found.append(f"{where}: .engine")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            if (node.module or "").startswith("sqlalchemy.orm"):
                found.append(f"{where}: imports {node.module}")
            found.extend(
                f"{where}: imports {alias.name}"
                for alias in node.names
                if alias.name in SQLALCHEMY_CONNECTIONS
            )
    return found


def audit_writers(source: str) -> list[str]:
    return sorted(
        {
            node.id
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Name) and node.id in AUDIT_TABLES
        }
    )


def test_store_one_way_checker_finds_a_second_way() -> None:
    """The checks below would see a Core connection, an engine, an ORM or an own append."""
    source = (
        "from sqlalchemy import Connection\n"
        "from sqlalchemy.orm import Session\n"
        "from padlock.store.tables import audit_events\n"
        "def f(store):\n"
        "    with store.engine.begin() as conn:\n"
        "        conn.execute(audit_events.insert())\n"
        "    store.engine.raw_connection()\n"
    )
    assert {way.split(": ", 1)[1] for way in second_ways(source)} == {
        "imports Connection",
        "imports sqlalchemy.orm",
        "imports Session",
        ".begin()",
        ".raw_connection()",
        ".engine",
    }
    assert audit_writers(source) == ["audit_events"]


def test_store_repositories_have_no_second_way_to_the_database() -> None:
    offenders = {
        path.name: found
        for path in sorted(STORE.glob("*.py"))
        if path.name not in CONNECTION_OWNERS
        and (found := second_ways(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}
    assert not (STORE / "base.py").exists()


def test_store_only_the_database_appends_to_the_audit_log() -> None:
    writers = {
        path.name
        for path in STORE.glob("*.py")
        if path.name != "tables.py" and audit_writers(path.read_text(encoding="utf-8"))
    }
    assert writers == {"database.py"}


def _allowed_from_the_ca(module: str) -> bool:
    """The CA's ports, its records, the audit chain, and the models of its areas."""
    return (
        module == "padlock.ca.ports"
        or module.startswith("padlock.ca.ports.")
        or module in {"padlock.ca.records", "padlock.ca.audit"}
        or module.endswith(".model")
    )


def test_store_imports_of_the_ca_are_ports_records_audit_and_models() -> None:
    """The import-linter contract lists the use cases store/ may not import; this keeps
    the other side: whatever store/ imports of ca/ is a port, a record or a model, so a
    new use-case module is kept out without being listed."""
    import grimp

    graph = grimp.build_graph("padlock")
    imported = {
        (module, target)
        for module in graph.find_descendants("padlock.store") | {"padlock.store"}
        for target in graph.find_modules_directly_imported_by(module)
        if target.startswith("padlock.ca.") or target == "padlock.ca"
    }
    assert imported  # the check sees store's imports at all
    assert sorted((m, t) for m, t in imported if not _allowed_from_the_ca(t)) == []
