"""A TLS-ALPN-01 responder on loopback (RFC 8737), for validation tests."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import socket
import ssl
import tempfile
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

OID_ACME_IDENTIFIER = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.31")


def _san(name: str) -> x509.GeneralName:
    """An IP address as an iPAddress (RFC 8738 section 6), any other name as a dNSName."""
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def sni_of(name: str) -> str:
    """The SNI the VA sends for ``name``: an address's reverse-mapping name (RFC 8738 6)."""
    try:
        return ipaddress.ip_address(name).reverse_pointer
    except ValueError:
        return name


def challenge_cert(name: str, key_authorization: str, critical: bool = True) -> tuple[bytes, bytes]:
    """(cert PEM, key PEM) of the self-signed acme-tls/1 certificate for ``name``."""
    key = ec.generate_private_key(ec.SECP256R1())
    digest = hashlib.sha256(key_authorization.encode()).digest()
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acme")]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acme")]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([_san(name)]), critical=False)
        .add_extension(
            x509.UnrecognizedExtension(OID_ACME_IDENTIFIER, b"\x04\x20" + digest), critical=critical
        )
        .sign(key, hashes.SHA256())
    )
    return (
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


class ALPNResponder:
    """Answers every handshake with the certificate set for the SNI name."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.certs: dict[str, ssl.SSLContext] = {}
        self._dir = tempfile.TemporaryDirectory()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.create_server((host, 0), family=family)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._default = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)

    def set(self, name: str, key_authorization: str, critical: bool = True) -> None:
        cert, key = challenge_cert(name, key_authorization, critical)
        base = Path(self._dir.name)
        (base / f"{name}.crt").write_bytes(cert)
        (base / f"{name}.key").write_bytes(key)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(base / f"{name}.crt", base / f"{name}.key")
        ctx.set_alpn_protocols(["acme-tls/1"])
        self.certs[sni_of(name)] = ctx

    def _sni(self, sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        if name and name in self.certs:
            sock.context = self.certs[name]

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            conn.settimeout(5)
            first = next(iter(self.certs.values()), None)
            if first is None:
                conn.close()
                continue
            first.sni_callback = self._sni  # type: ignore[assignment]
            try:
                with first.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass
            finally:
                conn.close()

    def start(self) -> ALPNResponder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()
        self._dir.cleanup()
