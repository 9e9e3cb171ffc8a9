"""The shared transaction: undo recorded before each change, restore puts back files,
links, absences and directories exactly; a held lock keeps a second run out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.site.conftest import tree

from padlock.errors import Conflict, InstallFailed
from padlock.site.transaction import (
    COMMITTED,
    FAILED,
    FileChange,
    Plan,
    StateDir,
    apply_plan,
    recover_interrupted,
    rollback,
)


class FakeServer:
    """Stands in for Apache/nginx where the files, not the server, are under test."""

    label = "Fake"

    def __init__(self, fail_at: str | None = None) -> None:
        self.fail_at = fail_at
        self.calls: list[str] = []

    def configtest(self) -> None:
        self.calls.append("configtest")
        if self.fail_at == "configtest" and self.calls.count("configtest") == 2:
            raise InstallFailed("syntax error (fake)")

    def reload(self) -> None:
        self.calls.append("reload")
        if self.fail_at == "reload" and self.calls.count("reload") == 1:
            raise InstallFailed("reload failed (fake)")

    def is_running(self) -> bool:
        return True

    def stop(self) -> None:
        self.calls.append("stop")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "conf"
    (root / "sites").mkdir(parents=True)
    (root / "main.conf").write_text("main\n")
    os.chmod(root / "main.conf", 0o640)
    (root / "sites" / "old.conf").write_text("old\n")
    (root / "enabled").symlink_to("sites/old.conf")
    return root


def _plan(root: Path) -> Plan:
    return Plan(
        "fake",
        "test",
        (
            FileChange(root / "main.conf", b"main, edited\n"),
            FileChange(root / "enabled", link="sites/new.conf"),
            FileChange(root / "sites" / "new.conf", b"new\n"),
            FileChange(root / "deep" / "er" / "file.conf", b"x\n", mode=0o600),
            FileChange(root / "sites" / "old.conf"),  # removed
        ),
    )


@pytest.mark.parametrize("fail_at", ["configtest", "reload", "probe"])
def test_any_failure_restores_every_path(site: Path, fail_at: str) -> None:
    before = tree(site)
    server = FakeServer(fail_at)

    def probe() -> None:
        if fail_at == "probe":
            raise InstallFailed("wrong serial (fake)")

    state = StateDir(site.parent / "state")
    with pytest.raises(InstallFailed) as info:
        apply_plan(state, _plan(site), server, probe)
    assert f"The {fail_at} step failed" in info.value.message
    assert "Every file was restored" in info.value.message
    assert tree(site) == before  # modes, links, the directories padlock made: all back
    assert [t.status for t in state.transactions()] == [FAILED]
    assert server.calls[-1] == "reload"  # reloaded with the restored files


def test_commit_then_rollback(site: Path) -> None:
    before = tree(site)
    state = StateDir(site.parent / "state")
    outcome = apply_plan(state, _plan(site), FakeServer(), lambda: "probed")
    assert outcome.probe == "probed"
    assert (site / "main.conf").read_text() == "main, edited\n"
    assert (site / "main.conf").stat().st_mode & 0o777 == 0o640  # the mode it had
    assert (site / "deep" / "er" / "file.conf").stat().st_mode & 0o777 == 0o600
    assert os.readlink(site / "enabled") == "sites/new.conf"
    assert [t.status for t in state.transactions()] == [COMMITTED]
    result = rollback(state, FakeServer())
    assert result.transaction == outcome.transaction
    assert tree(site) == before


def test_interrupted_transaction_is_recovered(site: Path) -> None:
    """A run killed half way: the manifest (journal) names what it touched."""
    before = tree(site)
    state = StateDir(site.parent / "state")
    tx = state.begin("fake", "killed", {})
    plan = _plan(site)
    for change in plan.changes[:3]:
        tx.change(change)
    tx.register(plan.changes[3].path)  # undo recorded, then the process died
    assert tree(site) != before
    recovered = recover_interrupted(state)
    assert [r.transaction for r in recovered] == [tx.id]
    assert tree(site) == before


def test_lock_keeps_a_second_run_out(site: Path) -> None:
    state = StateDir(site.parent / "state")
    with state.locked(), pytest.raises(Conflict), state.locked(wait=0.2):
        pass


def test_diff_shows_edits_and_hides_secrets(site: Path) -> None:
    plan = Plan(
        "fake",
        "t",
        (
            FileChange(site / "main.conf", b"main\nmore\n"),
            FileChange(site / "key.pem", b"SECRET", summary="private key, mode 0600"),
        ),
    )
    diff = plan.diff()
    assert f"--- a{site}/main.conf" in diff and "+more" in diff
    assert "SECRET" not in diff and "private key, mode 0600" in diff
