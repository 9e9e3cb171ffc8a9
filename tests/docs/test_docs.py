"""The shell blocks of README.md, run in order as a user types them (tests/docs/docshell.py).

A block that cannot run here says so above itself with a pytest mark in an HTML comment
(pytest-codeblocks' syntax) and names the test that covers it. The page's hosts and
placeholders are replaced here: ``127.0.0.1:8080`` with the running server's port (the
README's first command, ``padlock serve``, runs in the fixture), ``/media/usb/`` with a
directory of the working dir, and the CA's side gets a data dir of its own for its
``ca init``.
"""

from __future__ import annotations

from pathlib import Path

from tests.docs.docshell import ROOT, DocShell
from tests.support.ports import free_port

SERIAL_OF_CERT_PEM = "$(openssl x509 -in cert.pem -noout -serial | cut -d= -f2)"


def test_docs_readme_blocks_run(tmp_path: Path) -> None:
    port = free_port()
    shell = DocShell.make(tmp_path / "work", {"PADLOCK_PORT": str(port)})
    (shell.cwd / "usb").mkdir()
    (shell.cwd / "registration.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    shell.subs = [
        ("127.0.0.1:8080", f"127.0.0.1:{port}"),
        ("/media/usb/", "usb/"),
        # The CA's side is another CA than the one `padlock serve` made: its own data dir.
        ("padlock ca init", "export PADLOCK_DATA_DIR=$PWD/widgets-ca; padlock ca init"),
        ("req.csr", "www.example.com.csr"),
        ("padlock ca show SERIAL", f"padlock ca show {SERIAL_OF_CERT_PEM}"),
    ]
    shell.ready_url = f"http://127.0.0.1:{port}/healthz"
    ran: list[int] = []
    skipped: list[int] = []
    try:
        shell.start_server("padlock serve", "README.md: the first command's padlock serve")
        for block, reason in shell.run_page(ROOT / "README.md"):
            (skipped if reason else ran).append(block.lineno)
    finally:
        shell.stop()
    assert ran, "no README block ran"
    assert (shell.cwd / "www.example.com.crt").read_text().count("BEGIN CERTIFICATE") == 2
    assert (shell.cwd / "cert.pem").exists() and (shell.cwd / "test-root.pem").exists()
    assert len(ran) >= 3 and len(skipped) <= 6, (ran, skipped)  # tour, CA side, REST API
