"""``padlock ocsp-responder`` binds its socket itself, as serve does: ``--port 0`` takes any
free port and says which, and a taken port is a clear error."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from cryptography import x509

from padlock.site.revocation_status import ocsp_status
from tests.ca.conftest import build_csr
from tests.conftest import PADLOCK_BIN
from tests.support.padlock_server import launch, refused_on_taken_port


def _env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PADLOCK_")}
    return env | {"PADLOCK_DATA_DIR": str(data), "PADLOCK_CA_PASSPHRASE": "responder phrase"}


def _padlock(env: dict[str, str], *args: str | Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(PADLOCK_BIN), *map(str, args)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc


def test_ocsp_responder_port_zero_answers_on_the_port_it_says(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = _env(data)
    _padlock(env, "ca", "init", "--base-url", "http://ca.example.com")
    csr = tmp_path / "www.csr"
    csr.write_bytes(build_csr(["www.example.com"]))
    _padlock(env, "ca", "issue", csr, "--profile", "test", "-o", tmp_path / "www.pem")
    leaf = x509.load_pem_x509_certificate((tmp_path / "www.pem").read_bytes())
    issuer = x509.load_pem_x509_certificate((data / "ca/test/issuing.crt").read_bytes())
    responder = launch(
        [PADLOCK_BIN, "ocsp-responder", "--port", "0"], env=env, log=tmp_path / "responder.log"
    )
    try:
        assert responder.port != 0
        answer = ocsp_status(leaf, issuer, url=f"{responder.url}/ocsp/test-issuing", timeout=30)
        assert answer.status == "good", answer.detail
    finally:
        responder.stop()


def test_ocsp_responder_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    env = _env(tmp_path / "data")
    _padlock(env, "ca", "init")
    port, proc = refused_on_taken_port([PADLOCK_BIN, "ocsp-responder"], env=env)
    assert proc.returncode == 1, proc.stderr
    assert f"The OCSP responder cannot listen on 127.0.0.1:{port}: Address already" in proc.stderr
    assert "Choose another port" in proc.stderr and "Traceback" not in proc.stderr
