"""``padlock key``: make a private key, back it up (the seed's section 3)."""

from __future__ import annotations

from pathlib import Path

import typer

from padlock.cli import console

app = typer.Typer(help="Make private keys and back them up.", no_args_is_help=True)

KEY_TYPES = "ec-p256|ec-p384|rsa-2048|rsa-3072|rsa-4096|ed25519"


@app.command("new")
def key_new(
    file: Path = typer.Argument(..., help="Where to write the key (mode 0600)."),
    key_type: str = typer.Option("ec-p256", "--type", help=KEY_TYPES),
    passphrase_file: Path | None = typer.Option(
        None, "--passphrase-file", help="Read the pass phrase from the first line of this file."
    ),
    no_encrypt: bool = typer.Option(False, "--no-encrypt", help="Write the key unencrypted."),
    force: bool = typer.Option(False, "--force", help="Replace an existing file."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Make a private key: ECDSA P-256 unless told otherwise, encrypted with a pass phrase."""
    from padlock.errors import BadPassphrase
    from padlock.fileio import refuse_existing, write_atomic
    from padlock.pki import keys

    kind = keys.parse_key_type(key_type)
    if no_encrypt and passphrase_file is not None:
        raise BadPassphrase(
            "--no-encrypt and --passphrase-file contradict each other.",
            hint="Give one: a pass phrase file for an encrypted key, or --no-encrypt.",
        )
    if not force:
        refuse_existing(file)
    passphrase = None if no_encrypt else console.new_passphrase(passphrase_file)
    if passphrase is not None:
        keys.check_passphrase_strength(passphrase)
    key = keys.generate_key(kind)
    write_atomic(file, keys.private_key_pem(key, passphrase), mode=0o600, overwrite=force)
    fp = keys.fingerprint(key.public_key())
    if json_out:
        console.print_json(
            {
                "file": str(file),
                "type": kind.value,
                "encrypted": passphrase is not None,
                "fingerprint": fp,
            }
        )
        return
    state = "encrypted" if passphrase is not None else "NOT encrypted"
    print(f"Wrote {kind.value} key to {file} (mode 0600, {state}).")
    print(f"Fingerprint: {fp}")
    if passphrase is not None:
        console.say(
            "Make a backup copy of this key and record its pass phrase:"
            f" padlock key backup {file} /path/to/removable/disk/{file.name}"
        )


@app.command("backup")
def key_backup(
    key_file: Path = typer.Argument(..., help="The key to back up."),
    dest: Path = typer.Argument(..., help="Where to write the copy (a file, or a directory)."),
    passphrase_file: Path | None = typer.Option(None, "--passphrase-file"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Copy a key, then prove the copy decrypts with the pass phrase and is the same key."""
    from padlock.errors import FileProblem, OutputExists
    from padlock.fileio import read_bytes, write_atomic
    from padlock.pki import keys, objects

    data = read_bytes(key_file, "key file")
    target = dest / key_file.name if dest.is_dir() else dest
    if target.exists() or target.is_symlink():  # before asking for the pass phrase
        raise OutputExists(
            f"{str(target)!r} exists already; padlock never overwrites a backup.",
            hint="Give another name for the copy, or move the old one away first.",
        )
    encrypted = keys.is_encrypted(data)
    passphrase = console.existing_passphrase(passphrase_file, encrypted)
    # A wrong pass phrase fails here, before anything is written.
    original = objects.load_key(data, passphrase, f"The key file {str(key_file)!r}")
    write_atomic(target, data, mode=0o600, overwrite=False)
    try:
        copy = keys.load_private_key(
            read_bytes(target, "backup copy"), passphrase, f"The copy {str(target)!r}"
        )
        same = keys.fingerprint(copy.public_key()) == keys.fingerprint(original.public_key())
        if not same:  # pragma: no cover - would mean the disk returned other bytes
            raise FileProblem(
                f"The copy at {target} does not read back as the same key; removed it."
            )
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    fp = keys.fingerprint(copy.public_key())
    if json_out:
        console.print_json(
            {"file": str(target), "verified": True, "encrypted": encrypted, "fingerprint": fp}
        )
        return
    proof = "decrypts with the pass phrase and " if encrypted else ""
    print(f"Backed up {key_file} to {target}; the copy {proof}is the same key ({fp}).")
    if encrypted:
        console.say(
            "Record the pass phrase somewhere safe and apart from the copy:"
            " without it the backup is useless."
        )
    else:
        console.say("This key is NOT encrypted: keep the copy where nobody else can read it.")
