"""``padlock ca clone-to``: prepare another host's data dir for the same CA and database."""

from __future__ import annotations

from pathlib import Path

import typer

from padlock.cli import ca_cmds, console


def clone_to(
    dest: Path = typer.Argument(..., help="The new host's data directory (made if missing)."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=ca_cmds.DATA_DIR_HELP),
    with_passphrase: bool = typer.Option(
        True,
        "--with-passphrase/--without-passphrase",
        help="Copy the generated pass phrase file too (when the CA has one in its data dir);"
        " without it the new host needs $PADLOCK_CA_PASSPHRASE.",
    ),
    update: bool = typer.Option(
        False,
        "--update",
        help="DEST holds this CA already: copy only what it lacks (the issuing CA that"
        " padlock ca new-issuer made), overwriting nothing.",
    ),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Copy this CA (certificates, encrypted issuing keys, OCSP responders, ca.json) into a
    new host's data dir, after checking it is the database's CA. The offline trusted root
    key is not copied. The new host serves with the same PADLOCK_DATABASE_URL."""
    from padlock import hosts

    settings = ca_cmds.settings_for(data_dir)
    written = hosts.clone_to(settings, dest, with_passphrase=with_passphrase, update=update)
    has_phrase = any(p.name == "passphrase" and p.parent == dest / "ca" for p in written)
    if json_out:
        console.print_json(
            {"data_dir": str(dest), "files": [str(p) for p in written], "passphrase": has_phrase}
        )
        return
    print(f"Copied the CA into {dest} ({len(written)} files; no offline root key).")
    console.say(
        f"Start the host with: PADLOCK_DATABASE_URL=<the same URL> padlock serve --data-dir {dest}"
        + ("" if has_phrase else " (and PADLOCK_CA_PASSPHRASE set)")
    )


def register() -> None:
    ca_cmds.app.command("clone-to")(clone_to)
