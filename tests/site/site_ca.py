"""A padlock serve for ``padlock obtain`` and ``padlock renew`` tests, and what they share to
run the CLI and read what it wrote. The fixtures (``dns``, ``webroot_ca``, ``standalone_ca``,
``state``) are in ``tests/site/conftest.py``, one of each per session.

The CA's validation looks names up in a loopback DNS server (every name is 127.0.0.1) and
fetches the HTTP check from a port the test chooses: a file server over a web root
(``--webroot``), padlock obtain's own listener (``--standalone-port``), or a real Apache.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography import x509
from tests.conftest import OPENSSL, Result
from tests.support.dnsserver import TestDNS
from tests.support.httpfiles import FileServer
from tests.web.conftest import PadlockServer, start_padlock_server

from padlock.pki import keys

CLI = Callable[..., Result]
PASSPHRASE = "obtain tests pass phrase"


# --------------------------------------------------------------------------- the CA


@dataclass
class CA:
    server: PadlockServer
    va_port: int  # where the CA fetches http://NAME/.well-known/... from
    webroot: Path | None  # served on va_port (None: nothing listens there until obtain does)
    test_root: Path
    trusted_root: Path

    @property
    def url(self) -> str:
        return self.server.url

    def api(self) -> httpx.Client:
        return self.server.client()


def _roots(server: PadlockServer, directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for which in ("test", "trusted"):
        resp = httpx.get(f"{server.url}/roots/{which}.pem", timeout=30)
        assert resp.status_code == 200, resp.text
        path = directory / f"{which}-root.pem"
        path.write_bytes(resp.content)
        out.append(path)
    return out[0], out[1]


def start_ca(
    base: Path, dns: TestDNS, *, web: FileServer | None = None, va_port: int | None = None
) -> CA:
    env = {} if va_port is None else {"PADLOCK_VA_HTTP_PORT": str(va_port)}
    server = start_padlock_server(base, dns=dns, web=web, extra_env=env)
    test_root, trusted_root = _roots(server, base / "roots")
    port = web.port if web is not None else int(env["PADLOCK_VA_HTTP_PORT"])
    return CA(server, port, None, test_root, trusted_root)


def obtain(cli: CLI, name: str, *args: str | Path, state: Path) -> Result:
    return cli("obtain", name, *args, "--state-dir", state, "--contact", "admin@example.com")


def obtained(result: Result) -> dict[str, object]:
    assert result.rc == 0, result.err
    assert "Traceback" not in result.err
    doc: dict[str, object] = json.loads(result.out)
    return doc


def openssl_verify(root: Path, files: dict[str, str]) -> str:
    proc = subprocess.run(
        [OPENSSL, "verify", "-CAfile", root, "-untrusted", files["chain"], files["cert"]],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def cert_of(files: dict[str, str]) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(files["cert"]).read_bytes())


def key_fingerprint(path: str | Path, passphrase: str | None = None) -> str:
    key = keys.load_private_key(
        Path(path).read_bytes(), passphrase.encode() if passphrase else None, "key"
    )
    return keys.fingerprint(key.public_key())


def lineage(state: Path, name: str) -> dict[str, object]:
    doc: dict[str, object] = json.loads(
        (state / "certificates" / name / "lineage.json").read_text()
    )
    return doc


def mode(path: str | Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)
