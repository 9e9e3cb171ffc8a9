"""The record of one certificate over its renewals (a lineage), and the state directory that
keeps them: what ``padlock renew`` repeats and ``padlock obtain --resume`` continues.

The state directory (``$PADLOCK_SITE_DIR``, else ``~/.local/share/padlock``)::

    STATE/lock                                one obtain/renew at a time (flock)
    STATE/accounts/<host>-<hash>/             per ACME directory: key.pem (0600), account.json
    STATE/certificates/<name>/lineage.json    settings, the current certificate, the request
                                              in flight (0600)
    STATE/certificates/<name>/pending/        the request in flight: privkey.pem (0600), csr.pem
    STATE/certificates/<name>/current/        --apache/--nginx: privkey.pem (0600), cert.pem,
                                              chain.pem, fullchain.pem (--out DIR: in DIR)
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from padlock.errors import BadPassphrase, Conflict, FileProblem, NotFound
from padlock.fileio import read_bytes, write_atomic
from padlock.filelock import held
from padlock.site.ca_http import Trust

STATE_ENV = "PADLOCK_SITE_DIR"
KINDS = ("test", "dv", "ov")
TARGETS = ("out", "apache", "nginx")
DEFAULT_WAIT = 120.0  # seconds to wait for the CA's checks and issuance
LOCK_WAIT = 60.0
FORMAT = 1


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(when: dt.datetime) -> str:
    """A time as the record keeps it (RFC 3339, UTC)."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def day(when: dt.datetime) -> str:
    """A time as a person reads it in a reason (to the minute, UTC)."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def parse_iso(text: str) -> dt.datetime:
    """A time the record keeps, read back (UTC when it names no zone)."""
    when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Target:
    """Where the certificate goes: files in a directory, or Apache, or nginx."""

    kind: str  # out | apache | nginx
    out_dir: str | None = None
    config_root: str | None = None
    port: int = 443
    http_port: int = 80
    listen_address: str | None = None
    decrypt_key: bool = False
    hsts: bool = False
    redirect: bool = True
    layout: str | None = None

    def describe(self) -> str:
        if self.kind == "out":
            return f"files in {self.out_dir}"
        return f"{self.kind} ({self.config_root}, port {self.port})"


@dataclass(frozen=True)
class Settings:
    """Everything ``padlock renew`` repeats; saved in ``lineage.json`` (never a pass phrase)."""

    names: tuple[str, ...]  # the first is the CN and the site's name
    target: Target
    ca: str | None = None  # padlock's base URL (REST)
    acme: str | None = None  # an ACME directory URL
    kind: str | None = None  # test | dv | ov
    profile: str | None = None  # an ACME profile
    contact: str | None = None
    organization: dict[str, str | None] | None = None  # ov: organization, locality, state, country
    documents: tuple[str, ...] = ()
    key_type: str = "ec-p256"
    encrypt: bool = True
    passphrase_file: str | None = None
    webroot: str | None = None
    standalone_port: int | None = None
    standalone_address: str = "0.0.0.0"  # noqa: S104 - the CA connects from outside
    ca_roots: tuple[str, ...] = ()
    wait: float = DEFAULT_WAIT
    challenge: str = "http-01"  # ACME: http-01, dns-01, dns-account-01 or dns-persist-01
    dns_hook: str | None = None  # the program that adds and removes TXT records

    @property
    def name(self) -> str:
        return self.names[0]

    @property
    def protocol(self) -> str:
        return "acme" if self.acme else "rest"

    @property
    def where(self) -> str:
        return self.acme or self.ca or "?"

    def trust(self) -> Trust:
        return Trust(tuple(Path(r) for r in self.ca_roots))

    def needs_http_check(self) -> bool:
        if self.protocol == "acme":
            return self.challenge == "http-01"
        return self.kind != "test"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Settings:
        data = dict(doc)
        data["target"] = Target(**data["target"])
        for key in ("names", "documents", "ca_roots"):
            data[key] = tuple(data.get(key) or ())
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class Current:
    """The certificate obtained last, and where its files are."""

    serial: str
    not_before: str
    not_after: str
    obtained_at: str
    files: dict[str, str]  # key, cert, chain, fullchain
    request_id: str | None = None
    order_url: str | None = None
    certificate_url: str | None = None


@dataclass(frozen=True)
class Pending:
    """The request in flight: its key and CSR, and what the CA knows of it."""

    started_at: str
    key_file: str
    csr_file: str
    request_id: str | None = None
    status_url: str | None = None
    order_url: str | None = None
    account_url: str | None = None
    state: str = "new"  # new | submitted | validating | in_review | processing | issued
    documents_sent: bool = False
    previous_request: str | None = None  # REST renewal: reuse the proven names
    replaces: str | None = None  # ACME renewal: RFC 9773 certificate id
    profile: str | None = None  # the ACME profile the CA placed the order in

    @property
    def reference(self) -> str | None:
        return self.request_id or self.order_url


@dataclass(frozen=True)
class Lineage:
    """One certificate over its renewals: ``STATE/certificates/<name>/lineage.json``."""

    settings: Settings
    current: Current | None = None
    pending: Pending | None = None
    history: tuple[dict[str, str], ...] = ()
    last_error: str | None = None

    @property
    def name(self) -> str:
        return self.settings.name

    def to_json(self) -> bytes:
        doc = {
            "format": FORMAT,
            "settings": self.settings.to_dict(),
            "current": dataclasses.asdict(self.current) if self.current else None,
            "pending": dataclasses.asdict(self.pending) if self.pending else None,
            "history": list(self.history),
            "last_error": self.last_error,
        }
        return json.dumps(doc, indent=2).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes, where: Path) -> Lineage:
        try:
            doc = json.loads(data)
            return cls(
                settings=Settings.from_dict(doc["settings"]),
                current=Current(**doc["current"]) if doc.get("current") else None,
                pending=Pending(**doc["pending"]) if doc.get("pending") else None,
                history=tuple(doc.get("history") or ()),
                last_error=doc.get("last_error"),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise FileProblem(
                f"padlock's record {str(where)!r} is damaged ({exc!r}).",
                hint="Move it away and run padlock obtain again for that name.",
            ) from exc


# --------------------------------------------------------------------------- the state


def default_state_dir(env: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if env is None else env
    if environ.get(STATE_ENV):
        return Path(environ[STATE_ENV])
    base = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "padlock"


def dir_name(name: str) -> str:
    """A certificate's name as a file name (a wildcard's ``*`` spelled out)."""
    return name.replace("*", "_wildcard_")


class SiteState:
    """The state directory (see the module's docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def ensure(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            (self.root / "certificates").mkdir(exist_ok=True, mode=0o700)
        except OSError as exc:
            raise FileProblem(
                f"Cannot make padlock's state directory {str(self.root)!r}: {exc.strerror}.",
                hint=f"Give another with --state-dir (or ${STATE_ENV}).",
            ) from exc

    @contextlib.contextmanager
    def locked(self, wait: float = LOCK_WAIT) -> Iterator[None]:
        self.ensure()

        def busy() -> Conflict:
            return Conflict(
                f"Another padlock obtain or renew is using {self.root}.",
                hint="Wait for it to finish, then run this again.",
            )

        with held(self.root / "lock", wait=wait, pause=0.2, busy=busy):
            yield

    def lineage_dir(self, name: str) -> Path:
        return self.root / "certificates" / dir_name(name)

    def account_dir(self, directory_url: str) -> Path:
        host = (urlsplit(directory_url).hostname or "acme").replace(":", "_")
        digest = hashlib.sha256(directory_url.encode()).hexdigest()[:12]
        return self.root / "accounts" / f"{host}-{digest}"

    def load(self, name: str) -> Lineage | None:
        path = self.lineage_dir(name) / "lineage.json"
        if not path.exists():
            return None
        return Lineage.from_json(read_bytes(path, "padlock record"), path)

    def save(self, lineage: Lineage) -> Lineage:
        directory = self.lineage_dir(lineage.name)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(directory / "lineage.json", lineage.to_json(), mode=0o600, overwrite=True)
        return lineage

    def forget(self, name: str) -> None:
        shutil.rmtree(self.lineage_dir(name), ignore_errors=True)

    def all(self) -> list[Lineage]:
        out: list[Lineage] = []
        base = self.root / "certificates"
        if not base.is_dir():
            return out
        for entry in sorted(base.iterdir()):
            path = entry / "lineage.json"
            if path.is_file():
                out.append(Lineage.from_json(read_bytes(path, "padlock record"), path))
        return out

    def find(self, ref: str) -> Lineage:
        """The lineage a ``--resume`` reference names: a request id, an ACME order URL, a
        status page URL, or the certificate's name."""
        text = ref.strip()
        for lin in self.all():
            p = lin.pending
            refs = {lin.name}
            if p is not None:
                refs |= {x for x in (p.request_id, p.order_url, p.status_url) if x}
            if text in refs or text.lower() == lin.name:
                return lin
        for lin in self.all():
            c = lin.current
            if c is not None and text in {c.request_id, c.order_url}:
                return lin
        raise NotFound(
            f"padlock has no request {ref!r} in {self.root}.",
            hint="Give the request id padlock obtain printed (or the certificate's name);"
            " padlock renew --dry-run lists what it knows.",
        )


def passphrase_for(lineage: Lineage, given: Callable[[Lineage], bytes | None]) -> bytes | None:
    """The pass phrase of a lineage's key: none (not encrypted), the first line of its
    --passphrase-file, else what ``given`` finds (PADLOCK_PASSPHRASE, a prompt)."""
    s = lineage.settings
    if not s.encrypt:
        return None
    if s.passphrase_file:
        data = read_bytes(Path(s.passphrase_file), "pass phrase file", limit=64 * 1024)
        lines = data.splitlines()
        return lines[0] if lines else b""
    found = given(lineage)
    if found is None:
        raise BadPassphrase(
            f"The key of {lineage.name} is encrypted and no pass phrase is at hand.",
            hint="Obtain it with --passphrase-file (renew reads that file again), or set"
            " PADLOCK_PASSPHRASE for padlock renew.",
        )
    return found


__all__ = [
    "DEFAULT_WAIT",
    "KINDS",
    "STATE_ENV",
    "TARGETS",
    "Current",
    "Lineage",
    "Pending",
    "Settings",
    "SiteState",
    "Target",
    "day",
    "default_state_dir",
    "dir_name",
    "iso",
    "parse_iso",
    "passphrase_for",
    "utcnow",
]
