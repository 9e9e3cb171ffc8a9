"""``padlock ca profiles``: the certificate profiles this CA offers, from its profile files."""

from __future__ import annotations

from pathlib import Path

import typer

from padlock.cli import console

DATA_DIR_HELP = "The CA's data directory (default $PADLOCK_DATA_DIR, else ./padlock-data)."


def ca_profiles(
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    json_out: bool = typer.Option(
        False, "--json", help="Each profile's published document (as GET /profiles/NAME.json)."
    ),
) -> None:
    """List the certificate profiles (shipped ones and <data dir>/profiles/*.toml)."""
    from padlock import wiring
    from padlock.cli.ca_cmds import settings_for
    from padlock.pki import profile_document

    settings = settings_for(data_dir)
    profiles = wiring.load_profiles(settings)
    if json_out:
        console.print_json([profile_document.describe(p) for p in profiles.values()])
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Profiles ({settings.data_dir / 'profiles'})")
    for column in ("name", "aliases", "hierarchy", "validity", "names", "CN"):
        table.add_column(column, no_wrap=True)
    for p in profiles.values():
        san = p.rule("subjectAltName")
        table.add_row(
            p.name,
            ", ".join(p.aliases),
            p.hierarchy.value,
            str(profile_document.describe(p)["validity"]["default"]),
            " ".join("ip" if v == "iPAddress" else "dns" for v in san.values) if san else "",
            "yes" if p.common_name else "no",
        )
    Console().print(table)
    console.say("Each profile's document: padlock ca profiles --json, or GET /profiles.")


def register(ca_app: typer.Typer) -> None:
    ca_app.command("profiles")(ca_profiles)
