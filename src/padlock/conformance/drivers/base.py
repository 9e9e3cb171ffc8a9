"""What every driver shares: running a client program (bounded) and filling its row."""

from __future__ import annotations

import os
import re
import secrets
import stat
import subprocess
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from padlock.conformance.model import FEATURE_KEYS, Cell, ClientRow, Status
from padlock.conformance.target import Target

REASON_CHARS = 240
_NOISE = re.compile(r"^(\s*$|\s*at |Saving debug log|Ask for help|.*--debug)")


class StepFailed(Exception):
    """A client command failed; ``reason`` is what it said last."""

    def __init__(self, reason: str, output: str = "") -> None:
        super().__init__(reason)
        self.reason, self.output = reason, output


def last_words(text: str) -> str:
    """The client's last meaningful lines, short: what a person reads first."""
    lines = [line.strip() for line in text.splitlines() if not _NOISE.match(line)]
    said = " | ".join(lines[-3:])
    return said[-REASON_CHARS:] or "no output"


def run_program(
    args: Sequence[str | Path],
    target: Target,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> str:
    """Run one client command, bounded by ``target.timeout``; its output, or StepFailed."""
    environ = {**os.environ, **target.env(), **(env or {})}
    try:
        proc = subprocess.run(
            [str(a) for a in args], capture_output=True, text=True, env=environ, cwd=cwd,
            timeout=target.timeout, check=False, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise StepFailed(f"{Path(str(args[0])).name} took over {target.timeout:.0f} s") from None
    except OSError as exc:
        raise StepFailed(f"{args[0]} could not run: {exc.strerror}") from None
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise StepFailed(f"exit {proc.returncode}: {last_words(out)}", out)
    return out


def run_help(args: Sequence[str | Path]) -> str:
    """What a client says about itself (help, version), whatever its exit code; bounded."""
    try:
        proc = subprocess.run(
            [str(a) for a in args], capture_output=True, text=True, timeout=30, check=False,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout + proc.stderr


def program_version(args: Sequence[str | Path]) -> str:
    """The first line a client prints for its version."""
    said = [line.strip() for line in run_help(args).splitlines() if line.strip()]
    said = [line for line in said if not line.startswith("#")]  # dehydrated's INFO lines
    return said[0] if said else "unknown"


def script(path: Path, text: str) -> Path:
    """An executable hook script."""
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def fresh_name(target: Target, prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}.{target.domain}"


class Program:
    """A client program driven for one target, its files under ``work``."""

    def __init__(self, program: Path, target: Target, work: Path) -> None:
        self.program, self.target, self.work = program, target, work
        work.mkdir(parents=True, exist_ok=True)


NO_EAB = "no EAB credentials given (--eab-kid, --eab-hmac-key)"
NO_PROFILES = "the server offers no profiles (directory meta.profiles)"


class Row:
    """A client's cells as they are decided; every feature ends with one."""

    def __init__(self, client: str, version: str) -> None:
        self.client, self.version = client, version
        self.cells: dict[str, Cell] = {}

    def step(self, features: Iterable[str], action: Callable[[], object]) -> bool:
        """Run ``action``; each feature passes, or fails with the client's words."""
        try:
            action()
        except StepFailed as failed:
            self.set(features, Cell(Status.FAIL, failed.reason))
            return False
        self.set(features, Cell(Status.PASS))
        return True

    def set(self, features: Iterable[str], cell: Cell) -> None:
        for key in features:
            self.cells[key] = cell

    def na(self, feature: str, reason: str) -> None:
        self.cells[feature] = Cell(Status.NA, reason)

    def not_run(self, feature: str, reason: str) -> None:
        self.cells[feature] = Cell(Status.NOT_RUN, reason)

    def not_given(self, target: Target, *, profile: bool = True) -> None:
        """The cells the kit cannot run for want of EAB credentials or a server's profiles."""
        if target.eab is None:
            self.not_run("account-eab", NO_EAB)
        if profile and target.profile is None:
            self.na("profile", NO_PROFILES)

    def blocked(self, features: Iterable[str], on: str) -> None:
        """Features that needed an earlier step which failed."""
        for key in features:
            self.cells.setdefault(key, Cell(Status.NOT_RUN, f"needs {on}, which failed"))

    def done(self) -> ClientRow:
        cells = {k: self.cells.get(k, Cell(Status.NOT_RUN, "not attempted")) for k in FEATURE_KEYS}
        return ClientRow(self.client, self.version, cells)


def unavailable(client: str, reason: str) -> ClientRow:
    """A row for a client the kit could not have: every cell says why."""
    row = Row(client, "not installed")
    row.set(FEATURE_KEYS, Cell(Status.NOT_RUN, reason))
    return row.done()


DNS_HOOK = """#!/bin/sh
# present NAME VALUE | cleanup NAME: the TXT records the kit's DNS server answers.
name=$(printf '%s' "$2" | sed 's/\\.$//' | tr 'A-Z' 'a-z')
case "$1" in
  present) printf '%s\\n' "$3" >> "{txt_dir}/$name" ;;
  cleanup) rm -f "{txt_dir}/$name" ;;
esac
"""


def dns_hook(target: Target, work: Path) -> Path:
    """The shell hook clients call to put a TXT record into the kit's DNS (and take it out)."""
    return script(work / "dns-hook.sh", DNS_HOOK.replace("{txt_dir}", str(target.txt_dir)))
