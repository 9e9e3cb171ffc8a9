"""The configured remote perspectives: each one's name, URL, public key, RIR and place.

Read from the JSON file ``PADLOCK_MPIC_PERSPECTIVES`` names (docs/ca-operations.md)::

    {"perspectives": [{"name": "fra", "url": "https://fra.example:8444",
      "key": "<base64url Ed25519 public key>", "rir": "RIPE NCC",
      "latitude": 50.11, "longitude": 8.68}, ...]}

Parsing is pure; the file is read by ``wiring``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from padlock import bodies
from padlock.ca.mpic.quorum import RIRS, Place
from padlock.ca.mpic.signing import public_key
from padlock.errors import ConfigError, Malformed

MAX_PERSPECTIVES = 32
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")


@dataclass(frozen=True)
class PerspectiveConfig:
    """One remote perspective as the CA knows it."""

    name: str
    url: str
    key: Ed25519PublicKey
    place: Place

    @property
    def check_url(self) -> str:
        return self.url.rstrip("/") + "/check"


def _number(entry: dict[str, Any], key: str, bound: float, where: str) -> float:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or abs(value) > bound:
        raise ConfigError(f"{where}: {key} must be a number from -{bound:g} to {bound:g}.")
    return float(value)


def _one(entry: Any, index: int) -> PerspectiveConfig:
    where = f"perspective {index + 1}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} is not an object.")
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(f"{where}: name must be 1 to 40 of a-z, 0-9 and '-'.")
    where = f"perspective {name!r}"
    url = entry.get("url")
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{where}: url must be an http or https URL.")
    rir = entry.get("rir")
    rirs = {r.lower(): r for r in RIRS}
    if not isinstance(rir, str) or rir.lower() not in rirs:
        raise ConfigError(f"{where}: rir must be one of {', '.join(RIRS)}.")
    key = entry.get("key")
    if not isinstance(key, str):
        raise ConfigError(f"{where}: key must be its public key (base64url).")
    place = Place(
        name,
        rirs[rir.lower()],
        _number(entry, "latitude", 90, where),
        _number(entry, "longitude", 180, where),
    )
    return PerspectiveConfig(name, str(url), public_key(key, f"{where}'s key"), place)


def parse(
    text: bytes | str, source: str = "the perspectives file"
) -> tuple[PerspectiveConfig, ...]:
    """The perspectives a file configures; ConfigError naming what is wrong."""
    try:
        doc = bodies.loads(text, source)
    except Malformed as exc:
        raise ConfigError(exc.message) from None
    entries = doc.get("perspectives") if isinstance(doc, dict) else doc
    if not isinstance(entries, list):
        raise ConfigError(f"{source} holds no list of perspectives.")
    if len(entries) > MAX_PERSPECTIVES:
        raise ConfigError(f"{source} names over {MAX_PERSPECTIVES} perspectives.")
    found = tuple(_one(e, i) for i, e in enumerate(entries))
    names = [p.name for p in found]
    if len(set(names)) != len(names):
        raise ConfigError(f"{source} names a perspective twice.")
    return found


def places(perspectives: Sequence[PerspectiveConfig]) -> list[Place]:
    return [p.place for p in perspectives]
