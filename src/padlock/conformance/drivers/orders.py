"""Whether a client's renewal order named the certificate it replaces (RFC 9773 section 5):
read back from the server as the client's own account (its key and URL from the client's
files), via the account's orders list (RFC 8555 7.1.2.1) and each order's ``replaces``."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from josepy.errors import DeserializationError
from josepy.jwk import JWK

from padlock.conformance.model import Cell, Status
from padlock.conformance.target import Target
from padlock.conformance.wire import Client, Key

MAX_ORDERS = 50


def mod_md_account(store: Path) -> tuple[Key, str] | str:
    """(key, URL) of mod_md's account, or why it cannot be had."""
    for account in sorted((store / "accounts").glob("*/account.json")):
        try:
            url = json.loads(account.read_text())["url"]
            pem = (account.parent / "account.pem").read_bytes()
        except (OSError, ValueError, KeyError):
            continue
        try:
            key = load_pem_private_key(pem, password=_store_passphrase(store))
        except (TypeError, ValueError):
            return "mod_md's account key could not be read from its store"
        if isinstance(key, Key):
            return key, str(url)
    return f"no mod_md account in {store}"


def _store_passphrase(store: Path) -> bytes | None:
    """mod_md encrypts the keys in its store with the random key md_store.json holds
    (base64url); None when the store has none (keys in the clear)."""
    try:
        text = json.loads((store / "md_store.json").read_text()).get("key")
    except (OSError, ValueError):
        return None
    if not isinstance(text, str) or not text:
        return None
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _orders(client: Client, url: str) -> list[dict[str, Any]]:
    listing = client.get(url).json().get("orders")
    if not isinstance(listing, str):
        return []
    urls = client.get(listing).json().get("orders") or []
    return [client.get(u).json() for u in urls[:MAX_ORDERS] if isinstance(u, str)]


def certbot_account(config: Path) -> tuple[Key, str] | str:
    """(key, URL) of certbot's account: its JWK and registration in ``config/accounts``."""
    for regr in sorted((config / "accounts").rglob("regr.json")):
        try:
            url = json.loads(regr.read_text())["uri"]
            jwk = JWK.json_loads((regr.parent / "private_key.json").read_text())
        except (OSError, ValueError, KeyError, DeserializationError):
            continue
        key = getattr(jwk.key, "_wrapped", jwk.key)
        if isinstance(key, Key):
            return key, str(url)
    return f"no certbot account in {config}"


def replaces_seen(
    found: tuple[Key, str] | str, target: Target, name: str, *, sends: bool = False
) -> Cell:
    """PASS when an order of the account ``found`` for ``name`` carries ``replaces``. When the
    renewal's order has none: FAIL for a client that ``sends`` it (the server dropped it),
    else n/a (the client renewed without it)."""
    if isinstance(found, str):
        return Cell(Status.NOT_RUN, f"renewed, but {found}")
    key, url = found
    try:
        with httpx.Client(verify=target.ssl_context(), timeout=15) as http:
            client = Client(http, target.directory, key=key, kid=url)
            orders = _orders(client, url)
    except (httpx.HTTPError, ValueError) as exc:
        return Cell(Status.NOT_RUN, f"renewed, but the orders could not be read: {exc}")
    mine = [o for o in orders if {"type": "dns", "value": name} in o.get("identifiers", [])]
    if not mine:
        return Cell(Status.NOT_RUN, "renewed, but the server lists no orders for the account")
    if any(o.get("replaces") for o in mine):
        return Cell(Status.PASS)
    if len(mine) < 2:
        return Cell(Status.FAIL, f"only {len(mine)} order for {name}: no renewal was ordered")
    return Cell(
        Status.NA,
        f"the client renewed without replaces ({len(mine)} orders for {name}"
        " as the server lists them, none naming the certificate replaced)",
    )
