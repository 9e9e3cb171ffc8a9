"""lego, unmodified: http-01 and tls-alpn-01 with its own servers on the VA's ports, dns-01
and wildcards through ``--dns exec`` writing the kit's DNS, EAB with ``--eab``, revoke with
the account key. What this lego cannot do is read from its own help, not assumed."""

from __future__ import annotations

from pathlib import Path

from padlock.conformance.drivers.base import (
    Program,
    Row,
    dns_hook,
    fresh_name,
    program_version,
    run_help,
    run_program,
)
from padlock.conformance.model import ClientRow
from padlock.conformance.target import Target


class _Lego(Program):
    def __init__(self, program: Path, target: Target, work: Path) -> None:
        super().__init__(program, target, work)
        hook = dns_hook(target, work)
        self.dns_env = {
            "EXEC_PATH": str(hook),
            "EXEC_POLLING_INTERVAL": "1",
            "EXEC_PROPAGATION_TIMEOUT": "30",
            "EXEC_SEQUENCE_INTERVAL": "1",
        }

    def run(self, names: list[str], *args: str, path: str = "lego") -> str:
        domains = [arg for name in names for arg in ("--domains", name)]
        return run_program(
            [
                self.program, "--server", self.target.directory, "--accept-tos",
                "--email", "webmaster@example.com", "--path", self.work / path, *domains, *args,
            ],
            self.target,
            env=self.dns_env,
        )  # fmt: skip

    def http(self, name: str, *extra: str, path: str = "lego") -> None:
        self.run([name], *extra, "--http", "--http.port", f":{self.target.http_port}", "run",
                 path=path)  # fmt: skip

    def dns(self, *names: str) -> None:
        self.run(list(names), "--dns", "exec", "--dns.resolvers", self.target.dns,
                 "--dns.disable-cp", "run")  # fmt: skip


def drive(program: Path, target: Target) -> ClientRow:
    work = target.work / "lego"
    work.mkdir(parents=True, exist_ok=True)
    lego = _Lego(program, target, work)
    row = Row("lego", program_version([program, "--version"]))
    run_help_text = run_help([program, "run", "--help"])
    renew_help = run_help([program, "renew", "--help"])
    row.na("key-change", "lego has no account key rollover command")
    row.na("deactivate", "lego has no account deactivation command")
    row.na("revoke-certkey", "lego revokes with the account key only")
    if "--profile" not in run_help_text:
        row.na("profile", "this lego has no --profile option")
    if "--ari" not in renew_help:
        row.na("ari-replaces", "this lego's renew has no ARI option (lego 4.18 added it)")
    _eab(row, lego)
    first = fresh_name(target, "lego-http")
    if not row.step(["account", "http-01"], lambda: lego.http(first)):
        row.blocked(["revoke-account"], "http-01")
    else:
        row.step(["revoke-account"], lambda: lego.run([first], "revoke"))
    alpn = fresh_name(target, "lego-alpn")
    row.step(["tls-alpn-01"], lambda: lego.run(
        [alpn], "--tls", "--tls.port", f":{target.tls_port}", "run"))  # fmt: skip
    row.step(["dns-01"], lambda: lego.dns(fresh_name(target, "lego-dns")))
    base = fresh_name(target, "lego-wild")
    row.step(["wildcard"], lambda: lego.dns(f"*.{base}", base))
    for key in ("profile", "ari-replaces"):
        if key not in row.cells:
            row.not_run(key, "this lego has the option, but the kit does not drive it yet")
    return row.done()


def _eab(row: Row, lego: _Lego) -> None:
    eab = lego.target.eab
    if eab is None:
        row.not_given(lego.target, profile=False)
        return
    name = fresh_name(lego.target, "lego-eab")
    row.step(["account-eab"], lambda: lego.http(
        name, "--eab", "--kid", eab.kid, "--hmac", eab.hmac_key, path="lego-eab"))  # fmt: skip
