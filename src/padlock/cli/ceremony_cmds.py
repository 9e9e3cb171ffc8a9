"""``padlock ca ceremony``: make the CA step by step before witnesses, with a transcript."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from padlock.cli import ca_cmds, console

if TYPE_CHECKING:
    from cryptography import x509

    from padlock.ca.signer_pkcs11 import TokenConfig


def _keys_in(token: TokenConfig | None, settings_ca_dir: Path) -> str:
    from padlock.ca.signer import offline_dir_for

    if token is None:
        return (
            "files encrypted with the CA pass phrase (scrypt PKCS#8); the trusted root's key"
            f" in {offline_dir_for(settings_ca_dir)}, to be taken offline"
        )
    return (
        f"inside the PKCS#11 token {token.token_label!r} (module {token.module}),"
        " sensitive and never extractable"
    )


def ceremony(
    data_dir: Path | None = typer.Option(None, "--data-dir", help=ca_cmds.DATA_DIR_HELP),
    name: str = typer.Option("padlock", "--name", help="The CA's name, shown in its certificates."),
    base_url: str | None = typer.Option(None, "--base-url", help="As for padlock ca init."),
    pki_base_url: str | None = typer.Option(None, "--pki-base-url", help="As for ca init."),
    country: str | None = typer.Option(None, "--country", help="As for padlock ca init."),
    root_key_type: str = typer.Option("ec-p384", "--root-key-type"),
    issuing_key_type: str = typer.Option("ec-p256", "--issuing-key-type"),
    passphrase_file: Path | None = typer.Option(
        None, "--passphrase-file", help="The CA keys' pass phrase (else $PADLOCK_CA_PASSPHRASE)."
    ),
    pkcs11_module: Path | None = ca_cmds.PKCS11_MODULE_OPTION,
    token_label: str | None = ca_cmds.TOKEN_LABEL_OPTION,
    pin_file: Path | None = ca_cmds.PIN_FILE_OPTION,
    witness: list[str] = typer.Option([], "--witness", help="A witness's name (repeatable)."),
    transcript: Path | None = typer.Option(
        None, "--transcript", help="Write the transcript here (default DATA/ceremony.txt)."
    ),
    yes: bool = typer.Option(False, "--yes", help="Do every step without asking."),
) -> None:
    """Make the CA (both hierarchies, the trusted root's key in a file to take offline or in
    a token) one announced step at a time, asking before each; print and write a transcript
    with the SHA-256 of every CA certificate and public key; record it in the audit trail."""
    from padlock import __version__, hosts, wiring
    from padlock.ca import ceremony as cer
    from padlock.ca.issuance import utcnow
    from padlock.ca.signer import create_authority
    from padlock.errors import BadPassphrase, OutputExists
    from padlock.fileio import write_atomic

    settings = ca_cmds.settings_for(data_dir).with_overrides(
        base_url=base_url, pki_base_url=pki_base_url
    )
    if not yes and not console.is_terminal():
        raise typer.BadParameter(
            "The ceremony asks before each step: give --yes, or run it on a terminal."
        )
    hosts.refuse_new_ca(settings)
    out = transcript or settings.data_dir / "ceremony.txt"
    if out.exists():
        raise OutputExists(f"{out} exists already.", hint="Give another --transcript.")
    token = ca_cmds.token_choice(pkcs11_module, token_label)
    secret = ca_cmds.token_secret(token, pin_file) or wiring.ca_passphrase(
        settings, passphrase_file
    )
    if secret is None:
        if not console.is_terminal():
            raise BadPassphrase(
                "No pass phrase for the CA keys.",
                hint="Set PADLOCK_CA_PASSPHRASE or give --passphrase-file (a ceremony never"
                " writes a generated one beside the keys).",
            )
        secret = console.new_passphrase(None)
    facts = cer.CeremonyFacts(
        name, str(settings.data_dir), _keys_in(token, settings.ca_dir), tuple(witness),
        utcnow(), __version__,
    )  # fmt: skip
    record = cer.Transcript(facts)

    def step(text: str) -> None:
        if not yes:
            typer.confirm(f"Next: {text}. Go on?", abort=True, err=True)
        print(record.step(text, utcnow()), flush=True)

    create_authority(
        settings.ca_dir, name=name, passphrase=secret, now=utcnow(), base_url=settings.base_url,
        pki_base_url=settings.effective_pki_base_url, country=country,
        root_key_type=root_key_type, issuing_key_type=issuing_key_type, token=token, step=step,
    )  # fmt: skip
    hosts.record_ca(settings, "ca ceremony")
    certificates = _certificates(settings.ca_dir)
    text = record.text(certificates)
    event = wiring.record_audit(
        settings, cer.audit_entry(text, facts, [(i, c) for i, c, _s in certificates])
    )
    text += f"audit event {event.seq}: {event.action}, hash {event.hash}\n"
    write_atomic(out, text.encode())
    print(text, end="")
    console.say(f"The transcript is in {out}; padlock audit verify checks the trail it is in.")
    if not cer.signatures_ok(text):
        raise typer.Exit(1)


def _certificates(ca_dir: Path) -> list[tuple[str, x509.Certificate, x509.Certificate]]:
    """(id, certificate, the certificate that signed it) of every CA certificate made."""
    from cryptography import x509

    from padlock.ca.signer import hierarchy_files, issuer_id, offline_dir_for
    from padlock.pki.profiles import Hierarchy

    found: list[tuple[str, x509.Certificate, x509.Certificate]] = []
    for hierarchy in Hierarchy:
        files = hierarchy_files(ca_dir, hierarchy, offline_dir_for(ca_dir))
        root = x509.load_pem_x509_certificate(files.root_cert.read_bytes())
        issuing = x509.load_pem_x509_certificate(files.issuing_cert.read_bytes())
        found.append((issuer_id(hierarchy, "root"), root, root))
        found.append((issuer_id(hierarchy, "issuing"), issuing, root))
    return found


def register() -> None:
    ca_cmds.app.command("ceremony")(ceremony)
