"""Apache's mod_md (Debian's apache2-bin), unmodified: one Apache of the kit's own manages a
domain per feature at once (http-01, tls-alpn-01, dns-01 through ``MDChallengeDns01``, a
wildcard, ``MDProfile``, EAB with ``MDExternalAccountBinding``), and a domain with a
renewal window longer than any certificate, which mod_md renews at once: that renewal's
order must name the certificate it replaces (RFC 9773 section 5), read back from the
server's order (the account's orders list, RFC 8555 7.1.2.1, with mod_md's account key).

Apache listens on the VA's two ports (``MDPortMap`` says they are the world's 80 and 443);
its children run as www-data when the kit runs as root, so the kit's directories are
opened to them."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from padlock.conformance.drivers.base import Row, StepFailed, fresh_name, run_help, script
from padlock.conformance.drivers.orders import mod_md_account, replaces_seen
from padlock.conformance.model import Cell, ClientRow, Status
from padlock.conformance.target import Target

MODULES = Path("/usr/lib/apache2/modules")
LOAD = ("mpm_event", "authz_core", "socache_shmcb", "ssl", "http2", "md")
WAIT_S, POLL_S = 90.0, 0.2
NOTIFY = '#!/bin/sh\necho "$@" >> "{out}"\n'
DNS = """#!/bin/sh
# MDChallengeDns01: setup DOMAIN TOKEN | teardown DOMAIN
case "$1" in
  setup) printf '%s\\n' "$3" >> "{txt_dir}/_acme-challenge.$2" ;;
  teardown) rm -f "{txt_dir}/_acme-challenge.$2" ;;
esac
"""
FEATURES = ("http-01", "tls-alpn-01", "dns-01", "wildcard", "profile", "account-eab",
            "ari-replaces")  # fmt: skip


class _Apache:
    def __init__(self, binary: Path, target: Target, base: Path) -> None:
        self.binary, self.target, self.base = binary, target, base
        self.conf = base / "apache2.conf"
        self.events = base / "events" / "md.log"
        self.root = os.geteuid() == 0

    def args(self, *extra: str) -> list[str]:
        return [str(self.binary), "-d", str(self.base), "-f", str(self.conf), *extra]

    def control(self, action: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("APACHE_")}
        proc = subprocess.run(self.args("-k", action), capture_output=True, text=True,
                              timeout=60, check=False, env={**env, "LANG": "C"})  # fmt: skip
        if proc.returncode != 0:
            raise StepFailed(f"apache2 -k {action}: {(proc.stdout + proc.stderr).strip()[-200:]}")

    def said(self, event: str, name: str) -> int:
        try:
            lines = self.events.read_text().splitlines()
        except OSError:
            return 0
        return sum(line.split()[:2] == [event, name] for line in lines)

    def log(self) -> str:
        try:
            return (self.base / "error.log").read_text()[-400:]
        except OSError:
            return ""

    def stop(self) -> None:
        pid_file = self.base / "apache2.pid"
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            return
        try:
            self.control("stop")
        except StepFailed:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while pid_file.exists() and time.monotonic() < deadline:
            time.sleep(POLL_S)


def _domain(name: str, *directives: str) -> list[str]:
    return [f"<MDomainSet {name}>", *(f"  {d}" for d in directives), "</MDomainSet>"]


def _conf(apache: _Apache, domains: dict[str, list[str]]) -> str:
    t, base = apache.target, apache.base
    lines = [f"LoadModule {m}_module {MODULES}/mod_{m}.so" for m in LOAD] + [
        f"ServerRoot {base}", f"PidFile {base}/apache2.pid", f"DefaultRuntimeDir {base}",
        f"ErrorLog {base}/error.log", "LogLevel warn md:info", "ServerName localhost",
        f"Mutex file:{base}", "StartServers 1", "ThreadsPerChild 8", "MinSpareThreads 8",
        "MaxSpareThreads 16", "MaxRequestWorkers 32", "Protocols h2 http/1.1 acme-tls/1",
        f"Listen 127.0.0.1:{t.http_port}", f"Listen 127.0.0.1:{t.tls_port}",
        f"MDCertificateAuthority {t.directory}", "MDContactEmail webmaster@example.com",
        "MDCertificateAgreement accepted", f"MDStoreDir {base}/md",
        f"MDPortMap http:{t.http_port} https:{t.tls_port}",
        f"MDMessageCmd {base}/notify.sh", f"MDChallengeDns01 {base}/dns.sh",
    ]  # fmt: skip
    if apache.root:
        lines += ["User www-data", "Group www-data"]
    if t.ca_file is not None:
        lines.append(f"MDCACertificateFile {base}/ca.pem")
    for directives in domains.values():
        lines += directives
    for name in domains:
        lines += [f"<VirtualHost 127.0.0.1:{t.tls_port}>", f"  ServerName {name.lstrip('*.')}",
                  "  SSLEngine on", "</VirtualHost>"]  # fmt: skip
    return "\n".join(lines) + "\n"


def _prepare(apache: _Apache) -> None:
    base, target = apache.base, apache.target
    (base / "events").mkdir(parents=True)
    script(base / "notify.sh", NOTIFY.replace("{out}", str(apache.events)))
    script(base / "dns.sh", DNS.replace("{txt_dir}", str(target.txt_dir)))
    if target.ca_file is not None:
        shutil.copy(target.ca_file, base / "ca.pem")
    if apache.root:  # the children (www-data) write events and TXT records, read the rest
        for path in (target.work.parent, target.work, base):
            path.chmod(0o755)
        for path in (base / "events", target.txt_dir):
            path.chmod(0o777)


def _plan(target: Target) -> dict[str, tuple[str, list[str]]]:
    """feature -> (domain, its MDomainSet)."""
    names = {f: fresh_name(target, f"md-{f.split('-')[0]}") for f in FEATURES}
    wild = f"*.{names['wildcard']}"
    plan: dict[str, tuple[str, list[str]]] = {
        "http-01": (names["http-01"], ["MDCAChallenges http-01"]),
        "tls-alpn-01": (names["tls-alpn-01"], ["MDCAChallenges tls-alpn-01"]),
        "dns-01": (names["dns-01"], ["MDCAChallenges dns-01"]),
        "wildcard": (wild, ["MDCAChallenges dns-01", f"MDMember {names['wildcard']}"]),
        "ari-replaces": (names["ari-replaces"], ["MDCAChallenges http-01", "MDRenewWindow 3650d"]),
    }
    if target.profile is not None:
        plan["profile"] = (names["profile"], [f"MDProfile {target.profile}",
                                              "MDProfileMandatory on"])  # fmt: skip
    if target.eab is not None:
        plan["account-eab"] = (names["account-eab"], [
            f"MDExternalAccountBinding {target.eab.kid} {target.eab.hmac_key}"])  # fmt: skip
    return plan


def _wait(apache: _Apache, plan: dict[str, tuple[str, list[str]]], row: Row) -> None:
    """Until every domain is renewed (twice for the ARI one: after its first certificate is
    installed by a graceful reload, its window is open at once) or errored, bounded."""
    deadline, reloaded = time.monotonic() + WAIT_S, False
    pending = dict(plan)
    while pending and time.monotonic() < deadline:
        for feature, (name, _d) in list(pending.items()):
            if apache.said("renewed", name) >= (2 if feature == "ari-replaces" else 1):
                row.set([feature], Cell(Status.PASS))
                del pending[feature]
            elif apache.said("errored", name) >= 3:
                row.set([feature], Cell(Status.FAIL, f"mod_md errored: {apache.log()}"))
                del pending[feature]
        ari = plan.get("ari-replaces")
        if ari and not reloaded and apache.said("renewed", ari[0]) == 1:
            apache.control("graceful")
            reloaded = True
        time.sleep(POLL_S)
    for feature in pending:
        row.set([feature], Cell(Status.FAIL, f"no certificate in {WAIT_S:.0f} s: {apache.log()}"))


def drive(binary: Path, target: Target) -> ClientRow:
    version = run_help([binary, "-v"]).splitlines()[:1] or ["apache2"]
    row = Row("mod_md", version[0].removeprefix("Server version: "))
    if not (MODULES / "mod_md.so").exists():
        row.set(["account", *FEATURES], Cell(Status.NOT_RUN, f"no {MODULES}/mod_md.so"))
    row.na("key-change", "mod_md has no account key rollover")
    row.na("deactivate", "mod_md deactivates no account on request")
    row.na("revoke-account", "mod_md does not revoke certificates")
    row.na("revoke-certkey", "mod_md does not revoke certificates")
    row.not_given(target)
    if "account" in row.cells:
        return row.done()
    apache = _Apache(binary, target, target.work / "mod_md")
    plan = _plan(target)
    _prepare(apache)
    apache.conf.write_text(_conf(apache, {n: _domain(n, *d) for n, d in plan.values()}))
    try:
        apache.control("start")
    except StepFailed as failed:
        row.set(["account", *plan], Cell(Status.FAIL, failed.reason))
        return row.done()
    try:
        _wait(apache, plan, row)
    finally:
        apache.stop()
    first = row.cells.get("http-01", Cell(Status.FAIL, "no http-01 domain"))
    row.cells["account"] = first  # mod_md opens its account on the way to any certificate
    if row.cells["ari-replaces"].status is Status.PASS:
        row.cells["ari-replaces"] = replaces_seen(
            mod_md_account(apache.base / "md"), target, plan["ari-replaces"][0], sends=True
        )
    return row.done()
