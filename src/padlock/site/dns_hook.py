"""The DNS hook of ``padlock obtain --dns-hook CMD``: the site owner's program that puts a
TXT record into their DNS and takes it out again (padlock speaks to no DNS provider).

It is run as ``CMD add NAME VALUE`` before the CA is asked to look, and ``CMD remove NAME
VALUE`` afterwards (dns-01 and dns-account-01 records are for one order only; a
dns-persist-01 record is added once and left in place). NAME is the record's full name
without a trailing dot, VALUE the TXT string. The hook returns once the record is
published (waiting for the zone's secondaries is its business); exit status 0 means done.
It runs without a terminal and is bounded in time.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from padlock.errors import ConfigError, InstallFailed
from padlock.site.server_control import output_of, run_command

HOOK_TIMEOUT = 300.0  # seconds one hook call may take (a DNS API, a zone reload)


@dataclass(frozen=True)
class DnsHook:
    command: str
    timeout: float = HOOK_TIMEOUT

    def argv(self, action: str, name: str, value: str) -> list[str]:
        try:
            words = shlex.split(self.command)
        except ValueError as exc:
            raise ConfigError(f"The DNS hook {self.command!r} does not parse: {exc}.") from None
        if not words:
            raise ConfigError("The DNS hook is empty.")
        return [*words, action, name, value]

    def add(self, name: str, value: str) -> None:
        self._run("add", name, value)

    def remove(self, name: str, value: str) -> None:
        self._run("remove", name, value)

    def _run(self, action: str, name: str, value: str) -> None:
        args = self.argv(action, name, value)
        try:
            proc = run_command(args, timeout=self.timeout, what=f"The DNS hook ({action} {name})")
        except InstallFailed as exc:
            raise ConfigError(exc.message, hint="Check the --dns-hook program.") from None
        if proc.returncode != 0:
            raise ConfigError(
                f"The DNS hook failed to {action} the TXT record {name}: {output_of(proc)}",
                hint="Run it by hand with the same arguments to see why.",
            )


__all__ = ["HOOK_TIMEOUT", "DnsHook"]
