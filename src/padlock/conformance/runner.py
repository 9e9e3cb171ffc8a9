"""One kit run: the loopback DNS up, padlock's protocol checks, then each client in turn
(they share the VA's ports, so one at a time), each on its own accounts."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
from rich.console import Console

from padlock.conformance import cache
from padlock.conformance.checks import run_checks
from padlock.conformance.drivers import acmejs, base, certbot, dehydrated, lego, mod_md
from padlock.conformance.loopback import KitDNS
from padlock.conformance.model import CLIENTS, Cell, CheckResult, ClientRow, KitReport, Status
from padlock.conformance.target import Target
from padlock.errors import CAUnreachable, ConfigError


@dataclass(frozen=True)
class KitOptions:
    target: Target  # its work and txt_dir are replaced by a fresh directory per run
    clients: tuple[str, ...] = CLIENTS
    checks: bool = True
    cache_dir: Path | None = None


def server_needs(target: Target) -> list[str]:
    """What the server under test must be told before the kit runs (the kit prints it)."""
    host, _, port = target.dns.rpartition(":")
    return [
        f"resolve names with the kit's DNS at {target.dns}; fetch http-01 on port "
        f"{target.http_port}, connect for tls-alpn-01 on port {target.tls_port}",
        f"padlock: PADLOCK_VA_RESOLVER={target.dns} PADLOCK_VA_HTTP_PORT={target.http_port}"
        f" PADLOCK_VA_TLS_PORT={target.tls_port}",
        f"Pebble: pebble -dnsserver {host}:{port}, with httpPort {target.http_port} and tlsPort"
        f" {target.tls_port} in its config",
    ]


def from_directory(target: Target) -> Target:
    """``target`` with what the directory offers: its first profile unless one was asked
    for (draft-ietf-acme-profiles meta.profiles), and whether it has renewalInfo."""
    try:
        with httpx.Client(verify=target.ssl_context(), timeout=15) as http:
            answer = http.get(target.directory)
            directory = answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise CAUnreachable(f"The directory {target.directory} could not be read: {exc}") from None
    if answer.status_code != 200 or not isinstance(directory, dict):
        raise CAUnreachable(f"The directory {target.directory} answered {answer.status_code}.")
    profiles = directory.get("meta", {}).get("profiles") or {}
    first = next(iter(profiles), None) if isinstance(profiles, dict) else None
    return replace(target, profile=target.profile or first,
                   renewal_info="renewalInfo" in directory)  # fmt: skip


NO_ARI = Cell(Status.NA, "the server offers no renewalInfo (RFC 9773)")


def _server_lacks(row: ClientRow, target: Target) -> ClientRow:
    """A feature the server does not offer is n/a for every client that has it."""
    cell = row.cells["ari-replaces"]
    if target.renewal_info or cell.status is Status.NA or row.version == "not installed":
        return row
    return replace(row, cells={**row.cells, "ari-replaces": NO_ARI})


def _driver(name: str, target: Target, cache_dir: Path, console: Console) -> ClientRow:
    if name == "certbot5":
        return certbot.drive(name, cache.certbot5(cache_dir, console), target)
    if name == "certbot":
        return certbot.drive(name, cache.on_path("certbot"), target)
    if name == "lego":
        return lego.drive(cache.on_path("lego"), target)
    if name == "dehydrated":
        return dehydrated.drive(cache.on_path("dehydrated"), target)
    if name == "acme-client":
        home = cache.acme_client_js(cache_dir, console)
        return acmejs.drive(cache.on_path("node"), home, target)
    if name == "mod_md":
        return mod_md.drive(cache.on_path("apache2"), target)
    raise ConfigError(f"No client {name!r}: the kit drives {', '.join(CLIENTS)}.")


def run_kit(
    options: KitOptions, console: Console, said: Callable[[str], None] = lambda _: None
) -> KitReport:
    """The whole run; ``said`` hears each step (the CLI prints them)."""
    with tempfile.TemporaryDirectory(prefix="padlock-conformance-") as tmp:
        work, txt = Path(tmp) / "work", Path(tmp) / "txt"
        work.mkdir()
        txt.mkdir()
        target = replace(options.target, work=work, txt_dir=txt)
        target = from_directory(target)
        host, _, port = target.dns.rpartition(":")
        cache_dir = options.cache_dir or cache.default_cache()
        with KitDNS(host, int(port), txt):
            checks: tuple[CheckResult, ...] = ()
            if options.checks:
                said("padlock's protocol checks")
                checks = run_checks(target)
            rows = []
            for name in options.clients:
                said(f"client {name}")
                started = time.monotonic()
                try:
                    row = _driver(name, target, cache_dir, console)
                except cache.Unavailable as missing:
                    row = base.unavailable(name, str(missing))
                row = _server_lacks(row, target)
                rows.append(replace(row, seconds=time.monotonic() - started))
    return KitReport(options.target.directory, tuple(rows), checks)
