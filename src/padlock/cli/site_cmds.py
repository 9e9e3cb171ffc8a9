"""``padlock check``, ``padlock apache install|rollback``, ``padlock nginx install|rollback``.

Thin: parse options, call :mod:`padlock.site` (one installer, :mod:`padlock.site.webserver`,
for every server in :data:`SERVERS`), render. Heavy imports stay inside the
command functions so that ``padlock --help`` stays fast.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from padlock.cli import console

if TYPE_CHECKING:
    from padlock.site.check import CheckResult
    from padlock.site.transaction import Outcome, Plan, RollbackOutcome


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


_STYLE = {"ok": "bold green", "warning": "bold yellow", "broken": "bold red"}


def render_check(result: CheckResult) -> None:
    from rich.table import Table

    screen = _console()
    verdict = result.verdict.value
    title = f"{result.host}:{result.port}"
    if result.server_name != result.host:
        title += f" (SNI {result.server_name})"
    summary = Table(title=title, show_header=False, box=None, pad_edge=False)
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row("Verdict", f"[{_STYLE[verdict]}]{verdict.upper()}[/]")
    if result.connected:
        verified = "yes" if result.verified else f"[red]NO[/] ({result.verify_error})"
        summary.add_row("Chain verifies", verified)
        summary.add_row(
            "Name matches",
            f"yes ({result.server_name})" if result.name_matches else "[red]NO[/]",
        )
        if result.chain:
            leaf = result.chain[0]
            summary.add_row(
                "Expires", f"{leaf.not_after:%Y-%m-%d %H:%M} UTC ({result.days_left} days)"
            )
        summary.add_row("Protocol", f"{result.protocol}, {result.cipher}")
        staple = {True: "yes", False: "no", None: "unknown"}[result.ocsp_staple]
        summary.add_row("OCSP staple", staple)
        summary.add_row("Serial", str(result.serial))
    screen.print(summary)
    if result.chain:
        chain = Table(title="Chain presented", title_justify="left")
        for column in ("#", "Subject", "Issuer", "Expires", "Serial"):
            chain.add_column(column, overflow="fold")
        for i, cert in enumerate(result.chain):
            chain.add_row(
                str(i), cert.subject, cert.issuer, f"{cert.not_after:%Y-%m-%d}", cert.serial
            )
        screen.print(chain)
    for problem in result.problems:
        screen.print(f"[red]problem:[/] {problem}")
    for warning in result.warnings:
        screen.print(f"[yellow]warning:[/] {warning}")
    for note in result.notes:
        screen.print(f"note: {note}")


def _print_plan(plan: Plan, dry_run: bool, edited: tuple[Path, ...]) -> None:
    """The diff, before anything changes: all of it for --dry-run; for a real install, of
    every file that existed before (a shared file is never changed without showing how)."""
    import dataclasses

    for warning in plan.warnings:
        console.say(f"warning: {warning}")
    if not dry_run:
        plan = dataclasses.replace(plan, changes=tuple(c for c in plan.changes if c.path in edited))
    sys.stdout.write(plan.diff())
    sys.stdout.flush()


def _report_install(outcome: Outcome, plan: Plan, json_out: bool) -> None:
    results = outcome.probe or ()
    if json_out:
        console.print_json(
            {
                "transaction": outcome.transaction,
                "backup": str(outcome.backup_dir),
                "changed": list(outcome.changed),
                "notes": list(plan.notes),
                "warnings": list(plan.warnings),
                "checks": [r.to_dict() for r in results],
            }
        )
        return
    for rec in outcome.recovered:
        console.say(f"note: restored the files of interrupted transaction {rec.transaction} first.")
    for note in plan.notes:
        console.say(f"note: {note}")
    for result in results:
        console.say(
            f"OK: {result.server_name} on {result.host}:{result.port} presents serial"
            f" {result.serial} ({result.protocol}); the chain verifies and the name matches."
        )
    console.say(f"Installed ({plan.description}). Backup and record: {outcome.backup_dir}")


def _report_rollback(outcome: RollbackOutcome, json_out: bool) -> None:
    if json_out:
        console.print_json(
            {
                "transaction": outcome.transaction,
                "restored": list(outcome.restored),
                "recovered": [r.transaction for r in outcome.recovered],
                "message": outcome.message,
            }
        )
    else:
        console.say(outcome.message)


def _passphrase(key: Path, passphrase_file: Path | None) -> bytes | None:
    from padlock.errors import PadlockError
    from padlock.fileio import read_bytes
    from padlock.pki import keys

    given = console.passphrase_given(passphrase_file)
    if given is not None:
        return given
    try:
        encrypted = keys.is_encrypted(read_bytes(key, "key file"))
    except PadlockError:
        return None  # the pre-flight says what is wrong with the file
    if encrypted and console.is_terminal():
        return console.existing_passphrase(None, True, what=str(key))
    return None


# Options shared by both installers.
NAME = typer.Option(..., "--name", help="The site's name (ServerName / server_name).")
ALIAS = typer.Option([], "--alias", help="Another name of the site (repeatable).")
CERT = typer.Option(..., "--cert", help="The site's certificate (PEM or DER).")
KEY = typer.Option(..., "--key", help="Its private key (mode 0600, owned by root).")
CHAIN = typer.Option(None, "--chain", help="The intermediate CA certificates.")
CA = typer.Option([], "--ca", help="A private root the chain leads to (repeatable).")
PORT = typer.Option(443, "--port", help="The TLS port.")
HTTP_PORT = typer.Option(80, "--http-port", help="The plain HTTP port (redirected).")
LISTEN = typer.Option(None, "--listen-address", help="Listen on this address only.")
DRY = typer.Option(False, "--dry-run", help="Print the diff; change nothing.")
DECRYPT = typer.Option(False, "--decrypt-key", help="Install a decrypted copy of the key.")
HSTS = typer.Option(False, "--hsts", help="Send Strict-Transport-Security (two years).")
NO_REDIRECT = typer.Option(False, "--no-redirect", help="Leave plain HTTP alone.")
STAPLING = typer.Option(
    None,
    "--ocsp-stapling/--no-ocsp-stapling",
    help="Staple OCSP responses (default: when the certificate names a responder).",
)
PASSFILE = typer.Option(None, "--passphrase-file", help="The key's pass phrase.")
LAYOUT = typer.Option(None, "--layout", help="Force a layout (see the docs).")
FORCE = typer.Option(False, "--force", help="Roll back even over later hand edits.")
JSON = typer.Option(False, "--json", help="Print JSON.")


def register(app: typer.Typer) -> None:
    @app.command("check")
    def check_cmd(
        target: str = typer.Argument(..., metavar="HOST[:PORT]", help="Where to connect."),
        name: str | None = typer.Option(None, "--name", help="SNI name (default: HOST)."),
        ca: list[Path] = typer.Option([], "--ca", help="Extra trusted roots (repeatable)."),
        json_out: bool = JSON,
        timeout: float = typer.Option(10.0, "--timeout", help="Seconds per connection."),
    ) -> None:
        """Connect and judge like a browser: chain, trust, name, expiry, protocol, staple.

        Exit status: 0 ok, 1 warning (expires within 14 days), 2 broken (does not verify,
        wrong name, expired, cannot connect) or not checked (bad HOST[:PORT] or --ca).
        """
        from padlock.errors import PadlockError
        from padlock.site.check import check, parse_target

        try:
            host, port = parse_target(target)
            result = check(host, port, server_name=name, ca_files=ca, timeout=timeout)
        except PadlockError as exc:
            # Could not even judge (bad target, unreadable --ca): never report less than
            # "broken" to a monitoring script.
            console.say(f"error: {exc.message}")
            if exc.hint:
                console.say(f"hint: {exc.hint}")
            raise typer.Exit(2) from None
        if json_out:
            console.print_json(result.to_dict())
        else:
            render_check(result)
        raise typer.Exit(result.exit_code)

    for server in SERVERS:
        _register_server(app, server)


@dataclass(frozen=True)
class _Server:
    """What the CLI says about one web server (the rest is in :mod:`padlock.site`)."""

    name: str
    title: str
    config_root: Path
    reload: str


SERVERS = (
    _Server("apache", "Apache httpd", Path("/etc/apache2"), "configtest, graceful reload"),
    _Server("nginx", "nginx", Path("/etc/nginx"), "nginx -t, reload"),
)


def _register_server(app: typer.Typer, server: _Server) -> None:
    """``padlock <server> install`` and ``padlock <server> rollback``."""
    group = typer.Typer(
        help=f"Install a certificate into {server.title}, safely; roll back.",
        no_args_is_help=True,
        rich_markup_mode=None,
    )
    app.add_typer(group, name=server.name)
    config_root_option = typer.Option(server.config_root, "--config-root")

    @group.command(
        "install",
        help=f"Check, write, {server.reload}, probe every name; undo on any failure.",
    )
    def install(
        name: str = NAME,
        alias: list[str] = ALIAS,
        cert: Path = CERT,
        key: Path = KEY,
        chain: Path | None = CHAIN,
        ca: list[Path] = CA,
        config_root: Path = config_root_option,
        port: int = PORT,
        http_port: int = HTTP_PORT,
        listen_address: str | None = LISTEN,
        dry_run: bool = DRY,
        decrypt_key: bool = DECRYPT,
        hsts: bool = HSTS,
        no_redirect: bool = NO_REDIRECT,
        ocsp_stapling: bool | None = STAPLING,
        passphrase_file: Path | None = PASSFILE,
        layout: str | None = LAYOUT,
        json_out: bool = JSON,
    ) -> None:
        from padlock.site import webserver

        request = webserver.InstallRequest(
            name=name,
            aliases=tuple(alias),
            cert=cert,
            key=key,
            chain=chain,
            ca=tuple(ca),
            config_root=config_root,
            port=port,
            http_port=http_port,
            listen_address=listen_address,
            redirect=not no_redirect,
            hsts=hsts,
            ocsp_stapling=ocsp_stapling,
            decrypt_key=decrypt_key,
            passphrase=_passphrase(key, passphrase_file),
            layout=layout,
            command=f"padlock {server.name} install --name {name}",
        )
        prepared = webserver.prepare(webserver.kind(server.name), request)
        if dry_run:
            _print_plan(prepared.plan, True, prepared.edited)
            for note in prepared.plan.notes:
                console.say(f"note: {note}")
            console.say("Dry run: nothing was changed.")
            return
        if not json_out:
            _print_plan(prepared.plan, False, prepared.edited)
        outcome = webserver.apply(prepared)
        _report_install(outcome, prepared.plan, json_out)

    @group.command("rollback")
    def rollback(
        config_root: Path = config_root_option,
        force: bool = FORCE,
        layout: str | None = LAYOUT,
        json_out: bool = JSON,
    ) -> None:
        """Restore the files of the last install (or of an interrupted one) and reload."""
        from padlock.site import webserver

        outcome = webserver.rollback_site(
            webserver.kind(server.name), config_root, layout=layout, force=force
        )
        _report_rollback(outcome, json_out)
