"""dehydrated (Debian's package), unmodified, with a hook script, against padlock over HTTPS:
dns-01 records written by the hook into the tests' DNS server, and http-01 files written to
a webroot the tests' HTTP server serves on the validation port."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from tests.interop.conftest import Padlock, check_certificate, program, run
from tests.support.httpfiles import FileServer

HOOK = """#!/usr/bin/env bash
# dehydrated hook: deploy_challenge DOMAIN TOKEN_FILENAME TOKEN_VALUE (and others, ignored)
case "$1" in
  deploy_challenge)
    echo "$2 $3" >> "{log}"
    [ "{kind}" = dns-01 ] && echo "$4" >> "{txt_dir}/_acme-challenge.$2" ;;
  clean_challenge)
    [ "{kind}" = dns-01 ] && rm -f "{txt_dir}/_acme-challenge.$2" ;;
esac
exit 0
"""

CONFIG = """CA="{directory}"
BASEDIR="{base}"
CHALLENGETYPE="{kind}"
WELLKNOWN="{webroot}/.well-known/acme-challenge"
HOOK="{hook}"
CONTACT_EMAIL="webmaster@example.com"
KEY_ALGO="prime256v1"
KEYSIZE="2048"
CURL_OPTS="--cacert {root}"
"""


@pytest.mark.parametrize("kind", ["dns-01", "http-01"])
def test_dehydrated_with_hook(padlock: Padlock, tmp_path: Path, kind: str) -> None:
    name = f"dehydrated-{secrets.token_hex(4)}.example.com"
    webroot = tmp_path / "www"
    (webroot / ".well-known" / "acme-challenge").mkdir(parents=True)
    (tmp_path / "dehydrated").mkdir()
    hook, log = tmp_path / "hook.sh", tmp_path / "hook.log"
    hook.write_text(
        HOOK.replace("{log}", str(log))
        .replace("{kind}", kind)
        .replace("{txt_dir}", str(padlock.txt_dir))
    )
    hook.chmod(0o755)
    config = tmp_path / "config"
    config.write_text(
        CONFIG.format(
            directory=padlock.directory,
            base=tmp_path / "dehydrated",
            kind=kind,
            webroot=webroot,
            hook=hook,
            root=padlock.test_root,
        )
    )
    dehydrated = program("dehydrated")
    run([dehydrated, "--config", str(config), "--register", "--accept-terms"])
    site = FileServer(port=padlock.http_port, root=webroot).start() if kind == "http-01" else None
    try:
        run([dehydrated, "--config", str(config), "--cron", "--domain", name])
    finally:
        if site is not None:
            site.stop()
    live = tmp_path / "dehydrated" / "certs" / name
    check_certificate(padlock, live / "cert.pem", live / "chain.pem", [name])
    assert name in log.read_text(), "the hook deployed the challenge"
