"""Run the shell blocks of a Markdown page as a user would type them, in a temporary dir.

The blocks, and the marks written above them as HTML comments (``<!--pytest.mark.skip(...)-->``),
come from pytest-codeblocks (``extract_from_file``), the runner made for this; the marks are
evaluated as that runner's own plugin does. What a page cannot give is given here: a fresh
working dir, ``PATH`` with the venv's ``padlock``, the pass phrases, a loopback DNS for the
CA's checks, certbot's answers to its questions (``cli.ini``), and free ports. The hosts and
ports a page names (``ca.example.net``, ``127.0.0.1:8080``) are replaced with the ones here by
the page's test (``subs``). A ``padlock serve`` in a block runs in the background until the
page is done (its readiness URL derived from its ``--port`` and ``--tls``); every other
command runs in bash with ``-e -o pipefail``, and like a terminal, the page keeps the working
directory and the variables of one block for the next. A block marked
``<!--pytest.mark.xfail(reason=...)-->`` shows refusals: each of its commands runs on its own
and must fail with a message, not a traceback.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from pytest_codeblocks import CodeBlock, extract_from_file

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
SHELLS = ("sh", "bash")
SERVE = re.compile(
    r"^(?P<before>.*&&\s*)?(?P<serve>\S*padlock serve\b.*?)\s*&?\s*(?:\s#.*)?$"
)  # a trailing comment is the page's, not the command's

# What a terminal keeps from one command to the next: the shell's variables (exported or
# not), bash's own special ones left out.
KEEP = (
    "for v_ in $(compgen -v); do case $v_ in BASH*|FUNCNAME|GROUPS|DIRSTACK|PIPESTATUS|RANDOM"
    "|SRANDOM|SECONDS|LINENO|HISTCMD|EPOCH*|PPID|UID|EUID|SHELLOPTS|OPTIND|OPTERR|IFS|PS[0-9]"
    "|SHLVL|PWD|OLDPWD|_|v_|COLUMNS|LINES|HOSTNAME|HOSTTYPE|MACHTYPE|OSTYPE|COMP_WORDBREAKS) ;;"
    ' *) declare -p "$v_";; esac; done'
)


def shell_blocks(page: Path) -> list[CodeBlock]:
    """The page's shell blocks, as pytest-codeblocks reads them."""
    return [b for b in extract_from_file(page) if b.syntax in SHELLS]


def skip_reason(block: CodeBlock) -> str | None:
    """Why the block is not run (its marks, as pytest-codeblocks' plugin evaluates them)."""
    for text in block.marks:
        mark = eval(text, {"sys": sys, "pytest": pytest})  # noqa: S307 - the page's own marks
        if mark.name == "skip":
            return str(mark.kwargs.get("reason", "skipped"))
        if mark.name == "skipif" and mark.args and mark.args[0]:
            return str(mark.kwargs.get("reason", "skipped"))
    return None


def expects_failure(block: CodeBlock) -> bool:
    """Whether the block's marks say its commands are refusals (``pytest.mark.xfail``)."""
    return any(text.startswith("pytest.mark.xfail") for text in block.marks)


def serve_url(command: str, env: dict[str, str]) -> str:
    """Where a ``padlock serve`` command answers once it is up: its ``--port`` (else
    ``$PADLOCK_PORT``, else 8080), over https with ``--tls``."""
    port = re.search(r"--port[ =](\d+)", command)
    number = port.group(1) if port else env.get("PADLOCK_PORT", "8080")
    if "--tls" in command.split():
        return f"https://localhost:{number}/healthz"
    return f"http://127.0.0.1:{number}/healthz"


def commands(code: str) -> list[str]:
    """The block's commands: continuation lines joined, comments and blank lines left out."""
    out: list[str] = []
    pending = ""
    for line in code.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        out.append(pending + line)
        pending = ""
    return out


@dataclass
class DocShell:
    """A user's terminal for one page: a working dir, an environment and its servers."""

    cwd: Path
    env: dict[str, str]
    subs: Sequence[tuple[str, str]] = ()
    ready_url: str = ""  # what a backgrounded `padlock serve` answers once up; "" to derive it
    servers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @classmethod
    def make(cls, cwd: Path, extra: dict[str, str] | None = None) -> DocShell:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PADLOCK_")}
        env.update(
            {
                "PATH": f"{VENV_BIN}:{env.get('PATH', '/usr/bin:/bin')}",
                "HOME": str(cwd),
                "XDG_CONFIG_HOME": str(cwd / ".config"),
                "PADLOCK_PASSPHRASE": "the docs' key pass phrase",
            }
        )
        env.update(extra or {})
        cwd.mkdir(parents=True, exist_ok=True)
        return cls(cwd, env)

    def substitute(self, code: str) -> str:
        for old, new in self.subs:
            code = code.replace(old, new)
        return code

    def run_block(self, block: CodeBlock, where: str) -> str:
        """Run one block; its output. A failing command fails the test, naming the block."""
        if expects_failure(block):
            return "".join(self._refused(c, where) for c in commands(self.substitute(block.code)))
        output = []
        script: list[str] = []
        for command in commands(self.substitute(block.code)):
            serve = SERVE.match(command)
            if serve is None:
                script.append(command)
                continue
            if serve.group("before"):
                script.append(serve.group("before").rstrip().removesuffix("&&"))
            output.append(self._bash(script, where))
            script = []
            self.start_server(serve.group("serve"), where)
        output.append(self._bash(script, where))
        return "".join(output)

    @property
    def _state(self) -> Path:
        """The terminal's state between blocks: its working dir and exports."""
        return self.cwd.parent / f".docshell-{self.cwd.name}.sh"

    def _restore(self) -> str:
        return f"if [ -f {self._state} ]; then . {self._state}; fi\n"

    def _run(self, text: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", self._restore() + text],
            cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=600,
            check=False,
        )  # fmt: skip

    def _refused(self, command: str, where: str) -> str:
        """A command the page shows being refused: it must exit non-zero, with a message."""
        done = self._run(command + "\n")
        said = (done.stdout + done.stderr).strip()
        if done.returncode == 0 or "Traceback" in done.stderr or not said:
            pytest.fail(
                f"{where}: expected a refusal with a message from\n{command}\n"
                f"exit {done.returncode}\n--- stdout\n{done.stdout}--- stderr\n{done.stderr}"
            )
        return done.stdout

    def _bash(self, script: list[str], where: str) -> str:
        if not script:
            return ""
        text = "\n".join(script) + "\n"
        save = f"{{ {KEEP}; printf 'cd %q\\n' \"$PWD\"; }} > {self._state}\n"
        done = self._run(text + save)
        if done.returncode != 0:
            pytest.fail(
                f"{where}: exit {done.returncode}\n--- ran\n{text}--- stdout\n{done.stdout}"
                f"--- stderr\n{done.stderr}"
            )
        return done.stdout

    def start_server(self, command: str, where: str) -> None:
        """``padlock serve ...`` in the background, until it answers ``ready_url``."""
        log = self.cwd / f"serve-{len(self.servers)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                ["bash", "-c", f"{self._restore()}exec {command}"], cwd=self.cwd, env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.servers.append(proc)
        url = self.substitute(self.ready_url) if self.ready_url else serve_url(command, self.env)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"{where}: {command} exited:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(url, verify=False, timeout=2).is_success:  # noqa: S501 - readiness
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        pytest.fail(f"{where}: {command} did not answer {url}:\n{log.read_text()[-3000:]}")

    def stop(self) -> None:
        for proc in self.servers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=30)
        self.servers.clear()

    def run_page(self, page: Path) -> Iterator[tuple[CodeBlock, str | None]]:
        """Each shell block of the page in turn, run unless its marks say skip: (block, why
        it was skipped or None)."""
        for block in shell_blocks(page):
            reason = skip_reason(block)
            if reason is None:
                self.run_block(block, f"{page.name}:{block.lineno}")
            yield block, reason


def certbot_ini(shell: DocShell, http_port: int) -> None:
    """What certbot would ask a person (e-mail, terms) and where it may write, in its own
    configuration file (``$XDG_CONFIG_HOME/letsencrypt/cli.ini``), so that the page's
    certbot command runs as written."""
    conf = shell.cwd / ".config" / "letsencrypt"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "cli.ini").write_text(
        f"config-dir = {shell.cwd}/letsencrypt\nwork-dir = {shell.cwd}/letsencrypt-work\n"
        f"logs-dir = {shell.cwd}/letsencrypt-logs\nnon-interactive = true\nagree-tos = true\n"
        f"register-unsafely-without-email = true\nhttp-01-port = {http_port}\n"
        "http-01-address = 127.0.0.1\n"
    )
