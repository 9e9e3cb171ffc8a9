"""lego (Debian's package), unmodified, against padlock's ACME server over HTTPS:
http-01 and tls-alpn-01 with lego's own servers, dns-01 through ``--dns exec`` writing TXT
records into the tests' DNS server (a wildcard included), renew and revoke."""

from __future__ import annotations

import secrets
from pathlib import Path

from padlock.conformance.drivers.base import DNS_HOOK
from tests.interop.conftest import (
    Padlock,
    check_certificate,
    ocsp_expected,
    program,
    revocation_seen,
    run,
)

HOOK = DNS_HOOK  # present NAME VALUE | cleanup NAME, as lego --dns exec calls it


def _lego(padlock: Padlock, work: Path, *args: str, env: dict[str, str] | None = None) -> str:
    proc = run(
        [
            program("lego"),
            "--server",
            padlock.directory,
            "--accept-tos",
            "--email",
            "webmaster@example.com",
            "--path",
            str(work / "lego"),
            *args,
        ],
        env={"LEGO_CA_CERTIFICATES": str(padlock.test_root), **(env or {})},
    )
    return proc.stdout + proc.stderr


def _files(work: Path, name: str) -> tuple[Path, Path]:
    directory, stem = work / "lego" / "certificates", name.replace("*", "_")
    return directory / f"{stem}.crt", directory / f"{stem}.issuer.crt"


def test_lego_http01_renew_revoke(padlock: Padlock, tmp_path: Path) -> None:
    name = f"lego-{secrets.token_hex(4)}.example.com"
    http = ("--domains", name, "--http", "--http.port", f":{padlock.http_port}")
    _lego(padlock, tmp_path, *http, "run")
    cert, chain = _files(tmp_path, name)
    first = check_certificate(padlock, cert, chain, [name])

    _lego(padlock, tmp_path, *http, "renew", "--days", "365", "--no-random-sleep")
    renewed = check_certificate(padlock, cert, chain, [name])
    assert renewed.serial_number != first.serial_number

    kept_cert, kept_chain = tmp_path / "revoked.crt", tmp_path / "revoked.issuer.crt"
    kept_cert.write_bytes(cert.read_bytes())  # lego moves its files away when it revokes
    kept_chain.write_bytes(chain.read_bytes())
    _lego(padlock, tmp_path, "--domains", name, "revoke")
    assert padlock.certificate_state(renewed.serial_number) == "revoked"
    # issue 7: a lego revocation shows in the CRL and in the OCSP answer at once (where the
    # CA runs OCSP: a new trusted CA does not by default)
    assert revocation_seen(padlock, kept_cert, kept_chain) == (True, ocsp_expected(kept_cert))


def test_lego_tls_alpn01(padlock: Padlock, tmp_path: Path) -> None:
    name = f"alpn-{secrets.token_hex(4)}.example.com"
    _lego(
        padlock, tmp_path, "--domains", name, "--tls", "--tls.port", f":{padlock.tls_port}", "run"
    )
    cert, chain = _files(tmp_path, name)
    check_certificate(padlock, cert, chain, [name])


def test_lego_dns01_exec_wildcard(padlock: Padlock, tmp_path: Path) -> None:
    base = f"wild-{secrets.token_hex(4)}.example.net"
    hook = tmp_path / "hook.sh"
    hook.write_text(HOOK.replace("{txt_dir}", str(padlock.txt_dir)))
    hook.chmod(0o755)
    env = {
        "EXEC_PATH": str(hook),
        "EXEC_POLLING_INTERVAL": "1",
        "EXEC_PROPAGATION_TIMEOUT": "30",
        "EXEC_SEQUENCE_INTERVAL": "1",
    }
    _lego(
        padlock,
        tmp_path,
        "--domains",
        f"*.{base}",
        "--domains",
        base,
        "--dns",
        "exec",
        "--dns.resolvers",
        padlock.dns.spec,
        "--dns.disable-cp",
        "run",
        env=env,
    )
    cert, chain = _files(tmp_path, f"*.{base}")
    check_certificate(padlock, cert, chain, [f"*.{base}", base])
    assert not list(padlock.txt_dir.glob(f"_acme-challenge.{base}")), "cleanup ran"
