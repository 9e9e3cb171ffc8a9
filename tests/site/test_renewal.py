"""``padlock renew`` end to end against a real ``padlock serve``: due by the CA's word (revoked,
RFC 9773's renewal window, alreadyReplaced), by --renew-before, --dry-run and --reuse-key,
and a failure as a row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.site.site_ca import (
    CA,
    CLI,
    cert_of,
    key_fingerprint,
    lineage,
    mode,
    obtain,
    obtained,
    openssl_verify,
    start_ca,
)
from tests.support.dnsserver import TestDNS
from tests.support.ports import free_port

from padlock.pki import keys, serials

# --------------------------------------------------------------------------- (6) renew


def _rest_test_cert(cli: CLI, ca: CA, state: Path, out: Path, name: str) -> dict[str, object]:
    result = obtain(
        cli, name, "--ca", ca.url, "--test", "--out", out, "--no-encrypt",
        "--ca-root", ca.test_root, "--json", state=state,
    )  # fmt: skip
    return obtained(result)


def _renew(cli: CLI, state: Path, *args: str) -> tuple[int, dict[str, dict[str, object]]]:
    result = cli("renew", "--state-dir", state, "--json", *args)
    assert "Traceback" not in result.err
    doc = json.loads(result.out)
    return result.rc, {r["name"]: r for r in doc["renewals"]}


def test_renew_when_the_ca_revoked_it(
    cli: CLI, webroot_ca: CA, state: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = _rest_test_cert(cli, webroot_ca, state, out, "www.example.net")
    files = first["files"]
    assert isinstance(files, dict)
    old_key = key_fingerprint(files["key"])

    rc, rows = _renew(cli, state)
    assert rc == 0
    assert rows["www.example.net"]["action"] == "not due"
    assert "a third of its lifetime" in str(rows["www.example.net"]["reason"])

    with webroot_ca.api() as api:
        revoked = api.post(
            f"/api/v1/requests/{first['request_id']}/revoke", json={"reason": "superseded"}
        )
    assert revoked.status_code == 200, revoked.text

    rc, rows = _renew(cli, state)
    row = rows["www.example.net"]
    assert rc == 0, row
    assert row["action"] == "renewed" and row["reason"] == "the CA reports it revoked"
    assert row["old_serial"] == first["serial"] and row["new_serial"] != first["serial"]
    # Same files, new contents: a new key (the default) and a certificate that verifies.
    assert serials.display(cert_of(files).serial_number) == row["new_serial"]
    assert key_fingerprint(files["key"]) != old_key
    assert key_fingerprint(files["key"]) == keys.fingerprint(cert_of(files).public_key())
    assert mode(files["key"]) == 0o600
    openssl_verify(webroot_ca.test_root, files)
    assert lineage(state, "www.example.net")["current"]["serial"] == row["new_serial"]  # type: ignore[index]


def _acme_standalone(standalone_ca: CA, tmp_path: Path) -> list[str | Path]:
    """obtain's arguments for the test directory of ``standalone_ca`` with --standalone."""
    return [
        "--acme", standalone_ca.url + "/acme/test/directory", "--agree-tos",
        "--out", tmp_path / "out", "--no-encrypt",
        "--standalone-port", str(standalone_ca.va_port), "--standalone-address", "127.0.0.1",
        "--ca-root", standalone_ca.test_root, "--json",
    ]  # fmt: skip


def test_renew_in_the_acme_renewal_window(
    cli: CLI, padlock_proc: CLI, standalone_ca: CA, state: Path, tmp_path: Path
) -> None:
    """RFC 9773: a fresh certificate's window is weeks away; once the CA revokes it the window
    is now, and renew (with the saved settings: ACME, standalone port) renews it."""
    common = _acme_standalone(standalone_ca, tmp_path)
    first = obtained(obtain(cli, "ari.example.com", *common, state=state))
    rc, rows = _renew(cli, state)
    assert rc == 0
    assert rows["ari.example.com"]["action"] == "not due"
    assert "renewal window opens" in str(rows["ari.example.com"]["reason"])

    data = standalone_ca.server.data_dir
    revoked = padlock_proc(
        "revoke", str(first["serial"]), "--reason", "superseded", "--data-dir", data,
        "--passphrase-file", data / "ca" / "passphrase", env=standalone_ca.server.env,
    )  # fmt: skip
    assert revoked.rc == 0, revoked.err

    rc, rows = _renew(cli, state)
    row = rows["ari.example.com"]
    assert rc == 0, row
    assert row["action"] == "renewed", row
    assert "renewal window" in str(row["reason"])
    assert row["new_serial"] != first["serial"]
    files = first["files"]
    assert isinstance(files, dict)
    openssl_verify(standalone_ca.test_root, files)


def test_renew_when_the_certificate_was_already_replaced(
    cli: CLI, standalone_ca: CA, state: Path, tmp_path: Path
) -> None:
    """RFC 9773 7.4: the CA answers alreadyReplaced (another order replaced the certificate);
    renew orders again without 'replaces', as clients are meant to."""
    import sqlite3

    from padlock.site.backend_acme import cert_id

    common = _acme_standalone(standalone_ca, tmp_path)
    first = obtained(obtain(cli, "replaced.example.com", *common, state=state))
    files = first["files"]
    assert isinstance(files, dict)
    cert = cert_of(files)
    db = sqlite3.connect(standalone_ca.server.data_dir / "padlock.db")
    with db:  # the order that issued it now "replaces" it: another order took the certificate
        db.execute(
            "UPDATE acme_orders SET replaces = ? WHERE cert_serial = ?",
            (cert_id(cert), format(cert.serial_number, "x")),
        )
    db.close()
    rc, rows = _renew(cli, state, "--renew-before", "30")
    row = rows["replaced.example.com"]
    assert rc == 0, row
    assert row["action"] == "renewed", row
    assert cert_of(files).serial_number != cert.serial_number


def test_renew_before_dry_run_and_reuse_key(
    cli: CLI, webroot_ca: CA, state: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = _rest_test_cert(cli, webroot_ca, state, out, "keep.example.com")
    files = first["files"]
    assert isinstance(files, dict)
    before = {k: Path(v).read_bytes() for k, v in files.items()}

    rc, rows = _renew(cli, state, "--renew-before", "30", "--dry-run")
    assert rc == 0
    assert rows["keep.example.com"]["action"] == "would renew"
    assert "under --renew-before" in str(rows["keep.example.com"]["reason"])
    assert {k: Path(v).read_bytes() for k, v in files.items()} == before  # nothing changed

    rc, rows = _renew(cli, state, "--renew-before", "30", "--reuse-key")
    assert rc == 0
    assert rows["keep.example.com"]["action"] == "renewed"
    assert Path(files["key"]).read_bytes() == before["key"]  # the same key
    assert Path(files["cert"]).read_bytes() != before["cert"]
    assert keys.fingerprint(cert_of(files).public_key()) == key_fingerprint(files["key"])

    table = cli("renew", "--state-dir", state)
    assert table.rc == 0
    assert "keep.example.com" in table.out and "not due" in table.out


def test_renew_failure_is_a_row_and_exit_1(
    cli: CLI,
    webroot_ca: CA,
    dns: TestDNS,
    tmp_path_factory: pytest.TempPathFactory,
    state: Path,
    tmp_path: Path,
) -> None:
    """One CA is gone: its certificate fails, the other is still renewed; exit status 1."""
    gone = start_ca(tmp_path_factory.mktemp("obtain-gone-ca"), dns, va_port=free_port())
    try:
        _rest_test_cert(cli, gone, state, tmp_path / "a", "gone.example.com")
    finally:
        gone.server.stop()
    _rest_test_cert(cli, webroot_ca, state, tmp_path / "b", "alive.example.com")
    rc, rows = _renew(cli, state, "--renew-before", "30")
    assert rc == 1
    assert rows["gone.example.com"]["action"] == "failed"
    assert "Cannot reach the CA" in str(rows["gone.example.com"]["reason"])
    assert rows["alive.example.com"]["action"] == "renewed"
    record = lineage(state, "gone.example.com")
    assert record["pending"] is None and record["current"] is not None
