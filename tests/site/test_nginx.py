"""``padlock nginx install|rollback`` against Debian's real nginx, in a config root of the
test's own on 127.0.0.1: what only nginx does (server blocks, ssl_password_file,
server_names_hash). The tests both servers share are in test_webserver.py."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import Result
from tests.site.conftest import (
    KEY_PASSPHRASE,
    NginxServer,
    SiteCA,
    install_args,
    installed,
    installed_beside,
    sees,
    served_serial,
    tree,
)

from padlock.site import nginxconf

CLI = Callable[..., Result]
STATE = ".padlock"
LONG = "the-shop-with-a-rather-long-name-that-goes-on.and-on-and-on.example.com"


def test_install_one_name(cli: CLI, nginx: NginxServer, site_ca: SiteCA, certs: Path) -> None:
    issued = site_ca.issue(certs)
    result = installed(cli, nginx, issued)
    assert f"presents serial {issued.serial}" in result.err
    sees(cli, nginx, issued, "www.example.com")
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
    while nginx.http_get("/a?b=1", "www.example.com")[0] != 301:
        assert time.monotonic() < end, "no redirect"
        time.sleep(0.1)
    assert nginx.http_get("/a?b=1", "www.example.com") == (
        301,
        f"https://www.example.com:{nginx.https_port}/a?b=1",
    )
    assert nginx.http_get("/.well-known/acme-challenge/x", "www.example.com")[0] == 404


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
    issued = site_ca.issue(certs)
    shared, original, result = installed_beside(cli, nginx, issued, "shared", SHARED)
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
    sees(cli, nginx, issued, "www.example.com")


def test_install_with_encrypted_key_uses_password_file(
    cli: CLI, nginx: NginxServer, site_ca: SiteCA, certs: Path, key_pass_file: Path
) -> None:
    issued = site_ca.issue(certs, passphrase=KEY_PASSPHRASE)
    installed(cli, nginx, issued, "--passphrase-file", str(key_pass_file))
    stored = nginx.root / STATE / "passphrases" / f"www.example.com_{nginx.https_port}"
    assert stored.stat().st_mode & 0o777 == 0o600
    site = (nginx.root / "sites-available" / "padlock-www.example.com.conf").read_text()
    assert f'ssl_password_file "{stored}";' in site
    sees(cli, nginx, issued, "www.example.com")
    nginx.stop()
    nginx.start()  # no terminal, and no prompt
    sees(cli, nginx, issued, "www.example.com")


def test_configtest_failure_restores_everything_and_old_certificate_stays(
    cli: CLI, nginx: NginxServer, site_ca: SiteCA, certs: Path
) -> None:
    """nginx's classic: two names on one port and a long one added → "could not build
    server_names_hash". nginx -t says so after the edit; padlock restores every file."""
    old = site_ca.issue(certs)
    installed(cli, nginx, old)
    installed(cli, nginx, site_ca.issue(certs, ["shop.example.com"]), name="shop.example.com")
    before = tree(nginx.root, skip=[STATE])
    new = site_ca.issue(certs, ["www.example.com", LONG])
    result = cli(*install_args(nginx, new), "--alias", LONG)
    assert result.rc == 1
    assert "configtest step failed" in result.err
    assert "server_names_hash" in result.err
    assert "Every file was restored" in result.err
    assert tree(nginx.root, skip=[STATE]) == before
    assert nginx.configtest().returncode == 0
    assert served_serial(nginx.https_port, "www.example.com", old.root_pem) == old.serial


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
    result = installed(cli, nginx, new)
    assert f"a{site}" in result.out
    after = site.read_text()
    assert "TLSv1.1" not in after and str(old.cert) not in after
    assert "location / { return 200 'hello'; }" in after
    assert not (nginx.root / "sites-available" / "padlock-www.example.com.conf").exists()
    sees(cli, nginx, new, "www.example.com")


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
