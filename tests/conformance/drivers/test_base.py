"""The drivers' shared parts: a failing client's last words become the cell's reason, a
feature blocked by a failed step says which, and no client command runs unbounded."""

from __future__ import annotations

from pathlib import Path

import pytest

from padlock.conformance.drivers.base import Row, StepFailed, last_words, run_program
from padlock.conformance.model import Status
from padlock.conformance.target import Target


def _target(tmp_path: Path, timeout: float = 30) -> Target:
    return Target("https://127.0.0.1:1/dir", None, 1, 2, "127.0.0.1:3", tmp_path, tmp_path,
                  "example.com", timeout=timeout)  # fmt: skip


def test_run_program_failure_keeps_last_words(tmp_path: Path) -> None:
    with pytest.raises(StepFailed) as failed:
        run_program(["sh", "-c", "echo starting; echo 'the CA said no' >&2; exit 3"],
                    _target(tmp_path))  # fmt: skip
    assert failed.value.reason.startswith("exit 3: ")
    assert "the CA said no" in failed.value.reason


def test_run_program_timeout_is_a_failure(tmp_path: Path) -> None:
    with pytest.raises(StepFailed, match="took over 1 s"):
        run_program(["sleep", "30"], _target(tmp_path, timeout=1))


def test_last_words_drops_noise() -> None:
    said = last_words("error: no\n\nSaving debug log to /x\nAsk for help at ...\n")
    assert said == "error: no"


def test_row_step_blocked_and_default() -> None:
    row = Row("demo", "1.0")
    assert not row.step(["http-01"], lambda: (_ for _ in ()).throw(StepFailed("refused")))
    row.blocked(["revoke-account"], "http-01")
    done = row.done()
    assert done.cells["http-01"].status is Status.FAIL
    assert done.cells["http-01"].reason == "refused"
    assert done.cells["revoke-account"].reason == "needs http-01, which failed"
    assert done.cells["dns-01"].status is Status.NOT_RUN
