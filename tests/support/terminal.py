"""Run a command on a pseudo-terminal of its own (its controlling terminal, as at a console)
and answer its prompts: for the commands that ask only when a person is there."""

from __future__ import annotations

import os
import pty
import select
import time
from collections.abc import Mapping, Sequence

TIMEOUT_S = 120.0


def on_a_terminal(
    args: Sequence[str], env: dict[str, str], answers: Mapping[bytes, Sequence[str]]
) -> tuple[int, str]:
    """(exit status, everything it wrote) of ``args``. Each time its output shows a prompt
    of ``answers`` anew, the next of that prompt's answers is typed (the last one again when
    they run out). Bounded: at most ``TIMEOUT_S``."""
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execve(args[0], list(args), env)  # noqa: S606 - a program, no shell
        finally:
            os._exit(127)  # never back into pytest in the child
    output, deadline = b"", time.monotonic() + TIMEOUT_S
    answered = dict.fromkeys(answers, 0)
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
            for prompt, typed in answers.items():
                while output.count(prompt) > answered[prompt]:
                    answer = typed[min(answered[prompt], len(typed) - 1)]
                    os.write(fd, answer.encode() + b"\n")
                    answered[prompt] += 1
    finally:
        os.close(fd)
    _pid, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")
