"""Pebble (Debian's package, /usr/bin/pebble) on loopback, for the conformance kit's tests
and docs table: its own TLS certificate made here, its VA pointed at the kit's DNS and ports,
no nonce rejection or validation sleep (PEBBLE_WFE_NONCEREJECT=0, PEBBLE_VA_NOSLEEP=1)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import shutil
import signal
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.ports import free_port

START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Pebble:
    directory: str
    ca_file: Path
    http_port: int
    tls_port: int


def _tls_files(where: Path) -> tuple[Path, Path, Path]:
    """(root, cert, key): a root and a leaf for 127.0.0.1 and localhost."""
    now = dt.datetime.now(dt.UTC)
    root_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kit test root")])
    root = (
        x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
        .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(root_key, hashes.SHA256())
    )  # fmt: skip
    sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    leaf = (
        x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(root_name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(sans), critical=True)
        .sign(root_key, hashes.SHA256())
    )  # fmt: skip
    paths = where / "root.pem", where / "cert.pem", where / "key.pem"
    paths[0].write_bytes(root.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@contextmanager
def pebble(where: Path, dns: str, eab: dict[str, str]) -> Iterator[Pebble]:
    """Pebble on free loopback ports, resolving with ``dns`` (host:port); ``eab``: kid -> key."""
    program = shutil.which("pebble")
    if program is None:
        pytest.fail("pebble is not installed (apt-get install pebble; .ci/run installs it).")
    root, cert, key = _tls_files(where)
    port, http_port, tls_port = free_port(), free_port(), free_port()
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{port}",
            "managementListenAddress": f"127.0.0.1:{free_port()}",
            "certificate": str(cert), "privateKey": str(key), "httpPort": http_port,
            "tlsPort": tls_port, "ocspResponderURL": "",
            "externalAccountBindingRequired": False, "externalAccountMACKeys": eab,
        }
    }  # fmt: skip
    (where / "pebble.json").write_text(json.dumps(config))
    env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"}
    log = where / "pebble.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [program, "-config", str(where / "pebble.json"), "-dnsserver", dns],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    served = Pebble(f"https://127.0.0.1:{port}/dir", root, http_port, tls_port)
    try:
        _wait(served, proc, log)
        yield served
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)


def _wait(served: Pebble, proc: subprocess.Popen[bytes], log: Path) -> None:
    trust = ssl.create_default_context(cafile=str(served.ca_file))
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"pebble exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(served.directory, verify=trust, timeout=2).status_code == 200:
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.1)
    pytest.fail(f"pebble did not answer in {START_TIMEOUT_S:.0f} s:\n{log.read_text()[-3000:]}")
