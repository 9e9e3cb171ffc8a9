"""``padlock apache install|rollback`` against Debian's real apache2, in a config root of the
test's own on 127.0.0.1: after every install both ``padlock check`` and Python's ssl with
only padlock's test root trusted must see the new serial; every refusal and failure must
leave the files as they were."""

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
    ApacheServer,
    Issued,
    SiteCA,
    apache_args,
    check_json,
    eventually_serial,
    port_open,
    reinstall_ten_times,
    served_serial,
    tree,
)

from padlock.site import apache as site_apache
from padlock.site import apacheconf, webserver
from padlock.site.transaction import StateDir

CLI = Callable[..., Result]
STATE = ".padlock"


def _installed(
    cli: CLI, server: ApacheServer, issued: Issued, *extra: str, name: str = "www.example.com"
) -> Result:
    result = cli(*apache_args(server, issued, name), *extra)
    assert result.rc == 0, result.err + server.log()
    return result


def directives(text: str) -> list[str]:
    """The directive names of a configuration text (comments left out)."""
    words = [line.split()[0] for line in text.splitlines() if line.strip()]
    return [w for w in words if not w.startswith("#")]


def _sees(cli: CLI, server: ApacheServer, issued: Issued, name: str, rc: int = 0) -> None:
    """padlock check and Python's ssl (only padlock's root trusted) both see the serial."""
    eventually_serial(server.https_port, name, issued.root_pem, issued.serial)
    code, report = check_json(cli, server.https_port, name, issued.root, issued.serial)
    assert code == rc, report
    assert report["serial"] == issued.serial
    assert report["verified"] is True
    assert report["name_matches"] is True
    assert isinstance(report["chain"], list) and len(report["chain"]) == 2  # leaf + intermediate


# --------------------------------------------------------------------------- installs


def test_install_one_name(cli: CLI, apache: ApacheServer, site_ca: SiteCA, certs: Path) -> None:
    issued = site_ca.issue(certs, ["www.example.com"])
    result = _installed(cli, apache, issued)
    assert f"presents serial {issued.serial}" in result.err
    _sees(cli, apache, issued, "www.example.com")
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
    _installed(cli, apache, site_ca.issue(certs))
    status, location = apache.http_get("/shop?x=1", "www.example.com")
    assert status == 301
    assert location == f"https://www.example.com:{apache.https_port}/shop?x=1"
    status, _ = apache.http_get("/.well-known/acme-challenge/token", "www.example.com")
    assert status == 404  # served (not found), not redirected


def test_install_two_names_on_one_address_by_sni(
    cli: CLI, apache: ApacheServer, site_ca: SiteCA, certs: Path
) -> None:
    www = site_ca.issue(certs, ["www.example.com"])
    shop = site_ca.issue(certs, ["shop.example.com"])
    _installed(cli, apache, www)
    _installed(cli, apache, shop, name="shop.example.com")
    # the second install found the Listen the first one added and did not add another
    shop_file = (apache.root / "sites-available" / "padlock-shop.example.com.conf").read_text()
    assert "Listen" not in shop_file
    _sees(cli, apache, www, "www.example.com")
    _sees(cli, apache, shop, "shop.example.com")


def test_install_with_aliases_covers_every_name(
    cli: CLI, apache: ApacheServer, site_ca: SiteCA, certs: Path
) -> None:
    issued = site_ca.issue(certs, ["www.example.com", "example.com"])
    _installed(cli, apache, issued, "--alias", "example.com")
    _sees(cli, apache, issued, "www.example.com")
    _sees(cli, apache, issued, "example.com")


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
    shared = apache.root / "sites-available" / "shared.conf"
    original = SHARED.format(port=apache.http_port, www=apache.base / "www")
    shared.write_text(original)
    (apache.root / "sites-enabled" / "shared.conf").symlink_to("../sites-available/shared.conf")
    assert apache.run("-k", "graceful").returncode == 0
    issued = site_ca.issue(certs)
    result = _installed(cli, apache, issued)
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
    _sees(cli, apache, issued, "www.example.com")
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


def test_reinstall_ten_times_leaves_one_managed_block(
    cli: CLI, apache: ApacheServer, site_ca: SiteCA, certs: Path
) -> None:
    site = apache.root / "sites-available" / "padlock-www.example.com.conf"
    renewed = reinstall_ten_times(
        site, lambda issued: _installed(cli, apache, issued), lambda: site_ca.issue(certs)
    )
    assert apache.configtest().returncode == 0
    _sees(cli, apache, renewed, "www.example.com")


def test_install_edits_existing_ssl_vhost_in_place(
    cli: CLI, apache: ApacheServer, site_ca: SiteCA, certs: Path
) -> None:
    old = site_ca.issue(certs)
    shared = _seed_style_site(apache, old)
    before = shared.read_text()
    new = site_ca.issue(certs)
    # no --listen-address: padlock probes the address of the virtual host it edits
    args = apache_args(apache, new)
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
    _sees(cli, apache, new, "www.example.com")


def test_install_with_encrypted_key_uses_helper_and_restarts_without_prompt(
    cli: CLI, apache: ApacheServer, site_ca: SiteCA, certs: Path, tmp_path: Path
) -> None:
    issued = site_ca.issue(certs, passphrase=KEY_PASSPHRASE)
    passfile = tmp_path / "pass.txt"
    passfile.write_text(KEY_PASSPHRASE + "\n")
    result = _installed(cli, apache, issued, "--passphrase-file", str(passfile))
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
    _sees(cli, apache, issued, "www.example.com")
    # A full stop and start, with no terminal: the seed's "pass phrase at every restart".
    apache.stop()
    apache.start()
    _sees(cli, apache, issued, "www.example.com")
    # and a graceful restart too
    assert apache.run("-k", "graceful").returncode == 0
    _sees(cli, apache, issued, "www.example.com")


def test_install_decrypt_key_installs_decrypted_copy(
    cli: CLI, apache: ApacheServer, site_ca: SiteCA, certs: Path, tmp_path: Path
) -> None:
    issued = site_ca.issue(certs, passphrase=KEY_PASSPHRASE)
    passfile = tmp_path / "pass.txt"
    passfile.write_text(KEY_PASSPHRASE + "\n")
    result = _installed(cli, apache, issued, "--passphrase-file", str(passfile), "--decrypt-key")
    assert "decrypted" in result.err
    key = apache.root / STATE / "live" / f"www.example.com_{apache.https_port}" / "privkey.pem"
    assert b"ENCRYPTED" not in key.read_bytes()
    assert key.stat().st_mode & 0o777 == 0o600
    global_conf = apache.root / "conf-available" / "padlock.conf"
    assert not global_conf.exists() or "SSLPassPhraseDialog" not in global_conf.read_text()
    _sees(cli, apache, issued, "www.example.com")


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
    _installed(cli, apache, issued, flag)
    site = (apache.root / "sites-available" / "padlock-www.example.com.conf").read_text()
    wanted = flag == "--ocsp-stapling" and _ocsp_url(issued.cert) is not None
    assert ("SSLUseStapling On" in directives_text(site)) is wanted
    if wanted:
        assert "SSLStaplingReturnResponderErrors off" in site
        assert "SSLStaplingCache" in (apache.root / "conf-available" / "padlock.conf").read_text()
    _sees(cli, apache, issued, "www.example.com")


def test_reinstall_encrypted_key_with_stapling_keeps_the_cache(
    cli: CLI, apache: ApacheServer, site_ca: SiteCA, certs: Path, tmp_path: Path
) -> None:
    """A renewal: a second install with an encrypted key keeps padlock's own
    SSLStaplingCache line (dropping it made Apache fail to restart, AH01872)."""
    passfile = tmp_path / "pass.txt"
    passfile.write_text(KEY_PASSPHRASE + "\n")
    first = site_ca.issue(certs, passphrase=KEY_PASSPHRASE)
    _installed(cli, apache, first, "--passphrase-file", str(passfile), "--ocsp-stapling")
    global_conf = apache.root / "conf-available" / "padlock.conf"
    had_cache = "SSLStaplingCache" in global_conf.read_text()
    assert had_cache is (_ocsp_url(first.cert) is not None)
    second = site_ca.issue(certs, passphrase=KEY_PASSPHRASE)
    _installed(cli, apache, second, "--passphrase-file", str(passfile), "--ocsp-stapling")
    assert ("SSLStaplingCache" in global_conf.read_text()) is had_cache
    _sees(cli, apache, second, "www.example.com")


def directives_text(text: str) -> str:
    return "\n".join(line.strip() for line in text.splitlines() if not line.strip().startswith("#"))


def test_install_hsts_header_sent(
    cli: CLI, apache: ApacheServer, site_ca: SiteCA, certs: Path
) -> None:
    issued = site_ca.issue(certs)
    _installed(cli, apache, issued, "--hsts")
    assert (apache.root / "mods-enabled" / "headers.load").is_symlink()
    text = (apache.root / "sites-available" / "padlock-www.example.com.conf").read_text()
    assert 'Header always set Strict-Transport-Security "max-age=63072000"' in text
    _sees(cli, apache, issued, "www.example.com")


def test_dry_run_prints_diff_and_changes_nothing(
    cli: CLI, apache: ApacheServer, site_ca: SiteCA, certs: Path
) -> None:
    before = tree(apache.root)
    issued = site_ca.issue(certs)
    result = cli(*apache_args(apache, issued), "--dry-run")
    assert result.rc == 0, result.err
    assert "padlock-www.example.com.conf" in result.out
    assert "+    SSLEngine on" in result.out
    assert "-> ../mods-available/ssl.load" in result.out
    assert "BEGIN PRIVATE KEY" not in result.out  # keys are summarised, never shown
    assert "nothing was changed" in result.err.lower()
    assert tree(apache.root) == before


# --------------------------------------------------------------------------- refusals


def _refused(cli: CLI, server: ApacheServer, args: list[str], needle: str) -> Result:
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
    apache: ApacheServer,
    site_ca: SiteCA,
    other_ca: SiteCA,
    certs: Path,
    breakage: str,
) -> None:
    issued = site_ca.issue(certs)
    args = apache_args(apache, issued)
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
    _refused(cli, apache, args, needle)
    assert not port_open(apache.https_port)


def test_key_readable_by_others_refused(
    cli: CLI, apache_root: ApacheServer, site_ca: SiteCA, certs: Path
) -> None:
    issued = site_ca.issue(certs)
    os.chmod(issued.key, 0o644)
    _refused(cli, apache_root, apache_args(apache_root, issued), "mode 0644")


def test_key_of_another_certificate_refused(
    cli: CLI, apache_root: ApacheServer, site_ca: SiteCA, certs: Path
) -> None:
    one, two = site_ca.issue(certs), site_ca.issue(certs)
    args = apache_args(apache_root, one)
    args[args.index("--key") + 1] = str(two.key)
    _refused(cli, apache_root, args, "does not belong to the certificate")


def test_alias_not_in_certificate_refused(
    cli: CLI, apache_root: ApacheServer, site_ca: SiteCA, certs: Path
) -> None:
    issued = site_ca.issue(certs, ["www.example.com"])
    args = [*apache_args(apache_root, issued), "--alias", "shop.example.com"]
    _refused(cli, apache_root, args, "does not cover shop.example.com")


def test_expired_certificate_refused(
    cli: CLI, apache_root: ApacheServer, site_ca: SiteCA, past_issuer: object, certs: Path
) -> None:
    issued = site_ca.issue(certs, issuer=past_issuer)  # type: ignore[arg-type]
    _refused(cli, apache_root, apache_args(apache_root, issued), "expired")


def test_expiring_soon_is_a_warning_not_a_refusal(
    cli: CLI, apache: ApacheServer, site_ca: SiteCA, certs: Path
) -> None:
    issued = site_ca.issue(certs, days=5)
    result = _installed(cli, apache, issued)
    assert "expires in 4 days" in result.err or "expires in 5 days" in result.err
    _sees(cli, apache, issued, "www.example.com", rc=1)  # padlock check: exit 1, a warning


def test_encrypted_key_without_pass_phrase_refused(
    cli: CLI, apache_root: ApacheServer, site_ca: SiteCA, certs: Path
) -> None:
    issued = site_ca.issue(certs, passphrase=KEY_PASSPHRASE)
    _refused(cli, apache_root, apache_args(apache_root, issued), "encrypted")


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
    result = cli(*apache_args(apache, new))
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


def test_probe_failure_restores_and_reloads(
    cli: CLI, apache: ApacheServer, site_ca: SiteCA, certs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the live server does not show the new certificate, nothing stays changed."""
    old = site_ca.issue(certs)
    _installed(cli, apache, old)
    before = tree(apache.root, skip=[STATE])
    from padlock.errors import InstallFailed
    from padlock.site import probe

    def never(*_a: object, **_k: object) -> object:
        raise InstallFailed("The live server shows something else (simulated).")

    monkeypatch.setattr(webserver, "wait_for_serial", never)
    new = site_ca.issue(certs)
    result = cli(*apache_args(apache, new))
    assert result.rc == 1
    assert "probe step failed" in result.err and "Apache was reloaded" in result.err
    assert tree(apache.root, skip=[STATE]) == before
    eventually_serial(apache.https_port, "www.example.com", old.root_pem, old.serial)
    assert probe.PROBE_DEADLINE > 0


def test_rollback_restores_previous_certificate_then_none(
    cli: CLI, apache: ApacheServer, site_ca: SiteCA, certs: Path
) -> None:
    pristine = tree(apache.root)
    old, new = site_ca.issue(certs), site_ca.issue(certs)
    _installed(cli, apache, old)
    after_old = tree(apache.root, skip=[STATE])
    _installed(cli, apache, new)
    _sees(cli, apache, new, "www.example.com")
    result = cli("apache", "rollback", "--config-root", str(apache.root))
    assert result.rc == 0, result.err
    assert "Restored the files" in result.err
    assert tree(apache.root, skip=[STATE]) == after_old
    _sees(cli, apache, old, "www.example.com")
    result = cli("apache", "rollback", "--config-root", str(apache.root))
    assert result.rc == 0, result.err
    assert tree(apache.root, skip=[STATE]) == {k: v for k, v in pristine.items() if k != STATE}
    assert apache.configtest().returncode == 0
    result = cli("apache", "rollback", "--config-root", str(apache.root))
    assert result.rc == 1 and "nothing to roll back" in result.err


def test_rollback_refuses_over_later_hand_edits_unless_forced(
    cli: CLI, apache: ApacheServer, site_ca: SiteCA, certs: Path
) -> None:
    _installed(cli, apache, site_ca.issue(certs))
    site = apache.root / "sites-available" / "padlock-www.example.com.conf"
    site.write_text(site.read_text() + "# edited by hand\n")
    result = cli("apache", "rollback", "--config-root", str(apache.root))
    assert result.rc == 1 and "changed after padlock's install" in result.err
    assert site.exists()
    result = cli("apache", "rollback", "--config-root", str(apache.root), "--force")
    assert result.rc == 0, result.err
    assert not site.exists()


# --------------------------------------------------------------------------- SIGKILL


def _killed_at(server: ApacheServer, issued: Issued, step: str, tmp_path: Path) -> None:
    """Run the real padlock process, let it pause at ``step``, and SIGKILL it there."""
    env = {k: v for k, v in os.environ.items() if k != "PADLOCK_PASSPHRASE"}
    env["PADLOCK_TEST_PAUSE_AT"] = step
    env["PADLOCK_TEST_PAUSE_SECONDS"] = "120"
    with (tmp_path / f"killed-{step}.out").open("wb") as out:
        proc = subprocess.Popen(
            [str(PADLOCK_BIN), *apache_args(server, issued)],
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
    cli: CLI, apache: ApacheServer, site_ca: SiteCA, certs: Path, tmp_path: Path, step: str
) -> None:
    old = site_ca.issue(certs)
    _installed(cli, apache, old)
    before = tree(apache.root, skip=[STATE])
    new = site_ca.issue(certs)
    site = apache.root / "sites-available" / "padlock-www.example.com.conf"
    _killed_at(apache, new, step, tmp_path)
    # the journal says what was in progress
    states = [tx.status for tx in StateDir.under(apache.root).transactions()]
    assert states == ["committed", "in-progress"]
    # Apache kept serving throughout (the old certificate, or the new one once reloaded)
    assert apache.running()
    expected_now = new.serial if step == "after-reload" else old.serial
    eventually_serial(apache.https_port, "www.example.com", old.root_pem, expected_now)
    result = cli("apache", "rollback", "--config-root", str(apache.root))
    assert result.rc == 0, result.err
    assert "interrupted" in result.err
    assert tree(apache.root, skip=[STATE]) == before
    assert site.exists()
    assert apache.configtest().returncode == 0
    eventually_serial(apache.https_port, "www.example.com", old.root_pem, old.serial)
    states = [tx.status for tx in StateDir.under(apache.root).transactions()]
    assert states == ["committed", "recovered"]


def test_sigkill_mid_install_then_next_install_recovers_and_completes(
    cli: CLI, apache: ApacheServer, site_ca: SiteCA, certs: Path, tmp_path: Path
) -> None:
    old, new = site_ca.issue(certs), site_ca.issue(certs)
    _installed(cli, apache, old)
    _killed_at(apache, new, "after-write", tmp_path)
    result = _installed(cli, apache, new)
    assert "interrupted transaction" in result.err
    _sees(cli, apache, new, "www.example.com")
    states = [tx.status for tx in StateDir.under(apache.root).transactions()]
    assert states == ["committed", "recovered", "committed"]


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
