"""How each issuing CA publishes revocation: CRL shards and OCSP, kept in ca.json.

``ca.json``'s ``revocation`` maps an issuer to its choice::

    "revocation": {"trusted-issuing": {"crl_shards": 128, "ocsp": false},
                   "test-issuing": {"crl_shards": 4, "ocsp": true}}

An issuer not listed (a CA made before this setting existed) keeps what it always had:
one full CRL and an OCSP responder. A new CA (``ca init``) gets CRL shards for both
hierarchies and OCSP for the test hierarchy only, unless the operator asks for it (to
staple); Let's Encrypt ended OCSP in 2025, and the BR have not required it since
ballot SC-063. The number of shards is fixed once certificates name them: a
revocation is listed in the shard its certificate names, whatever the setting says
later, so changing it would only spread new certificates differently.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from padlock.errors import ConfigError
from padlock.fileio import read_bytes, write_atomic
from padlock.pki import crl_shards
from padlock.pki.profiles import Hierarchy


@dataclass(frozen=True)
class RevocationChoice:
    """One issuing CA's choice: how many CRL shards (0: one full CRL), and OCSP or not."""

    crl_shards: int = 0
    ocsp: bool = True

    def as_json(self) -> dict[str, Any]:
        return {"crl_shards": self.crl_shards, "ocsp": self.ocsp}


LEGACY = RevocationChoice()  # an issuer ca.json says nothing about: as before shards


def for_new_ca(
    hierarchy: Hierarchy, *, crl_shards_count: int | None = None, ocsp: bool | None = None
) -> RevocationChoice:
    """The choice ``ca init`` writes for a hierarchy's issuing CA."""
    shards = crl_shards_count
    if shards is None:
        shards = crl_shards.DEFAULT_SHARDS[hierarchy.value]
    return RevocationChoice(
        crl_shards.check_shards(shards),
        hierarchy is Hierarchy.TEST if ocsp is None else ocsp,
    )


def choices(meta: Mapping[str, Any]) -> dict[str, RevocationChoice]:
    """{issuer: choice} from ca.json's contents; ConfigError for a value that is not one."""
    found = meta.get("revocation") or {}
    if not isinstance(found, dict):
        raise ConfigError("ca.json's 'revocation' is not a mapping of issuers.")
    out: dict[str, RevocationChoice] = {}
    for issuer, value in found.items():
        shards = value.get("crl_shards", 0) if isinstance(value, dict) else None
        ocsp = value.get("ocsp", True) if isinstance(value, dict) else None
        if not isinstance(shards, int) or isinstance(shards, bool) or not isinstance(ocsp, bool):
            raise ConfigError(f"ca.json's revocation setting of {issuer!r} is not readable.")
        try:
            out[str(issuer)] = RevocationChoice(crl_shards.check_shards(shards), ocsp)
        except ValueError as exc:
            raise ConfigError(f"ca.json's revocation setting of {issuer!r}: {exc}.") from None
    return out


_GENERATION = re.compile(r"((?:test|trusted)-issuing)-[0-9]+")


def choice_for(chosen: Mapping[str, RevocationChoice], issuer: str) -> RevocationChoice:
    """``issuer``'s choice: its own, else (a later issuing CA, ``ca new-issuer``) that of its
    hierarchy's first issuing CA, else :data:`LEGACY`."""
    found = chosen.get(issuer)
    if found is not None:
        return found
    later = _GENERATION.fullmatch(issuer)
    return chosen.get(later.group(1), LEGACY) if later else LEGACY


def set_ocsp(ca_dir: Path, issuer: str, on: bool) -> RevocationChoice:
    """Turn ``issuer``'s OCSP responder on or off for the certificates it issues from now
    on (and its responder's answers: unauthorized when off); the new choice."""
    path = ca_dir / "ca.json"
    if not path.exists():
        raise ConfigError(
            f"There is no CA in {ca_dir.parent}.",
            hint="Make one with: padlock ca init --data-dir " + str(ca_dir.parent),
        )
    meta = json.loads(read_bytes(path, "CA metadata"))
    current = choices(meta)
    chosen = RevocationChoice(current.get(issuer, LEGACY).crl_shards, on)
    meta["revocation"] = {
        **{i: c.as_json() for i, c in current.items()},
        issuer: chosen.as_json(),
    }
    write_atomic(path, json.dumps(meta, indent=2).encode(), overwrite=True)
    return chosen
