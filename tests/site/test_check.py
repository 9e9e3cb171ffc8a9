"""``padlock check``: what a browser would decide, against real TLS handshakes (a Python
TLS server in a thread, serving certificates from padlock's own CA)."""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.conftest import Result
from tests.site.conftest import Issued, SiteCA
from tests.support.ports import free_port

from padlock.errors import InvalidName
from padlock.site import check as site_check
from padlock.site.check import Verdict, check, name_matches, parse_target

CLI = Callable[..., Result]


@dataclass
class TLSServer:
    port: int
    issued: Issued


@pytest.fixture
def serve() -> Iterator[Callable[..., TLSServer]]:
    """Serve a chain on 127.0.0.1 from a thread; every server stops at teardown."""
    stops: list[Callable[[], None]] = []

    def start(issued: Issued, chain: bool = True) -> TLSServer:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        bundle = issued.cert.parent / f"{issued.cert.stem}.served.pem"
        bundle.write_bytes(issued.cert.read_bytes() + (issued.chain.read_bytes() if chain else b""))
        ctx.load_cert_chain(bundle, issued.key)
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(0.2)
        port = listener.getsockname()[1]
        done = threading.Event()

        def loop() -> None:
            while not done.is_set():
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                conn.settimeout(5)
                try:
                    with ctx.wrap_socket(conn, server_side=True) as tls:
                        tls.recv(1)
                except (OSError, ssl.SSLError):
                    pass
                finally:
                    conn.close()

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()

        def stop() -> None:
            done.set()
            listener.close()
            thread.join(timeout=10)

        stops.append(stop)
        return TLSServer(port, issued)

    yield start
    for stop in stops:
        stop()


def test_ok_with_padlock_root(
    site_ca: SiteCA, certs: Path, serve: Callable[..., TLSServer]
) -> None:
    issued = site_ca.issue(certs, ["www.example.com", "example.com"])
    server = serve(issued)
    result = check("127.0.0.1", server.port, server_name="www.example.com", ca_files=[issued.root])
    assert result.verdict is Verdict.OK and result.exit_code == 0
    assert result.verified and result.name_matches
    assert result.serial == issued.serial
    assert result.protocol in ("TLSv1.2", "TLSv1.3")
    assert result.cipher
    assert 19 <= (result.days_left or 0) <= 21
    assert result.chain[0].subject == "CN=www.example.com"
    assert "Issuing CA" in result.chain[1].subject
    assert result.chain[0].issuer == result.chain[1].subject
    assert result.ocsp_staple is False  # asked of openssl s_client -status; not a failure
    assert result.problems == () and result.warnings == ()


def test_untrusted_root_is_broken(
    site_ca: SiteCA, certs: Path, serve: Callable[..., TLSServer]
) -> None:
    issued = site_ca.issue(certs)
    server = serve(issued)
    result = check("127.0.0.1", server.port, server_name="www.example.com")
    assert result.verdict is Verdict.BROKEN and result.exit_code == 2
    assert not result.verified and result.verify_error
    assert result.serial == issued.serial  # still shows what was presented
    assert len(result.chain) == 2


def test_missing_intermediate_is_broken(
    site_ca: SiteCA, certs: Path, serve: Callable[..., TLSServer]
) -> None:
    issued = site_ca.issue(certs)
    server = serve(issued, chain=False)
    result = check("127.0.0.1", server.port, server_name="www.example.com", ca_files=[issued.root])
    assert result.verdict is Verdict.BROKEN
    assert "does not verify" in result.problems[0]
    assert len(result.chain) == 1


def test_name_mismatch_is_broken(
    site_ca: SiteCA, certs: Path, serve: Callable[..., TLSServer]
) -> None:
    issued = site_ca.issue(certs, ["www.example.com"])
    server = serve(issued)
    result = check("127.0.0.1", server.port, server_name="shop.example.com", ca_files=[issued.root])
    assert result.verdict is Verdict.BROKEN
    assert result.verified and result.name_matches is False
    assert "not for shop.example.com" in result.problems[0]


def test_expiring_within_14_days_is_a_warning(
    site_ca: SiteCA, certs: Path, serve: Callable[..., TLSServer]
) -> None:
    issued = site_ca.issue(certs, days=10)
    server = serve(issued)
    result = check("127.0.0.1", server.port, server_name="www.example.com", ca_files=[issued.root])
    assert result.verdict is Verdict.WARNING and result.exit_code == 1
    assert "expires in 9 days" in result.warnings[0] or "expires in 10 days" in result.warnings[0]


def test_expired_is_broken(
    site_ca: SiteCA, past_issuer: object, certs: Path, serve: Callable[..., TLSServer]
) -> None:
    issued = site_ca.issue(certs, issuer=past_issuer)  # type: ignore[arg-type]
    server = serve(issued)
    result = check("127.0.0.1", server.port, server_name="www.example.com", ca_files=[issued.root])
    assert result.verdict is Verdict.BROKEN
    assert any("expired" in p for p in result.problems)
    assert (result.days_left or 0) < 0


def test_cannot_connect_is_broken() -> None:
    port = free_port()  # nothing listens there
    result = check("127.0.0.1", port, server_name="www.example.com", timeout=5)
    assert result.verdict is Verdict.BROKEN and not result.connected
    assert "refused" in result.problems[0]


def test_silent_server_times_out() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:  # accepts, never speaks TLS
        port = listener.getsockname()[1]
        result = check("127.0.0.1", port, server_name="www.example.com", timeout=1)
    assert result.verdict is Verdict.BROKEN
    assert "did not answer within 1 seconds" in result.problems[0]


def test_plain_http_port_is_a_failed_handshake() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def answer() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(1024)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        result = check("127.0.0.1", port, server_name="www.example.com", timeout=5)
        thread.join(timeout=10)
    assert result.verdict is Verdict.BROKEN
    assert "handshake" in result.problems[0]


def test_handshake_errors_become_padlock_errors() -> None:
    """The border: socket and ssl exceptions never leave site/check.py untranslated."""
    from padlock.errors import SiteUnreachable

    with pytest.raises(SiteUnreachable) as info:
        site_check._handshake(
            "127.0.0.1", free_port(), "www.example.com", site_check._looking_context(), 5
        )
    assert isinstance(info.value.__cause__, ConnectionRefusedError)


# --------------------------------------------------------------------------- pure parts


def _cert(names: list[str]) -> x509.Certificate:
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    general: list[x509.GeneralName] = []
    for n in names:
        try:
            general.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            general.append(x509.DNSName(n))
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ignored.example")]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(general), critical=False)
        .sign(key, hashes.SHA256())
    )


@pytest.mark.parametrize(
    ("names", "host", "expected"),
    [
        (["www.example.com"], "www.example.com", True),
        (["www.example.com"], "WWW.Example.COM.", True),
        (["*.example.com"], "shop.example.com", True),
        (["*.example.com"], "example.com", False),
        (["*.example.com"], "a.b.example.com", False),
        (["*.com"], "example.com", False),
        (["www.example.com"], "ignored.example", False),  # the CN does not count
        (["192.0.2.7"], "192.0.2.7", True),
        (["www.example.com"], "192.0.2.7", False),
        (["xn--bcher-kva.example"], "bücher.example", True),
    ],
)
def test_name_matches(names: list[str], host: str, expected: bool) -> None:
    assert name_matches(_cert(names), host) is expected


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("www.example.com", ("www.example.com", 443)),
        ("www.example.com:8443", ("www.example.com", 8443)),
        ("[::1]:8443", ("::1", 8443)),
        ("[::1]", ("::1", 443)),
        ("::1", ("::1", 443)),
        ("127.0.0.1:1", ("127.0.0.1", 1)),
    ],
)
def test_parse_target(target: str, expected: tuple[str, int]) -> None:
    assert parse_target(target) == expected


@pytest.mark.parametrize("target", ["https://www.example.com/", "host:0", "host:99999", "[::1"])
def test_parse_target_invalid(target: str) -> None:
    with pytest.raises(InvalidName):
        parse_target(target)


# --------------------------------------------------------------------------- the command


def test_cli_exit_codes_and_json(
    cli: CLI, site_ca: SiteCA, certs: Path, serve: Callable[..., TLSServer]
) -> None:
    good = serve(site_ca.issue(certs))
    soon = serve(site_ca.issue(certs, days=7))
    root = str(good.issued.root)
    ok = cli("check", f"127.0.0.1:{good.port}", "--name", "www.example.com", "--ca", root)
    assert ok.rc == 0, ok.out
    assert "OK" in ok.out and good.issued.serial in ok.out and "Chain presented" in ok.out
    warn = cli("check", f"127.0.0.1:{soon.port}", "--name", "www.example.com", "--ca", root)
    assert warn.rc == 1 and "WARNING" in warn.out
    broken = cli("check", f"127.0.0.1:{good.port}", "--name", "www.example.com")
    assert broken.rc == 2 and "BROKEN" in broken.out
    report = json.loads(
        cli("check", f"127.0.0.1:{good.port}", "--name", "www.example.com", "--json").out
    )
    assert report["verdict"] == "broken" and report["exit_code"] == 2
    assert report["serial"] == good.issued.serial
    assert {"subject", "issuer", "not_after", "serial"} <= set(report["chain"][0])
    down = cli("check", f"127.0.0.1:{free_port()}", "--json")
    assert down.rc == 2 and json.loads(down.out)["connected"] is False


def test_cli_rejects_a_url(cli: CLI) -> None:
    result = cli("check", "https://www.example.com/")
    assert result.rc == 2 and "is a URL" in result.err  # not checked: never less than broken


def test_cli_unreadable_roots_file(cli: CLI, tmp_path: Path) -> None:
    bad = tmp_path / "roots.pem"
    bad.write_text("not a certificate")
    result = cli("check", f"127.0.0.1:{free_port()}", "--ca", str(bad))
    assert result.rc == 2 and "Cannot load trusted roots" in result.err
