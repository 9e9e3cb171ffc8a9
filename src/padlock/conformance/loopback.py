"""The kit's loopback world: a DNS server answering every name with 127.0.0.1 and the TXT
records the clients' hooks write, and an HTTP responder for clients that only write files
(a webroot). dnslib is a runtime dependency of padlock for this module."""

from __future__ import annotations

import functools
import http.server
import socket
import ssl
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from dnslib import QTYPE, RR, TXT, A, DNSRecord
from dnslib.server import BaseResolver, DNSServer

from padlock.errors import ConfigError

TTL = 1


def txt_path(txt_dir: Path, name: str) -> Path:
    """The file holding the TXT values of ``name`` (one a line), written by a client's hook."""
    return txt_dir / name.rstrip(".").lower()


class _Resolver(BaseResolver):  # type: ignore[misc]
    def __init__(self, txt_dir: Path) -> None:
        self.txt_dir = txt_dir

    def resolve(self, request: DNSRecord, handler: object) -> DNSRecord:
        reply = request.reply()
        qname = str(request.q.qname)
        qtype = QTYPE[request.q.qtype]
        if qtype == "A":
            reply.add_answer(RR(qname, QTYPE.A, rdata=A("127.0.0.1"), ttl=TTL))
        elif qtype == "TXT":
            try:
                lines = txt_path(self.txt_dir, qname).read_text().splitlines()
            except OSError:
                lines = []
            for value in filter(None, (line.strip() for line in lines)):
                reply.add_answer(RR(qname, QTYPE.TXT, rdata=TXT(value), ttl=TTL))
        return reply  # AAAA, CAA and the rest: no records (CAA absent allows any CA)


class _Quiet:
    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


class KitDNS:
    """UDP and TCP on ``host:port``; a context manager."""

    def __init__(self, host: str, port: int, txt_dir: Path) -> None:
        resolver = _Resolver(txt_dir)
        try:
            self._servers = [
                DNSServer(resolver, address=host, port=port, tcp=tcp, logger=_Quiet())
                for tcp in (False, True)
            ]
        except OSError as exc:
            raise ConfigError(
                f"The kit's DNS server cannot listen on {host}:{port}: {exc.strerror}.",
                hint="Pick another port with --dns-port.",
            ) from None

    def __enter__(self) -> KitDNS:
        for server in self._servers:
            server.start_thread()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self._servers:
            server.server.shutdown()
            server.server.server_close()


class _Quietly(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


class FileResponder:
    """Serves ``root`` over plain HTTP on 127.0.0.1:``port`` (http-01 for webroot clients)."""

    def __init__(self, port: int, root: Path) -> None:
        handler = functools.partial(_Quietly, directory=str(root))
        try:
            self._server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        except OSError as exc:
            raise ConfigError(f"Port {port} is taken: {exc.strerror}.") from None
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FileResponder:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


ACME_TLS_1 = "acme-tls/1"  # RFC 8737 section 6.2


class AlpnResponder:
    """Answers tls-alpn-01 (RFC 8737) on 127.0.0.1:``port`` with the certificates a client
    wrote to ``cert_dir`` as ``NAME.crt.pem`` and ``NAME.key.pem`` (dehydrated's layout),
    picked by the SNI the VA sends."""

    def __init__(self, port: int, cert_dir: Path) -> None:
        self.cert_dir = cert_dir
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.set_alpn_protocols([ACME_TLS_1])
        self._context.sni_callback = self._pick
        try:
            self._sock = socket.create_server(("127.0.0.1", port))
        except OSError as exc:
            raise ConfigError(f"Port {port} is taken: {exc.strerror}.") from None
        self._sock.settimeout(0.5)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _pick(self, conn: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> int | None:
        base = self.cert_dir / (name or "")
        cert, key = base.with_name(f"{base.name}.crt.pem"), base.with_name(f"{base.name}.key.pem")
        if not name or not cert.exists():
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        chosen = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        chosen.set_alpn_protocols([ACME_TLS_1])
        chosen.load_cert_chain(cert, key)
        conn.context = chosen
        return None

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _peer = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            raw.settimeout(10)
            try:
                with self._context.wrap_socket(raw, server_side=True):
                    pass  # the handshake is the answer
            except (ssl.SSLError, OSError):
                raw.close()

    def __enter__(self) -> AlpnResponder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._sock.close()
