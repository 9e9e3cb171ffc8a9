"""``padlock revoke`` (the operator's and the site owner's), ``padlock ca sign-root-crl``,
``padlock ca crl``."""

from __future__ import annotations

from pathlib import Path

import typer

from padlock.cli import ca_cmds, console
from padlock.pki import serials

REASON_HELP = (
    "unspecified | keyCompromise | superseded | cessationOfOperation | affiliationChanged"
    " | privilegeWithdrawn (operator only); or the RFC 5280 code."
)


def revoke(
    target: str | None = typer.Argument(
        None, help="Operator: the serial (hex) or the certificate file to revoke."
    ),
    reason: str = typer.Option("unspecified", "--reason", help=REASON_HELP),
    key: Path | None = typer.Option(
        None, "--key", help="Site owner: the certificate's private key (proves possession)."
    ),
    cert: Path | None = typer.Option(None, "--cert", help="Site owner: the certificate."),
    ca: str | None = typer.Option(None, "--ca", help="Site owner: the CA's URL."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=ca_cmds.DATA_DIR_HELP),
    passphrase_file: Path | None = typer.Option(
        None,
        "--passphrase-file",
        help="Operator: the CA keys' pass phrase. Site owner: the key's pass phrase.",
    ),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Revoke a certificate: as the CA operator (SERIAL|CERTFILE), or as the site owner
    (--key KEY --cert CERT --ca URL), proving possession of the key."""
    from padlock.errors import PolicyError

    if ca is not None or key is not None:
        if target is not None or ca is None or key is None or cert is None:
            raise PolicyError(
                "The site owner's form is: padlock revoke --key KEY --cert CERT --ca URL.",
                hint="The operator's form is: padlock revoke SERIAL|CERTFILE --reason R.",
            )
        _revoke_remote(key, cert, ca, reason, passphrase_file, json_out)
        return
    if target is None:
        raise PolicyError(
            "Say which certificate to revoke: a serial number (hex) or a certificate file.",
            hint="Or, as the site owner: padlock revoke --key KEY --cert CERT --ca URL.",
        )
    _revoke_local(target, reason, data_dir, passphrase_file, json_out)


def _revoke_local(
    target: str, reason: str, data_dir: Path | None, passphrase_file: Path | None, json_out: bool
) -> None:
    from padlock import wiring
    from padlock.ca.revocation import Revoker
    from padlock.ca.signer import read_meta
    from padlock.errors import Malformed, PolicyError
    from padlock.fileio import read_bytes

    settings = ca_cmds.settings_for(data_dir)
    read_meta(settings.ca_dir)
    Revoker.check_reason(reason)  # a bad reason is refused before anything is opened
    path = Path(target)
    cert_bytes = read_bytes(path, "certificate") if path.is_file() else None
    serial = None
    if cert_bytes is None:
        try:
            serial = serials.parse(target)
        except Malformed:
            raise PolicyError(
                f"{target!r} is neither a certificate file nor a hexadecimal serial number.",
                hint="Give the file, or the serial as openssl x509 -serial prints it.",
            ) from None
    passphrase = wiring.ca_passphrase(settings, passphrase_file)
    published = passphrase is not None
    if passphrase is not None:
        authority = wiring.open_authority(settings, passphrase)
        revoker = wiring.open_revocation(authority, passphrase).revoker
        close = authority.close
    else:  # no keys: revoke in the database; a running server signs the CRL and OCSP
        store = wiring.open_store(settings)
        revoker = Revoker(wiring.revocation_store(store))
        close = store.close
    try:
        if cert_bytes is not None:
            record = revoker.revoke_certificate(cert_bytes, reason, "cli")
        else:
            assert serial is not None
            record = revoker.revoke(serial, reason, "cli")
    finally:
        close()
    row = {
        "serial": serials.display(record.serial),
        "state": record.state.value,
        "reason": record.revocation_reason,
        "revoked_at": record.revoked_at.isoformat() if record.revoked_at else None,
        "names": list(record.names),
        "crl_and_ocsp_updated": published,
    }
    if json_out:
        console.print_json(row)
        return
    print(
        f"Revoked {serials.display(record.serial)} ({', '.join(record.names)})"
        f" for {record.revocation_reason}."
    )
    if record.revocation_reason == "keyCompromise":
        console.say("Its key is blocked: this CA will never certify that key again.")
    if not published:
        console.say(
            "No CA pass phrase here: the running server signs the new CRL and OCSP answer"
            " within its next upkeep round."
        )


def _revoke_remote(
    key_path: Path,
    cert_path: Path,
    ca_url: str,
    reason: str,
    passphrase_file: Path | None,
    json_out: bool,
) -> None:
    from padlock.fileio import read_bytes
    from padlock.pki import keys
    from padlock.pki.crl_ocsp import parse_reason
    from padlock.site.revocation_status import load_certificate, request_revocation

    parse_reason(reason)
    data = read_bytes(key_path, "key")
    encrypted = keys.is_encrypted(data)
    passphrase = console.existing_passphrase(passphrase_file, encrypted, f"the key {key_path}")
    private_key = keys.load_private_key(data, passphrase, f"The key file {key_path}")
    certificate = load_certificate(read_bytes(cert_path, "certificate"))
    result = request_revocation(private_key, certificate, ca_url, reason)
    if json_out:
        console.print_json(result)
        return
    print(f"The CA revoked {result.get('serial')} for {result.get('reason')}.")


def sign_root_crl(
    root_key: Path | None = typer.Option(
        None,
        "--root-key",
        help="The root's private key, brought from offline storage (not for a CA in a token).",
    ),
    hierarchy: str = typer.Option("trusted", "--hierarchy", help="trusted | test"),
    days: int = typer.Option(365, "--days", help="Validity (BR 7.2: at most 12 months)."),
    out: Path | None = typer.Option(None, "-o", "--out", help="Also write the CRL (DER) here."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=ca_cmds.DATA_DIR_HELP),
    passphrase_file: Path | None = typer.Option(None, "--passphrase-file"),
) -> None:
    """Sign a root's CRL (ARL) with its key; the server then serves it at /crl/<root>.crl."""
    import datetime as dt

    from padlock import hosts, wiring
    from padlock.ca.revocation import CrlService
    from padlock.ca.signer import load_root_signer, token_config
    from padlock.errors import PolicyError
    from padlock.fileio import write_atomic
    from padlock.pki.profiles import Hierarchy

    if not 1 <= days <= 365:
        raise PolicyError("A root's CRL may be valid 1 to 365 days (BR 7.2: at most 12 months).")
    try:
        which = Hierarchy(hierarchy)
    except ValueError:
        raise PolicyError(f"There is no hierarchy {hierarchy!r}; use test or trusted.") from None
    settings = ca_cmds.settings_for(data_dir)
    if root_key is None and token_config(settings.ca_dir) is None:
        raise typer.BadParameter("--root-key FILE is needed: the root's key is not online.")
    passphrase = wiring.required_passphrase(settings, passphrase_file, "The root key is")
    signer = load_root_signer(settings.ca_dir, which, passphrase, root_key)
    store = wiring.open_store(settings)
    try:
        hosts.check_ca(settings, store, "cli")  # only this database's CA signs its CRLs
        crl = CrlService(wiring.revocation_store(store), []).regenerate(
            signer.issuer, dt.datetime.now(dt.UTC), signer=signer, days=days
        )
    finally:
        store.close()
    if out is not None:
        write_atomic(out, crl.der, overwrite=True)
    print(
        f"Signed CRL number {crl.number} of {crl.issuer} ({crl.entries} entries),"
        f" next update {crl.next_update:%Y-%m-%d %H:%M} UTC."
    )
    console.say("Take the root key offline again.")


def show_crl(
    issuer: str = typer.Argument(..., help="test-issuing | trusted-issuing | test-root | ..."),
    out: Path | None = typer.Option(None, "-o", "--out", help="Write it here."),
    pem: bool = typer.Option(False, "--pem", help="PEM instead of DER."),
    shard: int | None = typer.Option(
        None, "--shard", help="One shard of the CA's partitioned CRL, not its full CRL."
    ),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=ca_cmds.DATA_DIR_HELP),
) -> None:
    """The stored CRL of a CA, or of one of its shards (as the server serves it)."""
    import base64
    import sys

    from padlock import wiring
    from padlock.errors import NotFound
    from padlock.fileio import write_atomic

    settings = ca_cmds.settings_for(data_dir)
    store = wiring.open_store(settings)
    try:
        if shard is None:
            crl = wiring.revocation_store(store).get_crl(issuer)
            der = None if crl is None else crl.der
        else:
            part = wiring.crl_shard_store(store).get(issuer, shard)
            der = None if part is None else part.der
    finally:
        store.close()
    if der is None:
        which = "" if shard is None else f" shard {shard}"
        raise NotFound(f"There is no CRL{which} for {issuer!r} yet.")
    data = der
    if pem:
        body = base64.encodebytes(der).replace(b"\n", b"")
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        data = b"-----BEGIN X509 CRL-----\n" + b"\n".join(lines) + b"\n-----END X509 CRL-----\n"
    if out is not None:
        write_atomic(out, data, overwrite=True)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


def ocsp_responder(
    host: str | None = typer.Option(None, "--host", help="Default $PADLOCK_HOST or 127.0.0.1."),
    port: int = typer.Option(8081, "--port", help="0 takes any free port (and says which)."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=ca_cmds.DATA_DIR_HELP),
    workers: int = typer.Option(1, "--workers", help="Worker processes."),
    log_level: str = typer.Option("warning", "--log-level"),
) -> None:
    """Serve only OCSP and CRLs (a lean responder beside `padlock serve`, same database)."""
    import os

    from padlock import hosts, wiring
    from padlock.ca.signer import read_meta
    from padlock.errors import BadPassphrase
    from padlock.web import serving

    settings = ca_cmds.settings_for(data_dir).with_overrides(host=host)
    read_meta(settings.ca_dir)
    passphrase = wiring.ca_passphrase(settings)
    if passphrase is None:
        raise BadPassphrase(
            "The CA keys' pass phrase is needed to sign OCSP responses.",
            hint=f"Set {wiring.CA_PASSPHRASE_ENV}.",
        )
    hosts.record_ca(settings, "ocsp-responder")  # refuses another CA than the database's
    os.environ["PADLOCK_DATA_DIR"] = str(settings.data_dir.resolve())
    os.environ.setdefault(wiring.CA_PASSPHRASE_ENV, passphrase.decode())
    # Bound here, as serve does: --port 0 takes any free port, and the line below names it.
    sock = serving.bind_tcp(settings.host, port, "The OCSP responder")
    port = sock.getsockname()[1]
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    console.say(f"padlock OCSP responder on http://{host}:{port}/ocsp/<issuer>")
    serving.run(
        sock,
        app="padlock.web.revocation_api:responder_from_env",
        factory=True,
        host=settings.host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,
    )


def register(app: typer.Typer) -> None:
    app.command("revoke")(revoke)
    app.command("ocsp-responder")(ocsp_responder)
    ca_cmds.app.command("sign-root-crl")(sign_root_crl)
    ca_cmds.app.command("crl")(show_crl)
