"""tests/ mirrors src/padlock/ (issue 16): a newcomer finds the tests of a module in the
directory of the same name, and a module's directory holds only tests of that room.

Beside the rooms' directories, tests/ has four of its own, named in NOT_ROOMS, and its
top-level test files (the suite's own rules and the top-level modules' tests).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "padlock"
TESTS = ROOT / "tests"
NOT_ROOMS = {
    "browser": "the portal and the console in a real browser, end to end",
    "docs": "the shell blocks of README.md and docs/*.md, run",
    "interop": "real ACME clients and web servers against padlock serve",
    "support": "the tests' own servers and clients",
}
# Packages with no tests of their own, and where what they hold is tested.
UNTESTED_PACKAGES = {
    "ca/ports": "Protocols only; the store's implementations are tested in tests/store",
    "store/migrations": "Alembic's scripts, run by tests/store/test_store_migrations.py",
    "store/migrations/versions": "Alembic's scripts, run by tests/store/test_store_migrations.py",
}
SUITE_FILES = {  # tests/'s own top-level test files, beside those of src/padlock/*.py
    "test_function_length": "no function over 100 lines in src/",
    "test_layout": "this file",
    "test_support_ports": "tests/support/ports.py, the tests' port helper",
}
PURE_ROOMS = ("acme", "pki")  # the import contracts keep them apart from ca, store, web...


def _packages() -> set[str]:
    """src/padlock's packages below the top, as paths relative to it (``ca/acmeserver``)."""
    return {p.parent.relative_to(SRC).as_posix() for p in SRC.rglob("__init__.py")} - {"."}


def _test_dirs() -> set[str]:
    """The directories of tests/ that hold test modules, relative to it (``ca/acmeserver``)."""
    found = {p.parent.relative_to(TESTS).as_posix() for p in TESTS.rglob("test_*.py")}
    return {d for d in found if d != "." and "node_modules" not in d}


def _imports(path: Path) -> set[str]:
    """What a module imports of padlock and tests, each name as ``package.module.name``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m.split(".")[0] in ("padlock", "tests")}


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(f"{package}.")


def test_layout_every_test_dir_is_a_src_package() -> None:
    """tests/X/Y holds the tests of src/padlock/X/Y: no directory for a room that is not."""
    strays = sorted(
        d for d in _test_dirs() if d.split("/")[0] not in NOT_ROOMS and d not in _packages()
    )
    assert not strays, f"test directories without a src/padlock package: {strays}"


def test_layout_every_src_package_has_its_tests() -> None:
    untested = sorted(_packages() - _test_dirs() - set(UNTESTED_PACKAGES))
    assert not untested, f"packages without tests/<package>/test_*.py: {untested}"
    assert set(UNTESTED_PACKAGES) <= _packages(), "an exemption for a package that is gone"


def test_layout_top_level_dirs_are_rooms_or_named() -> None:
    rooms = {d for d in _packages() if "/" not in d}
    dirs = {p.name for p in TESTS.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert not NOT_ROOMS.keys() & rooms, "a room's tests cannot be named as not a room"
    assert dirs <= rooms | NOT_ROOMS.keys(), sorted(dirs - rooms - NOT_ROOMS.keys())


def test_layout_top_level_test_files_are_modules_or_named() -> None:
    """tests/test_X.py tests src/padlock/X.py, or is one of the suite's own (SUITE_FILES)."""
    modules = {p.stem for p in SRC.glob("*.py")}
    files = {p.stem for p in TESTS.glob("test_*.py")}
    strays = sorted(f for f in files - SUITE_FILES.keys() if f.removeprefix("test_") not in modules)
    assert not strays, f"top-level test files of no src/padlock module: {strays}"


def test_layout_pure_rooms_tests_hold_only_that_room() -> None:
    """tests/acme/ holds the RFC 8555 vocabulary's tests, not the ACME server's (those are in
    tests/ca/acmeserver/ and tests/web/test_acme_api.py), and tests/pki/ likewise: their
    modules import nothing of padlock but their room and its errors, and no server."""
    for room in PURE_ROOMS:
        allowed = (f"padlock.{room}", "padlock.errors")
        for path in sorted((TESTS / room).glob("*.py")):
            wrong = {
                m
                for m in _imports(path)
                if _within(m, "tests.support.acme_server")
                or (_within(m, "padlock") and not any(_within(m, a) for a in allowed))
            }
            assert not wrong, f"{path.relative_to(ROOT)}: {sorted(wrong)}"
