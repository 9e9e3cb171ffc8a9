"""``padlock review``: the review console's accounts and actions from the command line.

The same use cases as the web console (``padlock.ca.reviewers``, ``padlock.ca.enrollment``),
so the same checks and the same audit events.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from padlock.cli import console

if TYPE_CHECKING:
    from padlock.config import Settings

app = typer.Typer(
    help="The review console: reviewer accounts, the queue, approve and reject.",
    no_args_is_help=True,
)

DATA_DIR_HELP = "The CA's data directory (default $PADLOCK_DATA_DIR, else ./padlock-data)."
QUEUE_STATES = ("in_review", "submitted", "validating")


def _settings(data_dir: Path | None) -> Settings:
    from padlock import config

    return config.from_env().with_overrides(data_dir=data_dir)


def _password(password_file: Path | None, name: str) -> str:
    from padlock.errors import BadPassphrase
    from padlock.fileio import read_bytes

    if password_file is not None:
        lines = read_bytes(password_file, "password file", limit=64 * 1024).splitlines()
        if not lines or not lines[0]:
            raise BadPassphrase(f"The password file {str(password_file)!r} is empty.")
        return lines[0].decode("utf-8", "surrogateescape")
    if not console.is_terminal():
        raise BadPassphrase(
            "No password given and no terminal to ask for one.",
            hint="Give --password-file FILE (the first line is the password).",
        )
    first = getpass.getpass(f"Password for {name}: ")
    second = getpass.getpass("Again: ")
    if first != second:
        raise BadPassphrase("The two passwords differ; nothing was changed.", hint="Try again.")
    return first


def _reviewers(settings: Settings) -> tuple[Any, Any]:
    from padlock import wiring

    store = wiring.open_store(settings)
    return wiring.reviewers(store), store


def _enrollment(settings: Settings, passphrase_file: Path | None) -> tuple[Any, Any]:
    from padlock import wiring

    authority = wiring.open_authority(settings, wiring.ca_passphrase(settings, passphrase_file))
    return wiring.open_enrollment(authority), authority


def _acting_reviewer(settings: Settings, name: str | None) -> Any:
    """The enrollment ``Reviewer`` the CLI acts as: an account, or the CA operator."""
    from padlock.ca.enrollment.model import Reviewer
    from padlock.errors import PolicyError

    if name is None:
        return Reviewer("cli", "CA operator (command line)", None)
    people, store = _reviewers(settings)
    try:
        account = people.get(name)
    finally:
        store.close()
    if not account.active:
        raise PolicyError(f"The reviewer {account.name!r} is disabled.")
    return Reviewer(account.name, account.display_name, account.email)


@app.command("add-user")
def add_user(
    name: str = typer.Argument(..., help="The login name."),
    role: str = typer.Option("reviewer", "--role", help="reviewer or admin."),
    email: str | None = typer.Option(None, "--email", help="Shown to applicants."),
    display_name: str | None = typer.Option(
        None, "--display-name", help="Shown to applicants as their contact person."
    ),
    password_file: Path | None = typer.Option(
        None, "--password-file", help="Read the password from the file's first line."
    ),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Add a reviewer (or admin) account; the password is asked for twice, or read."""
    settings = _settings(data_dir)
    password = _password(password_file, name)
    people, store = _reviewers(settings)
    try:
        added = people.add(
            name, password, role, display_name=display_name, email=email, actor="cli"
        )
    finally:
        store.close()
    if json_out:
        console.print_json(_user_row(added))
        return
    console.say(
        f"Added {added.role} {added.name!r} ({added.display_name}"
        + (f", {added.email}" if added.email else "")
        + f"). Log in at {_console_base_url(settings)}/review/login"
    )


def _console_base_url(settings: Settings) -> str:
    """Where this CA's console is: PADLOCK_BASE_URL when set (what serve uses), else the
    base URL the CA was made with (ca.json), not the laptop default."""
    import os

    from padlock.ca.signer import read_meta
    from padlock.errors import ConfigError

    if os.environ.get("PADLOCK_BASE_URL"):
        return settings.base_url
    try:
        made_with = read_meta(settings.ca_dir).get("base_url") or ""
    except ConfigError:
        made_with = ""
    return made_with.rstrip("/") or settings.base_url


def _user_row(r: Any) -> dict[str, Any]:
    return {
        "name": r.name,
        "display_name": r.display_name,
        "email": r.email,
        "role": r.role,
        "active": r.active,
        "created_at": r.created_at.isoformat(),
        "last_login_at": r.last_login_at.isoformat() if r.last_login_at else None,
    }


@app.command("users")
def users(
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """List the console's accounts."""
    people, store = _reviewers(_settings(data_dir))
    try:
        rows = people.accounts()
    finally:
        store.close()
    if json_out:
        console.print_json([_user_row(r) for r in rows])
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Review console accounts")
    for column in ("login", "name", "email", "role", "active", "last login"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r.name,
            r.display_name,
            r.email or "",
            r.role,
            "yes" if r.active else "no",
            f"{r.last_login_at:%Y-%m-%d %H:%M}" if r.last_login_at else "never",
        )
    Console().print(table)


def _summary_row(r: Any) -> dict[str, Any]:
    org = r.organization
    return {
        "id": r.id,
        "kind": r.kind.value,
        "state": r.state.value,
        "names": list(r.names),
        "contact": r.contact,
        "organization": None
        if org is None
        else {
            "organization": org.organization,
            "locality": org.locality,
            "state": org.state,
            "country": org.country,
        },
        "reviewer": r.reviewer.name if r.reviewer else None,
        "documents": r.documents,
        "created_at": r.created_at.isoformat(),
        "updated_at": r.updated_at.isoformat(),
    }


@app.command("list")
def list_queue(
    state: list[str] = typer.Option(
        ["in_review"], "--state", help="in_review (default), submitted, validating; repeatable."
    ),
    limit: int = typer.Option(100, "--limit"),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """The queue: requests waiting for the CA's staff, oldest first."""
    from padlock import wiring
    from padlock.ca.enrollment.model import RequestState
    from padlock.errors import Malformed

    wanted = []
    for s in state:
        if s not in QUEUE_STATES:
            raise Malformed(
                f"There is no queue state {s!r}.", hint="Use " + ", ".join(QUEUE_STATES)
            )
        wanted.append(RequestState(s))
    settings = _settings(data_dir)
    store = wiring.open_store(settings)
    try:
        rows = wiring.enrollment_store(store).list_requests(frozenset(wanted), max(1, limit), 0)
    finally:
        store.close()
    if json_out:
        console.print_json([_summary_row(r) for r in rows])
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Review queue (" + ", ".join(state) + ")")
    table.add_column("id", no_wrap=True, min_width=max((len(r.id) for r in rows), default=2))
    for column in ("kind", "state", "names", "organization (claimed)", "reviewer", "docs"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r.id,
            r.kind.value,
            r.state.value,
            ", ".join(r.names),
            f"{r.organization.organization}, {r.organization.country}" if r.organization else "",
            r.reviewer.name if r.reviewer else "",
            str(r.documents),
        )
    # Ids are what a reviewer copies into approve/reject: whole on a terminal, and a pipe
    # (no width to fit) gets every column whole.
    import sys

    Console(width=None if sys.stdout.isatty() else 10_000).print(table)
    if not rows:
        console.say("Nothing waiting.")


@app.command("approve")
def approve(
    request_id: str = typer.Argument(..., help="The request's id."),
    org: str = typer.Option(..., "--org", help="The organization's verified legal name (O)."),
    country: str = typer.Option(..., "--country", help="Verified country, two letters (C)."),
    locality: str | None = typer.Option(None, "--locality", help="Verified locality (L)."),
    state: str | None = typer.Option(None, "--state", help="Verified state or province (ST)."),
    reviewer: str | None = typer.Option(
        None, "--reviewer", help="Act as this console account (default: the CA operator)."
    ),
    passphrase_file: Path | None = typer.Option(
        None, "--passphrase-file", help="The CA keys' pass phrase (else $PADLOCK_CA_PASSPHRASE)."
    ),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Approve an OV request with the organization fields you verified; issues it."""
    from padlock.pki.certs import Organization

    settings = _settings(data_dir)
    who = _acting_reviewer(settings, reviewer)
    svc, authority = _enrollment(settings, passphrase_file)
    try:
        done = svc.approve(request_id, who, Organization(org, locality, state, country))
    finally:
        authority.close()
    _report(done, json_out)


@app.command("reject")
def reject(
    request_id: str = typer.Argument(..., help="The request's id."),
    reason: str = typer.Option(..., "--reason", help="Why; the applicant reads it."),
    reviewer: str | None = typer.Option(
        None, "--reviewer", help="Act as this console account (default: the CA operator)."
    ),
    passphrase_file: Path | None = typer.Option(
        None, "--passphrase-file", help="The CA keys' pass phrase (else $PADLOCK_CA_PASSPHRASE)."
    ),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Reject a request, with the reason the applicant will read."""
    settings = _settings(data_dir)
    who = _acting_reviewer(settings, reviewer)
    svc, authority = _enrollment(settings, passphrase_file)
    try:
        done = svc.reject(request_id, who, reason)
    finally:
        authority.close()
    _report(done, json_out)


def _report(req: Any, json_out: bool) -> None:
    row = {
        "id": req.id,
        "state": req.state.value,
        "names": list(req.names),
        "certificate_serial": req.certificate_serial,
        "rejection_reason": req.rejection_reason,
    }
    if json_out:
        console.print_json(row)
        return
    if req.state.value == "issued":
        console.say(f"Issued certificate {req.certificate_serial} for {', '.join(req.names)}.")
    else:
        console.say(
            f"Request {req.id} is {req.state.value.replace('_', ' ')}"
            + (f": {req.rejection_reason}" if req.rejection_reason else ".")
        )


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="review")
