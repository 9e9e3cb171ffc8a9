"""The npm package acme-client (pinned in tests/interop/acme-client/package.json, installed
there by .ci/run with ``npm ci``) against ``padlock serve --tls`` made as the README says:
an account, a dv order proven by http-01 (the script serves the token itself with node's
http module), finalize, download, then a second order for the same name (the renewal).
"""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from padlock.pki.serials import display
from tests.interop.conftest import program, run
from tests.interop.readme_server import Served

PACKAGE = Path(__file__).parent / "acme-client"


def _script() -> Path:
    """The order script; the test fails when the package is not installed beside it."""
    if not (PACKAGE / "node_modules" / "acme-client" / "package.json").exists():
        pytest.fail(f"acme-client is not installed: run `npm ci` in {PACKAGE} (.ci/run does).")
    return PACKAGE / "order.js"


def _split(chain_file: Path) -> tuple[Path, Path]:
    """The leaf and its issuers, as two files for served.check."""
    pems = chain_file.read_text().split("-----END CERTIFICATE-----")
    blocks = [p.strip() + "\n-----END CERTIFICATE-----\n" for p in pems if p.strip()]
    leaf, issuers = chain_file.with_suffix(".leaf.pem"), chain_file.with_suffix(".chain.pem")
    leaf.write_text(blocks[0])
    issuers.write_text("".join(blocks[1:]))
    return leaf, issuers


def _spki(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def test_acme_client_js_order_and_renew(readme_padlock: Served, tmp_path: Path) -> None:
    name = f"acme-js-{secrets.token_hex(4)}.example.com"
    args = [program("node"), str(_script()), readme_padlock.directory, name,
            str(readme_padlock.http_port), str(tmp_path)]  # fmt: skip
    env = {"NODE_EXTRA_CA_CERTS": str(readme_padlock.test_root)}
    try:
        proc = run(args, env=env, timeout=60, cwd=PACKAGE)
    except subprocess.TimeoutExpired as stuck:  # show where the script was
        err = stuck.stderr
        text = err.decode(errors="replace") if isinstance(err, bytes) else err or ""
        pytest.fail(f"acme-client's script took over 60 s; its log:\n{text[-4000:]}")
    summary: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["account"].startswith(f"{readme_padlock.base}/acme/acct/")
    leaves: list[x509.Certificate] = []
    for placed in summary["orders"]:
        assert placed["status"] == "valid", placed
        leaves.append(readme_padlock.check(*_split(Path(placed["file"])), [name]))
    first, renewed = leaves
    assert renewed.serial_number != first.serial_number
    assert _spki(renewed) != _spki(first)  # the renewal's CSR has a new key
    print(
        f"acme-client got {display(first.serial_number)}, renewed {display(renewed.serial_number)}"
    )
