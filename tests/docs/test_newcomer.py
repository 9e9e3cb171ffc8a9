"""A newcomer: a fresh clone, the README's first command in a fresh venv, then the README's
ACME example with Debian's certbot, to a certificate that verifies against the trusted root.

The install takes about a minute (pip as configured on the machine, with its cache). The
README's ``ca.example.net`` is ``localhost`` here (this machine resolves no public name), and
each ``padlock serve`` runs on port 0 and says the port it took, which stands for the README's
8080 and 8443 (tests/docs/docshell.py); ``PADLOCK_PKI_PORT=0`` stands for the README's
``--pki-port N`` (port 80 is not the tests'). The CA's checks ask the tests' loopback DNS,
which answers 127.0.0.1, and fetch http-01 where certbot listens (its ``cli.ini`` gives what
it would ask a person).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from pytest_codeblocks import CodeBlock

from tests.docs.docshell import ROOT, DocShell, certbot_ini, commands, shell_blocks
from tests.support.dnsserver import TestDNS
from tests.support.ports import free_port  # certbot's standalone listener cannot bind 0


def _block(page: Path, needle: str) -> CodeBlock:
    found = [b for b in shell_blocks(page) if needle in b.code]
    assert len(found) == 1, f"README has {len(found)} shell blocks with {needle!r}"
    return found[0]


@pytest.mark.slow
def test_newcomer_clone_install_serve_then_certbot(tmp_path: Path, dns: TestDNS) -> None:
    assert shutil.which("certbot"), "certbot is not installed (apt-get install certbot)"
    clone = tmp_path / "padlock"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    readme = clone / "README.md"
    http_port = free_port()
    shell = DocShell.make(
        clone,
        {
            "PADLOCK_PKI_PORT": "0",
            "PADLOCK_VA_RESOLVER": dns.spec,
            "PADLOCK_VA_HTTP_PORT": str(http_port),
        },
    )
    shell.env["PATH"] = f"{clone / '.venv' / 'bin'}:{shell.env['PATH'].split(':', 1)[1]}"
    first = [c for c in commands(_block(readme, "pip install -e .").code) if "pip install" in c]
    assert len(first) == 1
    try:
        shell.run_block(CodeBlock(first[0] + "\n", 0, "sh"), "README.md: the first command")
        assert (clone / ".venv" / "bin" / "padlock").exists() and list(shell.ports) == [8080]
        shell.stop()
        acme = _block(readme, "certbot certonly")
        shell.subs = [("ca.example.net", "localhost")]
        certbot_ini(shell, http_port)
        shell.run_block(acme, f"README.md:{acme.lineno}")
    finally:
        shell.stop()
    live = clone / "letsencrypt" / "live" / "www.example.com"
    trusted = clone / "padlock-data" / "ca" / "trusted" / "root.crt"
    verify = subprocess.run(
        ["openssl", "verify", "-CAfile", str(trusted), "-untrusted", str(live / "chain.pem"),
         str(live / "cert.pem")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert verify.returncode == 0 and verify.stdout.strip().endswith(": OK"), verify.stderr
    leaf = x509.load_pem_x509_certificate((live / "cert.pem").read_bytes())
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["www.example.com"]
