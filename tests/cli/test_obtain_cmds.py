"""``padlock obtain`` and ``padlock renew`` as the installed console script, in a real process:
options, exit codes, JSON on stdout and progress on stderr (plain lines without a terminal,
Rich on one), one-sentence errors without a traceback, the state directory's defaults."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import PADLOCK_BIN, Result
from tests.support.dnsserver import TestDNS
from tests.web.conftest import PadlockServer, start_padlock_server

Proc = Callable[..., Result]
PASSPHRASE = "cli obtain pass phrase"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PadlockServer, Path]]:
    """A padlock serve, and its test root as a file."""
    dns = TestDNS().start()
    base = tmp_path_factory.mktemp("obtain-cli-ca")
    server = start_padlock_server(base, dns=dns)
    root = base / "test-root.pem"
    root.write_bytes(httpx.get(f"{server.url}/roots/test.pem", timeout=30).content)
    try:
        yield server, root
    finally:
        server.stop()
        dns.stop()


def _no_traceback(result: Result) -> None:
    assert "Traceback" not in result.err and "Traceback" not in result.out


def _error(result: Result) -> str:
    """The one ``error:`` line of a failed run."""
    assert result.rc == 1, result
    _no_traceback(result)
    errors = [line for line in result.err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.err
    return errors[0]


def test_help_lists_the_options(padlock_proc: Proc) -> None:
    result = padlock_proc("obtain", "--help")
    assert result.rc == 0
    for option in (
        "--alias", "--ca", "--test", "--dv", "--ov", "--acme", "--apache", "--nginx", "--out",
        "--webroot", "--standalone-port", "--contact", "--org", "--country", "--no-encrypt",
        "--passphrase-file", "--ca-root", "--config-root", "--port", "--resume", "--json",
    ):  # fmt: skip
        assert option in result.out, option
    renew = padlock_proc("renew", "--help")
    assert renew.rc == 0
    for option in (
        "--state-dir",
        "--dry-run",
        "--reuse-key",
        "--renew-before",
        "--force",
        "--json",
    ):
        assert option in renew.out, option
    assert "obtain" in padlock_proc("--help").out


def test_obtain_json_stdout_progress_stderr(
    padlock_proc: Proc, ca: tuple[PadlockServer, Path], tmp_path: Path
) -> None:
    server, root = ca
    result = padlock_proc(
        "obtain", "www.example.com", "--ca", server.url, "--test", "--out", "certs",
        "--contact", "admin@example.com", "--ca-root", root, "--state-dir", "state", "--json",
        env={"PADLOCK_PASSPHRASE": PASSPHRASE},
    )  # fmt: skip
    assert result.rc == 0, result.err
    _no_traceback(result)
    doc = json.loads(result.out)  # stdout holds the JSON and nothing else
    assert doc["status"] == "written" and doc["name"] == "www.example.com"
    progress = result.err.splitlines()
    assert progress and all(line.startswith("padlock: ") for line in progress)
    assert any("Sending the CSR" in line for line in progress)
    key = tmp_path / "certs" / "www.example.com.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in key.read_bytes()  # pass phrase from $PADLOCK_PASSPHRASE
    # Human output names the files and says how renewal works.
    again = padlock_proc(
        "obtain", "www.example.com", "--ca", server.url, "--test", "--out", "certs",
        "--contact", "admin@example.com", "--ca-root", root, "--state-dir", "state",
        "--no-encrypt",
    )  # fmt: skip
    assert again.rc == 0, again.err
    assert "Wrote the key and certificate" in again.out
    assert "Private key (mode 0600):" in again.out
    assert "padlock renew" in again.err


def test_renew_table_and_json(
    padlock_proc: Proc, ca: tuple[PadlockServer, Path], tmp_path: Path
) -> None:
    server, root = ca
    empty = padlock_proc("renew", "--state-dir", "nothing-here")
    assert empty.rc == 0 and "nothing to renew" in empty.err
    assert json.loads(padlock_proc("renew", "--state-dir", "x", "--json").out) == {
        "renewals": [],
        "failed": 0,
    }
    made = padlock_proc(
        "obtain", "renew.example.com", "--ca", server.url, "--test", "--out", "certs",
        "--contact", "admin@example.com", "--ca-root", root, "--state-dir", "state",
        "--no-encrypt",
    )  # fmt: skip
    assert made.rc == 0, made.err
    table = padlock_proc("renew", "--state-dir", "state")
    assert table.rc == 0, table.err
    assert "renew.example.com" in table.out and "not due" in table.out
    renewed = padlock_proc("renew", "--state-dir", "state", "--renew-before", "30", "--json")
    assert renewed.rc == 0, renewed.err
    row = json.loads(renewed.out)["renewals"][0]
    assert row["action"] == "renewed" and row["new_serial"] != row["old_serial"]


def test_renew_force_renews_now_whatever_the_window(
    padlock_proc: Proc, ca: tuple[PadlockServer, Path]
) -> None:
    """What certbot users type (certbot renew --force-renewal): renewed now, not due or not."""
    server, root = ca
    made = padlock_proc(
        "obtain", "force.example.com", "--ca", server.url, "--test", "--out", "certs",
        "--contact", "admin@example.com", "--ca-root", root, "--state-dir", "state",
        "--no-encrypt", "--json",
    )  # fmt: skip
    assert made.rc == 0, made.err
    first = json.loads(made.out)["serial"]
    assert "not due" in padlock_proc("renew", "--state-dir", "state").out
    dry = padlock_proc("renew", "--state-dir", "state", "--force", "--dry-run", "--json")
    assert json.loads(dry.out)["renewals"][0]["action"] == "would renew"
    forced = padlock_proc("renew", "--state-dir", "state", "--force", "--json")
    assert forced.rc == 0, forced.err
    row = json.loads(forced.out)["renewals"][0]
    assert row["action"] == "renewed" and "forced" in row["reason"]
    assert row["old_serial"] == first and row["new_serial"] != first


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--test", "--dv", "--out", "d"], "error: Give only one of --test, --dv"),
        (["--test"], "error: Say where the certificate goes: --apache, --nginx or --out DIR."),
        (["--out", "d"], "error: Say which certificate: --test"),
        (["--test", "--out", "d", "--no-encrypt", "--passphrase-file", "p"], "contradict"),
        (["--test", "--out", "d"], "error: No pass phrase for the new key"),
        (["--ov", "--out", "d", "--no-encrypt", "--webroot", "."], "give --org and --country"),
        (["--dv", "--out", "d", "--no-encrypt"], "was not told how to answer"),
        (["--test", "--out", "d", "--no-encrypt", "--org", "X"], "for ov certificates only"),
        (["--test", "--out", "d", "--no-encrypt", "--ca-root", "missing.pem"], "does not exist"),
    ],
)
def test_bad_options(padlock_proc: Proc, args: list[str], message: str) -> None:
    result = padlock_proc(
        "obtain", "www.example.com", "--ca", "http://127.0.0.1:9", "--contact", "a@example.com",
        "--state-dir", "state", *args,
    )  # fmt: skip
    assert message in _error(result)


def test_name_or_resume(padlock_proc: Proc) -> None:
    assert "Say which site" in _error(padlock_proc("obtain", "--state-dir", "s"))
    both = padlock_proc("obtain", "www.example.com", "--resume", "x", "--state-dir", "s")
    assert "not both" in _error(both)


def test_url_as_name(padlock_proc: Proc, tmp_path: Path) -> None:
    result = padlock_proc(
        "obtain", "https://www.example.com/shop", "--ca", "http://127.0.0.1:9", "--test",
        "--out", "d", "--no-encrypt", "--state-dir", "state",
    )  # fmt: skip
    assert _error(result) == "error: 'https://www.example.com/shop' is a URL, not a host name."
    assert "hint: Put only the host name: www.example.com" in result.err
    assert not (tmp_path / "state").exists() and not (tmp_path / "d").exists()


def test_state_dir_defaults(
    padlock_proc: Proc, ca: tuple[PadlockServer, Path], tmp_path: Path
) -> None:
    server, root = ca
    common = [
        "--ca", server.url, "--test", "--contact", "admin@example.com", "--ca-root", root,
        "--no-encrypt",
    ]  # fmt: skip
    env_dir = tmp_path / "from-env"
    by_env = padlock_proc(
        "obtain", "env.example.com", *common, "--out", "a", env={"PADLOCK_SITE_DIR": str(env_dir)}
    )
    assert by_env.rc == 0, by_env.err
    assert (env_dir / "certificates" / "env.example.com" / "lineage.json").is_file()
    home = tmp_path / "home"
    by_home = padlock_proc(
        "obtain", "home.example.com", *common, "--out", "b",
        env={"HOME": str(home), "PADLOCK_SITE_DIR": "", "XDG_DATA_HOME": ""},
    )  # fmt: skip
    assert by_home.rc == 0, by_home.err
    state = home / ".local" / "share" / "padlock"
    assert (state / "certificates" / "home.example.com" / "lineage.json").is_file()
    assert state.stat().st_mode & 0o777 == 0o700


def test_progress_on_a_terminal(ca: tuple[PadlockServer, Path], tmp_path: Path) -> None:
    """On a terminal the steps show as Rich lines under a spinner (no plain 'padlock:' lines)."""
    server, root = ca
    primary, secondary = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PADLOCK_")}
    env.update({"TERM": "xterm", "COLUMNS": "120"})
    proc = subprocess.Popen(
        [
            str(PADLOCK_BIN), "obtain", "tty.example.com", "--ca", server.url, "--test",
            "--out", str(tmp_path / "out"), "--contact", "admin@example.com",
            "--ca-root", str(root), "--state-dir", str(tmp_path / "state"), "--no-encrypt",
        ],
        stdin=secondary, stdout=secondary, stderr=secondary, env=env, cwd=tmp_path,
    )  # fmt: skip
    os.close(secondary)
    output = b""
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(primary, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                output += chunk
            elif proc.poll() is not None:
                break
        rc = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        os.close(primary)
    text = output.decode(errors="replace")
    assert rc == 0, text
    assert "•" in text and "Sending the CSR" in text
    assert "padlock: Sending" not in text
    assert "Wrote the key and certificate" in text
