"""``padlock ca set-pki-url``, ``padlock ca set-ocsp`` and the doctor's checks of the URLs
in certificates.

Relying parties (browsers, OpenSSL, nginx's stapling) fetch AIA caIssuers, CRLs and OCSP
over plain http (BR 7.1.2.7.7 and 7.1.2.11.2), from the CA's *PKI base URL*, which is kept
apart from the API/ACME base URL clients use over https.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import typer

from padlock.cli import console

if TYPE_CHECKING:
    from padlock.config import Settings

Check = tuple[str, bool, str]
FETCH_SECONDS = 5.0


def set_pki_url(
    url: str = typer.Argument(..., help="The plain http:// base, e.g. http://ca.example.net"),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="The CA's data directory."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Point the URLs in the certificates issued from now on (AIA, CRL DP, OCSP) at URL.

    Repairs a CA made with an https base URL without a new `ca init`. Restart `padlock
    serve` afterwards; certificates issued before keep the URLs they have.
    """
    from padlock.ca.signer import set_pki_base_url
    from padlock.cli.ca_cmds import settings_for

    settings = settings_for(data_dir)
    old, new = set_pki_base_url(settings.ca_dir, url)
    if json_out:
        console.print_json({"old": old, "new": new})
        return
    print(f"Certificates issued from now on point at {new} (was {old}).")
    console.say("Restart padlock serve (every host) so that it issues with the new URLs.")


def set_ocsp(
    state: str = typer.Argument(..., help="on | off"),
    hierarchy: str = typer.Option("trusted", "--hierarchy", help="trusted | test"),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="The CA's data directory."),
) -> None:
    """Turn a hierarchy's OCSP responder on (for stapling) or off (CRLs only).

    Certificates issued from then on name the responder in AIA, or do not; when off, the
    responder answers "unauthorized" for that CA. Restart `padlock serve` afterwards.
    """
    from padlock.ca.revocation_settings import set_ocsp as write_choice
    from padlock.ca.signer import issuer_id
    from padlock.cli.ca_cmds import settings_for
    from padlock.pki.profiles import Hierarchy

    if state not in ("on", "off") or hierarchy not in ("trusted", "test"):
        raise typer.BadParameter("Give on or off, and --hierarchy trusted or test.")
    issuer = issuer_id(Hierarchy(hierarchy), "issuing")
    chosen = write_choice(settings_for(data_dir).ca_dir, issuer, state == "on")
    now_on = "on" if chosen.ocsp else "off"
    print(f"OCSP for {issuer} is {now_on} for certificates issued from now on.")
    console.say("Restart padlock serve (every host) so that it answers and issues accordingly.")


def pki_url_checks(settings: Settings, fetch: bool = True) -> list[Check]:
    """What is wrong with the URLs this CA writes into certificates, for ``padlock doctor``."""
    from padlock.ca.signer import pki_base_url_of, read_meta
    from padlock.errors import PadlockError

    try:
        url = pki_base_url_of(read_meta(settings.ca_dir))
    except PadlockError:
        return []
    parts = urlsplit(url)
    checks: list[Check] = []
    if parts.scheme != "http":
        checks.append(
            (
                "pki-url",
                False,
                f"certificates point at {url}: AIA, CRL DP and OCSP must be http:// (BR"
                " 7.1.2.7.7, 7.1.2.11.2), so no trusted certificate can be issued; run: padlock"
                " ca set-pki-url http://" + (parts.hostname or "HOST"),
            )
        )
    else:
        checks.append(("pki-url", True, f"certificates point at {url}"))
    checks.append(_internal_check(url, parts.hostname or ""))
    if fetch:
        checks.append(_reachable_check(url))
    return checks


def _internal_check(url: str, host: str) -> Check:
    from padlock.pki import policy

    if policy.is_public_host(host):
        return ("pki-host", True, f"{host} is a public name")
    return (
        "pki-host",
        False,
        f"{url} names an internal host ({host}): fine for tests and a private CA, but relying"
        " parties on the internet cannot fetch it and a publicly trusted hierarchy may not"
        " carry it (BR 7.1.2.7.7)",
    )


def _reachable_check(url: str) -> Check:
    """Fetch the trusted issuing CA's certificate, as a relying party follows caIssuers."""
    import httpx

    target = f"{url}/ca/trusted-issuing.der"
    try:
        answer = httpx.get(target, timeout=FETCH_SECONDS, follow_redirects=False)
    except httpx.HTTPError as exc:
        return ("pki-fetch", False, f"{target} is unreachable ({type(exc).__name__}: {exc})")
    if answer.status_code != 200:
        return ("pki-fetch", False, f"{target} answered HTTP {answer.status_code}")
    return ("pki-fetch", True, f"{target} answers over plain HTTP")


def register(ca_app: typer.Typer) -> None:
    ca_app.command("set-pki-url")(set_pki_url)
    ca_app.command("set-ocsp")(set_ocsp)
