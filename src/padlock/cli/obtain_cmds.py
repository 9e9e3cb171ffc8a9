"""``padlock obtain`` (the whole guide in one command) and ``padlock renew``.

Thin: parse options, call :mod:`padlock.site.obtain` and :mod:`padlock.site.renewal`, show
progress and the result.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from padlock.cli import console

if TYPE_CHECKING:
    from padlock.site.lineage import Settings, SiteState, Target
    from padlock.site.obtain import Outcome
    from padlock.site.renewal import Renewal

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
StateDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        help="Where padlock keeps what renew needs (default $PADLOCK_SITE_DIR or"
        " ~/.local/share/padlock).",
    ),
]

# padlock obtain's options, in the order --help lists them.
NameArg = Annotated[
    str | None, typer.Argument(metavar="NAME", help="The site's host name, e.g. www.example.com.")
]
AliasOpt = Annotated[list[str], typer.Option("--alias", help="Another name (repeatable).")]
CaOpt = Annotated[str | None, typer.Option("--ca", help="The padlock CA's URL (REST API).")]
TestOpt = Annotated[bool, typer.Option("--test", help="A test certificate (instant, 21 days).")]
DvOpt = Annotated[bool, typer.Option("--dv", help="Domain validated (after the HTTP check).")]
OvOpt = Annotated[bool, typer.Option("--ov", help="Organization validated (a reviewer).")]
AcmeOpt = Annotated[
    str | None,
    typer.Option("--acme", metavar="DIRECTORY_URL", help="Use this ACME directory instead."),
]
ProfileOpt = Annotated[str | None, typer.Option("--profile", help="An ACME profile.")]
AgreeTosOpt = Annotated[
    bool, typer.Option("--agree-tos", help="Agree to the ACME CA's terms of service.")
]
ApacheOpt = Annotated[bool, typer.Option("--apache", help="Install into Apache.")]
NginxOpt = Annotated[bool, typer.Option("--nginx", help="Install into nginx.")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Write the files into DIR.")]
WebrootOpt = Annotated[
    Path | None,
    typer.Option("--webroot", help="Answer the HTTP check with files in this document root."),
]
StandalonePortOpt = Annotated[
    int | None,
    typer.Option("--standalone-port", help="Answer the HTTP check by listening on this port."),
]
StandaloneAddressOpt = Annotated[
    str,
    typer.Option("--standalone-address", help="The address --standalone-port listens on."),
]
ChallengeOpt = Annotated[
    str,
    typer.Option(
        "--challenge",
        help="ACME: how to prove the names: http-01, dns-01, dns-account-01 (your account's"
        " own record name) or dns-persist-01 (a record set once; padlock dns-persist-record"
        " prints it).",
    ),
]
DnsHookOpt = Annotated[
    str | None,
    typer.Option(
        "--dns-hook",
        metavar="CMD",
        help="Publishes TXT records: run as `CMD add NAME VALUE` and `CMD remove NAME VALUE`.",
    ),
]
ContactOpt = Annotated[str | None, typer.Option("--contact", help="Your email address.")]
OrgOpt = Annotated[str | None, typer.Option("--org", help="ov: the organization's legal name.")]
CountryOpt = Annotated[str | None, typer.Option("--country", help="ov: two-letter country.")]
StateOpt = Annotated[str | None, typer.Option("--state", help="ov: state or province.")]
LocalityOpt = Annotated[str | None, typer.Option("--locality", help="ov: city.")]
DocumentOpt = Annotated[
    list[Path],
    typer.Option("--document", help="ov: a document for the reviewer (PDF, PNG, JPEG)."),
]
KeyTypeOpt = Annotated[str, typer.Option("--key-type", help="ec-p256|ec-p384|rsa-2048|...")]
NoEncryptOpt = Annotated[bool, typer.Option("--no-encrypt", help="Do not encrypt the key.")]
PassphraseFileOpt = Annotated[
    Path | None,
    typer.Option("--passphrase-file", help="The key's pass phrase (renew reads it again)."),
]
CaRootOpt = Annotated[
    list[Path],
    typer.Option("--ca-root", help="The CA's root (PEM): trusted for its HTTPS and the chain."),
]
ConfigRootOpt = Annotated[
    Path | None,
    typer.Option("--config-root", help="Apache's or nginx's configuration directory."),
]
PortOpt = Annotated[int, typer.Option("--port", help="The TLS port of the site.")]
HttpPortOpt = Annotated[int, typer.Option("--http-port", help="Its plain HTTP port.")]
ListenAddressOpt = Annotated[str | None, typer.Option("--listen-address")]
DecryptKeyOpt = Annotated[bool, typer.Option("--decrypt-key", help="Install a decrypted key.")]
HstsOpt = Annotated[bool, typer.Option("--hsts", help="Send Strict-Transport-Security.")]
NoRedirectOpt = Annotated[bool, typer.Option("--no-redirect", help="Leave plain HTTP alone.")]
LayoutOpt = Annotated[str | None, typer.Option("--layout", help="Force an Apache/nginx layout.")]
ResumeOpt = Annotated[
    str | None,
    typer.Option("--resume", metavar="ID", help="Continue a request (id, or the name)."),
]
WaitOpt = Annotated[
    float | None,
    typer.Option("--wait", help="Seconds to wait for the CA's checks and issuance (120)."),
]
ForceOpt = Annotated[
    bool, typer.Option("--force", help="Start over / replace files padlock did not write.")
]

# padlock renew's own options.
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Say what is due; change nothing.")]
ReuseKeyOpt = Annotated[
    bool,
    typer.Option("--reuse-key", help="Keep the current key (default: a new key each time)."),
]
RenewBeforeOpt = Annotated[
    float | None,
    typer.Option(
        "--renew-before",
        metavar="DAYS",
        help="Also renew whatever has fewer than DAYS days left.",
    ),
]
RenewForceOpt = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Renew every certificate now, whatever its renewal window (certbot's"
        " --force-renewal).",
    ),
]
RenewPassphraseOpt = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        help="Pass phrase for encrypted keys obtained without --passphrase-file.",
    ),
]


@contextlib.contextmanager
def _progress(json_out: bool) -> Iterator[Callable[[str], None]]:
    """A Rich spinner with each step on a terminal; plain lines on stderr otherwise."""
    if console.is_terminal() and not json_out:
        from rich.console import Console

        screen = Console(stderr=True, highlight=False, soft_wrap=True)
        with screen.status("Starting ...") as status:

            def step(message: str) -> None:
                screen.print(f"[green]•[/] {message}", markup=True)
                status.update(message + " ...")

            yield step
        return
    yield lambda message: console.say(f"padlock: {message}")


def _report(outcome: Outcome, json_out: bool) -> None:
    if json_out:
        console.print_json(outcome.to_dict())
        return
    print(outcome.message)
    if outcome.status == "waiting":
        return
    if outcome.not_after is not None:
        days = (outcome.not_after - dt.datetime.now(dt.UTC)).days
        until = f"{outcome.not_after:%Y-%m-%d %H:%M} UTC"
        print(f"Serial {outcome.serial}, valid until {until} ({days} days).")
    labels = {
        "key": "Private key (mode 0600)",
        "cert": "Certificate",
        "chain": "Intermediate CA(s)",
        "fullchain": "Full chain (SSLCertificateFile / ssl_certificate)",
    }
    for kind, path in outcome.files.items():
        print(f"  {labels.get(kind, kind)}: {path}")
    for check in outcome.checks:
        verdict = "OK" if check.verdict.value == "ok" else check.verdict.value.upper()
        print(
            f"{verdict}: {check.server_name} on {check.host}:{check.port} presents serial"
            f" {check.serial} ({check.protocol}); the chain verifies and the name matches."
        )
    for note in outcome.notes:
        console.say(f"note: {note}")
    if outcome.status == "written":
        console.say("padlock renew renews it when due (run it daily from cron or a systemd timer).")


def _render_renewals(rows: list[Renewal], json_out: bool) -> None:
    if json_out:
        console.print_json(
            {"renewals": [r.to_dict() for r in rows], "failed": sum(r.failed for r in rows)}
        )
        return
    if not rows:
        console.say("padlock obtain has not obtained any certificate here yet: nothing to renew.")
        return
    from rich.console import Console
    from rich.table import Table

    style = {"renewed": "green", "failed": "bold red", "waiting": "yellow"}
    table = Table()
    for column in ("Certificate", "Action", "Why", "Serial", "Valid until"):
        table.add_column(column, overflow="fold")
    for row in rows:
        serial = row.old_serial or "-"
        if row.new_serial:
            serial = f"{row.old_serial or '-'} -> {row.new_serial}"
        until = f"{row.not_after:%Y-%m-%d}" if row.not_after else "-"
        action = row.action
        if action in style:
            action = f"[{style[action]}]{action}[/]"
        table.add_row(row.name, action, row.reason, serial, until)
    Console(highlight=False, width=None if console.is_terminal() else 160).print(table)
    for row in rows:
        if row.failed and row.detail:
            console.say(f"hint ({row.name}): {row.detail}")
        elif row.action == "waiting":
            console.say(f"{row.name}: {row.detail}")


def _one_of(flags: dict[str, bool], what: str) -> str | None:
    chosen = [name for name, on in flags.items() if on]
    if len(chosen) > 1:
        from padlock.errors import Malformed

        raise Malformed(f"Give only one of {', '.join('--' + c for c in chosen)} ({what}).")
    return chosen[0] if chosen else None


def register(app: typer.Typer) -> None:
    app.command("obtain")(obtain_cmd)
    app.command("renew")(renew_cmd)
    app.command("dns-persist-record")(dns_persist_record_cmd)


PersistNameArg = Annotated[str, typer.Argument(metavar="NAME", help="The name to prove.")]
PersistAcmeOpt = Annotated[
    str, typer.Option("--acme", metavar="DIRECTORY_URL", help="The ACME directory.")
]
WildcardOpt = Annotated[
    bool,
    typer.Option("--wildcard", help="policy=wildcard: also *.NAME and every name below NAME."),
]
UntilOpt = Annotated[
    dt.datetime | None,
    typer.Option("--until", help="persistUntil: the record is not used after this (UTC)."),
]


def dns_persist_record_cmd(
    name: PersistNameArg,
    acme: PersistAcmeOpt,
    wildcard: WildcardOpt = False,
    until: UntilOpt = None,
    contact: ContactOpt = None,
    agree_tos: AgreeTosOpt = False,
    ca_root: CaRootOpt = [],  # noqa: B006 - typer passes a new list on each call
    state_dir: StateDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Print the dns-persist-01 TXT record to publish once for NAME (draft-ietf-acme-dns-persist).

    It names the CA and this machine's ACME account for the directory (opened here if
    there is none yet; padlock obtain --acme uses the same one), so every later
    `padlock obtain --challenge dns-persist-01` proves NAME without a DNS change.
    """
    from padlock.site import lineage
    from padlock.site.backend_acme import AcmeClient
    from padlock.site.ca_http import Trust

    site_state = lineage.SiteState(state_dir or lineage.default_state_dir())
    stamp = None
    if until is not None:
        stamp = int((until if until.tzinfo else until.replace(tzinfo=dt.UTC)).timestamp())
    client = AcmeClient(acme, site_state.account_dir(acme), trust=Trust(tuple(ca_root)))
    client.account(contact, agree_tos)
    record, value = client.persist_record(name.lower(), wildcard=wildcard, until=stamp)
    if json_out:
        console.print_json({"name": record, "type": "TXT", "value": value})
        return
    typer.echo(f'{record}. IN TXT "{value}"')


def obtain_cmd(
    name: NameArg = None,
    alias: AliasOpt = [],  # noqa: B006 - typer passes a new list on each call
    ca: CaOpt = None,
    test: TestOpt = False,
    dv: DvOpt = False,
    ov: OvOpt = False,
    acme: AcmeOpt = None,
    profile: ProfileOpt = None,
    agree_tos: AgreeTosOpt = False,
    apache: ApacheOpt = False,
    nginx: NginxOpt = False,
    out: OutOpt = None,
    webroot: WebrootOpt = None,
    standalone_port: StandalonePortOpt = None,
    standalone_address: StandaloneAddressOpt = "0.0.0.0",  # noqa: S104 - the CA connects from outside
    challenge: ChallengeOpt = "http-01",
    dns_hook: DnsHookOpt = None,
    contact: ContactOpt = None,
    org: OrgOpt = None,
    country: CountryOpt = None,
    state: StateOpt = None,
    locality: LocalityOpt = None,
    document: DocumentOpt = [],  # noqa: B006 - typer passes a new list on each call
    key_type: KeyTypeOpt = "ec-p256",
    no_encrypt: NoEncryptOpt = False,
    passphrase_file: PassphraseFileOpt = None,
    ca_root: CaRootOpt = [],  # noqa: B006 - typer passes a new list on each call
    config_root: ConfigRootOpt = None,
    port: PortOpt = 443,
    http_port: HttpPortOpt = 80,
    listen_address: ListenAddressOpt = None,
    decrypt_key: DecryptKeyOpt = False,
    hsts: HstsOpt = False,
    no_redirect: NoRedirectOpt = False,
    layout: LayoutOpt = None,
    resume: ResumeOpt = None,
    wait: WaitOpt = None,
    force: ForceOpt = False,
    state_dir: StateDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Key, CSR, the CA, the HTTP check, the chain, install (or write), check: all of it.

    For ov the request waits for a reviewer: padlock prints the status page and
    `padlock obtain --resume ID` finishes the job once it is approved.
    """
    from padlock.site import lineage

    site_state = lineage.SiteState(state_dir or lineage.default_state_dir())
    if resume is not None:
        overrides: dict[str, Any] = {
            "ca_roots": tuple(str(p) for p in ca_root) or None,
            "webroot": str(webroot) if webroot else None,
            "standalone_port": standalone_port,
            "passphrase_file": str(passphrase_file) if passphrase_file else None,
            "wait": wait,
            "dns_hook": dns_hook,
        }
        _resume(resume, name, site_state, overrides, passphrase_file, agree_tos, json_out)
        return
    names = _names(name, alias)  # before any question is asked
    kind = _one_of({"test": test, "dv": dv, "ov": ov}, "the kind of certificate")
    target = _target(
        {"apache": apache, "nginx": nginx, "out": out is not None},
        out_dir=str(out) if out is not None else None,
        config_root=str(config_root) if config_root is not None else None,
        port=port,
        http_port=http_port,
        listen_address=listen_address,
        decrypt_key=decrypt_key,
        hsts=hsts,
        redirect=not no_redirect,
        layout=layout,
    )
    _check_encryption(no_encrypt, passphrase_file)
    settings = lineage.Settings(
        names=names,
        target=target,
        ca=ca,
        acme=acme,
        kind=kind,
        profile=profile,
        contact=contact,
        organization=_organization(org, country, state, locality),
        documents=tuple(str(d) for d in document),
        key_type=key_type,
        encrypt=not no_encrypt,
        passphrase_file=str(passphrase_file) if passphrase_file else None,
        webroot=str(webroot) if webroot else None,
        standalone_port=standalone_port,
        standalone_address=standalone_address,
        ca_roots=tuple(str(p) for p in ca_root),
        wait=wait if wait is not None else lineage.DEFAULT_WAIT,
        challenge=challenge,
        dns_hook=dns_hook,
    )
    _obtain(settings, site_state, no_encrypt, passphrase_file, agree_tos, force, json_out)


def _resume(
    request: str,
    name: str | None,
    site_state: SiteState,
    overrides: dict[str, Any],
    passphrase_file: Path | None,
    agree_tos: bool,
    json_out: bool,
) -> None:
    """padlock obtain --resume ID: the request's own settings, with what was given again."""
    from padlock.errors import Malformed
    from padlock.site import obtain as site_obtain

    if name is not None:
        raise Malformed("Give NAME or --resume ID, not both.")
    passphrase = console.passphrase_given(passphrase_file)
    _run(
        json_out,
        lambda step: site_obtain.resume(
            request,
            site_state,
            passphrase=passphrase,
            overrides=overrides,
            agree_tos=agree_tos,
            progress=step,
        ),
    )


def _names(name: str | None, alias: list[str]) -> tuple[str, ...]:
    from padlock.errors import Malformed
    from padlock.site import obtain as site_obtain

    if name is None:
        raise Malformed(
            "Say which site: padlock obtain www.example.com --ca URL --test --out DIR.",
            hint="Or continue a request: padlock obtain --resume ID.",
        )
    return site_obtain.normalize_names([name, *alias])


def _target(where: dict[str, bool], **fields: Any) -> Target:
    """Where the certificate goes: exactly one of --apache, --nginx, --out."""
    from padlock.errors import Malformed
    from padlock.site import lineage

    target_kind = _one_of(where, "where")
    if target_kind is None:
        raise Malformed(
            "Say where the certificate goes: --apache, --nginx or --out DIR.",
        )
    return lineage.Target(kind=target_kind, **fields)


def _check_encryption(no_encrypt: bool, passphrase_file: Path | None) -> None:
    from padlock.errors import BadPassphrase

    if no_encrypt and passphrase_file is not None:
        raise BadPassphrase(
            "--no-encrypt and --passphrase-file contradict each other.",
            hint="Give one: a pass phrase file for an encrypted key, or --no-encrypt.",
        )


def _organization(
    org: str | None, country: str | None, state: str | None, locality: str | None
) -> dict[str, str | None] | None:
    """ov's organization fields as given, or None when none was."""
    if all(v is None for v in (org, country, state, locality)):
        return None
    return {"organization": org, "locality": locality, "state": state, "country": country}


def _obtain(
    settings: Settings,
    site_state: SiteState,
    no_encrypt: bool,
    passphrase_file: Path | None,
    agree_tos: bool,
    force: bool,
    json_out: bool,
) -> None:
    """Every check that needs no pass phrase, then the pass phrase, then the whole run."""
    from padlock.site import obtain as site_obtain

    site_obtain.preflight(
        settings,
        None,
        force=force,
        check_passphrase=False,
        owned=site_obtain.owned_files(site_state.load(settings.names[0])),
    )
    passphrase = None if no_encrypt else console.new_passphrase(passphrase_file)
    _run(
        json_out,
        lambda step: site_obtain.obtain(
            settings,
            site_state,
            passphrase=passphrase,
            agree_tos=agree_tos,
            force=force,
            progress=step,
        ),
    )


def _run(json_out: bool, work: Callable[[Callable[[str], None]], Outcome]) -> None:
    """The work with its progress shown, then its outcome."""
    with _progress(json_out) as step:
        outcome = work(step)
    _report(outcome, json_out)


def renew_cmd(
    state_dir: StateDirOpt = None,
    dry_run: DryRunOpt = False,
    reuse_key: ReuseKeyOpt = False,
    renew_before: RenewBeforeOpt = None,
    force: RenewForceOpt = False,
    passphrase_file: RenewPassphraseOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Renew every certificate padlock obtain made that is due: in the CA's renewal window
    (ACME renewal information), revoked, or with a third of its lifetime left.

    For cron or a systemd timer: exit status 0 when nothing was due or all renewed,
    1 when any failed.
    """
    from padlock.site import renewal
    from padlock.site.lineage import SiteState, default_state_dir

    site_state = SiteState(state_dir or default_state_dir())
    given = console.passphrase_given(passphrase_file)
    with _progress(json_out) as step:
        rows = renewal.renew(
            site_state,
            passphrase=lambda _lineage: given,
            dry_run=dry_run,
            reuse_key=reuse_key,
            renew_before=dt.timedelta(days=renew_before) if renew_before is not None else None,
            force=force,
            progress=step,
        )
    _render_renewals(rows, json_out)
    if any(r.failed for r in rows):
        raise typer.Exit(1)
