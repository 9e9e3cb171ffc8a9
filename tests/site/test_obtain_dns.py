"""``padlock obtain --challenge`` in DNS, end to end against a real ``padlock serve``: its VA
asks a loopback DNS server whose TXT records a hook script (another process) writes, as a
site owner's hook would write them into their zone.

- dns-account-01 (draft-ietf-acme-dns-account-label-02) and dns-01: the hook adds the
  record at the account's own label (or ``_acme-challenge``) and removes it afterwards.
- dns-persist-01 (draft-ietf-acme-dns-persist-02): ``padlock dns-persist-record`` prints
  the record once; it is published once, and every later obtain uses it unchanged.
"""

from __future__ import annotations

import json
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.site.site_ca import CA, CLI, obtain, obtained, openssl_verify, start_ca
from tests.support.dnsserver import TestDNS, Zone, txt_file
from tests.support.httpfiles import FileServer
from tests.web.conftest import CAA_IDENTITY

from padlock.acme import challenges as ch
from padlock.acme.messages import Identifier

HOOK = """#!/bin/sh
# padlock obtain --dns-hook: add|remove NAME VALUE, into the test DNS server's TXT files
set -eu
file="{txt_dir}/$(printf %s "$2" | tr A-Z a-z)"
echo "$1 $2" >> "{txt_dir}/hook.log"
case "$1" in
  add) printf '%s\\n' "$3" >> "$file" ;;
  remove) grep -vxF -- "$3" "$file" > "$file.new" || true; mv "$file.new" "$file" ;;
  *) exit 2 ;;
esac
"""


@pytest.fixture(scope="module")
def txt_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("txt")


@pytest.fixture(scope="module")
def dns_ca(tmp_path_factory: pytest.TempPathFactory, txt_dir: Path) -> Iterator[CA]:
    """padlock serve whose VA reads TXT records the hook writes (no HTTP check answers)."""
    dns = TestDNS(Zone(txt_dir=txt_dir)).start()
    web = FileServer(root=tmp_path_factory.mktemp("empty-www")).start()
    ca = start_ca(tmp_path_factory.mktemp("dns-ca"), dns, web=web)
    try:
        yield ca
    finally:
        ca.server.stop()
        web.stop()
        dns.stop()


@pytest.fixture(scope="module")
def hook(txt_dir: Path) -> Path:
    path = txt_dir.parent / "dns-hook.sh"
    path.write_text(HOOK.format(txt_dir=txt_dir))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}.example.org"


def _common(ca: CA, out: Path) -> list[str | Path]:
    return [
        "--acme",
        ca.url + "/acme/test/directory",
        "--agree-tos",
        "--out",
        out,
        "--no-encrypt",
        "--ca-root",
        ca.test_root,
        "--json",
    ]


@pytest.mark.parametrize("kind", ["dns-account-01", "dns-01"])
def test_obtain_dns_hook_adds_and_removes_record(
    cli: CLI, dns_ca: CA, hook: Path, txt_dir: Path, state: Path, tmp_path: Path, kind: str
) -> None:
    name = _name(kind.split("-")[1])
    args = [*_common(dns_ca, tmp_path / "out"), "--challenge", kind, "--dns-hook", hook]
    doc = obtained(obtain(cli, name, *args, state=state))
    files = doc["files"]
    assert isinstance(files, dict)
    openssl_verify(dns_ca.test_root, files)
    account = json.loads(next((state / "accounts").iterdir()).joinpath("account.json").read_text())
    ident = Identifier("dns", name)
    record = ch.dns01_name(ident)
    if kind == "dns-account-01":
        record = ch.dns_account_name(ident, account["uri"])
    log = (txt_dir / "hook.log").read_text().splitlines()
    assert f"add {record}" in log and f"remove {record}" in log
    assert txt_file(txt_dir, record).read_text() == ""  # taken out again


def test_obtain_dns_account_without_hook_refused(
    cli: CLI, dns_ca: CA, state: Path, tmp_path: Path
) -> None:
    args = [*_common(dns_ca, tmp_path / "out"), "--challenge", "dns-account-01"]
    result = obtain(cli, _name("nohook"), *args, state=state)
    assert result.rc != 0 and "--dns-hook" in result.err and "Traceback" not in result.err


def test_obtain_dns_persist_record_printed_once_then_reused(
    cli: CLI, dns_ca: CA, txt_dir: Path, state: Path, tmp_path: Path
) -> None:
    name = _name("persist")
    directory = dns_ca.url + "/acme/test/directory"
    printed = cli(
        "dns-persist-record", name, "--acme", directory, "--agree-tos",
        "--ca-root", dns_ca.test_root, "--state-dir", state, "--json",
    )  # fmt: skip
    assert printed.rc == 0, printed.err
    record = json.loads(printed.out)
    assert record["name"] == f"_validation-persist.{name}" and record["type"] == "TXT"
    assert record["value"].startswith(f"{CAA_IDENTITY}; accounturi=")
    txt_file(txt_dir, record["name"]).write_text(record["value"] + "\n")  # published once
    serials = []
    for _ in range(2):  # the same record proves the name again: no DNS change
        args = [*_common(dns_ca, tmp_path / "out"), "--challenge", "dns-persist-01", "--force"]
        doc = obtained(obtain(cli, name, *args, state=state))
        serials.append(doc["serial"])
    assert serials[0] != serials[1]
    text = cli("dns-persist-record", name, "--acme", directory, "--ca-root", dns_ca.test_root,
               "--state-dir", state, "--wildcard")  # fmt: skip
    assert text.rc == 0 and text.out.startswith(f"_validation-persist.{name}. IN TXT ")
    assert "policy=wildcard" in text.out


def test_obtain_dns_persist_without_record_refused(
    cli: CLI, dns_ca: CA, state: Path, tmp_path: Path
) -> None:
    args = [*_common(dns_ca, tmp_path / "out"), "--challenge", "dns-persist-01"]
    result = obtain(cli, _name("missing"), *args, state=state)
    assert result.rc != 0 and "Traceback" not in result.err
    assert "could not confirm that you control" in result.err
    assert "_validation-persist" in result.err
