"""``padlock ca``, ``padlock audit``, ``padlock db``, ``padlock doctor``: run the authority."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from padlock.cli import console
from padlock.pki import serials

if TYPE_CHECKING:
    from padlock.ca.ports import CertificateRecord
    from padlock.ca.revocation_settings import RevocationChoice
    from padlock.ca.signer_pkcs11 import TokenConfig
    from padlock.config import Settings
    from padlock.pki.profiles import Hierarchy

app = typer.Typer(
    help="Run the certificate authority: init, issue, list, roots.", no_args_is_help=True
)
audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
db_app = typer.Typer(help="The database.", no_args_is_help=True)

DATA_DIR_HELP = "The CA's data directory (default $PADLOCK_DATA_DIR, else ./padlock-data)."


def settings_for(data_dir: Path | None) -> Settings:
    from padlock import config

    settings = config.from_env()
    return settings.with_overrides(data_dir=data_dir)


def _record_row(r: CertificateRecord) -> dict[str, object]:
    return {
        "serial": serials.display(r.serial),  # as openssl x509 -serial prints it
        "state": r.state.value,
        "profile": r.profile,
        "hierarchy": r.hierarchy,
        "names": list(r.names),
        "not_before": r.not_before.isoformat(),
        "not_after": r.not_after.isoformat(),
        "reserved_at": r.reserved_at.isoformat(),
        "issued_at": r.issued_at.isoformat() if r.issued_at else None,
        "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
        "revocation_reason": r.revocation_reason,
        "sha256": r.sha256,
        "request_id": r.request_id,
    }


def _revocation_choices(
    crl_shards: int, test_crl_shards: int, ocsp: bool
) -> dict[Hierarchy, RevocationChoice]:
    """Each hierarchy's CRL shards and OCSP, as ``ca init`` was asked for them."""
    from padlock.ca.revocation_settings import for_new_ca
    from padlock.pki.profiles import Hierarchy

    try:
        return {
            Hierarchy.TRUSTED: for_new_ca(
                Hierarchy.TRUSTED, crl_shards_count=crl_shards, ocsp=ocsp
            ),
            Hierarchy.TEST: for_new_ca(Hierarchy.TEST, crl_shards_count=test_crl_shards),
        }
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


CRL_SHARDS_OPTION = typer.Option(
    128,
    "--crl-shards",
    help="CRL shards of the trusted issuing CA (each certificate names one; 0: one full CRL).",
)
TEST_CRL_SHARDS_OPTION = typer.Option(
    4, "--test-crl-shards", help="CRL shards of the test issuing CA (0: one full CRL)."
)
OCSP_OPTION = typer.Option(
    False,
    "--ocsp/--no-ocsp",
    help="An OCSP responder for the trusted issuing CA (for stapling); the test CA has one.",
)
PKCS11_MODULE_OPTION = typer.Option(
    None,
    "--pkcs11-module",
    help="Make the CA's keys inside a PKCS#11 token: the module's .so"
    " (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so).",
)
TOKEN_LABEL_OPTION = typer.Option(None, "--token-label", help="With --pkcs11-module: the token.")
PIN_FILE_OPTION = typer.Option(
    None,
    "--pin-file",
    help="The token's PIN, in a file (else $PADLOCK_HSM_PIN, $PADLOCK_HSM_PIN_FILE or a prompt).",
)


def token_choice(module: Path | None, label: str | None) -> TokenConfig | None:
    """The token --pkcs11-module and --token-label name (both or neither)."""
    if module is None and label is None:
        return None
    if module is None or not label:
        raise typer.BadParameter("--pkcs11-module and --token-label go together.")
    from padlock.ca.signer_pkcs11 import TokenConfig

    return TokenConfig(str(module.expanduser().absolute()), label)


def token_secret(token: TokenConfig | None, pin_file: Path | None) -> bytes | None:
    """The PIN of ``token``: --pin-file, the environment, else asked on a terminal."""
    from padlock import wiring

    if token is None:
        return None
    return wiring.token_pin(pin_file) or console.token_pin_prompt(token.token_label)


@app.command("init")
def ca_init(
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    name: str = typer.Option("padlock", "--name", help="The CA's name, shown in its certificates."),
    base_url: str | None = typer.Option(
        None,
        "--base-url",
        help="Where clients reach the CA's API and ACME server; default $PADLOCK_BASE_URL.",
    ),
    pki_base_url: str | None = typer.Option(
        None,
        "--pki-base-url",
        help="The plain http:// URL written into certificates (AIA, CRL DP, OCSP); default"
        " $PADLOCK_PKI_BASE_URL, else http on the base URL's host.",
    ),
    country: str | None = typer.Option(
        None,
        "--country",
        help="The CA's country (ISO 3166-1, e.g. US) in its subjects (BR 7.1.2.10.2); XX without.",
    ),
    root_key_type: str = typer.Option("ec-p384", "--root-key-type"),
    issuing_key_type: str = typer.Option("ec-p256", "--issuing-key-type"),
    passphrase_file: Path | None = typer.Option(
        None, "--passphrase-file", help="The CA keys' pass phrase (else $PADLOCK_CA_PASSPHRASE)."
    ),
    crl_shards: int = CRL_SHARDS_OPTION,
    test_crl_shards: int = TEST_CRL_SHARDS_OPTION,
    ocsp: bool = OCSP_OPTION,
    pkcs11_module: Path | None = PKCS11_MODULE_OPTION,
    token_label: str | None = TOKEN_LABEL_OPTION,
    pin_file: Path | None = PIN_FILE_OPTION,
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Make a test hierarchy and a trusted hierarchy (root + issuing CA each); with
    --pkcs11-module and --token-label, every key is made inside that token."""
    from padlock import hosts, wiring
    from padlock.ca.issuance import utcnow
    from padlock.ca.signer import create_authority

    revocation = _revocation_choices(crl_shards, test_crl_shards, ocsp)
    settings = settings_for(data_dir).with_overrides(base_url=base_url, pki_base_url=pki_base_url)
    hosts.refuse_new_ca(settings)  # a database holds one CA: never a second one in it
    token = token_choice(pkcs11_module, token_label)
    passphrase = token_secret(token, pin_file) or wiring.ca_passphrase(settings, passphrase_file)
    generated = None
    if passphrase is None:
        if console.is_terminal():
            passphrase = console.new_passphrase(None)
        else:
            passphrase, generated = wiring.generate_ca_passphrase(settings)
    info = create_authority(
        settings.ca_dir,
        name=name,
        passphrase=passphrase,
        now=utcnow(),
        base_url=settings.base_url,
        pki_base_url=settings.effective_pki_base_url,
        country=country,
        root_key_type=root_key_type,
        issuing_key_type=issuing_key_type,
        revocation=revocation,
        token=token,
    )
    hosts.record_ca(settings, "ca init")  # the database now belongs to this CA
    if json_out:
        console.print_json(
            {
                "data_dir": str(settings.data_dir),
                "roots": {k: str(v) for k, v in info.roots.items()},
                "pki_base_url": info.pki_base_url,
                "offline_root_key": str(info.offline_root_key) if info.offline_root_key else None,
                "token_label": info.token_label,
                "passphrase_file": str(generated) if generated else None,
            }
        )
        return
    print(f"Made CA {name!r} in {settings.data_dir}:")
    print(f"  certificates point at: {info.pki_base_url} (AIA, CRL DP, OCSP)")
    for hierarchy, path in info.roots.items():
        print(f"  {hierarchy} root: {path}")
    if info.offline_root_key is None:
        print(f"  every key is in the token {info.token_label!r} (not extractable)")
    else:
        print(
            f"  trusted root key: {info.offline_root_key}"
            "  <- move it offline; issuing does not need it"
        )
    if generated:
        console.say(
            f"The CA keys' pass phrase was generated and written to {generated} (mode 0600)."
        )


@app.command("issue")
def ca_issue(
    csr: Path = typer.Argument(..., help="The CSR (PEM or DER; '-' for stdin)."),
    profile: str = typer.Option(
        "test",
        "--profile",
        help="A profile: test, classic (dv), tlsserver, shortlived, ov, or the operator's own"
        " (padlock ca profiles lists them).",
    ),
    out: Path | None = typer.Option(None, "-o", "--out", help="Write the certificate here."),
    fullchain: bool = typer.Option(
        False, "--fullchain", help="Write the leaf then its issuing CA."
    ),
    days: int | None = typer.Option(None, "--days", help="Shorter validity than the default."),
    validated: bool = typer.Option(
        False, "--i-have-validated", help="dv/ov: you, the operator, checked domain control."
    ),
    org: str | None = typer.Option(None, "--org", help="ov: the verified organization name."),
    locality: str | None = typer.Option(None, "--locality"),
    state: str | None = typer.Option(None, "--state"),
    country: str | None = typer.Option(None, "--country"),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    passphrase_file: Path | None = typer.Option(None, "--passphrase-file"),
    force: bool = typer.Option(False, "--force"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Issue a certificate from a CSR (test at once; dv/ov only after validation)."""
    from padlock import wiring
    from padlock.ca.issuance import IssueRequest
    from padlock.errors import PolicyError
    from padlock.fileio import write_atomic
    from padlock.pki.certs import Organization
    from padlock.pki.names import normalize_country

    settings = settings_for(data_dir)
    data = console.read_input(csr, "CSR")
    organization = None
    if org or country:
        if not (org and country):
            raise PolicyError("The ov profile needs at least --org and --country.")
        organization = Organization(org, locality, state, normalize_country(country))
    authority = wiring.open_authority(settings, wiring.ca_passphrase(settings, passphrase_file))
    try:
        issued = authority.issuer.issue(
            IssueRequest(
                csr=data,
                profile=profile,
                actor="cli",
                days=days,
                domain_control_shown=validated,
                organization=organization,
            )
        )
    finally:
        authority.close()
    pem = issued.fullchain_pem if fullchain else issued.certificate_pem
    if out is not None:
        write_atomic(out, pem, overwrite=force)
    if json_out:
        console.print_json(
            {**_record_row(issued.record), "file": str(out) if out else None, "pem": pem.decode()}
        )
        return
    if out is None:
        print(pem.decode(), end="")
    console.say(
        f"Issued {profile} certificate {serials.display(issued.record.serial)} for"
        f" {', '.join(issued.record.names)},"
        f" valid until {issued.record.not_after:%Y-%m-%d %H:%M} UTC."
    )


@app.command("roots")
def ca_roots(
    hierarchy: str = typer.Option("test", "--hierarchy", help="test | trusted"),
    der: bool = typer.Option(False, "--der", help="DER instead of PEM (to a file with -o)."),
    out: Path | None = typer.Option(None, "-o", "--out"),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
) -> None:
    """Print a root certificate (PEM), to install where clients should trust it."""
    import sys

    from cryptography.hazmat.primitives.serialization import Encoding

    from padlock.ca.signer import load_root, read_meta
    from padlock.errors import PolicyError
    from padlock.fileio import write_atomic
    from padlock.pki.profiles import Hierarchy

    settings = settings_for(data_dir)
    read_meta(settings.ca_dir)
    try:
        which = Hierarchy(hierarchy)
    except ValueError:
        raise PolicyError(f"There is no hierarchy {hierarchy!r}; use test or trusted.") from None
    root = load_root(settings.ca_dir, which)
    data = root.public_bytes(Encoding.DER if der else Encoding.PEM)
    if out is not None:
        write_atomic(out, data, overwrite=True)
    elif der:
        sys.stdout.buffer.write(data)
    else:
        print(data.decode(), end="")


@app.command("list")
def ca_list(
    state: str | None = typer.Option(
        None, "--state", help="reserved | issued | revoked | abandoned"
    ),
    limit: int = typer.Option(100, "--limit"),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """List certificates, newest first."""
    from padlock import wiring
    from padlock.ca.ports import CertState
    from padlock.ca.signer import read_meta
    from padlock.errors import PolicyError

    settings = settings_for(data_dir)
    read_meta(settings.ca_dir)
    try:
        wanted = CertState(state) if state else None
    except ValueError:
        raise PolicyError(
            f"There is no state {state!r}.",
            hint="Use one of: " + ", ".join(s.value for s in CertState),
        ) from None
    store = wiring.open_store(settings)
    try:
        records = list(store.list_certificates(wanted, limit=limit))
    finally:
        store.close()
    if json_out:
        console.print_json([_record_row(r) for r in records])
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Certificates in {settings.data_dir}" + (f" ({state})" if state else ""))
    for column in ("serial", "state", "profile", "names", "not after"):
        table.add_column(column)
    for r in records:
        table.add_row(
            serials.display(r.serial),
            r.state.value,
            r.profile,
            ", ".join(r.names),
            f"{r.not_after:%Y-%m-%d}",
        )
    Console().print(table)
    if not records:
        console.say("No certificates" + (f" in state {state}." if state else " yet."))


@app.command("show")
def ca_show(
    serial: str = typer.Argument(..., help="The serial number in hex."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    json_out: bool = typer.Option(False, "--json"),
    pem: bool = typer.Option(False, "--pem", help="Print the certificate's PEM."),
) -> None:
    """Show one certificate the CA issued or reserved."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from padlock import wiring
    from padlock.ca.signer import read_meta
    from padlock.errors import NotFound

    settings = settings_for(data_dir)
    read_meta(settings.ca_dir)
    number = serials.parse(serial)
    store = wiring.open_store(settings)
    try:
        record = store.get_certificate(number)
        validations = wiring.acme_validations(store, number)
    finally:
        store.close()
    if record is None:
        raise NotFound(
            f"No certificate with serial {serial} in this CA.",
            hint="List them with: padlock ca list",
        )
    if pem:
        if record.der is None:
            raise NotFound(f"Certificate {serial} was reserved but never issued.")
        print(
            x509.load_der_x509_certificate(record.der).public_bytes(Encoding.PEM).decode(), end=""
        )
        return
    row = _record_row(record)
    if json_out:
        console.print_json({**row, "validations": validations})
        return
    for key, value in row.items():
        shown = ", ".join(value) if isinstance(value, list) else value
        print(f"{key:<18} {shown if shown is not None else '-'}")
    _print_validations(validations)


def _print_validations(validations: list[dict[str, object]]) -> None:
    """How the names were proven, each remote perspective's answer included (BR 3.2.2.9)."""
    from padlock.ca.acmeserver.evidence import summary

    for i, validation in enumerate(validations):
        label = "validation" if i == 0 else ""
        for line in summary(validation):
            print(f"{label:<18} {line}")
            label = ""


@audit_app.command("verify")
def audit_verify(
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Check the audit trail's hash chain: any edited or deleted event is found."""
    from padlock import hosts, wiring
    from padlock.errors import Conflict

    settings = settings_for(data_dir)
    store = wiring.open_store(settings)
    try:
        result = store.verify_audit()
        if result.ok:  # and every stored signature is by this database's CA
            hosts.check_signatures(store)
    finally:
        store.close()
    if json_out:
        console.print_json(
            {
                "ok": result.ok,
                "events": result.events,
                "first_bad_seq": result.first_bad_seq,
                "problem": result.problem,
            }
        )
    if not result.ok:
        raise Conflict(
            f"The audit trail is broken at event {result.first_bad_seq}: {result.problem}.",
            hint="Someone changed the database outside padlock; restore it from a backup"
            " and investigate.",
        )
    if not json_out:
        print(f"OK: {result.events} audit events, hash chain intact.")


@db_app.command("upgrade")
def db_upgrade(
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
) -> None:
    """Bring the database schema up to date (also done on every start)."""
    from padlock.store.migrate import upgrade

    settings = settings_for(data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    upgrade(settings.db_url)
    print("Database schema is up to date.")


def _resolver_check(settings: Settings) -> tuple[str, bool, str]:
    """The VA's resolver validates DNSSEC (ballot SC-085), asked about a signed and a bogus
    name (PADLOCK_VA_DNSSEC_SECURE, PADLOCK_VA_DNSSEC_BOGUS); skipped with --offline."""
    from padlock.ca import lookup
    from padlock.ca.validation import VAConfig

    va = VAConfig.for_settings(settings)
    found = lookup.check_resolver(
        va.resolver, va.timeout, settings.va_dnssec_secure, settings.va_dnssec_bogus
    )
    return ("dnssec", found.ok, found.detail)


def register(root: typer.Typer) -> None:
    from padlock.cli import pki_url_cmds, profile_cmds

    pki_url_cmds.register(app)
    profile_cmds.register(app)
    root.add_typer(app, name="ca")
    root.add_typer(audit_app, name="audit")
    root.add_typer(db_app, name="db")

    @root.command("doctor")
    def doctor(
        data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
        json_out: bool = typer.Option(False, "--json"),
        offline: bool = typer.Option(
            False, "--offline", help="Do not fetch the CA's own PKI URLs to see they answer."
        ),
    ) -> None:
        """Check the CA's set-up and say what is missing."""
        from padlock import wiring
        from padlock.ca.signer import read_meta
        from padlock.cli import perspective_cmds, pki_url_cmds

        settings = settings_for(data_dir)
        checks: list[tuple[str, bool, str]] = []
        try:
            read_meta(settings.ca_dir)
            checks.append(("ca", True, f"CA found in {settings.ca_dir}"))
        except Exception as exc:
            checks.append(("ca", False, str(exc)))
        checks.extend(pki_url_cmds.pki_url_checks(settings, fetch=not offline))
        checks.extend(perspective_cmds.mpic_checks(settings, dt.datetime.now(dt.UTC).date()))
        if not offline:
            checks.append(_resolver_check(settings))
        blocklist = wiring.load_blocklist(settings)
        checks.append(
            (
                "blocklist",
                blocklist.complete,
                f"{len(blocklist)} known-bad key hashes loaded"
                + (
                    ""
                    if blocklist.complete
                    else "; NO full blocklist (Debian weak keys,"
                    " known-compromised keys): set PADLOCK_BLOCKLIST to badkeys' blocklist file"
                ),
            )
        )
        if json_out:
            console.print_json([{"check": c, "ok": ok, "detail": d} for c, ok, d in checks])
        else:
            for c, ok, d in checks:
                print(f"{'ok  ' if ok else 'WARN'} {c:<10} {d}")
