"""``padlock show`` and ``padlock match``: look inside files, and tie them together."""

from __future__ import annotations

from pathlib import Path

import typer

from padlock.cli import console


def _load(path: Path, passphrase_file: Path | None, need_key: bool) -> object:
    from padlock.errors import BadPassphrase
    from padlock.pki import keys, objects

    data = console.read_input(path, "file")
    passphrase = console.passphrase_given(passphrase_file)
    if passphrase is None and need_key and keys.is_encrypted(data):
        passphrase = console.existing_passphrase(None, True, what=str(path))
    try:
        return objects.load_any(data, passphrase, what=str(path))
    except BadPassphrase:
        # A PKCS#12 bundle says it needs a pass phrase only when opened: ask on a terminal.
        if passphrase is not None or not console.is_terminal():
            raise
        passphrase = console.existing_passphrase(None, True, what=str(path))
        return objects.load_any(data, passphrase, what=str(path))


def register(app: typer.Typer) -> None:
    @app.command("show")
    def show(
        file: Path = typer.Argument(
            ..., help="A key, CSR, certificate, chain, CRL or PKCS#12 ('-' for stdin)."
        ),
        json_out: bool = typer.Option(False, "--json", help="Print JSON."),
        passphrase_file: Path | None = typer.Option(None, "--passphrase-file"),
    ) -> None:
        """Show what a file holds, like openssl req/x509 -text, but readable."""
        import datetime as dt

        from padlock.pki.describe import describe, render_text
        from padlock.pki.objects import Loaded

        loaded = _load(file, passphrase_file, need_key=False)
        assert isinstance(loaded, Loaded)
        info = describe(loaded, now=dt.datetime.now(dt.UTC))
        if json_out:
            console.print_json({"file": str(file), **info})
        else:
            print(f"{file}:")
            print(render_text(info))

    @app.command("match")
    def match(
        files: list[Path] = typer.Argument(..., help="Two or three files: key, CSR, certificate."),
        passphrase_file: Path | None = typer.Option(None, "--passphrase-file"),
        json_out: bool = typer.Option(False, "--json"),
    ) -> None:
        """Say whether a key, a CSR and a certificate share one public key."""
        from padlock.errors import KeyMismatch, WrongFileKind
        from padlock.pki import keys
        from padlock.pki.objects import Kind, Loaded

        if not 2 <= len(files) <= 3:
            raise typer.BadParameter("give two or three files", param_hint="FILES")
        results = []
        for path in files:
            loaded = _load(path, passphrase_file, need_key=True)
            assert isinstance(loaded, Loaded)
            if loaded.kind in (Kind.CRL,):
                raise WrongFileKind(f"{path} is a {loaded.kind.value}, which holds no public key.")
            public = loaded.public_key
            if public is None and loaded.csr is not None:
                public = loaded.csr.public_key()
            if public is None and loaded.certificates:
                public = loaded.certificates[0].public_key()
            if public is None:
                raise WrongFileKind(f"{path} holds no public key padlock can read.")
            results.append((path, loaded.kind.value, keys.fingerprint(public)))
        differ = [(a, b) for i, a in enumerate(results) for b in results[i + 1 :] if a[2] != b[2]]
        if json_out:
            console.print_json(
                {
                    "match": not differ,
                    "files": [
                        {"file": str(p), "kind": k, "fingerprint": fp} for p, k, fp in results
                    ],
                    "differ": [[str(a[0]), str(b[0])] for a, b in differ],
                }
            )
        else:
            for p, k, fp in results:
                print(f"{fp}  {k:<28} {p}")
        if differ:
            pairs = "; ".join(f"{a[0]} ({a[1]}) and {b[0]} ({b[1]}) differ" for a, b in differ)
            agree = [
                (a, b) for i, a in enumerate(results) for b in results[i + 1 :] if a[2] == b[2]
            ]
            also = "".join(f" ({a[0]} and {b[0]} do share one key.)" for a, b in agree)
            raise KeyMismatch(
                f"The files do not share one public key: {pairs}.{also}",
                hint="A certificate works only with the key its CSR was made from;"
                " find the matching key or make a new CSR from this key.",
            )
        if not json_out:
            print("OK: all files share one public key.")
