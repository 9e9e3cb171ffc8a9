"""``padlock nginx install|rollback`` against Debian's real nginx, in a config root of the
test's own on 127.0.0.1: the same transaction as Apache's, nginx's own syntax."""

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
    NginxServer,
    SiteCA,
    check_json,
    eventually_serial,
    nginx_args,
    port_open,
    reinstall_ten_times,
    served_serial,
    tree,
)

from padlock.site import nginxconf
from padlock.site.transaction import StateDir

CLI = Callable[..., Result]
STATE = ".padlock"
LONG = "the-shop-with-a-rather-long-name-that-goes-on.and-on-and-on.example.com"


def _installed(
    cli: CLI, server: NginxServer, issued: Issued, *extra: str, name: str = "www.example.com"
) -> Result:
    result = cli(*nginx_args(server, issued, name), *extra)
    assert result.rc == 0, result.err + server.log()
    return result


def _sees(cli: CLI, server: NginxServer, issued: Issued, name: str, rc: int = 0) -> None:
    """padlock check and Python's ssl (only padlock's root trusted) both see the serial."""
    eventually_serial(server.https_port, name, issued.root_pem, issued.serial)
    code, report = check_json(cli, server.https_port, name, issued.root, issued.serial)
    assert code == rc, report
    assert report["serial"] == issued.serial
    assert report["verified"] is True
    assert report["name_matches"] is True
    assert isinstance(report["chain"], list) and len(report["chain"]) == 2  # leaf + intermediate


def _http_status(server: NginxServer, path: str, host: str) -> tuple[int, str]:
    import socket

    with socket.create_connection(("127.0.0.1", server.http_port), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    location = next(
        (
            x.split(":", 1)[1].strip()
            for x in head.split("\r\n")
            if x.lower().startswith("location:")
        ),
        "",
    )
    return int(head.split()[1]), location


def test_install_one_name(cli: CLI, nginx: NginxServer, site_ca: SiteCA, certs: Path) -> None:
    issued = site_ca.issue(certs)
    result = _installed(cli, nginx, issued)
    assert f"presents serial {issued.serial}" in result.err
    _sees(cli, nginx, issued, "www.example.com")
    site = nginx.root / "sites-available" / "padlock-www.example.com.conf"
    text = site.read_text()
    assert (
        os.readlink(nginx.root / "sites-enabled" / site.name) == f"../sites-available/{site.name}"
    )
    assert f"listen 127.0.0.1:{nginx.https_port} ssl" in text
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in text
    assert "ssl_prefer_server_ciphers off;" in text
    assert nginx.configtest().returncode == 0
    # http: everything redirected except /.well-known/ (polled: old workers may answer once)
    end = time.monotonic() + 20
    while _http_status(nginx, "/a?b=1", "www.example.com")[0] != 301:
        assert time.monotonic() < end, "no redirect"
        time.sleep(0.1)
    assert _http_status(nginx, "/a?b=1", "www.example.com") == (
        301,
        f"https://www.example.com:{nginx.https_port}/a?b=1",
    )
    assert _http_status(nginx, "/.well-known/acme-challenge/x", "www.example.com")[0] == 404


def test_install_two_names_on_one_address_by_sni(
    cli: CLI, nginx: NginxServer, site_ca: SiteCA, certs: Path
) -> None:
    www, shop = site_ca.issue(certs), site_ca.issue(certs, ["shop.example.com"])
    _installed(cli, nginx, www)
    _installed(cli, nginx, shop, name="shop.example.com")
    _sees(cli, nginx, www, "www.example.com")
    _sees(cli, nginx, shop, "shop.example.com")


SHARED = """\
server {{
    listen 127.0.0.1:{port};
    server_name alpha.example.com;
    root {www};
}}
server {{
    listen 127.0.0.1:{port};
    server_name www.example.com;
    root {www};
    location /old/ {{ return 302 /new/; }}
}}
server {{ listen 127.0.0.1:{port}; server_name beta.example.com; root {www}; }}
"""


def test_install_next_to_two_other_server_blocks_in_a_shared_file(
    cli: CLI, nginx: NginxServer, site_ca: SiteCA, certs: Path
) -> None:
    shared = nginx.root / "sites-available" / "shared"
    original = SHARED.format(port=nginx.http_port, www=nginx.base / "www")
    shared.write_text(original)
    (nginx.root / "sites-enabled" / "shared").symlink_to("../sites-available/shared")
    assert nginx.run("-s", "reload").returncode == 0
    issued = site_ca.issue(certs)
    result = _installed(cli, nginx, issued)
    assert f"a{shared}" in result.out and "+    if ($request_uri" in result.out
    after = shared.read_text()
    alpha_end = original.index("}\n") + 2
    assert after[:alpha_end] == original[:alpha_end]  # alpha: byte for byte
    beta = original[original.rindex("server {") :]
    assert after.endswith(beta)  # beta, on one line, byte for byte
    assert after.count("return 301 https://") == 1
    site = (nginx.root / "sites-available" / "padlock-www.example.com.conf").read_text()
    assert f"root {nginx.base / 'www'};" in site and "location /old/" in site
    assert "listen 127.0.0.1:" + str(nginx.http_port) not in site  # the :80 block was reused
    _sees(cli, nginx, issued, "www.example.com")


def test_install_with_encrypted_key_uses_password_file(
    cli: CLI, nginx: NginxServer, site_ca: SiteCA, certs: Path, tmp_path: Path
) -> None:
    issued = site_ca.issue(certs, passphrase=KEY_PASSPHRASE)
    passfile = tmp_path / "pass.txt"
    passfile.write_text(KEY_PASSPHRASE + "\n")
    _installed(cli, nginx, issued, "--passphrase-file", str(passfile))
    stored = nginx.root / STATE / "passphrases" / f"www.example.com_{nginx.https_port}"
    assert stored.stat().st_mode & 0o777 == 0o600
    site = (nginx.root / "sites-available" / "padlock-www.example.com.conf").read_text()
    assert f'ssl_password_file "{stored}";' in site
    _sees(cli, nginx, issued, "www.example.com")
    nginx.stop()
    nginx.start()  # no terminal, and no prompt
    _sees(cli, nginx, issued, "www.example.com")


def test_broken_chain_refused_before_any_change(
    cli: CLI, nginx: NginxServer, site_ca: SiteCA, certs: Path
) -> None:
    before = tree(nginx.root)
    issued = site_ca.issue(certs)
    args = nginx_args(nginx, issued)
    args[args.index("--chain") + 1] = str(issued.root)  # the root where the intermediate goes
    result = cli(*args)
    assert result.rc == 1 and "chain is incomplete" in result.err
    assert "Nothing was changed" in result.err
    assert tree(nginx.root) == before
    assert not port_open(nginx.https_port)


def test_configtest_failure_restores_everything_and_old_certificate_stays(
    cli: CLI, nginx: NginxServer, site_ca: SiteCA, certs: Path
) -> None:
    """nginx's classic: two names on one port and a long one added → "could not build
    server_names_hash". nginx -t says so after the edit; padlock restores every file."""
    old = site_ca.issue(certs)
    _installed(cli, nginx, old)
    _installed(cli, nginx, site_ca.issue(certs, ["shop.example.com"]), name="shop.example.com")
    before = tree(nginx.root, skip=[STATE])
    new = site_ca.issue(certs, ["www.example.com", LONG])
    result = cli(*nginx_args(nginx, new), "--alias", LONG)
    assert result.rc == 1
    assert "configtest step failed" in result.err
    assert "server_names_hash" in result.err
    assert "Every file was restored" in result.err
    assert tree(nginx.root, skip=[STATE]) == before
    assert nginx.configtest().returncode == 0
    assert served_serial(nginx.https_port, "www.example.com", old.root_pem) == old.serial


def test_rollback_restores_previous_certificate(
    cli: CLI, nginx: NginxServer, site_ca: SiteCA, certs: Path
) -> None:
    old, new = site_ca.issue(certs), site_ca.issue(certs)
    _installed(cli, nginx, old)
    after_old = tree(nginx.root, skip=[STATE])
    _installed(cli, nginx, new)
    _sees(cli, nginx, new, "www.example.com")
    result = cli("nginx", "rollback", "--config-root", str(nginx.root))
    assert result.rc == 0, result.err
    assert tree(nginx.root, skip=[STATE]) == after_old
    _sees(cli, nginx, old, "www.example.com")


def test_sigkill_after_write_then_rollback(
    cli: CLI, nginx: NginxServer, site_ca: SiteCA, certs: Path, tmp_path: Path
) -> None:
    old, new = site_ca.issue(certs), site_ca.issue(certs)
    _installed(cli, nginx, old)
    before = tree(nginx.root, skip=[STATE])
    env = {k: v for k, v in os.environ.items() if k != "PADLOCK_PASSPHRASE"}
    env["PADLOCK_TEST_PAUSE_AT"] = "after-write"
    proc = subprocess.Popen(
        [str(PADLOCK_BIN), *nginx_args(nginx, new)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stderr is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stderr, selectors.EVENT_READ)
        seen, end = b"", time.monotonic() + 60
        while b"paused at after-write" not in seen:
            assert time.monotonic() < end and proc.poll() is None, seen
            if sel.select(timeout=1):
                seen += os.read(proc.stderr.fileno(), 65536)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=20)
    assert nginx.running()
    assert served_serial(nginx.https_port, "www.example.com", old.root_pem) == old.serial
    result = cli("nginx", "rollback", "--config-root", str(nginx.root))
    assert result.rc == 0 and "interrupted" in result.err, result.err
    assert tree(nginx.root, skip=[STATE]) == before
    assert [t.status for t in StateDir.under(nginx.root).transactions()] == [
        "committed",
        "recovered",
    ]
    eventually_serial(nginx.https_port, "www.example.com", old.root_pem, old.serial)


def test_reinstall_ten_times_leaves_one_managed_block(
    cli: CLI, nginx: NginxServer, site_ca: SiteCA, certs: Path
) -> None:
    site = nginx.root / "sites-available" / "padlock-www.example.com.conf"
    renewed = reinstall_ten_times(
        site, lambda issued: _installed(cli, nginx, issued), lambda: site_ca.issue(certs)
    )
    assert nginx.configtest().returncode == 0
    _sees(cli, nginx, renewed, "www.example.com")


def test_existing_ssl_server_edited_in_place(
    cli: CLI, nginx: NginxServer, site_ca: SiteCA, certs: Path
) -> None:
    old = site_ca.issue(certs)
    site = nginx.root / "sites-available" / "www"
    site.write_text(
        "# by hand\nserver {\n"
        f"    listen 127.0.0.1:{nginx.https_port};\n    ssl on;\n"
        "    server_name www.example.com;\n"
        f"    ssl_certificate {old.cert};\n    ssl_certificate_key {old.key};\n"
        "    ssl_protocols TLSv1 TLSv1.1 TLSv1.2;\n"
        "    location / { return 200 'hello'; }\n}\n"
    )
    (nginx.root / "sites-enabled" / "www").symlink_to("../sites-available/www")
    # "ssl on" is gone from nginx 1.25; on 1.22 it is deprecated but works
    if nginx.configtest().returncode != 0:
        site.write_text(site.read_text().replace("    ssl on;\n", ""))
        text = site.read_text().replace(
            f"listen 127.0.0.1:{nginx.https_port};", f"listen 127.0.0.1:{nginx.https_port} ssl;"
        )
        site.write_text(text)
    assert nginx.run("-s", "reload").returncode == 0
    new = site_ca.issue(certs)
    result = _installed(cli, nginx, new)
    assert f"a{site}" in result.out
    after = site.read_text()
    assert "TLSv1.1" not in after and str(old.cert) not in after
    assert "location / { return 200 'hello'; }" in after
    assert not (nginx.root / "sites-available" / "padlock-www.example.com.conf").exists()
    _sees(cli, nginx, new, "www.example.com")


def test_parser_offsets_and_includes(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "nginx.conf").write_text("events {}\nhttp {\n  include conf.d/*.conf; # sites\n}\n")
    site = 'server { listen 443 ssl; server_name "a.example.com" .example.org; }\n'
    (tmp_path / "conf.d" / "a.conf").write_text(site)
    config = nginxconf.parse_config(tmp_path / "nginx.conf")
    (server,) = config.servers
    assert server.names == ("a.example.com", ".example.org")
    assert server.serves("www.example.org") and server.serves("example.org")
    assert server.on_port(443) and server.ssl
    assert config.http_includes(tmp_path / "conf.d" / "b.conf")
    assert not config.http_includes(tmp_path / "other" / "b.conf")
    d = server.directive.children("server_name")[0]
    assert site[d.start : d.end] == 'server_name "a.example.com" .example.org;'
    assert site[server.directive.close_brace] == "}"


def test_parser_rejects_unbalanced_braces(tmp_path: Path) -> None:
    from padlock.errors import ConfigError

    (tmp_path / "nginx.conf").write_text("http {\n  server {\n")
    with pytest.raises(ConfigError):
        nginxconf.parse_config(tmp_path / "nginx.conf")
