"""Serials as openssl shows them: padlock prints what ``openssl x509 -serial`` prints (a
leading zero nibble kept, uppercase), and reads any of the forms people paste."""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from padlock.errors import Malformed
from padlock.pki import serials
from tests.conftest import Result

# A leading zero nibble, as one serial in sixteen has (the example began 09987BF7).
SERIAL = 0x09987BF7E3C25D1A44F0B6C1D2E3F40516273849


def _cert(path: Path, serial: int = SERIAL) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "serial.example.com")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2026, 2, 1, tzinfo=dt.UTC))
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_serials_display_is_openssls(
    tmp_path: Path, openssl: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    for serial in (SERIAL, 0x0A, 0x1F, 0x7F3E):
        cert = _cert(tmp_path / f"{serial:x}.pem", serial)
        shown = openssl("x509", "-in", cert, "-noout", "-serial").stdout.strip()
        assert shown == f"serial={serials.display(serial)}"
    assert serials.display(SERIAL).startswith("09987BF7")


def test_serials_parse_every_form() -> None:
    hex_lower = format(SERIAL, "x")  # 9987bf7e...: no leading zero, lower case
    colons = ":".join(serials.display(SERIAL)[i : i + 2] for i in range(0, 40, 2)).lower()
    for text in (
        serials.display(SERIAL),
        hex_lower,
        hex_lower.upper(),
        colons,
        f"serial={serials.display(SERIAL)}",
        f"0x{hex_lower}",
        f"  {hex_lower}\n",
    ):
        assert serials.parse(text) == SERIAL, text


@pytest.mark.parametrize("text", ["", "serial=", "xyz", "12-34", "0" + "f" * 41])
def test_serials_parse_refuses_what_is_not_a_serial(text: str) -> None:
    with pytest.raises(Malformed, match="is not a certificate serial number") as info:
        serials.parse(text)
    assert info.value.hint is not None and "openssl x509 -serial" in info.value.hint


def test_serials_show_prints_openssls_form(
    padlock_proc: Callable[..., Result],
    tmp_path: Path,
    openssl: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    """``padlock show`` on the certificate: searching its output for openssl's serial finds it."""
    cert = _cert(tmp_path / "leaf.pem")
    theirs = openssl("x509", "-in", cert, "-noout", "-serial").stdout.strip().split("=")[1]
    shown = padlock_proc("show", cert)
    assert shown.rc == 0, shown.err
    assert theirs in shown.out
