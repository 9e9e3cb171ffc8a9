"""A small authoritative DNS server on loopback, for validation tests (dnslib).

Every name resolves to 127.0.0.1 unless told otherwise; TXT and CAA records are
added by the test. It answers UDP and TCP on a free port of 127.0.0.1; point
``PADLOCK_VA_RESOLVER`` (or :class:`padlock.ca.validation.VAConfig`) at it.

Other processes (an ACME client's DNS hook) add TXT records through ``Zone.txt_dir``:
a file named after the record's name (lower case, no trailing dot) holds one value a
line, read at every query; see :func:`txt_file`.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from dnslib import AAAA, CAA, QTYPE, RCODE, RR, TXT, A, DNSRecord
from dnslib.server import BaseResolver, DNSServer


def _key(name: str) -> str:
    return name.rstrip(".").lower()


@dataclass
class Zone:
    """What the server answers; safe to change while it runs."""

    default_a: str | None = "127.0.0.1"
    a: dict[str, list[str]] = field(default_factory=dict)
    aaaa: dict[str, list[str]] = field(default_factory=dict)
    txt: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    caa: dict[str, list[tuple[int, str, str]]] = field(default_factory=lambda: defaultdict(list))
    txt_dir: Path | None = None  # TXT values written by other processes, a file per name
    servfail: set[str] = field(default_factory=set)
    nxdomain: set[str] = field(default_factory=set)
    queries: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_txt(self, name: str, value: str) -> None:
        with self.lock:
            self.txt[_key(name)].append(value)

    def clear_txt(self, name: str) -> None:
        with self.lock:
            self.txt.pop(_key(name), None)

    def add_caa(self, name: str, tag: str, value: str, flags: int = 0) -> None:
        with self.lock:
            self.caa[_key(name)].append((flags, tag, value))


def txt_file(txt_dir: Path, name: str) -> Path:
    """Where another process puts the TXT values of ``name`` (one a line)."""
    return txt_dir / _key(name)


def _file_values(path: Path) -> list[str]:
    try:
        text = path.read_text()
    except OSError:
        return []
    return [line.strip() for line in text.splitlines() if line.strip()]


class _Resolver(BaseResolver):  # type: ignore[misc]
    def __init__(self, zone: Zone) -> None:
        self.zone = zone

    def resolve(self, request: DNSRecord, handler: object) -> DNSRecord:
        reply = request.reply()
        reply.header.ad = 0  # dnslib echoes the query's AD bit; this server vouches for nothing
        qname = str(request.q.qname)
        key = _key(qname)
        qtype = QTYPE[request.q.qtype]
        zone = self.zone
        with zone.lock:
            zone.queries.append((key, qtype))
            if key in zone.servfail:
                reply.header.rcode = RCODE.SERVFAIL
                return reply
            if key in zone.nxdomain:
                reply.header.rcode = RCODE.NXDOMAIN
                return reply
            if qtype == "A":
                for ip in zone.a.get(key, [zone.default_a] if zone.default_a else []):
                    reply.add_answer(RR(qname, QTYPE.A, rdata=A(ip), ttl=1))
            elif qtype == "AAAA":
                for ip in zone.aaaa.get(key, []):
                    reply.add_answer(RR(qname, QTYPE.AAAA, rdata=AAAA(ip), ttl=1))
            elif qtype == "TXT":
                values = list(zone.txt.get(key, []))
                if zone.txt_dir is not None:
                    values += _file_values(txt_file(zone.txt_dir, key))
                for value in values:
                    reply.add_answer(RR(qname, QTYPE.TXT, rdata=TXT(value), ttl=1))
            elif qtype == "CAA":
                for flags, tag, value in zone.caa.get(key, []):
                    reply.add_answer(RR(qname, QTYPE.CAA, rdata=CAA(flags, tag, value), ttl=1))
        return reply


class TestDNS:
    """Start with :meth:`start`, stop with :meth:`stop`; ``address`` is (host, port)."""

    __test__ = False

    def __init__(self, zone: Zone | None = None) -> None:
        self.zone = zone or Zone()
        resolver = _Resolver(self.zone)
        # UDP draws a free port; TCP must take the same number, which another socket
        # may hold already ("Address already in use"): then draw again (bounded).
        for attempt in range(20):
            self._udp = DNSServer(resolver, address="127.0.0.1", port=0, logger=_Quiet())
            port = self._udp.server.server_address[1]
            try:
                self._tcp = DNSServer(
                    resolver, address="127.0.0.1", port=port, tcp=True, logger=_Quiet()
                )
                break
            except OSError:
                self._udp.server.server_close()
                if attempt == 19:
                    raise
        self.address = ("127.0.0.1", port)

    @property
    def spec(self) -> str:
        return f"{self.address[0]}:{self.address[1]}"

    def start(self) -> TestDNS:
        self._udp.start_thread()
        self._tcp.start_thread()
        return self

    def stop(self) -> None:
        for server in (self._udp, self._tcp):
            server.server.shutdown()
            server.server.server_close()


class _Quiet:
    def __getattr__(self, name: str) -> object:
        return lambda *args, **kwargs: None
