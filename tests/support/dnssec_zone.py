"""Signed zones on a real authoritative server behind a real validating resolver, on loopback.

NSD serves ``example.com`` (and an unsigned ``com`` above it) and three zones delegated
from it, each signed (or not) with ldns-signzone; unbound validates them with the parent's
key as its only trust anchor, so the whole chain is checked as on the internet (DS at the
parent, NSEC proofs):

- ``secure.example.com``: signed, its DS in the parent: answers carry the AD bit.
- ``insecure.example.com``: unsigned, the parent's signed NSEC proves it has no DS:
  answers are valid and carry no AD bit (RFC 4035 section 5: an insecure delegation).
- ``bogus.example.com``: signed, its DS in the parent, but the signatures over its A, AAAA,
  TXT and CAA records are corrupted after signing (as a forged answer would be): unbound
  answers SERVFAIL, with the Extended DNS Error "DNSSEC Bogus" (RFC 8914) unless it was
  started with ``ede=False``. Its denials (NSEC) still validate, so a name there has a
  secure "no CAA" unless a CAA record is published for it.

Every name in the three zones has the address 127.0.0.1 (a wildcard A record).
:meth:`SignedZones.publish` adds a record, signs the zone again and waits until NSD
serves it. A missing program raises: tests fail, they never skip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode

from tests.support.ports import free_port

PARENT = "example.com"
SECURE = f"secure.{PARENT}"
INSECURE = f"insecure.{PARENT}"
BOGUS = f"bogus.{PARENT}"
TLD = "com"  # unsigned, above the trust anchor: where a CAA lookup's climb ends (RFC 8659 3)
SIGNED = (PARENT, SECURE, BOGUS)
SERVED = (TLD, PARENT, SECURE, INSECURE, BOGUS)
CORRUPTED = frozenset({"A", "AAAA", "TXT", "CAA"})  # in BOGUS, what forged answers carry
PROGRAMS = {
    "nsd": "nsd",
    "unbound": "unbound",
    "ldns-keygen": "ldnsutils",
    "ldns-signzone": "ldnsutils",
}
DEADLINE = 15.0  # seconds for a server to start or a zone to be served


def _programs() -> dict[str, str]:
    found = {name: shutil.which(name) for name in PROGRAMS}
    missing = sorted({PROGRAMS[n] for n, path in found.items() if path is None})
    if missing:
        raise RuntimeError(
            f"DNSSEC tests need {', '.join(missing)} (apt-get install {' '.join(missing)};"
            " .ci/run installs them)."
        )
    return {name: str(path) for name, path in found.items()}


def _corrupt(signed: str) -> str:
    """The signed zone with the signature of every RRSIG over CORRUPTED types changed."""
    lines = []
    for line in signed.splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[3] == "RRSIG" and fields[4] in CORRUPTED:
            sig = fields[-1]
            flipped = sig[:8] + ("B" if sig[8] == "A" else "A") + sig[9:]
            line = line[: line.rindex(sig)] + flipped
        lines.append(line)
    return "\n".join(lines) + "\n"


@dataclass
class Resolver:
    """One unbound process validating the zones."""

    port: int
    process: subprocess.Popen[bytes]
    ede: bool

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    @property
    def spec(self) -> str:
        return f"127.0.0.1:{self.port}"


@dataclass
class SignedZones:
    """Start with :meth:`start`, stop with :meth:`stop`; :attr:`resolver` is unbound."""

    root: Path
    nsd_port: int = 0
    records: dict[str, list[str]] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    serial: int = 1
    nsd: subprocess.Popen[bytes] | None = None
    resolvers: list[Resolver] = field(default_factory=list)

    def start(self) -> SignedZones:
        self.bin = _programs()
        self.root.mkdir(parents=True, exist_ok=True)
        self.nsd_port = free_port()
        for zone in (SECURE, INSECURE, BOGUS):
            self.records[zone] = ["@ IN A 127.0.0.1", "* IN A 127.0.0.1"]
        for zone in SIGNED:
            out = subprocess.run(
                [self.bin["ldns-keygen"], "-a", "ECDSAP256SHA256", "-k", zone],
                cwd=self.root,
                check=True,
                capture_output=True,
                text=True,
            )
            self.keys[zone] = out.stdout.strip()
        for zone in (TLD, SECURE, INSECURE, BOGUS, PARENT):  # the parent holds its children's DS
            self._write(zone)
        self._start_nsd()
        self.start_resolver(ede=True)
        return self

    @property
    def resolver(self) -> Resolver:
        return self.resolvers[0]

    def stop(self) -> None:
        procs = [r.process for r in self.resolvers] + ([self.nsd] if self.nsd else [])
        for proc in procs:
            proc.terminate()  # all at once; Popen does nothing for one that has exited
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
            proc.kill()
            proc.wait()
        self.resolvers.clear()
        self.nsd = None

    def publish(self, zone: str, record: str) -> None:
        """Add ``record`` (a zone-file line, names relative to ``zone``), sign ``zone``
        again and wait until NSD serves the new version."""
        self.records[zone].append(record)
        self._write(zone)
        assert self.nsd is not None
        self.nsd.send_signal(signal.SIGHUP)  # NSD reads the zone files whose mtime changed
        self._wait_serial(zone, self.serial)

    # --- zone files -----------------------------------------------------------------------

    def _zone_text(self, zone: str) -> str:
        head = [
            f"$ORIGIN {zone}.",
            "$TTL 1",  # nothing outlives a test in unbound's cache
            f"@ IN SOA ns.{PARENT}. hostmaster.{PARENT}. {self.serial} 3600 600 86400 1",
            f"@ IN NS ns.{PARENT}.",
        ]
        if zone == TLD:
            return "\n".join(head) + "\n"
        if zone != PARENT:
            return "\n".join(head + self.records[zone]) + "\n"
        body = ["ns IN A 127.0.0.1"]
        for child in (SECURE, INSECURE, BOGUS):
            body.append(f"{child}. IN NS ns.{PARENT}.")
        for child in (SECURE, BOGUS):
            body.append((self.root / f"{self.keys[child]}.ds").read_text().strip())
        return "\n".join(head + body) + "\n"

    def _write(self, zone: str) -> None:
        self.serial += 1
        plain = self.root / f"{zone}.zone"
        plain.write_text(self._zone_text(zone))
        served = self.root / f"{zone}.served"
        if zone in self.keys:
            inception = time.strftime("%Y%m%d%H%M%S", time.gmtime(time.time() - 86400))
            subprocess.run(
                [
                    self.bin["ldns-signzone"],
                    "-i",
                    inception,
                    "-o",
                    zone,
                    str(plain),
                    self.keys[zone],
                ],
                cwd=self.root,
                check=True,
                capture_output=True,
                text=True,
            )
            text = (self.root / f"{zone}.zone.signed").read_text()
            served.write_text(_corrupt(text) if zone == BOGUS else text)
        else:
            served.write_text(plain.read_text())
        # A strictly later mtime, whatever the file system's clock granularity.
        stamp = time.time() + self.serial
        os.utime(served, (stamp, stamp))

    # --- NSD ------------------------------------------------------------------------------

    def _start_nsd(self) -> None:
        zones = "".join(f"zone:\n  name: {z}\n  zonefile: {z}.served\n" for z in SERVED)
        conf = self.root / "nsd.conf"
        conf.write_text(
            "server:\n"
            f"  ip-address: 127.0.0.1@{self.nsd_port}\n"
            f"  port: {self.nsd_port}\n"
            '  username: ""\n  chroot: ""\n  database: ""\n'
            f'  zonesdir: "{self.root}"\n'
            f'  zonelistfile: "{self.root}/zone.list"\n'
            f'  xfrdfile: "{self.root}/xfrd.state"\n'
            f'  xfrdir: "{self.root}"\n'
            f'  pidfile: "{self.root}/nsd.pid"\n'
            f'  logfile: "{self.root}/nsd.log"\n'
            "  server-count: 1\n  verbosity: 1\n"
            "remote-control:\n  control-enable: no\n" + zones
        )
        self.nsd = subprocess.Popen(
            [self.bin["nsd"], "-d", "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for zone in SERVED:
            self._wait_serial(zone, None)

    def _wait_serial(self, zone: str, serial: int | None) -> None:
        """Until NSD answers for ``zone`` (with ``serial``, if given); bounded."""
        until = time.monotonic() + DEADLINE
        seen: object = None
        while time.monotonic() < until:
            assert self.nsd is not None
            if self.nsd.poll() is not None:
                raise RuntimeError(f"nsd exited: {self._log('nsd.log')}")
            try:
                q = dns.message.make_query(f"{zone}.", "SOA")
                resp = dns.query.udp(q, "127.0.0.1", timeout=1, port=self.nsd_port)
                if resp.rcode() == dns.rcode.NOERROR and resp.answer:
                    seen = resp.answer[0][0].serial
                    if serial is None or seen == serial:
                        return
            except (OSError, dns.exception.DNSException) as exc:
                seen = exc
            time.sleep(0.05)
        raise RuntimeError(f"nsd did not serve {zone} (serial {serial}; saw {seen!r})")

    def _log(self, name: str) -> str:
        path = self.root / name
        return path.read_text()[-2000:] if path.exists() else "(no log)"

    # --- unbound --------------------------------------------------------------------------

    def start_resolver(self, *, ede: bool = True) -> Resolver:
        """Another unbound over the same zones (``ede=False``: without Extended DNS Errors)."""
        port = free_port()
        name = f"unbound-{port}"
        stubs = "".join(
            f'stub-zone:\n  name: "{z}"\n  stub-addr: 127.0.0.1@{self.nsd_port}\n' for z in SERVED
        )
        conf = self.root / f"{name}.conf"
        conf.write_text(
            "server:\n"
            f"  interface: 127.0.0.1\n  port: {port}\n  do-ip6: no\n"
            '  username: ""\n  chroot: ""\n'
            f'  directory: "{self.root}"\n  pidfile: "{self.root}/{name}.pid"\n'
            f'  logfile: "{self.root}/{name}.log"\n  use-syslog: no\n'
            "  num-threads: 1\n  verbosity: 1\n  val-log-level: 2\n"
            "  do-not-query-localhost: no\n"
            f"  ede: {'yes' if ede else 'no'}\n"
            "  aggressive-nsec: no\n  cache-max-ttl: 1\n  cache-max-negative-ttl: 1\n"
            f'  trust-anchor-file: "{self.root}/{self.keys[PARENT]}.ds"\n' + stubs
        )
        proc = subprocess.Popen(
            [self.bin["unbound"], "-d", "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        resolver = Resolver(port, proc, ede)
        self.resolvers.append(resolver)
        self._wait_validating(resolver, f"{name}.log")
        return resolver

    def _wait_validating(self, resolver: Resolver, log: str) -> None:
        """Until unbound answers for the parent with the AD bit (the anchor works); bounded."""
        until = time.monotonic() + DEADLINE
        seen: object = None
        while time.monotonic() < until:
            if resolver.process.poll() is not None:
                raise RuntimeError(f"unbound exited: {self._log(log)}")
            try:
                q = dns.message.make_query(f"{PARENT}.", "SOA")
                q.flags |= dns.flags.AD
                resp = dns.query.udp(q, "127.0.0.1", timeout=1, port=resolver.port)
                if resp.flags & dns.flags.AD:
                    return
                seen = resp
            except (OSError, dns.exception.DNSException) as exc:
                seen = exc
            time.sleep(0.05)
        raise RuntimeError(f"unbound did not validate {PARENT}: {seen!r}\n{self._log(log)}")
