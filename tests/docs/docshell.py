"""Run the shell blocks of a Markdown page as a user would type them, in a temporary dir.

The blocks, and the marks written above them as HTML comments (``<!--pytest.mark.skip(...)-->``),
come from pytest-codeblocks (``extract_from_file``), the runner made for this; the marks are
evaluated as that runner's own plugin does. What a page cannot give is given here: a fresh
working dir, ``PATH`` with the venv's ``padlock``, the pass phrases, a loopback DNS for the
CA's checks and certbot's answers to its questions (``cli.ini``). The hosts a page names
(``ca.example.net``) are replaced with the ones here by the page's test (``subs``).

A ``padlock serve`` in a block runs in the background until the page is done, on port 0: the
port the page gives it (its ``--port``, else serve's default 8080) becomes ``--port 0``, and
that port in its ``--base-url`` ``0`` too, so the server binds a port of its own choosing and
says which (tests/support/padlock_server.py ``launch``, which waits for that and for
``/healthz``). From then on, wherever the page writes ``HOST:PORT`` with that port, the
commands get the port the server took (``ports``). Every other command runs in bash with
``-e -o pipefail``, and like a terminal, the page keeps the working directory and the
variables of one block for the next. A block marked ``<!--pytest.mark.xfail(reason=...)-->``
shows refusals: each of its commands runs on its own and must fail with a message, not a
traceback.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pytest_codeblocks import CodeBlock, extract_from_file

from tests.support.padlock_server import Launched, launch

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
SHELLS = ("sh", "bash")
SERVE = re.compile(
    r"^(?P<before>.*&&\s*)?(?P<serve>\S*padlock serve\b.*?)\s*&?\s*(?:\s#.*)?$"
)  # a trailing comment is the page's, not the command's
PORT_OPTION = re.compile(r"(?<![\w-])--port[ =](\d+)\b")
SERVE_DEFAULT_PORT = 8080  # `padlock serve --help`: default $PADLOCK_PORT or 8080
START_TIMEOUT_S = 120.0  # a first start makes the CA (keys, roots, database)

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


def page_port(command: str) -> int:
    """The port a page's ``padlock serve`` command asks for: its ``--port``, else serve's
    default (the docs' runner gives serve no ``$PADLOCK_PORT``)."""
    given = PORT_OPTION.search(command)
    return int(given.group(1)) if given else SERVE_DEFAULT_PORT


def on_port_zero(command: str) -> str:
    """The page's ``padlock serve`` command on port 0: its ``--port`` (added when the page
    leaves the default) and that port in its URLs (``--base-url https://HOST:8443``), so that
    serve binds a port itself and its base URL names the port it took."""
    port = page_port(command)
    command = at_port(command, port, 0)
    if PORT_OPTION.search(command):
        return PORT_OPTION.sub("--port 0", command)
    return f"{command} --port 0"


def at_port(text: str, page: int, real: int) -> str:
    """``text`` with every ``HOST:page`` (a URL's or an address's port) made ``HOST:real``."""
    return re.sub(rf"(?<=[\w\].]):{page}(?!\d)", f":{real}", text)


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
    servers: list[Launched] = field(default_factory=list)
    ports: dict[int, int] = field(default_factory=dict)  # a page's serve port -> the one taken

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
        """The page's text with this machine's hosts, and the ports its servers took."""
        for old, new in self.subs:
            code = code.replace(old, new)
        for page, real in self.ports.items():
            code = at_port(code, page, real)
        return code

    def run_block(self, block: CodeBlock, where: str) -> str:
        """Run one block; its output. A failing command fails the test, naming the block."""
        if expects_failure(block):
            return "".join(self._refused(self.substitute(c), where) for c in commands(block.code))
        output = []
        script: list[str] = []
        for command in commands(block.code):
            serve = SERVE.match(command)
            if serve is None:
                script.append(self.substitute(command))  # after the servers started above it
                continue
            if serve.group("before"):
                script.append(self.substitute(serve.group("before").rstrip().removesuffix("&&")))
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

    def start_server(self, command: str, where: str) -> Launched:
        """The page's ``padlock serve ...`` in the background, on port 0 (``on_port_zero``),
        once it said the port it took and answers ``/healthz``; the page's port stands for
        that one in the commands after it."""
        page = page_port(command)
        script = f"{self._restore()}exec {self.substitute(on_port_zero(command))}"
        server = launch(
            ["bash", "-c", script, where], env=self.env, cwd=self.cwd,
            log=self.cwd / f"serve-{len(self.servers)}.log", timeout=START_TIMEOUT_S,
            verify=False,  # readiness only: the page's own clients check its certificate
        )  # fmt: skip
        self.servers.append(server)
        self.ports[page] = server.port
        return server

    def stop(self) -> None:
        for server in self.servers:
            server.stop(timeout=30)
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
