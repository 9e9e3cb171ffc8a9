"""Debian's Apache with mod_md as an ACME client of a README-made padlock.

Apache runs from a config of its own in a temporary directory (readable by www-data, the
user its children run as: mod_md drives ACME in a child and answers challenges there), on
padlock's http-01 port and on the port padlock's VA connects to for tls-alpn-01. mod_md's
``MDPortMap`` tells it that those high ports are the world's 80 and 443. ``MDMessageCmd``
appends each event (``renewed``, ``installed``, ``errored``...) to a file the test polls.

A missing apache2 or mod_md FAILS the tests (``.ci/run`` installs apache2).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509

from tests.interop.readme_server import Served
from tests.site.conftest import ApacheServer, which

MODULES = Path("/usr/lib/apache2/modules")
LOAD = ("mpm_event", "authz_core", "socache_shmcb", "ssl", "http2", "md")
NOTIFY = """#!/bin/sh
# mod_md's MDMessageCmd: "$1" is the event (renewed, installed, errored, ...), "$2" the domain.
echo "$@" >> "{out}"
"""


@dataclass
class MdApache:
    """One Apache (tests.site's ``ApacheServer``: start, graceful, stop) with one managed
    domain, ``name``, its config written here."""

    server: ApacheServer
    name: str
    served: Served
    directives: list[str] = field(default_factory=list)

    @property
    def base(self) -> Path:
        return self.server.base

    @property
    def store(self) -> Path:
        return self.base / "md"

    @property
    def https_port(self) -> int:
        return self.served.tls_port

    def log(self) -> str:
        return self.server.log()

    def events(self) -> list[str]:
        path = self.base / "events" / "md.log"
        return path.read_text().splitlines() if path.exists() else []

    def write_conf(self) -> None:
        port_http, port_https, s = self.served.http_port, self.https_port, self.served
        lines = [f"LoadModule {m}_module {MODULES}/mod_{m}.so" for m in LOAD] + [
            f"ServerRoot {self.server.root}", f"PidFile {self.server.pid_file}",
            f"DefaultRuntimeDir {self.base}/var/run", f"ErrorLog {self.base}/var/log/error.log",
            "LogLevel warn md:info", "User www-data", "Group www-data", "ServerName localhost",
            "StartServers 1", "ThreadsPerChild 8", "MinSpareThreads 8", "MaxSpareThreads 16",
            "MaxRequestWorkers 32",
            f"Listen 127.0.0.1:{port_http}", f"Listen 127.0.0.1:{port_https}",
            f"MDCertificateAuthority {s.directory}", f"MDCACertificateFile {self.base / 'ca.pem'}",
            "MDContactEmail webmaster@example.com", "MDCertificateAgreement accepted",
            f"MDStoreDir {self.store}", f"MDPortMap http:{port_http} https:{port_https}",
            f"MDMessageCmd {self.base / 'notify.sh'}", *self.directives,
            f"MDomain {self.name}",
            f"<VirtualHost 127.0.0.1:{port_https}>", f"  ServerName {self.name}",
            "  SSLEngine on", "</VirtualHost>",
            f"<VirtualHost 127.0.0.1:{port_http}>", f"  ServerName {self.name}",
            "</VirtualHost>",
        ]  # fmt: skip
        (self.server.root / "apache2.conf").write_text("\n".join(lines) + "\n")

    def graceful(self) -> None:
        proc = self.server.run("-k", "graceful")
        assert proc.returncode == 0, proc.stdout + proc.stderr + self.log()

    def wait_event(self, event: str, count: int = 1, deadline: float = 60) -> None:
        """Until mod_md has reported ``event`` for the domain ``count`` times (bounded)."""
        end = time.monotonic() + deadline
        while sum(e.split()[:1] == [event] for e in self.events()) < count:
            if self.server.pid() is not None and not self.server.running():
                pytest.fail(f"Apache exited:\n{self.log()}")
            if time.monotonic() > end:
                pytest.fail(f"mod_md never said {event!r} in {deadline:g} s; events "
                            f"{self.events()}\n{self.log()}")  # fmt: skip
            time.sleep(0.1)

    def staged(self) -> Path:
        return self.store / "staging" / self.name / "pubcert.pem"

    def active(self) -> Path:
        return self.store / "domains" / self.name / "pubcert.pem"

    @staticmethod
    def leaf(pubcert: Path) -> x509.Certificate:
        return x509.load_pem_x509_certificates(pubcert.read_bytes())[0]


@contextmanager
def md_apache(served: Served, name: str, directives: list[str]) -> Iterator[MdApache]:
    """Apache managing ``name`` with mod_md against ``served`` (started; stopped after)."""
    binary = which("apache2")
    if not (MODULES / "mod_md.so").exists():
        pytest.fail("mod_md is not installed (Debian's apache2-bin ships it; .ci/run installs it)")
    base = Path(tempfile.mkdtemp(prefix="padlock-mod-md-"))
    os.chmod(base, 0o755)  # noqa: S103 - the children (www-data) reach the store and the script
    try:
        for sub in ("apache2", "var/run", "var/lock", "var/log", "events"):
            (base / sub).mkdir(parents=True)
        os.chmod(base / "events", 0o777)  # noqa: S103 - the script runs as www-data
        script = base / "notify.sh"
        script.write_text(NOTIFY.replace("{out}", str(base / "events" / "md.log")))
        script.chmod(0o755)
        shutil.copy(served.test_root, base / "ca.pem")  # the pytest tmp dir is root's only
        server = ApacheServer(base, base / "apache2", served.http_port, served.tls_port, binary)
        apache = MdApache(server, name, served, directives)
        apache.write_conf()
        server.start()
        try:
            yield apache
        finally:
            server.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)
