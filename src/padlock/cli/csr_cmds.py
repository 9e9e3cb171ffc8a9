"""``padlock csr``: make a CSR with the right names (the seed's section 4)."""

from __future__ import annotations

from pathlib import Path

import typer

from padlock.cli import console

app = typer.Typer(help="Make certificate signing requests.", no_args_is_help=True)

# The order and wording of ``openssl req``'s questions, which the seed's reader knows.
_PROMPTS = (
    ("country", "Country Name (2 letter code)"),
    ("state", "State or Province Name (full name)"),
    ("locality", "Locality Name (eg, city)"),
    ("organization", "Organization Name (eg, company)"),
    ("organizational_unit", "Organizational Unit Name (eg, section)"),
    ("common_name", "Common Name (the server's host name, e.g. www.example.com)"),
    ("email", "Email Address"),
)


def _check(key: str, value: str) -> None:
    """Check what was typed for the fields people get wrong, so they can type it again."""
    from padlock.pki import names

    if key == "country":
        names.normalize_country(value)
    elif key == "common_name" and not names.is_ip_address(value):
        names.normalize_dns_name(value)


def _ask(fields: dict[str, str | None]) -> dict[str, str | None]:
    """Ask for each missing field; Enter keeps the default in brackets, '.' leaves it empty.

    A country code or host name that is wrong is explained and asked for again, so
    that one typo does not cost the whole dialogue.
    """
    from padlock.errors import InvalidName

    console.say(
        "Enter the details for the CSR. Enter keeps [the default]; '.' leaves a field empty."
    )
    out = dict(fields)
    for key, question in _PROMPTS:
        while True:
            default = out.get(key) or ""
            prompt = f"{question} [{default}]"
            answer = typer.prompt(prompt, default="", show_default=False, err=True).strip()
            if answer == ".":
                out[key] = None
                break
            value = answer or out.get(key)
            if value:
                try:
                    _check(key, value)
                except InvalidName as exc:
                    console.say(f"error: {exc.message}")
                    if exc.hint:
                        console.say(f"hint: {exc.hint}")
                    out[key] = None if not answer else out.get(key)
                    continue
            out[key] = value
            break
    return out


@app.command("new")
def csr_new(
    key: Path = typer.Option(..., "--key", help="The private key the CSR is for."),
    out: Path = typer.Option(..., "--out", help="Where to write the CSR."),
    cn: str | None = typer.Option(None, "--cn", help="The host name, e.g. www.example.com."),
    san: list[str] = typer.Option([], "--san", help="Another name (repeat for more)."),
    country: str | None = typer.Option(None, "--country"),
    state: str | None = typer.Option(None, "--state"),
    locality: str | None = typer.Option(None, "--locality"),
    org: str | None = typer.Option(None, "--org"),
    ou: str | None = typer.Option(None, "--ou"),
    email: str | None = typer.Option(None, "--email"),
    passphrase_file: Path | None = typer.Option(None, "--passphrase-file"),
    force: bool = typer.Option(False, "--force", help="Replace an existing file."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Make a CSR; the CN is always a SAN too, and every name is checked."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from padlock.fileio import read_bytes, refuse_existing, write_atomic
    from padlock.pki import csr as csrlib
    from padlock.pki import keys, objects
    from padlock.pki.describe import describe_csr, render_text

    if not force:
        refuse_existing(out)
    data = read_bytes(key, "key file")
    passphrase = console.existing_passphrase(passphrase_file, keys.is_encrypted(data))
    private = objects.load_key(data, passphrase, f"The key file {str(key)!r}")
    fields: dict[str, str | None] = {
        "country": country,
        "state": state,
        "locality": locality,
        "organization": org,
        "organizational_unit": ou,
        "common_name": cn,
        "email": email,
    }
    if cn is None and not san and console.is_terminal():
        fields = _ask(fields)
    subject = csrlib.SubjectFields(**fields)
    request = csrlib.build_csr(private, subject, san)
    pem = request.public_bytes(Encoding.PEM)
    write_atomic(out, pem, mode=0o644, overwrite=force)
    info = describe_csr(request)
    if json_out:
        console.print_json({"file": str(out), **info})
        return
    print(f"Wrote CSR to {out}.")
    print(render_text(info))
    console.say(f"Check it any time with: padlock show {out}")
