"""``padlock conformance DIRECTORY_URL``: the ACME conformance kit (padlock.conformance)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from padlock.cli import console

Clients = Annotated[
    str,
    typer.Option(
        "--clients",
        help="Comma-separated: certbot5, certbot, lego, dehydrated, mod_md, acme-client.",
    ),
]
Features = Annotated[
    str,
    typer.Option("--features", help="Comma-separated feature columns to show (default: all)."),
]
CaFile = Annotated[
    Path | None, typer.Option("--ca-file", help="PEM roots the server's TLS certificate chains to.")
]
EabKid = Annotated[str | None, typer.Option("--eab-kid", help="An EAB key id from the CA.")]
EabHmac = Annotated[
    str | None, typer.Option("--eab-hmac-key", help="Its MAC key (base64url), for the EAB column.")
]
Profile = Annotated[
    str | None,
    typer.Option("--profile", help="The profile to ask for (default: the first one offered)."),
]
DnsPort = Annotated[
    int, typer.Option("--dns-port", help="Where the kit's DNS listens (127.0.0.1).")
]
HttpPort = Annotated[
    int, typer.Option("--http-port", help="Where the server's VA fetches http-01.")
]
TlsPort = Annotated[int, typer.Option("--tls-port", help="Where it connects for tls-alpn-01.")]
Domain = Annotated[str, typer.Option("--domain", help="Test names are RANDOM.DOMAIN.")]
NoChecks = Annotated[bool, typer.Option("--no-checks", help="Skip padlock's protocol checks.")]
CacheDir = Annotated[
    Path | None, typer.Option("--cache-dir", help="Where clients are installed (~/.cache/padlock).")
]
JsonOut = Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]
Timeout = Annotated[float, typer.Option("--timeout", help="Seconds one client command may take.")]


def _list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def conformance(
    directory_url: Annotated[str, typer.Argument(help="The ACME directory URL under test.")],
    clients: Clients = "certbot5,certbot,lego,dehydrated,mod_md,acme-client",
    features: Features = "",
    ca_file: CaFile = None,
    eab_kid: EabKid = None,
    eab_hmac_key: EabHmac = None,
    profile: Profile = None,
    dns_port: DnsPort = 8053,
    http_port: HttpPort = 5002,
    tls_port: TlsPort = 5001,
    domain: Domain = "example.com",
    no_checks: NoChecks = False,
    cache_dir: CacheDir = None,
    json_out: JsonOut = False,
    timeout: Timeout = 120.0,
) -> None:
    """Drive real ACME clients against DIRECTORY_URL and run padlock's RFC 8555 checks; print
    a client x feature table. Loopback only: the server must use the kit's DNS and ports."""
    from rich.console import Console

    from padlock.conformance import render
    from padlock.conformance.model import CLIENTS, FEATURE_KEYS
    from padlock.conformance.runner import KitOptions, run_kit, server_needs
    from padlock.conformance.target import Eab, Target
    from padlock.errors import ConfigError

    chosen, shown = _list(clients), _list(features)
    unknown = [c for c in chosen if c not in CLIENTS] + [f for f in shown if f not in FEATURE_KEYS]
    if unknown:
        raise ConfigError(
            f"Unknown client or feature: {', '.join(unknown)}.",
            hint=f"Clients: {', '.join(CLIENTS)}; features: {', '.join(FEATURE_KEYS)}.",
        )
    if (eab_kid is None) != (eab_hmac_key is None):
        raise ConfigError("--eab-kid and --eab-hmac-key go together.")
    eab = Eab(eab_kid, eab_hmac_key) if eab_kid and eab_hmac_key else None
    target = Target(
        directory=directory_url, ca_file=ca_file, http_port=http_port, tls_port=tls_port,
        dns=f"127.0.0.1:{dns_port}", txt_dir=Path(), work=Path(), domain=domain, eab=eab,
        profile=profile, timeout=timeout,
    )  # fmt: skip
    err = Console(stderr=True)
    for line in server_needs(target):
        console.say(f"The server needs: {line}")
    options = KitOptions(target, chosen, not no_checks, cache_dir)
    report = run_kit(options, err, lambda step: console.say(f"... {step}"))
    if json_out:
        print(render.as_json(report))
    else:
        out = Console()
        if report.checks:
            out.print(render.checks_table(report))
        out.print(render.table(report, shown))
        for line in render.reasons(report, shown):
            out.print(line, markup=False, highlight=False)
    if report.failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("conformance")(conformance)
