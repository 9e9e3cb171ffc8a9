"""The site commands as a user meets them: help, options, errors; the real console script."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import PADLOCK_BIN, Result

CLI = Callable[..., Result]


def test_help_lists_the_site_commands(cli: CLI) -> None:
    result = cli("--help")
    assert result.rc == 0
    for command in ("check", "apache", "nginx"):
        assert command in result.out


def test_help_does_not_import_the_site_modules() -> None:
    """``padlock --help`` stays fast: jinja2, ssl probing and cryptography load on use."""
    code = (
        "import sys\n"
        "from padlock.cli import main\n"
        "try:\n    main.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('padlock.site.apache', 'padlock.site.check', 'jinja2')"
        " if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert out.strip().endswith("[]"), out


def test_apache_install_help_names_every_option(cli: CLI) -> None:
    result = cli("apache", "install", "--help")
    assert result.rc == 0
    for option in (
        "--name", "--alias", "--cert", "--key", "--chain", "--config-root", "--port",
        "--http-port", "--listen-address", "--dry-run", "--decrypt-key", "--hsts",
    ):  # fmt: skip
        assert option in result.out, option
    assert cli("apache", "rollback", "--help").rc == 0
    assert "--config-root" in cli("nginx", "install", "--help").out


def test_apache_install_into_a_directory_that_is_no_apache(cli: CLI, tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("x")
    result = cli(
        "apache", "install", "--name", "www.example.com", "--cert", str(tmp_path / "cert.pem"),
        "--key", str(tmp_path / "key.pem"), "--config-root", str(tmp_path),
    )  # fmt: skip
    assert result.rc == 1
    assert "does not look like an Apache configuration" in result.err
    assert "Nothing was changed" in result.err
    assert list(tmp_path.iterdir()) == [tmp_path / "cert.pem"]


def test_apache_install_refuses_a_bad_name(cli: CLI, tmp_path: Path) -> None:
    result = cli(
        "apache", "install", "--name", "http://www.example.com/", "--cert", "c", "--key", "k",
        "--config-root", str(tmp_path),
    )  # fmt: skip
    assert result.rc == 1
    assert "error:" in result.err


def test_rollback_with_nothing_installed(cli: CLI, tmp_path: Path) -> None:
    (tmp_path / "mods-available").mkdir()
    (tmp_path / "apache2.conf").write_text("")
    result = cli("apache", "rollback", "--config-root", str(tmp_path))
    assert result.rc == 1 and "nothing to roll back" in result.err


def test_check_console_script_exit_code_for_a_closed_port() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.run(
        [str(PADLOCK_BIN), "check", f"127.0.0.1:{port}", "--timeout", "5"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "BROKEN" in proc.stdout and "refused" in proc.stdout
