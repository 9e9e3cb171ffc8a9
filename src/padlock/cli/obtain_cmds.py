"""``padlock obtain`` (the whole guide in one command) and ``padlock renew``.

Thin: parse options, call :mod:`padlock.site.obtain` and :mod:`padlock.site.renewal`, show
progress and the result.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from padlock.cli import common

if TYPE_CHECKING:
    from padlock.site.obtain import Outcome
    from padlock.site.renewal import Renewal

JSON = typer.Option(False, "--json", help="Print the result as JSON.")
STATE_DIR = typer.Option(
    None,
    "--state-dir",
    help="Where padlock keeps what renew needs (default $PADLOCK_SITE_DIR or"
    " ~/.local/share/padlock).",
)


@contextlib.contextmanager
def _progress(json_out: bool) -> Iterator[Callable[[str], None]]:
    """A Rich spinner with each step on a terminal; plain lines on stderr otherwise."""
    if common.is_terminal() and not json_out:
        from rich.console import Console

        console = Console(stderr=True, highlight=False, soft_wrap=True)
        with console.status("Starting ...") as status:

            def step(message: str) -> None:
                console.print(f"[green]•[/] {message}", markup=True)
                status.update(message + " ...")

            yield step
        return
    yield lambda message: common.say(f"padlock: {message}")


def _report(outcome: Outcome, json_out: bool) -> None:
    if json_out:
        common.print_json(outcome.to_dict())
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
        common.say(f"note: {note}")
    if outcome.status == "written":
        common.say("padlock renew renews it when due (run it daily from cron or a systemd timer).")


def _render_renewals(rows: list[Renewal], json_out: bool) -> None:
    if json_out:
        common.print_json(
            {"renewals": [r.to_dict() for r in rows], "failed": sum(r.failed for r in rows)}
        )
        return
    if not rows:
        common.say("padlock obtain has not obtained any certificate here yet: nothing to renew.")
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
    Console(highlight=False, width=None if common.is_terminal() else 160).print(table)
    for row in rows:
        if row.failed and row.detail:
            common.say(f"hint ({row.name}): {row.detail}")
        elif row.action == "waiting":
            common.say(f"{row.name}: {row.detail}")


def _one_of(flags: dict[str, bool], what: str) -> str | None:
    chosen = [name for name, on in flags.items() if on]
    if len(chosen) > 1:
        from padlock.errors import Malformed

        raise Malformed(f"Give only one of {', '.join('--' + c for c in chosen)} ({what}).")
    return chosen[0] if chosen else None


def register(app: typer.Typer) -> None:
    @app.command("obtain")
    def obtain_cmd(
        name: str | None = typer.Argument(
            None, metavar="NAME", help="The site's host name, e.g. www.example.com."
        ),
        alias: list[str] = typer.Option([], "--alias", help="Another name (repeatable)."),
        ca: str | None = typer.Option(None, "--ca", help="The padlock CA's URL (REST API)."),
        test: bool = typer.Option(False, "--test", help="A test certificate (instant, 21 days)."),
        dv: bool = typer.Option(False, "--dv", help="Domain validated (after the HTTP check)."),
        ov: bool = typer.Option(False, "--ov", help="Organization validated (a reviewer)."),
        acme: str | None = typer.Option(
            None, "--acme", metavar="DIRECTORY_URL", help="Use this ACME directory instead."
        ),
        profile: str | None = typer.Option(None, "--profile", help="An ACME profile."),
        agree_tos: bool = typer.Option(
            False, "--agree-tos", help="Agree to the ACME CA's terms of service."
        ),
        apache: bool = typer.Option(False, "--apache", help="Install into Apache."),
        nginx: bool = typer.Option(False, "--nginx", help="Install into nginx."),
        out: Path | None = typer.Option(None, "--out", help="Write the files into DIR."),
        webroot: Path | None = typer.Option(
            None, "--webroot", help="Answer the HTTP check with files in this document root."
        ),
        standalone_port: int | None = typer.Option(
            None, "--standalone-port", help="Answer the HTTP check by listening on this port."
        ),
        standalone_address: str = typer.Option(
            "0.0.0.0",  # noqa: S104 - the CA connects from outside
            "--standalone-address",
            help="The address --standalone-port listens on.",
        ),
        contact: str | None = typer.Option(None, "--contact", help="Your email address."),
        org: str | None = typer.Option(None, "--org", help="ov: the organization's legal name."),
        country: str | None = typer.Option(None, "--country", help="ov: two-letter country."),
        state: str | None = typer.Option(None, "--state", help="ov: state or province."),
        locality: str | None = typer.Option(None, "--locality", help="ov: city."),
        document: list[Path] = typer.Option(
            [], "--document", help="ov: a document for the reviewer (PDF, PNG, JPEG)."
        ),
        key_type: str = typer.Option("ec-p256", "--key-type", help="ec-p256|ec-p384|rsa-2048|..."),
        no_encrypt: bool = typer.Option(False, "--no-encrypt", help="Do not encrypt the key."),
        passphrase_file: Path | None = typer.Option(
            None, "--passphrase-file", help="The key's pass phrase (renew reads it again)."
        ),
        ca_root: list[Path] = typer.Option(
            [], "--ca-root", help="The CA's root (PEM): trusted for its HTTPS and the chain."
        ),
        config_root: Path | None = typer.Option(
            None, "--config-root", help="Apache's or nginx's configuration directory."
        ),
        port: int = typer.Option(443, "--port", help="The TLS port of the site."),
        http_port: int = typer.Option(80, "--http-port", help="Its plain HTTP port."),
        listen_address: str | None = typer.Option(None, "--listen-address"),
        decrypt_key: bool = typer.Option(False, "--decrypt-key", help="Install a decrypted key."),
        hsts: bool = typer.Option(False, "--hsts", help="Send Strict-Transport-Security."),
        no_redirect: bool = typer.Option(False, "--no-redirect", help="Leave plain HTTP alone."),
        layout: str | None = typer.Option(None, "--layout", help="Force an Apache/nginx layout."),
        resume: str | None = typer.Option(
            None, "--resume", metavar="ID", help="Continue a request (id, or the name)."
        ),
        wait: float | None = typer.Option(
            None, "--wait", help="Seconds to wait for the CA's checks and issuance (120)."
        ),
        force: bool = typer.Option(
            False, "--force", help="Start over / replace files padlock did not write."
        ),
        state_dir: Path | None = STATE_DIR,
        json_out: bool = JSON,
    ) -> None:
        """Key, CSR, the CA, the HTTP check, the chain, install (or write), check: all of it.

        For ov the request waits for a reviewer: padlock prints the status page and
        `padlock obtain --resume ID` finishes the job once it is approved.
        """
        from padlock.errors import BadPassphrase, Malformed
        from padlock.site import lineage
        from padlock.site import obtain as site_obtain

        site_state = lineage.SiteState(state_dir or lineage.default_state_dir())
        if resume is not None:
            if name is not None:
                raise Malformed("Give NAME or --resume ID, not both.")
            overrides: dict[str, Any] = {
                "ca_roots": tuple(str(p) for p in ca_root) or None,
                "webroot": str(webroot) if webroot else None,
                "standalone_port": standalone_port,
                "passphrase_file": str(passphrase_file) if passphrase_file else None,
                "wait": wait,
            }
            passphrase = common.passphrase_given(passphrase_file)
            with _progress(json_out) as step:
                outcome = site_obtain.resume(
                    resume,
                    site_state,
                    passphrase=passphrase,
                    overrides=overrides,
                    agree_tos=agree_tos,
                    progress=step,
                )
            _report(outcome, json_out)
            return
        if name is None:
            raise Malformed(
                "Say which site: padlock obtain www.example.com --ca URL --test --out DIR.",
                hint="Or continue a request: padlock obtain --resume ID.",
            )
        names = site_obtain.normalize_names([name, *alias])  # before any question is asked
        kind = _one_of({"test": test, "dv": dv, "ov": ov}, "the kind of certificate")
        target_kind = _one_of({"apache": apache, "nginx": nginx, "out": out is not None}, "where")
        if target_kind is None:
            raise Malformed(
                "Say where the certificate goes: --apache, --nginx or --out DIR.",
            )
        if no_encrypt and passphrase_file is not None:
            raise BadPassphrase(
                "--no-encrypt and --passphrase-file contradict each other.",
                hint="Give one: a pass phrase file for an encrypted key, or --no-encrypt.",
            )
        organization = None
        if any(v is not None for v in (org, country, state, locality)):
            organization = {
                "organization": org,
                "locality": locality,
                "state": state,
                "country": country,
            }
        target = lineage.Target(
            kind=target_kind,
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
        settings = lineage.Settings(
            names=names,
            target=target,
            ca=ca,
            acme=acme,
            kind=kind,
            profile=profile,
            contact=contact,
            organization=organization,
            documents=tuple(str(d) for d in document),
            key_type=key_type,
            encrypt=not no_encrypt,
            passphrase_file=str(passphrase_file) if passphrase_file else None,
            webroot=str(webroot) if webroot else None,
            standalone_port=standalone_port,
            standalone_address=standalone_address,
            ca_roots=tuple(str(p) for p in ca_root),
            wait=wait if wait is not None else lineage.DEFAULT_WAIT,
        )
        # Every check that needs no pass phrase, before one is asked for.
        site_obtain.preflight(
            settings,
            None,
            force=force,
            check_passphrase=False,
            owned=site_obtain.owned_files(site_state.load(names[0])),
        )
        passphrase = None if no_encrypt else common.new_passphrase(passphrase_file)
        with _progress(json_out) as step:
            outcome = site_obtain.obtain(
                settings,
                site_state,
                passphrase=passphrase,
                agree_tos=agree_tos,
                force=force,
                progress=step,
            )
        _report(outcome, json_out)

    @app.command("renew")
    def renew_cmd(
        state_dir: Path | None = STATE_DIR,
        dry_run: bool = typer.Option(False, "--dry-run", help="Say what is due; change nothing."),
        reuse_key: bool = typer.Option(
            False, "--reuse-key", help="Keep the current key (default: a new key each time)."
        ),
        renew_before: float | None = typer.Option(
            None,
            "--renew-before",
            metavar="DAYS",
            help="Also renew whatever has fewer than DAYS days left.",
        ),
        force: bool = typer.Option(
            False,
            "--force",
            help="Renew every certificate now, whatever its renewal window (certbot's"
            " --force-renewal).",
        ),
        passphrase_file: Path | None = typer.Option(
            None,
            "--passphrase-file",
            help="Pass phrase for encrypted keys obtained without --passphrase-file.",
        ),
        json_out: bool = JSON,
    ) -> None:
        """Renew every certificate padlock obtain made that is due: in the CA's renewal window
        (ACME renewal information), revoked, or with a third of its lifetime left.

        For cron or a systemd timer: exit status 0 when nothing was due or all renewed,
        1 when any failed.
        """
        from padlock.site import renewal
        from padlock.site.lineage import SiteState, default_state_dir

        site_state = SiteState(state_dir or default_state_dir())
        given = common.passphrase_given(passphrase_file)
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
