"""``padlock.site.ca_http``: what the two CA clients share - the CA's URL, Retry-After,
the CA's problem documents as our errors, and whom to trust for its HTTPS (both clients
against a server of the test's own)."""

from __future__ import annotations

import datetime as dt
import email.utils
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from padlock.errors import (
    CAError,
    CAUnreachable,
    ConfigError,
    NotFound,
    RejectedIdentifier,
)
from padlock.site import ca_http
from padlock.site.backend_acme import AcmeClient
from padlock.site.backend_rest import RestClient
from padlock.site.ca_http import Trust

# --------------------------------------------------------------------------- small parts


@pytest.mark.parametrize("url", ["ftp://ca.example.com", "ca.example.com", "", "https://"])
def test_ca_url_invalid(url: str) -> None:
    with pytest.raises(ConfigError, match="is not an http:// or https:// URL"):
        ca_http.check_ca_url(url)


def test_ca_url_trailing_slash_dropped() -> None:
    assert ca_http.check_ca_url(" https://ca.example.com/ ") == "https://ca.example.com"


def test_retry_after_forms() -> None:
    now = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)
    later = email.utils.format_datetime(now + dt.timedelta(seconds=42), usegmt=True)
    assert ca_http.retry_after_seconds("7", 1.0) == 7.0
    assert ca_http.retry_after_seconds(later, 1.0, now=now) == 42.0
    assert ca_http.retry_after_seconds(None, 3.0) == 3.0
    assert ca_http.retry_after_seconds("soon", 3.0) == 3.0
    assert ca_http.retry_after_seconds("86400", 1.0) == ca_http.MAX_RETRY_AFTER
    assert ca_http.retry_after_seconds("86400", 1.0, cap=float("inf")) == 86400.0
    past = email.utils.format_datetime(now - dt.timedelta(hours=1), usegmt=True)
    assert ca_http.retry_after_seconds(past, 5.0, now=now) == 0.0


def test_problem_types_become_our_errors() -> None:
    doc = {
        "type": "urn:ietf:params:acme:error:rejectedIdentifier",
        "detail": "intranet.corp is an internal name",
    }
    err = ca_http.error_from_problem(doc, 400, "the request", "http://ca")
    assert isinstance(err, RejectedIdentifier)
    assert err.message == "The CA refused the request: intranet.corp is an internal name."
    found = ca_http.error_from_problem(
        {"type": "urn:padlock:error:notFound", "detail": "No such request."}, 404, "x", "u"
    )
    assert isinstance(found, NotFound)
    # The CA's own failures are the CA's, whatever type they carry.
    inner = ca_http.error_from_problem(
        {"type": "urn:ietf:params:acme:error:serverInternal", "detail": "boom"}, 500, "x", "u"
    )
    assert type(inner) is CAError
    odd = ca_http.error_from_problem(
        {"type": "urn:ietf:params:acme:error:malformed", "detail": "boom"}, 502, "x", "u"
    )
    assert type(odd) is CAError
    none = ca_http.error_from_problem(None, 404, "the request", "http://ca/api")
    assert type(none) is CAError and "HTTP 404 and no problem document" in none.message


def test_subproblems_named_once() -> None:
    doc = {
        "type": "urn:ietf:params:acme:error:rejectedIdentifier",
        "detail": "Some names are refused",
        "subproblems": [
            {"detail": "internal name", "identifier": {"type": "dns", "value": "a.corp"}},
            {"detail": "Some names are refused"},
        ],
    }
    err = ca_http.error_from_problem(doc, 400, "the order", "u")
    assert (
        err.message == "The CA refused the order: Some names are refused (a.corp: internal name)."
    )


# --------------------------------------------------------------------------- HTTPS trust


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on 127.0.0.1 whose certificate chains to a root of the test's own."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Client Test Root")])
    now = dt.datetime.now(dt.UTC)
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False
        )
        .sign(root_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(root_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )
    cert_file, key_file, root_file = (
        tmp_path / "srv.pem",
        tmp_path / "srv.key",
        tmp_path / "root.pem",
    )
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    root_file.write_bytes(root.public_bytes(serialization.Encoding.PEM))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"not json at all"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_file, key_file)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}", root_file
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_https_untrusted_then_trusted_with_ca_root(
    https_server: tuple[str, Path], tmp_path: Path
) -> None:
    url, root = https_server
    with RestClient(url) as api, pytest.raises(CAUnreachable) as info:
        api.get("x")
    assert info.value.message.startswith(f"The CA's HTTPS certificate at {url} does not verify")
    assert "--ca-root" in (info.value.hint or "")
    # Trusted through --ca-root: the TLS session works, and what comes back is judged.
    with RestClient(url, trust=Trust((root,))) as api, pytest.raises(CAError, match="not JSON"):
        api.get("x")
    # The ACME client (requests underneath) the same way.
    with pytest.raises(CAUnreachable, match="does not verify"):
        AcmeClient(url + "/directory", tmp_path / "acct")
    with pytest.raises(CAError, match="not what ACME"):
        AcmeClient(url + "/directory", tmp_path / "acct", trust=Trust((root,)))
