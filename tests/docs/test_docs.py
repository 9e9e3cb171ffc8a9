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

from pytest_codeblocks import CodeBlock

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


# What the site owner guide's skipped terminal dialogue answers, given as options instead.
GUIDE_DIALOGUE = (
    "padlock csr new --key www.mydomain.com.key --out www.mydomain.com.csr --cn www.mydomain.com"
    " --country US --state Texas --locality Dallas --org 'Widgets Inc.' --ou Widgets"
)


def test_docs_site_owner_guide_blocks_run(tmp_path: Path) -> None:
    shell = DocShell.make(tmp_path / "work", {"PADLOCK_PASSPHRASE": "my long pass phrase"})
    (shell.cwd / "pass.txt").write_text("my long pass phrase\n")
    (shell.cwd / "removable").mkdir()
    ran: list[int] = []
    skipped: list[int] = []
    for block, reason in shell.run_page(ROOT / "docs" / "site-owner-guide.md"):
        (skipped if reason else ran).append(block.lineno)
        if reason and "www.mydomain.com.csr" in block.code:
            shell.run_block(CodeBlock(GUIDE_DIALOGUE + "\n", block.lineno, "sh"), "the dialogue")
    assert len(ran) >= 15 and len(skipped) == 1, (ran, skipped)
    assert (shell.cwd / "removable" / "www.mydomain.com.key").exists()
    assert not (shell.cwd / "secure.csr").exists()  # every refusal wrote nothing


def test_docs_user_guide_blocks_run(tmp_path: Path) -> None:
    shell = DocShell.make(tmp_path / "work")
    (shell.cwd / "usb").mkdir()
    shell.subs = [("/media/usb/", "usb/")]
    ran = [b.lineno for b, why in shell.run_page(ROOT / "docs" / "user-guide.md") if not why]
    assert len(ran) == 1, ran  # the key and CSR; the rest needs root, macOS, a terminal
    assert (shell.cwd / "usb" / "www.example.com.key").exists()


def test_docs_ca_operations_blocks_run(tmp_path: Path) -> None:
    shell = DocShell.make(tmp_path / "work")
    # The site owner's CSR the page's operator issues from.
    site = (
        "padlock key new site.key --no-encrypt\n"
        "padlock csr new --key site.key --cn www.example.com --out www.csr\n"
    )
    shell.run_block(CodeBlock(site, 0, "sh"), "the site's CSR")
    # doctor would fetch the page's PKI URLs from the internet: not here.
    shell.subs = [("padlock doctor ", "padlock doctor --offline ")]
    ran = [b.lineno for b, why in shell.run_page(ROOT / "docs" / "ca-operations.md") if not why]
    assert len(ran) == 5, ran
    assert (shell.cwd / "www.pem").read_text().count("BEGIN CERTIFICATE") == 2
    assert (shell.cwd / "host-b" / "ca" / "ca.json").exists()
