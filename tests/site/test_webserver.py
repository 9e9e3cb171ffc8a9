"""The one installer (``padlock apache|nginx install|rollback``), over both real servers in
turn, from config roots of the test's own on 127.0.0.1: the pre-flight refuses before any
change, the transaction undoes every failure, rollback and a SIGKILL at any step leave the
files as they were. What only one server does is in test_apache.py and test_nginx.py."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import PADLOCK_BIN, Result
from tests.site.conftest import (
    KEY_PASSPHRASE,
    Issued,
    SiteCA,
    WebServer,
    eventually_serial,
    install_args,
    installed,
    port_open,
    reinstall_ten_times,
    sees,
    tree,
)

from padlock.site import webserver
from padlock.site.transaction import StateDir

CLI = Callable[..., Result]
STATE = ".padlock"
LABEL = {"apache": "Apache", "nginx": "nginx"}


# --------------------------------------------------------------------------- installs


def test_install_two_names_on_one_address_by_sni(
    cli: CLI, web: WebServer, site_ca: SiteCA, certs: Path
) -> None:
    www = site_ca.issue(certs, ["www.example.com"])
    shop = site_ca.issue(certs, ["shop.example.com"])
    installed(cli, web, www)
    installed(cli, web, shop, name="shop.example.com")
    if web.kind == "apache":
        # the second install found the Listen the first one added and did not add another
        assert "Listen" not in web.site_file("shop.example.com").read_text()
    sees(cli, web, www, "www.example.com")
    sees(cli, web, shop, "shop.example.com")


def test_reinstall_ten_times_leaves_one_managed_block(
    cli: CLI, web: WebServer, site_ca: SiteCA, certs: Path
) -> None:
    renewed = reinstall_ten_times(
        web.site_file(), lambda issued: installed(cli, web, issued), lambda: site_ca.issue(certs)
    )
    assert web.configtest().returncode == 0
    sees(cli, web, renewed, "www.example.com")


# --------------------------------------------------------------------------- refusals


def _refused(cli: CLI, server: WebServer, args: list[str], needle: str) -> Result:
    before = tree(server.root)
    result = cli(*args)
    assert result.rc != 0
    assert needle.lower() in result.err.lower(), result.err
    assert "nothing was changed" in result.err.lower()
    assert tree(server.root) == before  # byte for byte, not even padlock's state directory
    return result


@pytest.mark.parametrize("breakage", ["no-chain", "root-as-chain", "other-ca-chain", "reversed"])
def test_broken_chain_refused_before_any_change(
    cli: CLI,
    web: WebServer,
    site_ca: SiteCA,
    other_ca: SiteCA,
    certs: Path,
    breakage: str,
) -> None:
    issued = site_ca.issue(certs)
    args = install_args(web, issued)
    chain_at = args.index("--chain") + 1
    if breakage == "no-chain":
        del args[chain_at - 1 : chain_at + 1]
        needle = "chain is incomplete"
    elif breakage == "root-as-chain":
        args[chain_at] = str(issued.root)
        needle = "chain is incomplete"
    elif breakage == "other-ca-chain":
        args[chain_at] = str(other_ca.issue(certs / "other").chain)
        needle = "not in order"
    else:
        reversed_file = certs / "reversed.pem"
        reversed_file.write_bytes(issued.chain.read_bytes() + issued.cert.read_bytes())
        args[args.index("--cert") + 1] = str(reversed_file)
        del args[chain_at - 1 : chain_at + 1]
        needle = "CA certificate"
    _refused(cli, web, args, needle)
    assert not port_open(web.https_port)


def test_key_readable_by_others_refused(
    cli: CLI, web_root: WebServer, site_ca: SiteCA, certs: Path
) -> None:
    issued = site_ca.issue(certs)
    os.chmod(issued.key, 0o644)
    _refused(cli, web_root, install_args(web_root, issued), "mode 0644")


def test_key_of_another_certificate_refused(
    cli: CLI, web_root: WebServer, site_ca: SiteCA, certs: Path
) -> None:
    one, two = site_ca.issue(certs), site_ca.issue(certs)
    args = install_args(web_root, one)
    args[args.index("--key") + 1] = str(two.key)
    _refused(cli, web_root, args, "does not belong to the certificate")


def test_alias_not_in_certificate_refused(
    cli: CLI, web_root: WebServer, site_ca: SiteCA, certs: Path
) -> None:
    issued = site_ca.issue(certs, ["www.example.com"])
    args = [*install_args(web_root, issued), "--alias", "shop.example.com"]
    _refused(cli, web_root, args, "does not cover shop.example.com")


def test_expired_certificate_refused(
    cli: CLI, web_root: WebServer, site_ca: SiteCA, past_issuer: object, certs: Path
) -> None:
    issued = site_ca.issue(certs, issuer=past_issuer)  # type: ignore[arg-type]
    _refused(cli, web_root, install_args(web_root, issued), "expired")


def test_encrypted_key_without_pass_phrase_refused(
    cli: CLI, web_root: WebServer, site_ca: SiteCA, certs: Path
) -> None:
    issued = site_ca.issue(certs, passphrase=KEY_PASSPHRASE)
    _refused(cli, web_root, install_args(web_root, issued), "encrypted")


# --------------------------------------------------------------------------- failure and undo


def test_probe_failure_restores_and_reloads(
    cli: CLI, web: WebServer, site_ca: SiteCA, certs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the live server does not show the new certificate, nothing stays changed."""
    old = site_ca.issue(certs)
    installed(cli, web, old)
    before = tree(web.root, skip=[STATE])
    from padlock.errors import InstallFailed
    from padlock.site import probe

    def never(*_a: object, **_k: object) -> object:
        raise InstallFailed("The live server shows something else (simulated).")

    monkeypatch.setattr(webserver, "wait_for_serial", never)
    new = site_ca.issue(certs)
    result = cli(*install_args(web, new))
    assert result.rc == 1
    assert "probe step failed" in result.err
    assert f"{LABEL[web.kind]} was reloaded" in result.err
    assert tree(web.root, skip=[STATE]) == before
    eventually_serial(web.https_port, "www.example.com", old.root_pem, old.serial)
    assert probe.PROBE_DEADLINE > 0


def test_rollback_restores_previous_certificate_then_none(
    cli: CLI, web: WebServer, site_ca: SiteCA, certs: Path
) -> None:
    pristine = tree(web.root)
    old, new = site_ca.issue(certs), site_ca.issue(certs)
    installed(cli, web, old)
    after_old = tree(web.root, skip=[STATE])
    installed(cli, web, new)
    sees(cli, web, new, "www.example.com")
    result = cli(web.kind, "rollback", "--config-root", str(web.root))
    assert result.rc == 0, result.err
    assert "Restored the files" in result.err
    assert tree(web.root, skip=[STATE]) == after_old
    sees(cli, web, old, "www.example.com")
    result = cli(web.kind, "rollback", "--config-root", str(web.root))
    assert result.rc == 0, result.err
    assert tree(web.root, skip=[STATE]) == {k: v for k, v in pristine.items() if k != STATE}
    assert web.configtest().returncode == 0
    result = cli(web.kind, "rollback", "--config-root", str(web.root))
    assert result.rc == 1 and "nothing to roll back" in result.err


def test_rollback_refuses_over_later_hand_edits_unless_forced(
    cli: CLI, web: WebServer, site_ca: SiteCA, certs: Path
) -> None:
    installed(cli, web, site_ca.issue(certs))
    site = web.site_file()
    site.write_text(site.read_text() + "# edited by hand\n")
    result = cli(web.kind, "rollback", "--config-root", str(web.root))
    assert result.rc == 1 and "changed after padlock's install" in result.err
    assert site.exists()
    result = cli(web.kind, "rollback", "--config-root", str(web.root), "--force")
    assert result.rc == 0, result.err
    assert not site.exists()


# --------------------------------------------------------------------------- SIGKILL


def _killed_at(server: WebServer, issued: Issued, step: str, tmp_path: Path) -> None:
    """Run the real padlock process, let it pause at ``step``, and SIGKILL it there."""
    env = {k: v for k, v in os.environ.items() if k != "PADLOCK_PASSPHRASE"}
    env["PADLOCK_TEST_PAUSE_AT"] = step
    env["PADLOCK_TEST_PAUSE_SECONDS"] = "120"
    with (tmp_path / f"killed-{step}.out").open("wb") as out:
        proc = subprocess.Popen(
            [str(PADLOCK_BIN), *install_args(server, issued)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.PIPE,
            env=env,
        )
        try:
            assert proc.stderr is not None
            sel = selectors.DefaultSelector()
            sel.register(proc.stderr, selectors.EVENT_READ)
            seen = b""
            end = time.monotonic() + 60
            while f"paused at {step}".encode() not in seen:
                if time.monotonic() > end or proc.poll() is not None:
                    pytest.fail(f"padlock never paused at {step}: {seen.decode(errors='replace')}")
                if sel.select(timeout=1):
                    seen += os.read(proc.stderr.fileno(), 65536)
            os.kill(proc.pid, signal.SIGKILL)
            assert proc.wait(timeout=20) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=20)


@pytest.mark.parametrize("step", ["after-write", "after-configtest", "after-reload"])
def test_sigkill_mid_install_then_rollback_restores(
    cli: CLI, web: WebServer, site_ca: SiteCA, certs: Path, tmp_path: Path, step: str
) -> None:
    old = site_ca.issue(certs)
    installed(cli, web, old)
    before = tree(web.root, skip=[STATE])
    new = site_ca.issue(certs)
    _killed_at(web, new, step, tmp_path)
    # the journal says what was in progress
    states = [tx.status for tx in StateDir.under(web.root).transactions()]
    assert states == ["committed", "in-progress"]
    # the server kept serving throughout (the old certificate, or the new one once reloaded)
    assert web.running()
    expected_now = new.serial if step == "after-reload" else old.serial
    eventually_serial(web.https_port, "www.example.com", old.root_pem, expected_now)
    result = cli(web.kind, "rollback", "--config-root", str(web.root))
    assert result.rc == 0, result.err
    assert "interrupted" in result.err
    assert tree(web.root, skip=[STATE]) == before
    assert web.site_file().exists()
    assert web.configtest().returncode == 0
    eventually_serial(web.https_port, "www.example.com", old.root_pem, old.serial)
    states = [tx.status for tx in StateDir.under(web.root).transactions()]
    assert states == ["committed", "recovered"]


def test_sigkill_mid_install_then_next_install_recovers_and_completes(
    cli: CLI, web: WebServer, site_ca: SiteCA, certs: Path, tmp_path: Path
) -> None:
    old, new = site_ca.issue(certs), site_ca.issue(certs)
    installed(cli, web, old)
    _killed_at(web, new, "after-write", tmp_path)
    result = installed(cli, web, new)
    assert "interrupted transaction" in result.err
    sees(cli, web, new, "www.example.com")
    states = [tx.status for tx in StateDir.under(web.root).transactions()]
    assert states == ["committed", "recovered", "committed"]
