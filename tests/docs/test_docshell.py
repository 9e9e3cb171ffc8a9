"""The docs' runner itself: a page's ``padlock serve`` runs on port 0, and the page's port
stands for the one it took in the commands after it."""

from __future__ import annotations

from pathlib import Path

from pytest_codeblocks import CodeBlock

from tests.docs.docshell import DocShell, at_port, on_port_zero, page_port


def test_docshell_serve_with_port_runs_on_port_zero() -> None:
    page = "padlock serve --tls --port 8443 --base-url https://ca.example.net:8443"
    assert page_port(page) == 8443
    assert on_port_zero(page) == "padlock serve --tls --port 0 --base-url https://ca.example.net:0"


def test_docshell_serve_without_port_gets_port_zero() -> None:
    assert page_port(".venv/bin/padlock serve --data-dir ca-data") == 8080
    assert on_port_zero(".venv/bin/padlock serve") == ".venv/bin/padlock serve --port 0"


def test_docshell_serve_keeps_its_other_ports() -> None:
    page = "padlock serve --tls --port=8444 --pki-port 8081"
    assert on_port_zero(page) == "padlock serve --tls --port 0 --pki-port 8081"


def test_docshell_at_port_changes_only_that_port() -> None:
    text = "curl http://127.0.0.1:8080/x [::1]:8080 localhost:18080 h:80801 --port 8080"
    assert at_port(text, 8080, 41234) == (
        "curl http://127.0.0.1:41234/x [::1]:41234 localhost:18080 h:80801 --port 8080"
    )


def test_docshell_block_reaches_the_port_serve_took(tmp_path: Path) -> None:
    """A real ``padlock serve`` from a block, then the block's curl to the page's port."""
    shell = DocShell.make(tmp_path / "work")
    block = CodeBlock(
        "padlock serve --port 8080 &   # the page's port\ncurl -sf http://127.0.0.1:8080/healthz\n",
        1,
        "sh",
    )
    try:
        said = shell.run_block(block, "the block")
        taken = shell.ports[8080]
        assert taken != 8080 and shell.servers[0].port == taken
    finally:
        shell.stop()
    assert said.strip(), "curl printed nothing from /healthz"
    assert not shell.servers
