"""``padlock serve --tls`` made exactly as README "ACME" says: a fresh data dir, no ``ca init``
first, the CA's pass phrase generated, ``--base-url https://HOST:PORT``; ``localhost`` stands
for the README's host (this machine resolves no public name) and ``--pki-port`` for port 80.
Validation asks the tests' loopback DNS and fetches http-01 on ``http_port``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from padlock.pki.lint import CertKind, lint_serverauth
from tests.interop.conftest import OPENSSL, PADLOCK
from tests.support.dnsserver import TestDNS
from tests.support.padlock_server import launch
from tests.support.ports import free_port


@dataclass
class Served:
    cwd: Path
    port: int
    pki_port: int
    http_port: int  # where validation fetches http-01 (clients listen here)
    tls_port: int  # where validation connects for tls-alpn-01
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def data(self) -> Path:
        return self.cwd / "padlock-data"

    @property
    def base(self) -> str:
        return f"https://localhost:{self.port}"

    @property
    def pki(self) -> str:
        return f"http://127.0.0.1:{self.pki_port}"

    @property
    def directory(self) -> str:
        return f"{self.base}/acme/directory"

    @property
    def test_root(self) -> Path:
        """Trusts the server's own TLS certificate (README: padlock ca roots --hierarchy test)."""
        return self.data / "ca" / "test" / "root.crt"

    @property
    def trusted_root(self) -> Path:
        """Issues the dv certificates."""
        return self.data / "ca" / "trusted" / "root.crt"

    def check(self, cert: Path, chain: Path, names: list[str]) -> x509.Certificate:
        """openssl verify against the trusted root, the names, and pkilint: nothing but the
        findings for the README's host standing in as localhost (an internal name)."""
        verify = subprocess.run(
            [OPENSSL, "verify", "-CAfile", str(self.trusted_root), "-untrusted", str(chain),
             str(cert)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert verify.returncode == 0 and verify.stdout.strip().endswith(": OK"), verify.stderr
        leaf = x509.load_pem_x509_certificates(cert.read_bytes())[0]
        sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert sorted(sans.get_values_for_type(x509.DNSName)) == sorted(names)
        report = lint_serverauth(leaf.public_bytes(Encoding.DER), CertKind.DV)
        left = [str(f) for f in report.errors if "localhost" not in str(f)]
        assert not left, left
        return leaf


@contextmanager
def readme_serve(tmp_path: Path, dns: TestDNS, tls_port: int | None = None) -> Iterator[Served]:
    """The README's ``padlock serve --tls`` in ``tmp_path``, stopped (with its children) after."""
    http_port = free_port()  # the client's own listener (certbot --standalone binds it)
    tls_port = tls_port or free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PADLOCK_")}
    env.update(
        {
            "PADLOCK_VA_RESOLVER": dns.spec,  # the machine resolves no public name
            "PADLOCK_VA_HTTP_PORT": str(http_port),
            "PADLOCK_VA_TLS_PORT": str(tls_port),
        }
    )
    log = tmp_path / "serve.log"
    # Port 0 for both of padlock's listeners: serve binds them itself and says which it took.
    args = [PADLOCK, "serve", "--tls", "--port", "0", "--base-url", "https://localhost:0"]
    args += ["--pki-port", "0"]
    test_root = tmp_path / "padlock-data" / "ca" / "test" / "root.crt"
    launched = launch(args, env=env, log=log, cwd=tmp_path, pki=True, verify=test_root)
    assert launched.pki_port is not None
    try:
        yield Served(
            tmp_path, launched.port, launched.pki_port, http_port, tls_port, launched.proc, log
        )
    finally:
        launched.stop(timeout=30)
