"""certbot: 5.x from PyPI (in a venv the kit manages, cache.py) and Debian's 2.x, unmodified.

http-01 with certbot's standalone server on the VA's port, dns-01 and wildcards through
``--manual`` hooks that write the kit's DNS, EAB with ``--eab-kid``/``--eab-hmac-key``,
profiles with ``--required-profile`` (certbot 5), a forced renewal whose order the server
lists (does it carry ``replaces``?), revoke with the account and with the
certificate's key (``--cert-path`` and ``--key-path``), ``unregister`` to deactivate.
"""

from __future__ import annotations

import re
from pathlib import Path

from padlock.conformance.drivers.base import (
    NO_PROFILES,
    Program,
    Row,
    dns_hook,
    fresh_name,
    program_version,
    run_help,
    run_program,
)
from padlock.conformance.drivers.orders import certbot_account, replaces_seen
from padlock.conformance.model import ClientRow
from padlock.conformance.target import Target


class _Certbot(Program):
    def __init__(self, program: Path, target: Target, work: Path) -> None:
        super().__init__(program, target, work)
        self.hook = dns_hook(target, work)

    def run(self, *args: str, config: str = "config") -> str:
        base = self.work / config
        return run_program(
            [
                self.program, *args, "--non-interactive", "--server", self.target.directory,
                "--config-dir", base, "--work-dir", base / "work", "--logs-dir", base / "logs",
            ],
            self.target,
        )  # fmt: skip

    def register(self, *extra: str, config: str = "config") -> None:
        self.run(
            "register", "--agree-tos", "--register-unsafely-without-email", *extra, config=config
        )

    def standalone(self, name: str, *extra: str) -> None:
        self.run(
            "certonly", "--standalone", "--http-01-port", str(self.target.http_port),
            "-d", name, *extra,
        )  # fmt: skip

    def manual_dns(self, *names: str) -> None:
        domains = [arg for name in names for arg in ("-d", name)]
        hook = f"{self.hook} present _acme-challenge.$CERTBOT_DOMAIN $CERTBOT_VALIDATION"
        self.run(
            "certonly", "--manual", "--preferred-challenges", "dns",
            "--manual-auth-hook", hook,
            "--manual-cleanup-hook", f"{self.hook} cleanup _acme-challenge.$CERTBOT_DOMAIN",
            *domains,
        )  # fmt: skip

    def live(self, name: str) -> Path:
        return self.work / "config" / "live" / name.removeprefix("*.")


def drive(client: str, program: Path, target: Target) -> ClientRow:
    work = target.work / client
    work.mkdir(parents=True, exist_ok=True)
    certbot = _Certbot(program, target, work)
    row = Row(client, program_version([program, "--version"]))
    full = run_help([program, "--help", "all"])
    row.na("tls-alpn-01", "certbot has no tls-alpn-01 authenticator")
    row.na("key-change", "certbot has no account key rollover command")
    _eab(row, certbot)
    if not row.step(["account"], certbot.register):
        row.blocked(["http-01", "dns-01", "wildcard", "profile", "deactivate",
                     "revoke-account", "revoke-certkey"], "a new account")  # fmt: skip
        return row.done()
    first, second = fresh_name(target, "cb-http"), fresh_name(target, "cb-dns")
    got_first = row.step(["http-01"], lambda: certbot.standalone(first))
    got_second = row.step(["dns-01"], lambda: certbot.manual_dns(second))
    base = fresh_name(target, "cb-wild")
    row.step(["wildcard"], lambda: certbot.manual_dns(f"*.{base}", base))
    _profile(row, certbot, full)
    _renewal(row, certbot, first if got_first else None)
    if got_first:
        row.step(["revoke-account"], lambda: certbot.run(
            "revoke", "--cert-name", first, "--no-delete-after-revoke"))  # fmt: skip
    row.blocked(["revoke-account"], "http-01")
    if got_second:
        live = certbot.live(second)
        row.step(["revoke-certkey"], lambda: certbot.run(
            "revoke", "--cert-path", str(live / "cert.pem"),
            "--key-path", str(live / "privkey.pem"), "--no-delete-after-revoke"))  # fmt: skip
    row.blocked(["revoke-certkey"], "dns-01")
    row.step(["deactivate"], lambda: certbot.run("unregister"))
    return row.done()


def _eab(row: Row, certbot: _Certbot) -> None:
    eab = certbot.target.eab
    if eab is None:
        row.not_given(certbot.target, profile=False)
        return
    row.step(["account-eab"], lambda: certbot.register(
        "--eab-kid", eab.kid, "--eab-hmac-key", eab.hmac_key, config="config-eab"))  # fmt: skip


def _profile(row: Row, certbot: _Certbot, helptext: str) -> None:
    if "--required-profile" not in helptext:
        row.na("profile", "this certbot has no --required-profile (certbot 4.0 added it)")
        return
    profile = certbot.target.profile
    if profile is None:
        row.na("profile", NO_PROFILES)
        return
    name = fresh_name(certbot.target, "cb-profile")
    row.step(["profile"], lambda: certbot.standalone(name, "--required-profile", profile))


def _renewal(row: Row, certbot: _Certbot, name: str | None) -> None:
    """``certbot renew --force-renewal`` of the http-01 lineage; the server's orders say
    whether the renewal named the certificate it replaces (certbot 4.1 and later read ARI)."""
    major = certbot_major(row.version)
    if major is not None and major < 4:
        row.na("ari-replaces", f"certbot {major}.x has no renewal information (ARI) support")
        return
    if name is None:
        row.blocked(["ari-replaces"], "http-01")
        return
    renewed = row.step(["ari-replaces"], lambda: certbot.run(
        "renew", "--cert-name", name, "--force-renewal", "--no-random-sleep-on-renew"))  # fmt: skip
    if renewed:
        found = certbot_account(certbot.work / "config")
        row.cells["ari-replaces"] = replaces_seen(found, certbot.target, name)


def certbot_major(version: str) -> int | None:
    """3 of "certbot 3.1.0"."""
    found = re.match(r"certbot (\d+)\.", version)
    return int(found.group(1)) if found else None
