"""certbot (Debian's package), unmodified, against padlock's ACME server over HTTPS."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from cryptography import x509

from tests.interop.conftest import (
    Padlock,
    check_certificate,
    ocsp_expected,
    program,
    revocation_seen,
    run,
)
from tests.support.httpfiles import FileServer


def _certbot(padlock: Padlock, work: Path, *args: str) -> str:
    proc = run(
        [
            program("certbot"),
            *args,
            "--non-interactive",
            "--server",
            padlock.directory,
            "--config-dir",
            str(work / "config"),
            "--work-dir",
            str(work / "work"),
            "--logs-dir",
            str(work / "logs"),
        ],
        env={"REQUESTS_CA_BUNDLE": str(padlock.test_root)},
    )
    return proc.stdout + proc.stderr


def _live(work: Path, name: str) -> tuple[Path, Path]:
    live = work / "config" / "live" / name
    return live / "cert.pem", live / "chain.pem"


def _contact(padlock: Padlock, work: Path) -> list[str]:
    """The contact the server stored for the account certbot registered."""
    regr = next((work / "config" / "accounts").rglob("regr.json"))
    return padlock.account_contact(json.loads(regr.read_text())["uri"])


def test_certbot_register_with_email(padlock: Padlock, tmp_path: Path) -> None:
    _certbot(padlock, tmp_path, "register", "--agree-tos", "--email", "webmaster@example.com")
    assert _contact(padlock, tmp_path) == ["mailto:webmaster@example.com"]


def test_certbot_register_without_email(padlock: Padlock, tmp_path: Path) -> None:
    _certbot(padlock, tmp_path, "register", "--agree-tos", "--register-unsafely-without-email")
    assert _contact(padlock, tmp_path) == []


def test_certbot_standalone_renew_revoke(padlock: Padlock, tmp_path: Path) -> None:
    name = f"certbot-{secrets.token_hex(4)}.example.com"
    _certbot(
        padlock,
        tmp_path,
        "certonly",
        "--standalone",
        "--http-01-port",
        str(padlock.http_port),
        "--agree-tos",
        "--email",
        "webmaster@example.com",
        "-d",
        name,
    )
    cert, chain = _live(tmp_path, name)
    first = check_certificate(padlock, cert, chain, [name])

    _certbot(padlock, tmp_path, "renew", "--force-renewal", "--no-random-sleep-on-renew")
    renewed = check_certificate(padlock, cert, chain, [name])
    assert renewed.serial_number != first.serial_number

    _certbot(
        padlock,
        tmp_path,
        "revoke",
        "--cert-path",
        str(cert),
        "--reason",
        "superseded",
        "--no-delete-after-revoke",
    )
    assert padlock.certificate_state(renewed.serial_number) == "revoked"
    assert padlock.certificate_state(first.serial_number) == "issued"
    # issue 7: a certbot revocation shows in the CRL and in the OCSP answer at once (where
    # the CA runs OCSP: a new trusted CA does not by default)
    assert revocation_seen(padlock, cert, chain) == (True, ocsp_expected(cert))


def test_certbot_webroot(padlock: Padlock, tmp_path: Path) -> None:
    name = f"webroot-{secrets.token_hex(4)}.example.com"
    webroot = tmp_path / "www"
    webroot.mkdir()
    site = FileServer(port=padlock.http_port, root=webroot).start()
    try:
        _certbot(
            padlock,
            tmp_path,
            "certonly",
            "--webroot",
            "-w",
            str(webroot),
            "--agree-tos",
            "--register-unsafely-without-email",
            "-d",
            name,
        )
    finally:
        site.stop()
    cert, chain = _live(tmp_path, name)
    leaf = check_certificate(padlock, cert, chain, [name])
    assert isinstance(leaf, x509.Certificate)
    assert any("/.well-known/acme-challenge/" in path for _host, path in site.requests)
