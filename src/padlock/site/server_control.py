"""A web server's control, by running its binary: found on the PATH or in the sbin
directories, always with a timeout and no terminal; configtest, reload, is it running, stop."""

from __future__ import annotations

import abc
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from padlock.errors import InstallFailed

COMMAND_TIMEOUT = 60.0
SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/local/apache2/bin")


def find_binary(candidates: Sequence[str], override: str | None = None) -> str | None:
    if override:
        return override
    search = os.pathsep.join([os.environ.get("PATH", ""), *SBIN_DIRS])
    for name in candidates:
        found = shutil.which(name, path=search)
        if found:
            return found
    return None


def run_command(
    args: Sequence[str],
    env: Mapping[str, str] | None = None,
    timeout: float = COMMAND_TIMEOUT,
    what: str = "",
) -> subprocess.CompletedProcess[str]:
    """Run a server command, never waiting on a terminal (stdin is /dev/null)."""
    try:
        return subprocess.run(
            list(args),
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            start_new_session=True,  # no controlling terminal: nothing can prompt on /dev/tty
        )
    except subprocess.TimeoutExpired:
        raise InstallFailed(
            f"{what or args[0]} did not finish within {timeout:g} seconds"
            " (is it waiting for a pass phrase?)."
        ) from None
    except OSError as exc:
        raise InstallFailed(f"Cannot run {args[0]}: {exc.strerror}.") from None


def output_of(proc: subprocess.CompletedProcess[str]) -> str:
    text = (proc.stderr + proc.stdout).strip()
    lines = [line for line in text.splitlines() if "AH00558" not in line]  # "no ServerName"
    return " | ".join(lines[-8:]) or f"exit status {proc.returncode}"


def pid_alive(pid_file: Path | None) -> bool:
    """Whether the process named in ``pid_file`` runs (a zombie does not count)."""
    if pid_file is None:
        return False
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


class ServerCommands(abc.ABC):
    """A server's control (configtest, reload, is_running, stop) by running its binary:
    each server says how its binary is called (:meth:`argv`, :meth:`env`) and with what."""

    pid_file: Path | None
    test_args: ClassVar[tuple[str, ...]]
    reload_args: ClassVar[tuple[str, ...]] = ()
    stop_args: ClassVar[tuple[str, ...]]
    reload_failure: ClassVar[str]

    @abc.abstractmethod
    def argv(self, args: Sequence[str]) -> list[str]:
        """The server binary's command line with ``args``."""

    def env(self) -> dict[str, str] | None:
        return None

    @abc.abstractmethod
    def tested_by(self) -> str:
        """The configtest command as the admin knows it (``nginx -t``)."""

    def reload_command(self) -> tuple[str, ...]:
        return self.reload_args

    def _run(self, *args: str) -> tuple[int, str]:
        argv = self.argv(args)
        proc = run_command(argv, env=self.env(), what=" ".join(argv))
        return proc.returncode, output_of(proc)

    def configtest(self) -> None:
        rc, out = self._run(*self.test_args)
        if rc != 0:
            raise InstallFailed(f"{self.tested_by()} says: {out}")

    def reload(self) -> None:
        """Graceful reload; starts the server if it is not running."""
        rc, out = self._run(*self.reload_command())
        if rc != 0:
            raise InstallFailed(f"{self.reload_failure}: {out}")

    def is_running(self) -> bool:
        return pid_alive(self.pid_file)

    def stop(self) -> None:
        self._run(*self.stop_args)
