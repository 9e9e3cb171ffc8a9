"""The shell blocks of README.md, run in order as a user types them (tests/docs/docshell.py).

A block that cannot run here says so above itself with a pytest mark in an HTML comment
(pytest-codeblocks' syntax) and names the test that covers it. The page's hosts and
placeholders are replaced here: ``/media/usb/`` with a directory of the working dir, and the
CA's side gets a data dir of its own for its ``ca init``. The README's first command,
``padlock serve``, is started by the test on port 0 (tests/docs/docshell.py), and the page's
``127.0.0.1:8080`` becomes the port it took.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from pytest_codeblocks import CodeBlock, extract_from_file

from tests.docs.docshell import ROOT, SHELLS, DocShell, certbot_ini, skip_reason
from tests.site.conftest import SERVERS, WebServer, which
from tests.support.dnsserver import TestDNS
from tests.support.ports import free_port  # for Apache, certbot and lego, which cannot bind 0

SERIAL_OF_CERT_PEM = "$(openssl x509 -in cert.pem -noout -serial | cut -d= -f2)"


def test_docs_readme_blocks_run(tmp_path: Path) -> None:
    shell = DocShell.make(tmp_path / "work")
    (shell.cwd / "usb").mkdir()
    (shell.cwd / "registration.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    shell.subs = [
        ("/media/usb/", "usb/"),
        # The CA's side is another CA than the one `padlock serve` made: its own data dir.
        ("padlock ca init", "export PADLOCK_DATA_DIR=$PWD/widgets-ca; padlock ca init"),
        ("req.csr", "www.example.com.csr"),
        ("padlock ca show SERIAL", f"padlock ca show {SERIAL_OF_CERT_PEM}"),
    ]
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
    assert len(ran) == 11, ran
    assert (shell.cwd / "www.pem").read_text().count("BEGIN CERTIFICATE") == 2
    assert (shell.cwd / "perspective-fra" / "perspective.key").exists()
    assert not list((shell.cwd / "hsm-ca").rglob("*.key"))  # every key in the token
    assert (shell.cwd / "www-hsm.crt").exists()
    assert "audit event" in (shell.cwd / "ceremony.txt").read_text()
    assert (shell.cwd / "host-b" / "ca" / "ca.json").exists()
    assert (shell.cwd / "host-b" / "ca" / "test" / "issuing-2.crt").exists()  # clone-to --update


@pytest.mark.slow
def test_docs_acme_blocks_run(tmp_path: Path, dns: TestDNS) -> None:
    """certbot and lego as the page gives them, against the page's two servers; the
    certbot register of the EAB section against a third that requires a binding. The servers
    take their own ports (port 0); the clients' http-01 listener is told its port."""
    assert shutil.which("certbot") and shutil.which("lego"), "certbot and lego are needed"
    http = free_port()
    shell = DocShell.make(
        tmp_path / "work",
        {"PADLOCK_VA_RESOLVER": dns.spec, "PADLOCK_VA_HTTP_PORT": str(http),
         "PADLOCK_PKI_PORT": "0"},
    )  # fmt: skip
    shell.subs = [
        ("ca.example.net", "localhost"),
        ("--http run", f"--http --http.port 127.0.0.1:{http} run"),
    ]
    certbot_ini(shell, http)
    try:
        ran = [b.lineno for b, why in shell.run_page(ROOT / "docs" / "acme.md") if not why]
    finally:
        shell.stop()
    assert len(ran) == 2, ran
    assert sorted(shell.ports) == [8080, 8443, 8444], shell.ports  # three servers on port 0
    for cert in (
        shell.cwd / "letsencrypt" / "live" / "www.example.com" / "cert.pem",
        shell.cwd / ".lego" / "certificates" / "www.example.com.crt",
    ):
        assert "BEGIN CERTIFICATE" in cert.read_text(), cert
    accounts = shell.cwd / "letsencrypt" / "accounts" / f"localhost:{shell.ports[8444]}"
    assert accounts.is_dir(), "certbot register made no account at the EAB server"


@pytest.mark.slow
def test_docs_obtain_blocks_run(dns: TestDNS) -> None:
    """The page's run: padlock serve (data dir ca-data) validating through the loopback DNS
    at the port where a scratch Debian Apache (./apache2, serving ./www) listens; then
    the page's commands in order, the second run in ../err."""
    # Apache's workers (www-data) must reach ./www: a world-traversable directory in /tmp.
    parent = Path(tempfile.mkdtemp(prefix="padlock-docs-obtain-"))
    apache = scratch_apache(parent, "run")
    base, http, https = apache.base, apache.http_port, apache.https_port
    closed = free_port()  # nothing listens there
    shell = DocShell.make(
        base,
        {"PADLOCK_VA_RESOLVER": dns.spec, "PADLOCK_VA_HTTP_PORT": str(http),
         "PADLOCK_SITE_DIR": "./state", "PADLOCK_CAA_IDENTITIES": "ca.example.net"},
    )  # fmt: skip
    (base / "pass.txt").write_text("the docs' key pass phrase\n")
    shell.subs = [
        ("127.0.0.1:8081", f"127.0.0.1:{closed}"),
        ("127.0.0.1:8443", f"127.0.0.1:{https}"),
        ("--port 8443", f"--port {https}"),
        ("--http-port 8088", f"--http-port {http}"),
    ]
    try:
        apache.start()
        # The page's CA, as the page describes it (on 127.0.0.1:8080: port 0 here).
        shell.start_server("padlock serve --data-dir ca-data", "obtain.md's CA")
        ran = [b.lineno for b, why in shell.run_page(ROOT / "docs" / "obtain.md") if not why]
        assert len(ran) == 14, ran
        live = base / "state" / "certificates" / "www.example.com" / "current" / "cert.pem"
        assert "BEGIN CERTIFICATE" in live.read_text()
        assert (parent / "err" / "certs" / "www.example.com.crt").exists()  # resumed there
    finally:
        shell.stop()
        apache.stop()
        shutil.rmtree(parent, ignore_errors=True)


def scratch_apache(parent: Path, name: str) -> WebServer:
    """A scratch copy of Debian's Apache in ``parent/name`` (``apache2``, ``www``) on free
    ports, in a directory its workers (www-data) can traverse."""
    parent.chmod(0o755)
    server_class, make_root, binary = SERVERS["apache"]
    http, https = free_port(), free_port()
    base = parent / name
    base.mkdir(mode=0o755)
    return server_class(base, make_root(base, http), http, https, which(binary))


@pytest.mark.slow
def test_docs_install_on_apache_blocks_run() -> None:
    """The page's walk-through in a scratch Apache standing for /tmp/demo/apache2: the site's
    plain-HTTP virtual host as the page shows it, then the page's commands in order."""
    parent = Path(tempfile.mkdtemp(prefix="padlock-docs-apache-"))
    apache = scratch_apache(parent, "demo")
    base, page = apache.base, ROOT / "docs" / "install-on-apache.md"
    shell = DocShell.make(base)
    shell.subs = [
        ("/tmp/demo/", f"{base}/"),
        ("127.0.0.1:8080", f"127.0.0.1:{apache.http_port}"),
        ("127.0.0.1:8443", f"127.0.0.1:{apache.https_port}"),
        ("--port 8443", f"--port {apache.https_port}"),
        ("--http-port 8080", f"--http-port {apache.http_port}"),
    ]
    (base / "pass.txt").write_text("the docs' key pass phrase\n")
    site = next(b for b in extract_from_file(page) if b.syntax == "apache").code
    (apache.root / "sites-available" / "www.example.com.conf").write_text(shell.substitute(site))
    (apache.root / "sites-enabled" / "www.example.com.conf").symlink_to(
        "../sites-available/www.example.com.conf"
    )
    try:
        apache.start()
        ran: list[int] = []
        for block, reason in shell.run_page(page):
            if reason is None:
                ran.append(block.lineno)
            elif "apache2ctl" in block.code:
                apache.stop()  # the page's restart, done to the scratch copy
                apache.start()
        assert len(ran) == 7, ran
        assert apache.configtest().returncode == 0  # rolled back, still a good configuration
    finally:
        apache.stop()
        shutil.rmtree(parent, ignore_errors=True)


@pytest.mark.parametrize(
    "page", ["README.md", *sorted(p.name for p in (ROOT / "docs").glob("*.md"))]
)
def test_docs_page_has_no_transcript_left_unrun(page: str) -> None:
    """A command a user types is in a shell block (run by this file's page tests, or marked
    with the reason and the test that covers it), never in an untagged or console
    transcript; the benchmarks are marked as run by hand."""
    path = ROOT / page if page == "README.md" else ROOT / "docs" / page
    for block in extract_from_file(path):
        if block.syntax in ("", "console"):
            typed = [line for line in block.code.splitlines() if line.startswith(("$ ", "# "))]
            assert not typed, f"{page}:{block.lineno}: a transcript; give it sh + text blocks"
        if block.syntax in SHELLS and page == "performance.md":
            assert "run by hand" in (skip_reason(block) or ""), f"{page}:{block.lineno}"
        reason = skip_reason(block) if block.syntax in SHELLS else None
        assert reason is None or "test" in reason or "by hand" in reason, (page, block.lineno)
