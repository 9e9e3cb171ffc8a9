"""dehydrated, unmodified, with a hook script: http-01 files in a webroot the kit serves,
dns-01 and wildcards through the hook writing the kit's DNS, tls-alpn-01 certificates in a
directory the kit's responder serves, EAB from its config (EAB_KID, EAB_HMAC_KEY), revoke
with the account key and with the certificate's (``--privkey``), ``--deactivate``."""

from __future__ import annotations

import re
from pathlib import Path

from padlock.conformance.drivers.base import Program, Row, fresh_name, run_help, run_program, script
from padlock.conformance.loopback import AlpnResponder, FileResponder
from padlock.conformance.model import ClientRow
from padlock.conformance.target import Target

HOOK = """#!/usr/bin/env bash
# deploy_challenge DOMAIN TOKEN_FILENAME TOKEN_VALUE; clean_challenge the same (others ignored)
case "$1" in
  deploy_challenge) echo "$4" >> "{txt_dir}/_acme-challenge.$2" ;;
  clean_challenge) rm -f "{txt_dir}/_acme-challenge.$2" ;;
esac
exit 0
"""

CONFIG = """CA="{directory}"
BASEDIR="{base}"
WELLKNOWN="{webroot}"
ALPNCERTDIR="{alpn}"
HOOK="{hook}"
CONTACT_EMAIL="webmaster@example.com"
KEY_ALGO="prime256v1"
{curl}
{eab}
"""


class _Dehydrated(Program):
    def __init__(self, program: Path, target: Target, work: Path, eab: bool = False) -> None:
        super().__init__(program, target, work)
        self.webroot = work / "www"
        self.challenges = self.webroot / ".well-known" / "acme-challenge"
        self.challenges.mkdir(parents=True, exist_ok=True)
        self.alpn = work / "alpn"
        self.alpn.mkdir(exist_ok=True)
        hook = script(work / "hook.sh", HOOK.replace("{txt_dir}", str(target.txt_dir)))
        creds = target.eab if eab else None
        self.config = work / "config"
        self.config.write_text(
            CONFIG.format(
                directory=target.directory, base=work, webroot=self.challenges,
                alpn=self.alpn, hook=hook,
                curl=f'CURL_OPTS="--cacert {target.ca_file}"' if target.ca_file else "",
                eab=f'EAB_KID="{creds.kid}"\nEAB_HMAC_KEY="{creds.hmac_key}"' if creds else "",
            )
        )  # fmt: skip

    def run(self, *args: str | Path) -> str:
        return run_program([self.program, "--config", self.config, *args], self.target)

    def register(self) -> None:
        self.run("--register", "--accept-terms")

    def issue(self, challenge: str, *names: str) -> Path:
        domains = [arg for name in names for arg in ("--domain", name)]
        alias = names[-1]
        if challenge == "http-01":
            with FileResponder(self.target.http_port, self.webroot):
                self.run("--cron", "--challenge", challenge, *domains, "--alias", alias)
        elif challenge == "tls-alpn-01":
            with AlpnResponder(self.target.tls_port, self.alpn):
                self.run("--cron", "--challenge", challenge, *domains, "--alias", alias)
        else:
            self.run("--cron", "--challenge", challenge, *domains, "--alias", alias)
        return self.work / "certs" / alias


def drive(program: Path, target: Target) -> ClientRow:
    work = target.work / "dehydrated"
    work.mkdir(parents=True, exist_ok=True)
    client = _Dehydrated(program, target, work)
    row = Row("dehydrated", _version(program))
    row.na("key-change", "dehydrated has no account key rollover command")
    row.na("profile", "dehydrated 0.7 has no profile option")
    row.na("ari-replaces", "dehydrated 0.7 renews by days left, without ARI")
    row.na(
        "revoke-certkey",
        "dehydrated 0.7's --privkey looks the key up as an account"
        " (onlyReturnExisting) and signs with its kid, never the jwk form (RFC 8555 7.6)",
    )
    _eab(row, program, target)
    if not row.step(["account"], client.register):
        row.blocked([k for k in _AFTER_ACCOUNT], "a new account")
        return row.done()
    live: dict[str, Path] = {}

    def issue(feature: str, kind: str, *names: str) -> None:
        live[feature] = client.issue(kind, *names)

    row.step(["http-01"], lambda: issue("http-01", "http-01", fresh_name(target, "dh-http")))
    row.step(["dns-01"], lambda: issue("dns-01", "dns-01", fresh_name(target, "dh-dns")))
    alpn = fresh_name(target, "dh-alpn")
    row.step(["tls-alpn-01"], lambda: issue("tls-alpn-01", "tls-alpn-01", alpn))
    base = fresh_name(target, "dh-wild")
    row.step(["wildcard"], lambda: issue("wildcard", "dns-01", f"*.{base}", base))
    if "http-01" in live:
        row.step(["revoke-account"], lambda: client.run("--revoke", live["http-01"] / "cert.pem"))
    row.blocked(["revoke-account"], "http-01")
    row.step(["deactivate"], lambda: client.run("--deactivate"))
    return row.done()


_AFTER_ACCOUNT = ("http-01", "dns-01", "tls-alpn-01", "wildcard", "deactivate",
                  "revoke-account")  # fmt: skip


def _eab(row: Row, program: Path, target: Target) -> None:
    if target.eab is None:
        row.not_given(target, profile=False)
        return
    work = target.work / "dehydrated-eab"
    work.mkdir(parents=True, exist_ok=True)
    row.step(["account-eab"], _Dehydrated(program, target, work, eab=True).register)


def _version(program: Path) -> str:
    said = run_help([program, "--version"])
    found = re.search(r"version:\s*(\S+)", said)
    return found.group(1) if found else "unknown"
