"""What the kit reports: a cell per client and feature, a result per protocol check."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PASS = "pass"  # noqa: S105 (a verdict, not a password)
    FAIL = "fail"
    NA = "n/a"  # the client (or the server) lacks the feature: the reason says which
    NOT_RUN = "not run"  # the kit was not given what the feature needs (EAB keys, a client)


@dataclass(frozen=True)
class Cell:
    status: Status
    reason: str = ""


@dataclass(frozen=True)
class Feature:
    key: str
    title: str


FEATURES: tuple[Feature, ...] = (
    Feature("account", "new account"),
    Feature("account-eab", "new account with EAB"),
    Feature("http-01", "http-01"),
    Feature("dns-01", "dns-01"),
    Feature("tls-alpn-01", "tls-alpn-01"),
    Feature("wildcard", "wildcard"),
    Feature("profile", "profile selection"),
    Feature("ari-replaces", "ARI renewal with replaces"),
    Feature("key-change", "key change"),
    Feature("deactivate", "deactivate"),
    Feature("revoke-account", "revoke by account"),
    Feature("revoke-certkey", "revoke by certificate key"),
)
FEATURE_KEYS = tuple(f.key for f in FEATURES)

CLIENTS: tuple[str, ...] = ("certbot5", "certbot", "lego", "dehydrated", "mod_md", "acme-client")


@dataclass(frozen=True)
class ClientRow:
    """One client's line of the table."""

    client: str
    version: str
    cells: Mapping[str, Cell]
    seconds: float = 0.0  # how long the client's whole sequence took

    def as_dict(self) -> dict[str, Any]:
        return {
            "client": self.client,
            "version": self.version,
            "seconds": round(self.seconds, 1),
            "features": {
                k: {"status": str(c.status), "reason": c.reason} for k, c in self.cells.items()
            },
        }


@dataclass(frozen=True)
class CheckResult:
    """One of padlock's own protocol checks: what was sent, the RFC section, the verdict."""

    name: str
    section: str
    status: Status
    reason: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "check": self.name,
            "section": self.section,
            "status": str(self.status),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class KitReport:
    directory: str
    rows: tuple[ClientRow, ...] = ()
    checks: tuple[CheckResult, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "directory": self.directory,
            "features": [{"key": f.key, "title": f.title} for f in FEATURES],
            "clients": [r.as_dict() for r in self.rows],
            "checks": [c.as_dict() for c in self.checks],
            "notes": list(self.notes),
        }

    @property
    def failed(self) -> bool:
        cells = (c for r in self.rows for c in r.cells.values())
        return any(c.status is Status.FAIL for c in cells) or any(
            c.status is Status.FAIL for c in self.checks
        )
