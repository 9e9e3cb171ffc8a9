"""``padlock apache install|rollback`` against Debian's real apache2, in a config root of the
test's own on 127.0.0.1: what only Apache does (modules, the pass phrase helper, stapling,
virtual hosts edited in place, layouts). After every install both ``padlock check`` and
Python's ssl with only padlock's test root trusted must see the new serial; every failure
must leave the files as they were. The tests both servers share are in test_webserver.py."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import Result
from tests.site.conftest import (
    KEY_PASSPHRASE,
    ApacheServer,
    Issued,
    SiteCA,
    eventually_serial,
    install_args,
    installed,
    installed_beside,
    port_open,
    sees,
    served_serial,
    tree,
)

from padlock.site import apache as site_apache
from padlock.site import apacheconf
from padlock.site.transaction import StateDir

CLI = Callable[..., Result]
STATE = ".padlock"


def directives(text: str) -> list[str]:
    """The directive names of a configuration text (comments left out)."""
    words = [line.split()[0] for line in text.splitlines() if line.strip()]
    return [w for w in words if not w.startswith("#")]


# --------------------------------------------------------------------------- installs


def test_install_one_name(cli: CLI, apache: ApacheServer, site_ca: SiteCA, certs: Path) -> None:
    issued = site_ca.issue(certs, ["www.example.com"])
    result = installed(cli, apache, issued)
    assert f"presents serial {issued.serial}" in result.err
    sees(cli, apache, issued, "www.example.com")
    # its own file, enabled like a2ensite; modules enabled like a2enmod
    site = apache.root / "sites-available" / "padlock-www.example.com.conf"
    assert site.is_file()
    link = os.readlink(apache.root / "sites-enabled" / site.name)
    assert link == f"../sites-available/{site.name}"
    for mod in ("ssl.load", "ssl.conf", "socache_shmcb.load", "rewrite.load"):
        assert (apache.root / "mods-enabled" / mod).is_symlink()
    text = site.read_text()
    live = apache.root / STATE / "live" / f"www.example.com_{apache.https_port}"
    fullchain = live / "fullchain.pem"
    assert f'SSLCertificateFile "{fullchain}"' in text
    assert "SSLCACertificateFile" not in directives(text)
    assert "SSLCertificateChainFile" not in directives(text)
    assert "SSLProtocol -all +TLSv1.2 +TLSv1.3" in text
    assert f"Listen 127.0.0.1:{apache.https_port}" in text
    assert (fullchain.parent / "privkey.pem").stat().st_mode & 0o777 == 0o600
    assert apache.configtest().returncode == 0


def test_install_redirects_http_except_well_known(
    cli: CLI, apache: ApacheServer, site_ca: SiteCA, certs: Path
) -> None:
    installed(cli, apache, site_ca.issue(certs))
    status, location = apache.http_get("/shop?x=1", "www.example.com")
    assert status == 301
    assert location == f"https://www.example.com:{apache.https_port}/shop?x=1"
    status, _ = apache.http_get("/.well-known/acme-challenge/token", "www.example.com")
    assert status == 404  # served (not found), not redirected


def test_install_with_aliases_covers_every_name(
    cli: CLI, apache: ApacheServer, site_ca: SiteCA, certs: Path
) -> None:
    issued = site_ca.issue(certs, ["www.example.com", "example.com"])
    installed(cli, apache, issued, "--alias", "example.com")
    sees(cli, apache, issued, "www.example.com")
    sees(cli, apache, issued, "example.com")


SHARED = """\
# Three sites in one file, the way many servers grew.
<VirtualHost 127.0.0.1:{port}>
    ServerName alpha.example.com
    DocumentRoot {www}
</VirtualHost>

<VirtualHost 127.0.0.1:{port}>
    ServerName www.example.com
    DocumentRoot {www}
    <Directory {www}>
        Require all granted
    </Directory>
    # a rewrite inside a section stays where it is
    <Location /old>
        Redirect 302 /old /new
    </Location>
</VirtualHost>

<VirtualHost 127.0.0.1:{port}>
    ServerName beta.example.com
    DocumentRoot {www}
</VirtualHost>
"""


def _blocks(text: str) -> list[str]:
    return [b for b in text.split("</VirtualHost>") if "ServerName" in b]


def test_install_next_to_two_other_vhosts_in_a_shared_file(
    cli: CLI, apache: ApacheServer, site_ca: SiteCA, certs: Path
) -> None:
    issued = site_ca.issue(certs)
    shared, original, result = installed_beside(cli, apache, issued, "shared.conf", SHARED)
    # the diff of the shared file was shown before it changed
    assert f"a{shared}" in result.out and f"b{shared}" in result.out
    assert "+    RewriteEngine On" in result.out
    after = shared.read_text()
    old_blocks, new_blocks = _blocks(original), _blocks(after)
    assert new_blocks[0] == old_blocks[0]  # alpha: byte for byte
    assert new_blocks[2] == old_blocks[2]  # beta: byte for byte
    assert new_blocks[1].startswith(old_blocks[1])  # www: only lines added at its end
    assert "RewriteRule ^ https://%{SERVER_NAME}" in new_blocks[1]
    # the TLS vhost is in its own file, with www's DocumentRoot and sections copied over
    site = (apache.root / "sites-available" / "padlock-www.example.com.conf").read_text()
    assert f"DocumentRoot {apache.base / 'www'}" in site
    assert "<Location /old>" in site and "Redirect 302 /old /new" in site
    assert "alpha.example.com" not in site
    sees(cli, apache, issued, "www.example.com")
    # the neighbours answer as before (403: the test config grants no directory to them);
    # only www redirects
    assert apache.http_get("/", "alpha.example.com")[0] == 403
    assert apache.http_get("/", "beta.example.com")[0] == 403
    assert apache.http_get("/", "www.example.com")[0] == 301


SEED_STYLE = """\
<VirtualHost 127.0.0.1:{http}>
    ServerName alpha.example.com
    DocumentRoot {www}
</VirtualHost>

# The seed's configuration, 2002 style: certificate and chain in two directives.
<VirtualHost 127.0.0.1:{https}>
    DocumentRoot {www}
    ServerName www.example.com
    ServerAdmin root@example.com
    SSLEngine on
    SSLCertificateFile {cert}
    SSLCertificateKeyFile {key}
    SSLCertificateChainFile {chain}
</VirtualHost>

<VirtualHost 127.0.0.1:{http}>
    ServerName beta.example.com
    DocumentRoot {www}
</VirtualHost>
"""


def _seed_style_site(server: ApacheServer, old: Issued) -> Path:
    """An SSL vhost set up by hand (mod_ssl enabled by hand) next to two others."""
    for mod in ("ssl.load", "ssl.conf", "socache_shmcb.load"):
        (server.root / "mods-enabled" / mod).symlink_to(f"../mods-available/{mod}")
    with (server.root / "ports.conf").open("a") as fh:
        fh.write(f"Listen 127.0.0.1:{server.https_port}\n")
    shared = server.root / "sites-available" / "legacy.conf"
    shared.write_text(
        SEED_STYLE.format(
            http=server.http_port,
            https=server.https_port,
            www=server.base / "www",
            cert=old.cert,
            key=old.key,
            chain=old.chain,
        )
    )
    (server.root / "sites-enabled" / "legacy.conf").symlink_to("../sites-available/legacy.conf")
    assert server.run("-k", "graceful").returncode == 0
    eventually_serial(server.https_port, "www.example.com", old.root_pem, old.serial)
    return shared


def test_install_edits_existing_ssl_vhost_in_place(
    cli: CLI, apache: ApacheServer, site_ca: SiteCA, certs: Path
) -> None:
    old = site_ca.issue(certs)
    shared = _seed_style_site(apache, old)
    before = shared.read_text()
    new = site_ca.issue(certs)
    # no --listen-address: padlock probes the address of the virtual host it edits
    args = install_args(apache, new)
    del args[args.index("--listen-address") : args.index("--listen-address") + 2]
    result = cli(*args)
    assert result.rc == 0, result.err + apache.log()
    assert f"on 127.0.0.1:{apache.https_port} presents serial {new.serial}" in result.err
    assert f"a{shared}" in result.out  # diff shown
    after = shared.read_text()
    assert _blocks(after)[0] == _blocks(before)[0]
    assert _blocks(after)[2] == _blocks(before)[2]
    www = _blocks(after)[1]
    assert "SSLCertificateChainFile" not in directives(www)
    assert str(old.cert) not in www
    assert "ServerAdmin root@example.com" in www  # the site's own lines stay
    assert www.count("SSLEngine on") == 1
    # edited in place: no file of its own, and no second Listen for a port that has one
    # (certbot's "Address already in use")
    assert not (apache.root / "sites-available" / "padlock-www.example.com.conf").exists()
    assert "Listen" not in directives(after)
    sees(cli, apache, new, "www.example.com")


def test_install_with_encrypted_key_uses_helper_and_restarts_without_prompt(
    cli: CLI, apache: ApacheServer, site_ca: SiteCA, certs: Path, key_pass_file: Path
) -> None:
    issued = site_ca.issue(certs, passphrase=KEY_PASSPHRASE)
    result = installed(cli, apache, issued, "--passphrase-file", str(key_pass_file))
    assert "SSLPassPhraseDialog exec:" in result.err or "passphrase-helper" in result.err
    state = apache.root / STATE
    helper = state / "passphrase-helper"
    assert helper.stat().st_mode & 0o777 == 0o700
    assert (state / "passphrases" / "www.example.com").stat().st_mode & 0o777 == 0o600
    key = state / "live" / f"www.example.com_{apache.https_port}" / "privkey.pem"
    assert b"ENCRYPTED" in key.read_bytes()
    global_conf = apache.root / "conf-available" / "padlock.conf"
    assert f"SSLPassPhraseDialog exec:{helper}" in global_conf.read_text()
    assert (apache.root / "conf-enabled" / "padlock.conf").is_symlink()
    sees(cli, apache, issued, "www.example.com")
    # A full stop and start, with no terminal: the seed's "pass phrase at every restart".
    apache.stop()
    apache.start()
    sees(cli, apache, issued, "www.example.com")
    # and a graceful restart too
    assert apache.run("-k", "graceful").returncode == 0
    sees(cli, apache, issued, "www.example.com")


def test_install_decrypt_key_installs_decrypted_copy(
    cli: CLI, apache: ApacheServer, site_ca: SiteCA, certs: Path, key_pass_file: Path
) -> None:
    issued = site_ca.issue(certs, passphrase=KEY_PASSPHRASE)
    result = installed(
        cli, apache, issued, "--passphrase-file", str(key_pass_file), "--decrypt-key"
    )
    assert "decrypted" in result.err
    key = apache.root / STATE / "live" / f"www.example.com_{apache.https_port}" / "privkey.pem"
    assert b"ENCRYPTED" not in key.read_bytes()
    assert key.stat().st_mode & 0o777 == 0o600
    global_conf = apache.root / "conf-available" / "padlock.conf"
    assert not global_conf.exists() or "SSLPassPhraseDialog" not in global_conf.read_text()
    sees(cli, apache, issued, "www.example.com")


def _ocsp_url(cert: Path) -> str | None:
    from cryptography import x509
    from cryptography.x509.oid import AuthorityInformationAccessOID

    leaf = x509.load_pem_x509_certificate(cert.read_bytes())
    try:
        aia = leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return None
    urls = [
        d.access_location.value
        for d in aia
        if d.access_method == AuthorityInformationAccessOID.OCSP
    ]
    return str(urls[0]) if urls else None


@pytest.mark.parametrize("flag", ["--ocsp-stapling", "--no-ocsp-stapling"])
def test_ocsp_stapling_only_with_a_responder(
    cli: CLI, apache: ApacheServer, site_ca: SiteCA, certs: Path, flag: str
) -> None:
    """Stapling is configured only when asked (or by default) AND the certificate names an
    OCSP responder; an unreachable responder neither breaks the install nor gets its error
    responses stapled."""
    issued = site_ca.issue(certs)
    installed(cli, apache, issued, flag)
    site = (apache.root / "sites-available" / "padlock-www.example.com.conf").read_text()
    wanted = flag == "--ocsp-stapling" and _ocsp_url(issued.cert) is not None
    assert ("SSLUseStapling On" in directives_text(site)) is wanted
    if wanted:
        assert "SSLStaplingReturnResponderErrors off" in site
        assert "SSLStaplingCache" in (apache.root / "conf-available" / "padlock.conf").read_text()
    sees(cli, apache, issued, "www.example.com")


def test_reinstall_encrypted_key_with_stapling_keeps_the_cache(
    cli: CLI, apache: ApacheServer, site_ca: SiteCA, certs: Path, key_pass_file: Path
) -> None:
    """A renewal: a second install with an encrypted key keeps padlock's own
    SSLStaplingCache line (dropping it made Apache fail to restart, AH01872)."""
    first = site_ca.issue(certs, passphrase=KEY_PASSPHRASE)
    installed(cli, apache, first, "--passphrase-file", str(key_pass_file), "--ocsp-stapling")
    global_conf = apache.root / "conf-available" / "padlock.conf"
    had_cache = "SSLStaplingCache" in global_conf.read_text()
    assert had_cache is (_ocsp_url(first.cert) is not None)
    second = site_ca.issue(certs, passphrase=KEY_PASSPHRASE)
    installed(cli, apache, second, "--passphrase-file", str(key_pass_file), "--ocsp-stapling")
    assert ("SSLStaplingCache" in global_conf.read_text()) is had_cache
    sees(cli, apache, second, "www.example.com")


def directives_text(text: str) -> str:
    return "\n".join(line.strip() for line in text.splitlines() if not line.strip().startswith("#"))


def test_install_hsts_header_sent(
    cli: CLI, apache: ApacheServer, site_ca: SiteCA, certs: Path
) -> None:
    issued = site_ca.issue(certs)
    installed(cli, apache, issued, "--hsts")
    assert (apache.root / "mods-enabled" / "headers.load").is_symlink()
    text = (apache.root / "sites-available" / "padlock-www.example.com.conf").read_text()
    assert 'Header always set Strict-Transport-Security "max-age=63072000"' in text
    sees(cli, apache, issued, "www.example.com")


def test_dry_run_prints_diff_and_changes_nothing(
    cli: CLI, apache: ApacheServer, site_ca: SiteCA, certs: Path
) -> None:
    before = tree(apache.root)
    issued = site_ca.issue(certs)
    result = cli(*install_args(apache, issued), "--dry-run")
    assert result.rc == 0, result.err
    assert "padlock-www.example.com.conf" in result.out
    assert "+    SSLEngine on" in result.out
    assert "-> ../mods-available/ssl.load" in result.out
    assert "BEGIN PRIVATE KEY" not in result.out  # keys are summarised, never shown
    assert "nothing was changed" in result.err.lower()
    assert tree(apache.root) == before


def test_expiring_soon_is_a_warning_not_a_refusal(
    cli: CLI, apache: ApacheServer, site_ca: SiteCA, certs: Path
) -> None:
    issued = site_ca.issue(certs, days=5)
    result = installed(cli, apache, issued)
    assert "expires in 4 days" in result.err or "expires in 5 days" in result.err
    sees(cli, apache, issued, "www.example.com", rc=1)  # padlock check: exit 1, a warning


# --------------------------------------------------------------------------- failure and undo

DORMANT = """\
# Old rewrite rules, waiting for mod_rewrite: nobody noticed the bad regex yet.
<IfModule mod_rewrite.c>
    RewriteEngine On
    RewriteRule "^/shop/(" "/store/$1"
</IfModule>
"""


def test_configtest_failure_restores_everything_and_old_certificate_stays(
    cli: CLI, apache: ApacheServer, site_ca: SiteCA, certs: Path
) -> None:
    old = site_ca.issue(certs)
    _seed_style_site(apache, old)
    planted = apache.root / "conf-available" / "legacy-rewrites.conf"
    planted.write_text(DORMANT)
    (apache.root / "conf-enabled" / "legacy-rewrites.conf").symlink_to(
        "../conf-available/legacy-rewrites.conf"
    )
    assert apache.configtest().returncode == 0  # dormant: mod_rewrite is not loaded
    before = tree(apache.root)
    new = site_ca.issue(certs)
    # the :80 redirect padlock adds needs mod_rewrite; enabling it wakes the bad rule
    result = cli(*install_args(apache, new))
    assert result.rc == 1
    assert "configtest step failed" in result.err
    assert "cannot compile regular expression" in result.err
    assert "Every file was restored" in result.err
    assert tree(apache.root, skip=[STATE]) == before
    record = [tx for tx in StateDir.under(apache.root).transactions()]
    assert [tx.status for tx in record] == ["failed"]
    assert apache.configtest().returncode == 0
    assert apache.running()
    assert served_serial(apache.https_port, "www.example.com", old.root_pem) == old.serial


# --------------------------------------------------------------------------- layouts, parser


def test_layouts_are_data_and_detected(tmp_path: Path) -> None:
    assert [lay.name for lay in site_apache.LAYOUTS] == ["debian", "rhel", "plain", "plain-conf"]
    (tmp_path / "deb" / "mods-available").mkdir(parents=True)
    (tmp_path / "deb" / "apache2.conf").write_text("")
    assert site_apache.detect_layout(tmp_path / "deb").name == "debian"
    (tmp_path / "rhel" / "conf").mkdir(parents=True)
    (tmp_path / "rhel" / "conf.d").mkdir()
    (tmp_path / "rhel" / "conf" / "httpd.conf").write_text("")
    assert site_apache.detect_layout(tmp_path / "rhel").name == "rhel"
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "httpd.conf").write_text("")
    assert site_apache.detect_layout(tmp_path / "plain").name == "plain"


MODULES = """\
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so
"""

MAIN_HTTPD = """\
ServerRoot "{server_root}"
{modules}TypesConfig /etc/mime.types
PidFile {var}/httpd.pid
ErrorLog {var}/error.log
Mutex file:{var} default
User www-data
Group www-data
ServerName localhost
Listen 127.0.0.1:{http}
DocumentRoot {www}
<VirtualHost 127.0.0.1:{http}>
    ServerName other.example.com
</VirtualHost>
{tail}"""


@pytest.mark.parametrize("layout", ["plain", "rhel"])
def test_other_layouts_with_real_apache(
    cli: CLI, site_ca: SiteCA, certs: Path, layout: str
) -> None:
    """Without a2enmod: padlock adds guarded LoadModule lines to its own file. A plain
    httpd.conf also gets one IncludeOptional line (shown as a diff); RHEL's conf.d is
    included already. Debian's apache2 binary runs both trees (the layout names httpd
    first, then apache2)."""
    import shutil
    import tempfile

    from tests.site.conftest import wait_until, which
    from tests.support.ports import free_port

    binary = which("apache2")
    base = Path(tempfile.mkdtemp(prefix=f"padlock-{layout}-"))
    os.chmod(base, 0o755)  # noqa: S103 - the workers (www-data) traverse it
    (base / "var").mkdir()
    (base / "www").mkdir()
    http, https = free_port(), free_port()
    if layout == "plain":
        root = base / "conf"
        root.mkdir()
        main, server_root = root / "httpd.conf", root
        modules, tail, sites = MODULES, "", root / "padlock.d"
    else:
        root = base / "httpd"
        for sub in ("conf", "conf.d", "conf.modules.d"):
            (root / sub).mkdir(parents=True)
        (root / "conf.modules.d" / "00-base.conf").write_text(MODULES)
        main, server_root = root / "conf" / "httpd.conf", root
        modules = "Include conf.modules.d/*.conf\n"
        tail, sites = "IncludeOptional conf.d/*.conf\n", root / "conf.d"
    main.write_text(
        MAIN_HTTPD.format(
            server_root=server_root,
            modules=modules,
            var=base / "var",
            http=http,
            www=base / "www",
            tail=tail,
        )
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [binary, "-d", str(server_root), "-f", str(main), *args],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    try:
        assert run("-k", "start").returncode == 0, (base / "var" / "error.log").read_text()
        wait_until(f"{layout} apache", lambda: port_open(http))
        before = tree(root)
        issued = site_ca.issue(certs)
        result = cli(
            "apache", "install", "--name", "www.example.com", "--cert", str(issued.cert),
            "--key", str(issued.key), "--chain", str(issued.chain), "--ca", str(issued.root),
            "--config-root", str(root), "--port", str(https), "--http-port", str(http),
            "--listen-address", "127.0.0.1",
        )  # fmt: skip
        assert result.rc == 0, result.err
        assert ("+IncludeOptional" in result.out) is (layout == "plain")
        site = (sites / "padlock-www.example.com.conf").read_text()
        assert "LoadModule ssl_module /usr/lib/apache2/modules/mod_ssl.so" in site
        assert "LoadModule rewrite_module /usr/lib/apache2/modules/mod_rewrite.so" in site
        eventually_serial(https, "www.example.com", issued.root_pem, issued.serial)
        result = cli("apache", "rollback", "--config-root", str(root))
        assert result.rc == 0, result.err
        assert tree(root, skip=[STATE]) == before
    finally:
        run("-k", "stop")
        wait_until(f"{layout} apache stopped", lambda: not port_open(http))
        shutil.rmtree(base, ignore_errors=True)


def test_parser_follows_includes_and_conditionals(tmp_path: Path) -> None:
    (tmp_path / "sites").mkdir()
    (tmp_path / "main.conf").write_text(
        "Define WITH_SITES\n"
        "<IfDefine WITH_SITES>\n  IncludeOptional sites/*.conf\n</IfDefine>\n"
        "<IfModule mod_gnutls.c>\n  Listen 8443\n</IfModule>\n"
        "<IfModule ssl_module>\n  Listen 9443\n</IfModule>\n"
        "Listen \\\n  127.0.0.1:8080\n"
    )
    (tmp_path / "sites" / "a.conf").write_text(
        '<VirtualHost *:443 [::1]:443>\n  ServerName "WWW.Example.com:443"\n'
        "  ServerAlias *.example.org shop.example.com\n  SSLEngine On\n</VirtualHost>\n"
    )
    config = apacheconf.parse_config(
        tmp_path / "main.conf", tmp_path, {}, apacheconf.module_aliases("ssl_module")
    )
    assert [x.port for x in config.listens] == [9443, 8080]
    (vhost,) = config.vhosts
    assert vhost.server_name == "www.example.com"
    assert vhost.serves("shop.example.com") and vhost.serves("a.example.org")
    assert not vhost.serves("example.org")
    assert vhost.ssl and vhost.on_port(443) and not vhost.on_port(80)
    assert (vhost.line, vhost.end_line) == (1, 5)


def test_line_edits_keep_every_other_byte() -> None:
    text = "a\r\nb\r\nc"  # CRLF, no final newline
    edited = apacheconf.apply_edits(
        text, [apacheconf.LineEdit(2, 2, ("B",)), apacheconf.LineEdit(1, 0, ("top",))]
    )
    assert edited == "top\r\na\r\nB\r\nc"
