"""``padlock obtain`` and ``padlock renew``: the seed's whole guide in one command.

Key (encrypted unless told otherwise, mode 0600) -> CSR (CN and SANs) -> the CA (padlock's
REST API, or any ACME directory) -> the HTTP check answered (web root or a listener of our
own) -> the full chain fetched and verified -> written to a directory, or installed into
Apache or nginx by their installers (which prove the live server shows it for every name).

Everything the next step needs is saved before the step is taken, so that an ov request
waiting for a reviewer, a failed check or a crash continues with ``padlock obtain --resume``,
and ``padlock renew`` repeats it unattended with the saved settings. The state directory
(``$PADLOCK_SITE_DIR``, else ``~/.local/share/padlock``)::

    STATE/lock                                one obtain/renew at a time (flock)
    STATE/accounts/<host>-<hash>/             per ACME directory: key.pem (0600), account.json
    STATE/certificates/<name>/lineage.json    settings, the current certificate, the request
                                              in flight (0600)
    STATE/certificates/<name>/pending/        the request in flight: privkey.pem (0600), csr.pem
    STATE/certificates/<name>/current/        --apache/--nginx: privkey.pem (0600), cert.pem,
                                              chain.pem, fullchain.pem (--out DIR: in DIR)

Renewal is due (``padlock renew``) when the CA's renewal information (RFC 9773) says so,
when the CA reports the certificate revoked, else when a third of its lifetime is left.

This module orchestrates; the CA clients and the HTTP answers are in
:mod:`padlock.site.client`, the installers in :mod:`padlock.site.apache` and
:mod:`padlock.site.nginx`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import os
import random
import shutil
import ssl
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import verification

from padlock.errors import (
    AlreadyReplaced,
    BadPassphrase,
    CAError,
    Conflict,
    FileProblem,
    InstallRefused,
    InvalidName,
    KeyMismatch,
    Malformed,
    NotFound,
    OutputExists,
    PadlockError,
    PolicyError,
    ValidationFailed,
)
from padlock.fileio import read_bytes, write_atomic
from padlock.filelock import held
from padlock.pki import csr as pki_csr
from padlock.pki import keys as pki_keys
from padlock.pki import names as pki_names
from padlock.pki import serials
from padlock.site import client as ca_client
from padlock.site.check import CheckResult

STATE_ENV = "PADLOCK_SITE_DIR"
KINDS = ("test", "dv", "ov")
TARGETS = ("out", "apache", "nginx")
DEFAULT_WAIT = 120.0  # seconds to wait for the CA's checks and issuance
WAKE_INTERVAL = dt.timedelta(hours=12)  # how often renew is expected to run (RFC 9773 4.2)
LOCK_WAIT = 60.0
FORMAT = 1

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _time(text: str) -> dt.datetime:
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

    @property
    def name(self) -> str:
        return self.names[0]

    @property
    def protocol(self) -> str:
        return "acme" if self.acme else "rest"

    @property
    def where(self) -> str:
        return self.acme or self.ca or "?"

    def trust(self) -> ca_client.Trust:
        return ca_client.Trust(tuple(Path(r) for r in self.ca_roots))

    def needs_http_check(self) -> bool:
        return self.protocol == "acme" or self.kind != "test"

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


def _dir_name(name: str) -> str:
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
        return self.root / "certificates" / _dir_name(name)

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


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Outcome:
    """What ``obtain`` (or one renewal) did."""

    name: str
    status: str  # installed | written | waiting
    message: str
    serial: str | None = None
    not_after: dt.datetime | None = None
    request_id: str | None = None
    status_url: str | None = None
    order_url: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    checks: tuple[CheckResult, ...] = ()
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "message": self.message,
            "serial": self.serial,
            "not_after": _iso(self.not_after) if self.not_after else None,
            "request_id": self.request_id,
            "status_url": self.status_url,
            "order_url": self.order_url,
            "files": self.files,
            "checks": [c.to_dict() for c in self.checks],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Due:
    due: bool
    reason: str


@dataclass(frozen=True)
class Renewal:
    """One row of ``padlock renew``."""

    name: str
    action: str  # renewed | not due | would renew | would resume | waiting | failed
    reason: str
    old_serial: str | None = None
    new_serial: str | None = None
    not_after: dt.datetime | None = None
    detail: str = ""
    outcome: Outcome | None = None

    @property
    def failed(self) -> bool:
        return self.action == "failed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "action": self.action,
            "reason": self.reason,
            "old_serial": self.old_serial,
            "new_serial": self.new_serial,
            "not_after": _iso(self.not_after) if self.not_after else None,
            "detail": self.detail,
            "outcome": self.outcome.to_dict() if self.outcome else None,
        }


# --------------------------------------------------------------------------- checks first


def normalize_names(names: Sequence[str]) -> tuple[str, ...]:
    """The certificate's names, checked (an ``http://`` URL gets an error saying what to
    type) and normalised; the first is the site's name."""
    if not names:
        raise InvalidName(
            "No host name was given.", hint="padlock obtain www.example.com --ca URL ..."
        )
    out: list[str] = []
    for raw in names:
        name = pki_names.normalize_dns_name(raw)
        if name not in out:
            out.append(name)
    if pki_names.is_wildcard(out[0]):
        raise InvalidName(
            f"The site's name {out[0]!r} is a wildcard; a web server is named by a host name.",
            hint="Give the host name first and the wildcard with --alias.",
        )
    return tuple(out)


def _organization(settings: Settings) -> dict[str, str | None] | None:
    org = settings.organization
    if settings.kind != "ov":
        if org:
            raise Malformed(
                "--org, --country, --state and --locality are for ov certificates only.",
                hint="Add --ov, or leave them out.",
            )
        return None
    if not org or not org.get("organization") or not org.get("country"):
        raise Malformed(
            "An ov certificate names your organization: give --org and --country"
            " (and --locality, --state as registered).",
            hint='e.g. --org "Widgets Limited" --country GB --locality Leeds',
        )
    return {
        "organization": org["organization"],
        "locality": org.get("locality"),
        "state": org.get("state"),
        "country": pki_names.normalize_country(str(org["country"])),
    }


def preflight(
    settings: Settings,
    passphrase: bytes | None,
    *,
    force: bool = False,
    new_key: bool = True,
    owned: frozenset[str] = frozenset(),
    check_passphrase: bool = True,
) -> Settings:
    """Every check that needs neither the CA nor a new key: nothing is sent or written
    before these pass. Returns the settings normalised (names, paths, organization).
    ``new_key``: a key is to be made (else only an install needs the pass phrase)."""
    names = normalize_names(settings.names)
    ca: str | None
    if settings.protocol == "rest":
        if not settings.ca:
            raise Malformed("Say which CA: --ca URL (or --acme DIRECTORY_URL).")
        ca = ca_client.check_ca_url(settings.ca)
        if settings.kind not in KINDS:
            raise Malformed(
                "Say which certificate: --test (instant, 21 days, test root), --dv (after the"
                " domain check) or --ov (domain check and a reviewer's organization check).",
            )
        if not settings.contact:
            raise Malformed(
                "The CA needs an email address for the request: give --contact EMAIL.",
            )
        acme = None
    else:
        acme = ca_client.check_ca_url(settings.acme or "", "The ACME directory URL")
        ca = ca_client.check_ca_url(settings.ca) if settings.ca else None
    organization = _organization(settings)
    pki_keys.parse_key_type(settings.key_type)
    needs_passphrase = check_passphrase and (new_key or settings.target.kind != "out")
    if settings.encrypt and passphrase is None and needs_passphrase:
        raise BadPassphrase(
            "The key is encrypted and no pass phrase was given.",
            hint="Give --passphrase-file FILE (renewals read it again), set PADLOCK_PASSPHRASE,"
            " or add --no-encrypt.",
        )
    if settings.encrypt and passphrase is not None and new_key:
        pki_keys.check_passphrase_strength(passphrase)
    roots = tuple(str(Path(r).resolve()) for r in settings.ca_roots)
    for root in roots:
        _load_roots(Path(root))
    documents = tuple(str(Path(d).resolve()) for d in settings.documents)
    if documents and settings.kind != "ov":
        raise Malformed("Documents (--document) go with ov requests only.")
    for doc in documents:
        read_bytes(Path(doc), "document", limit=10 * 1024 * 1024)
    webroot = str(Path(settings.webroot).resolve()) if settings.webroot else None
    if settings.needs_http_check():
        ca_client.responder(
            Path(webroot) if webroot else None,
            settings.standalone_port,
            settings.standalone_address,
        )
    target = _check_target(settings.target, names[0], force=force, owned=owned)
    passphrase_file = (
        str(Path(settings.passphrase_file).resolve()) if settings.passphrase_file else None
    )
    return replace(
        settings,
        names=names,
        ca=ca,
        acme=acme,
        organization=organization,
        ca_roots=roots,
        documents=documents,
        webroot=webroot,
        target=target,
        passphrase_file=passphrase_file,
    )


def owned_files(lineage: Lineage | None) -> frozenset[str]:
    """The files padlock wrote for this certificate before (renewals replace them)."""
    if lineage is None or lineage.current is None:
        return frozenset()
    return frozenset(lineage.current.files.values())


def out_files(target: Target, name: str) -> dict[str, Path]:
    """The files ``--out DIR`` writes, named after the site like the seed's
    ``www.mydomain.com.key``."""
    assert target.out_dir is not None
    base = Path(target.out_dir)
    stem = _dir_name(name)
    return {
        "key": base / f"{stem}.key",
        "cert": base / f"{stem}.crt",
        "chain": base / f"{stem}.chain.pem",
        "fullchain": base / f"{stem}.fullchain.pem",
    }


def _check_target(
    target: Target, name: str, *, force: bool, owned: frozenset[str] = frozenset()
) -> Target:
    if target.kind not in TARGETS:
        raise Malformed("Say where the certificate goes: --apache, --nginx or --out DIR.")
    if target.kind == "out":
        if not target.out_dir:
            raise Malformed("--out needs a directory.")
        out = Path(target.out_dir).resolve()
        if out.exists() and not out.is_dir():
            raise FileProblem(f"--out {str(out)!r} is a file, not a directory.")
        parent = out if out.exists() else out.parent
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise FileProblem(f"Cannot write in {str(parent)!r}.", hint="Choose another --out.")
        target = replace(target, out_dir=str(out))
        if not force:
            for path in out_files(target, name).values():
                if str(path) in owned:
                    continue  # written by padlock for this certificate before
                if path.exists() or path.is_symlink():
                    raise OutputExists(
                        f"{str(path)!r} exists already; padlock obtain does not overwrite it.",
                        hint="Choose another --out, move the files away, or add --force"
                        " (padlock renew replaces the files it wrote itself).",
                    )
        return target
    root = Path(target.config_root or f"/etc/{'apache2' if target.kind == 'apache' else 'nginx'}")
    root = root.resolve()
    for port in (target.port, target.http_port):
        if not 0 < port < 65536:
            raise Malformed(f"{port} is not a port number.")
    if target.kind == "apache":
        from padlock.site import apache

        apache.detect_layout(root, target.layout)
    else:
        from padlock.site import nginx

        nginx.detect_layout(root, target.layout)
    return replace(target, config_root=str(root))


# --------------------------------------------------------------------------- chains


def _load_roots(path: Path) -> list[x509.Certificate]:
    data = read_bytes(path, "CA root file")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        try:
            certs = [x509.load_der_x509_certificate(data)]
        except ValueError:
            raise FileProblem(
                f"The CA root file {str(path)!r} holds no certificate (PEM or DER)."
            ) from None
    return list(certs)


def _system_roots() -> list[x509.Certificate]:
    paths = ssl.get_default_verify_paths()
    files = [paths.cafile] if paths.cafile else []
    if paths.capath and os.path.isdir(paths.capath):
        files += [
            os.path.join(paths.capath, n) for n in sorted(os.listdir(paths.capath)) if ".pem" in n
        ]
    out: list[x509.Certificate] = []
    for name in files:
        try:
            with open(name, "rb") as fh, warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out.extend(x509.load_pem_x509_certificates(fh.read()))
        except (OSError, ValueError):
            continue
    return out


def _common_name(name: x509.Name) -> str:
    cns = name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(cns[0].value) if cns else name.rfc4514_string()


def _serial(cert: x509.Certificate) -> str:
    return serials.display(cert.serial_number)


def _pem(certs: Sequence[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(Encoding.PEM) for c in certs)


@dataclass(frozen=True)
class Verified:
    leaf: x509.Certificate
    intermediates: tuple[x509.Certificate, ...]
    anchor: x509.Certificate

    @property
    def serial(self) -> str:
        return _serial(self.leaf)


def verify_issued(
    chain_pem: bytes,
    csr_pem: bytes,
    names: Sequence[str],
    roots: Sequence[Path],
    now: dt.datetime,
    *,
    hint_url: str | None = None,
    resume_ref: str | None = None,
) -> Verified:
    """The certificate the CA sent is for our key and every name, and its chain leads to a
    root we trust (``--ca-root``, else the system's); otherwise an error, nothing written."""
    certs = ca_client.pem_certificates(chain_pem, "certificate chain")
    if not certs:
        raise CAError("The CA sent an empty certificate chain.")
    leaf = certs[0]
    rest = [c for c in certs[1:] if c.subject != c.issuer]
    csr = x509.load_pem_x509_csr(csr_pem)
    if pki_keys.fingerprint(leaf.public_key()) != pki_keys.fingerprint(csr.public_key()):
        raise KeyMismatch(
            f"The CA issued certificate {_serial(leaf)} for another public key than the CSR's."
            " Nothing was written.",
        )
    from padlock.site.check import name_matches

    missing = [n for n in names if not name_matches(leaf, n)]
    if missing:
        raise CAError(
            f"The certificate the CA issued does not cover {', '.join(missing)}."
            " Nothing was written.",
        )
    given = [c for path in roots for c in _load_roots(path)]
    anchors = given or _system_roots()
    try:
        store = verification.Store(anchors)
        verifier = (
            verification.PolicyBuilder()
            .store(store)
            .time(now)
            .build_server_verifier(x509.DNSName(names[0]))
        )
        chain = verifier.verify(leaf, rest)
    except (verification.VerificationError, ValueError) as exc:
        top = _common_name((rest[-1] if rest else leaf).issuer)
        why = str(exc)
        why = "" if "candidates exhausted" in why else f" ({why})"
        if given:
            where = "is not among the roots given with --ca-root"
            hint = "Give the root of the CA that issued it with --ca-root"
        else:
            where = "is not a root this machine trusts"
            hint = "If the CA is private (or this is a test certificate), give its root with"
            hint += " --ca-root ROOT.pem"
        if hint_url:
            hint += f" (padlock publishes its roots under {hint_url}/roots/)"
        hint += f", then run padlock obtain --resume {resume_ref or names[0]}: the certificate"
        hint += " waits at the CA."
        raise InstallRefused(
            f"The certificate the CA issued leads to {top!r}, which {where}{why}."
            " Nothing was written.",
            hint=hint,
        ) from exc
    anchor = chain[-1]
    intermediates = tuple(c for c in chain[1:-1])
    return Verified(leaf, intermediates, anchor)


# --------------------------------------------------------------------------- one run


def _write_set(files: Mapping[Path, tuple[bytes, int]]) -> None:
    """Write several files all or nothing: every temp file first, then the renames."""
    staged: list[tuple[Path, Path]] = []
    try:
        for path, (data, mode) in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            staged.append((Path(tmp), path))
            os.fchmod(fd, mode)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        for tmp_path, path in staged:
            os.replace(tmp_path, path)
    except OSError as exc:
        raise FileProblem(f"Cannot write the certificate files: {exc.strerror or exc}.") from exc
    finally:
        for tmp_path, _path in staged:
            with contextlib.suppress(FileNotFoundError):
                tmp_path.unlink()


def _dns_hint(names: Sequence[str], resume: str) -> str:
    """The CA found no address for the names: no web server can help until DNS has one
    (BR 3.2.2.4.18/19: the CA connects to the name itself)."""
    listed = ", ".join(names)
    return (
        f"Publish an A or AAAA record for {listed} pointing at this web server (and check it"
        f" with: dig {names[0]} A), then run padlock obtain --resume {resume}."
    )


class _Run:
    """One pass of the state machine over a lineage: start or continue its request, and
    deliver the certificate."""

    def __init__(
        self,
        state: SiteState,
        lineage: Lineage,
        *,
        passphrase: bytes | None,
        agree_tos: bool,
        progress: Progress,
        now: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.state = state
        self.lineage = lineage
        self.settings = lineage.settings
        self.passphrase = passphrase
        self.agree_tos = agree_tos
        self.say = progress
        self.now = now

    # -- bookkeeping ---------------------------------------------------------------------

    def _save(self, **changes: Any) -> None:
        assert self.lineage.pending is not None
        pending = replace(self.lineage.pending, **changes)
        self.lineage = self.state.save(replace(self.lineage, pending=pending))

    @property
    def pending(self) -> Pending:
        assert self.lineage.pending is not None
        return self.lineage.pending

    def _drop_pending(self) -> None:
        """The CA holds nothing for this request: forget it (and the lineage, if new)."""
        shutil.rmtree(self.state.lineage_dir(self.lineage.name) / "pending", ignore_errors=True)
        if self.lineage.current is None:
            self.state.forget(self.lineage.name)
        else:
            self.lineage = self.state.save(replace(self.lineage, pending=None))

    def start(self, *, reuse_key: bool = False, previous: Current | None = None) -> None:
        """A new key (or the current one) and a CSR, saved as the pending request."""
        s = self.settings
        directory = self.state.lineage_dir(s.name) / "pending"
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True, mode=0o700)
        if reuse_key and previous is not None:
            key_pem = read_bytes(Path(previous.files["key"]), "key file")
            encrypted = pki_keys.is_encrypted(key_pem)
            key = pki_keys.load_private_key(
                key_pem, self.passphrase if encrypted else None, "The current key"
            )
            self.say("Reusing the current key (--reuse-key)")
        else:
            kind = pki_keys.parse_key_type(s.key_type)
            self.say(f"Making a new {kind.value} key" + (", encrypted" if s.encrypt else ""))
            key = pki_keys.generate_key(kind)
            key_pem = pki_keys.private_key_pem(key, self.passphrase if s.encrypt else None)
        org = s.organization or {}
        fields = pki_csr.SubjectFields(
            common_name=s.name,
            organization=org.get("organization"),
            locality=org.get("locality"),
            state=org.get("state"),
            country=org.get("country"),
        )
        csr_pem = pki_csr.build_csr(key, fields, list(s.names)).public_bytes(Encoding.PEM)
        key_file, csr_file = directory / "privkey.pem", directory / "csr.pem"
        write_atomic(key_file, key_pem, mode=0o600, overwrite=True)
        write_atomic(csr_file, csr_pem, mode=0o644, overwrite=True)
        self.say(f"Made the CSR for {', '.join(s.names)}")
        replaces = None
        previous_request = None
        if previous is not None:
            if s.protocol == "acme":
                with contextlib.suppress(PadlockError, ValueError, x509.ExtensionNotFound):
                    cert = x509.load_pem_x509_certificate(
                        read_bytes(Path(previous.files["cert"]), "certificate")
                    )
                    replaces = ca_client.cert_id(cert)
            elif s.kind in ("dv", "ov"):
                previous_request = previous.request_id
        self.lineage = self.state.save(
            replace(
                self.lineage,
                pending=Pending(
                    started_at=_iso(self.now()),
                    key_file=str(key_file),
                    csr_file=str(csr_file),
                    previous_request=previous_request,
                    replaces=replaces,
                ),
                last_error=None,
            )
        )

    def run(self) -> Outcome:
        if self.settings.protocol == "acme":
            return self._acme()
        return self._rest()

    def _responder(self) -> ca_client.Responder:
        s = self.settings
        return ca_client.responder(
            Path(s.webroot) if s.webroot else None, s.standalone_port, s.standalone_address
        )

    def _how(self) -> str:
        s = self.settings
        if s.webroot:
            return f"files in {s.webroot}"
        return f"padlock's listener on {s.standalone_address}:{s.standalone_port}"

    # -- padlock's REST API --------------------------------------------------------------

    def _rest(self) -> Outcome:
        s = self.settings
        assert s.ca is not None
        with ca_client.RestClient(s.ca, trust=s.trust()) as api:
            p = self.pending
            if p.request_id is None:
                article = "an" if s.kind == "ov" else "a"
                self.say(f"Sending the CSR to {s.ca} ({article} {s.kind} certificate)")
                try:
                    req = api.submit(
                        read_bytes(Path(p.csr_file), "CSR").decode(),
                        str(s.kind),
                        str(s.contact),
                        s.organization,
                        previous_request=p.previous_request,
                    )
                except PadlockError:
                    self._drop_pending()  # the CA holds nothing: start afresh next time
                    raise
                self._save(request_id=req.id, status_url=req.status_url, state=req.state)
                self.say(f"Request {req.id}: {req.state.replace('_', ' ')} ({req.status_url})")
            else:
                req = api.get(p.request_id)
            if req.state == "rejected":
                reason = req.rejection_reason or req.problem or "no reason given"
                self._drop_pending()
                raise PolicyError(
                    f"The CA rejected request {req.id}: {reason}",
                    hint="Fix what it says, then run padlock obtain again (a new request).",
                )
            if s.documents and not self.pending.documents_sent and req.state != "issued":
                for doc in s.documents:
                    self.say(f"Uploading {Path(doc).name} for the reviewer")
                    api.upload_document(req.id, Path(doc))
                self._save(documents_sent=True)
            if req.state in ("submitted", "validating"):
                req = self._rest_prove(api, req)
            if req.state == "in_review":
                self._save(state="in_review")
                return Outcome(
                    name=s.name,
                    status="waiting",
                    message=(
                        f"Waiting for review: every name is proven and a reviewer at the CA now"
                        f" checks the organization. Follow it at {req.status_url}; once it is"
                        f" approved, run: padlock obtain --resume {req.id}"
                    ),
                    request_id=req.id,
                    status_url=req.status_url,
                )
            if req.state != "issued":
                raise CAError(f"Request {req.id} is {req.state}; padlock expected it issued.")
            self._save(state="issued")
            self.say("Fetching the certificate and its chain")
            chain = api.certificate_chain(req.id)
        return self._deliver(chain, request_id=req.id)

    def _rest_prove(
        self, api: ca_client.RestClient, req: ca_client.RestRequest
    ) -> ca_client.RestRequest:
        todo = [c for c in req.challenges if c.state != "valid"]
        files: dict[str, bytes] = {}
        for ch in todo:
            path = ch.http_path
            if path is None:
                raise ValidationFailed(
                    f"{ch.name} can be proven only by DNS: publish a TXT record"
                    f" {ch.dns_record} with the value {ch.token}.",
                    hint=f"Then run padlock obtain --resume {req.id}.",
                )
            files[path] = ch.token.encode()
        if files:
            self.say(f"Answering the CA's HTTP check for {len(files)} name(s) with {self._how()}")
            with self._responder().serving(files):
                self.say("Asking the CA to check now")
                req = api.validate(req.id)
        else:
            req = api.validate(req.id)
        self._save(state=req.state)
        if req.state in ("submitted", "validating"):
            unproven = [c for c in req.challenges if c.state != "valid"]
            failed = [f"{c.name}: {c.error}" for c in unproven]
            no_dns = [c.name for c in unproven if ca_client.dns_failure(c.error)]
            hint = (
                _dns_hint(no_dns, req.id)
                if no_dns
                else "Check that http://NAME/.well-known/pki-validation/ is served from "
                + self._how()
                + f" on port 80, then run padlock obtain --resume {req.id}."
            )
            raise ValidationFailed(
                "The CA could not confirm that you control "
                + "; ".join(failed or ["every name"]).rstrip(".")
                + ".",
                hint=hint,
            )
        self.say(f"Every name is proven; request {req.id} is {req.state.replace('_', ' ')}")
        return req

    # -- ACME ----------------------------------------------------------------------------

    def _acme(self) -> Outcome:
        s = self.settings
        assert s.acme is not None
        started = time.monotonic()
        deadline = started + s.wait
        try:
            acme = ca_client.AcmeClient(s.acme, self.state.account_dir(s.acme), trust=s.trust())
            account = acme.account(s.contact, self.agree_tos)
        except PadlockError:
            if self.pending.order_url is None:
                self._drop_pending()  # the CA holds nothing: start afresh next time
            raise
        if account.created:
            self.say(f"Opened an ACME account at {s.acme}")
        csr_pem = read_bytes(Path(self.pending.csr_file), "CSR")
        order: ca_client.AcmeOrder | None = None
        if self.pending.order_url:
            order = acme.order(self.pending.order_url)
            if order.status == "invalid":
                self.say(f"The earlier order failed ({order.error}); placing a new one")
                order = None
        if order is None:
            profile = self._profile(acme)
            self.say(f"Placing an order for {', '.join(s.names)} at {s.acme}")
            try:
                try:
                    order = acme.new_order(csr_pem, profile, self.pending.replaces)
                except (Malformed, AlreadyReplaced):
                    if not self.pending.replaces:
                        raise
                    # 'replaces' refused, or another order replaced it (RFC 9773 7.4)
                    order = acme.new_order(csr_pem, profile, None)
            except PadlockError:
                if self.pending.order_url is None:
                    self._drop_pending()
                raise
            self._save(order_url=order.url, account_url=account.uri, state=order.status)
        if order.status == "pending":
            self._acme_prove(acme, order, deadline)
            order = acme.order(order.url)
        if order.status == "ready":
            self.say("Every name is proven; sending the CSR (finalize)")
            order = acme.finalize(order, csr_pem)
        if order.status == "processing":
            order = acme.wait_order(order, deadline, self._waiting)
        if order.status == "processing":
            self._save(state="processing")
            return Outcome(
                name=s.name,
                status="waiting",
                message=(
                    "The CA is still processing the order (an ov order waits for a reviewer)."
                    f" Run padlock obtain --resume {s.name} later."
                ),
                order_url=order.url,
            )
        if order.status == "invalid":
            self._save(order_url=None, state="new")
            raise CAError(f"The CA refused the order: {order.error or 'no reason given'}")
        if order.status != "valid" or not order.certificate:
            raise CAError(f"The order is {order.status}; padlock expected it valid.")
        self._save(state="issued")
        self.say("Downloading the certificate and its chain")
        chain = acme.certificate(order.certificate)
        return self._deliver(chain, order_url=order.url, certificate_url=order.certificate)

    def _waiting(self, message: str) -> None:
        self.say(f"Waiting: {message}")

    def _profile(self, acme: ca_client.AcmeClient) -> str | None:
        s = self.settings
        if s.profile:
            return s.profile
        offered = acme.profiles
        if s.kind is None or s.kind in offered:
            return s.kind
        if s.kind == "dv":
            return None  # the directory's default
        listed = ", ".join(offered) or "none"
        raise PolicyError(
            f"This ACME directory offers no {s.kind} profile (it offers: {listed}).",
            hint="padlock's test certificates are at /acme/test/directory; or leave out"
            f" --{s.kind}.",
        )

    def _acme_prove(
        self, acme: ca_client.AcmeClient, order: ca_client.AcmeOrder, deadline: float
    ) -> None:
        todo: list[tuple[ca_client.AcmeAuthorization, ca_client.AcmeChallenge]] = []
        files: dict[str, bytes] = {}
        for url in order.authorizations:
            authz = acme.authorization(url)
            if authz.status == "valid":
                continue
            if authz.status != "pending":
                self._save(order_url=None, state="new")
                raise ValidationFailed(
                    f"The CA's authorization for {authz.identifier} is {authz.status}"
                    + (f": {authz.error}" if authz.error else ".")
                )
            challenge = authz.http01()
            if challenge is None or challenge.token is None:
                raise ValidationFailed(
                    f"The CA offers no HTTP check (http-01) for {authz.identifier}; padlock"
                    " obtain answers only that one.",
                    hint="A wildcard needs dns-01: use certbot or lego with a DNS plugin.",
                )
            path = ca_client.ACME_CHALLENGE_PATH + challenge.token
            files[path] = acme.key_authorization(challenge.token).encode()
            todo.append((authz, challenge))
        if not todo:
            return
        self.say(f"Answering the CA's HTTP check for {len(todo)} name(s) with {self._how()}")
        with self._responder().serving(files):
            for authz, challenge in todo:
                self.say(f"Asking the CA to check {authz.identifier}")
                acme.answer(challenge)
            for authz, _challenge in todo:
                done = acme.wait_authorization(authz.url, deadline, self._waiting)
                if done.status == "valid":
                    self.say(f"{done.identifier}: proven")
                    continue
                if done.status in ("pending", "processing"):
                    raise CAError(
                        f"The CA was still checking {done.identifier} after"
                        f" {self.settings.wait:g} seconds.",
                        hint=f"Run padlock obtain --resume {self.settings.name} to keep waiting.",
                    )
                self._save(order_url=None, state="new")
                hint = f"Check that http://{done.identifier}/.well-known/acme-challenge/ is"
                hint += f" served by {self._how()} on port 80, then run padlock obtain --resume"
                hint += f" {self.settings.name}."
                if ca_client.dns_failure(done.error, done.error_type):
                    hint = _dns_hint([done.identifier], self.settings.name)
                raise ValidationFailed(
                    f"The CA could not confirm that you control {done.identifier}:"
                    f" {(done.error or done.status).rstrip('.')}.",
                    hint=hint,
                )

    # -- delivery ------------------------------------------------------------------------

    def _deliver(
        self,
        chain_pem: bytes,
        *,
        request_id: str | None = None,
        order_url: str | None = None,
        certificate_url: str | None = None,
    ) -> Outcome:
        s = self.settings
        p = self.pending
        now = self.now()
        hint_url = s.ca if s.protocol == "rest" else None
        verified = verify_issued(
            chain_pem,
            read_bytes(Path(p.csr_file), "CSR"),
            s.names,
            [Path(r) for r in s.ca_roots],
            now,
            hint_url=hint_url,
            resume_ref=request_id or s.name,
        )
        self.say(
            f"Certificate {verified.serial} is for the new key and every name; its chain leads"
            f" to {verified.anchor.subject.rfc4514_string()}"
        )
        key_pem = read_bytes(Path(p.key_file), "key file")
        cert_pem = _pem([verified.leaf])
        chain_only = _pem(verified.intermediates)
        fullchain = cert_pem + chain_only
        checks: tuple[CheckResult, ...] = ()
        notes: list[str] = []
        if s.target.kind == "out":
            files = out_files(s.target, s.name)
            _write_set(
                {
                    files["key"]: (key_pem, 0o600),
                    files["cert"]: (cert_pem, 0o644),
                    files["chain"]: (chain_only, 0o644),
                    files["fullchain"]: (fullchain, 0o644),
                }
            )
            status = "written"
            message = f"Wrote the key and certificate {verified.serial} to {s.target.out_dir}."
        else:
            files, checks, notes = self._install(key_pem, cert_pem, chain_only, fullchain)
            status = "installed"
            message = (
                f"Installed certificate {verified.serial} into {s.target.kind}; the live server"
                f" presents it for {', '.join(c.server_name for c in checks) or s.name}."
            )
        current = Current(
            serial=verified.serial,
            not_before=_iso(verified.leaf.not_valid_before_utc),
            not_after=_iso(verified.leaf.not_valid_after_utc),
            obtained_at=_iso(now),
            files={k: str(v) for k, v in files.items()},
            request_id=request_id,
            order_url=order_url,
            certificate_url=certificate_url,
        )
        history = (
            *self.lineage.history,
            {
                "serial": verified.serial,
                "at": _iso(now),
                "reference": request_id or order_url or "",
            },
        )[-50:]
        self.lineage = self.state.save(
            replace(self.lineage, current=current, pending=None, history=history, last_error=None)
        )
        if s.target.kind == "out":  # the key lives in --out DIR now; the copy goes
            shutil.rmtree(Path(p.key_file).parent, ignore_errors=True)
        return Outcome(
            name=s.name,
            status=status,
            message=message,
            serial=verified.serial,
            not_after=verified.leaf.not_valid_after_utc,
            request_id=request_id,
            status_url=p.status_url,
            order_url=order_url,
            files=current.files,
            checks=checks,
            notes=tuple(notes),
        )

    def _install(
        self, key_pem: bytes, cert_pem: bytes, chain_pem: bytes, fullchain: bytes
    ) -> tuple[dict[str, Path], tuple[CheckResult, ...], list[str]]:
        """Apache or nginx, by their installers: pre-flight, write, configtest, reload, probe
        every name; any failure restores their files (and our ``current`` stays as it was)."""
        s = self.settings
        t = s.target
        base = self.state.lineage_dir(s.name)
        staged = base / "pending"
        files = {
            "key": staged / "privkey.pem",
            "cert": staged / "cert.pem",
            "chain": staged / "chain.pem",
            "fullchain": staged / "fullchain.pem",
        }
        _write_set(
            {
                files["cert"]: (cert_pem, 0o644),
                files["chain"]: (chain_pem, 0o644),
                files["fullchain"]: (fullchain, 0o644),
            }
        )
        if files["key"] != Path(self.pending.key_file):  # pragma: no cover - same layout
            write_atomic(files["key"], key_pem, mode=0o600, overwrite=True)
        encrypted = pki_keys.is_encrypted(key_pem)
        common: dict[str, Any] = {
            "name": s.name,
            "aliases": tuple(n for n in s.names[1:]),
            "cert": files["fullchain"],
            "key": files["key"],
            "chain": None,
            "ca": tuple(Path(r) for r in s.ca_roots),
            "config_root": Path(str(t.config_root)),
            "port": t.port,
            "http_port": t.http_port,
            "listen_address": t.listen_address,
            "redirect": t.redirect,
            "hsts": t.hsts,
            "decrypt_key": t.decrypt_key,
            "passphrase": self.passphrase if encrypted else None,
            "layout": t.layout,
        }
        self.say(f"Installing into {t.kind} ({t.config_root}), then probing every name")
        if t.kind == "apache":
            from padlock.site import apache

            prepared_a = apache.prepare(
                apache.ApacheRequest(**common, command=f"padlock obtain {s.name} --apache")
            )
            outcome = apache.apply(prepared_a)
            notes = [*prepared_a.plan.notes, *prepared_a.plan.warnings]
        else:
            from padlock.site import nginx

            prepared_n = nginx.prepare(
                nginx.NginxRequest(**common, command=f"padlock obtain {s.name} --nginx")
            )
            outcome = nginx.apply(prepared_n)
            notes = [*prepared_n.plan.notes, *prepared_n.plan.warnings]
        checks = tuple(r for r in (outcome.probe or ()) if isinstance(r, CheckResult))
        # Installed: the staged files become the current ones.
        current = base / "current"
        old = base / "current.old"
        shutil.rmtree(old, ignore_errors=True)
        if current.exists():
            os.replace(current, old)
        os.replace(staged, current)
        shutil.rmtree(old, ignore_errors=True)
        notes.append(f"Backup and record of the change: {outcome.backup_dir}")
        return {k: current / v.name for k, v in files.items()}, checks, notes


# --------------------------------------------------------------------------- obtain


def obtain(
    settings: Settings,
    state: SiteState,
    *,
    passphrase: bytes | None,
    agree_tos: bool = False,
    force: bool = False,
    progress: Progress = _quiet,
) -> Outcome:
    """``padlock obtain``: from nothing to an installed (or written) certificate."""
    name = normalize_names(settings.names)[0]
    with state.locked():
        existing = state.load(name)
        pending = existing.pending if existing is not None else None
        if pending is not None and pending.reference and not force:
            raise Conflict(
                f"A request for {name} is already in progress ({pending.reference}).",
                hint=f"Continue it with padlock obtain --resume {pending.request_id or name},"
                " or add --force to start over.",
            )
        current = existing.current if existing is not None else None
        settings = preflight(settings, passphrase, force=force, owned=owned_files(existing))
        lineage = Lineage(
            settings=settings,
            current=current,
            history=existing.history if existing is not None else (),
        )
        state.save(lineage)
        run = _Run(state, lineage, passphrase=passphrase, agree_tos=agree_tos, progress=progress)
        run.start()
        return _finish(run)


def _finish(run: _Run) -> Outcome:
    try:
        return run.run()
    except PadlockError as exc:
        lin = run.state.load(run.lineage.name)
        if lin is not None:
            run.state.save(replace(lin, last_error=exc.message))
        raise


def resume(
    ref: str,
    state: SiteState,
    *,
    passphrase: bytes | None,
    overrides: Mapping[str, Any] | None = None,
    agree_tos: bool = False,
    progress: Progress = _quiet,
) -> Outcome:
    """``padlock obtain --resume REF``: continue a request in flight (an ov request after its
    review, a failed check after the fix, a certificate waiting for the right --ca-root)."""
    with state.locked():
        lineage = state.find(ref)
        pending = lineage.pending
        if pending is None:
            cur = lineage.current
            raise Conflict(
                f"{lineage.name} has no request in progress"
                + (f"; certificate {cur.serial} is in place." if cur else "."),
                hint="padlock renew renews it when due; padlock obtain makes a new one.",
            )
        settings = lineage.settings
        if overrides:
            given = {k: v for k, v in overrides.items() if v is not None}
            settings = replace(settings, **given)
            if "webroot" in given:
                settings = replace(settings, standalone_port=None)
            if "standalone_port" in given:
                settings = replace(settings, webroot=None)
        if passphrase is None and settings.encrypt and settings.passphrase_file:
            passphrase = _passphrase_for(replace(lineage, settings=settings), lambda _: None)
        settings = preflight(settings, passphrase, force=True, new_key=False)
        lineage = state.save(replace(lineage, settings=settings))
        progress(f"Continuing the request for {lineage.name} ({pending.reference})")
        run = _Run(state, lineage, passphrase=passphrase, agree_tos=agree_tos, progress=progress)
        return _finish(run)


# --------------------------------------------------------------------------- renew


def _lifetime_due(current: Current, now: dt.datetime) -> Due:
    start, end = _time(current.not_before), _time(current.not_after)
    at = end - (end - start) / 3
    if now >= at:
        return Due(True, f"a third of its lifetime is left (since {_day(at)})")
    return Due(False, f"due {_day(at)} (a third of its lifetime left)")


def is_due(
    lineage: Lineage,
    now: dt.datetime,
    state: SiteState,
    *,
    renew_before: dt.timedelta | None = None,
    wake_interval: dt.timedelta = WAKE_INTERVAL,
    rng: random.Random | None = None,
    force: bool = False,
) -> Due:
    """Whether the current certificate is due: forced (``renew --force``, certbot's
    ``--force-renewal``); expired; fewer than ``renew_before`` left;
    the CA's renewal window (ACME, RFC 9773 section 4.2: a uniform random time in the
    window, due when it comes before the next run); revoked at the CA (REST); else when a
    third of its lifetime is left."""
    cur = lineage.current
    if cur is None:
        return Due(True, "no certificate yet")
    if force:
        return Due(True, "forced (--force), whatever the renewal window")
    end = _time(cur.not_after)
    if now >= end:
        return Due(True, f"expired on {_day(end)}")
    if renew_before is not None and end - now < renew_before:
        days = (end - now).total_seconds() / 86400
        return Due(True, f"{days:.1f} days left, under --renew-before")
    s = lineage.settings
    note = ""
    if s.protocol == "acme" and s.acme:
        try:
            cert = x509.load_pem_x509_certificate(
                read_bytes(Path(cur.files["cert"]), "certificate file")
            )
            acme = ca_client.AcmeClient(s.acme, state.account_dir(s.acme), trust=s.trust())
            window = acme.renewal_info(cert)
        except (PadlockError, ValueError, x509.ExtensionNotFound) as exc:
            window = None
            note = f" (no renewal information: {getattr(exc, 'message', exc)})"
        if window is not None:
            pick = window.start + (window.end - window.start) * (rng or random).random()
            if pick <= now + wake_interval:
                return Due(True, f"in the CA's renewal window (from {_day(window.start)})")
            return Due(False, f"the CA's renewal window opens {_day(window.start)}")
    elif cur.request_id and s.ca:
        try:
            with ca_client.RestClient(s.ca, trust=s.trust()) as api:
                req = api.get(cur.request_id)
            if req.certificate is not None and req.certificate.state == "revoked":
                return Due(True, "the CA reports it revoked")
        except PadlockError as exc:
            note = f" (could not ask the CA: {exc.message})"
    due = _lifetime_due(cur, now)
    return Due(due.due, due.reason + note)


def renew(
    state: SiteState,
    *,
    passphrase: Callable[[Lineage], bytes | None],
    dry_run: bool = False,
    reuse_key: bool = False,
    renew_before: dt.timedelta | None = None,
    force: bool = False,
    progress: Progress = _quiet,
    now: Callable[[], dt.datetime] = _utcnow,
) -> list[Renewal]:
    """``padlock renew``: every lineage, one row each; a failure is a row, never an abort."""
    rows: list[Renewal] = []
    with state.locked():
        lineages = state.all()
        for lineage in lineages:
            rows.append(
                _renew_one(
                    state,
                    lineage,
                    passphrase=passphrase,
                    dry_run=dry_run,
                    reuse_key=reuse_key,
                    renew_before=renew_before,
                    force=force,
                    progress=progress,
                    now=now,
                )
            )
    return rows


def _renew_one(
    state: SiteState,
    lineage: Lineage,
    *,
    passphrase: Callable[[Lineage], bytes | None],
    dry_run: bool,
    reuse_key: bool,
    renew_before: dt.timedelta | None,
    progress: Progress,
    now: Callable[[], dt.datetime],
    force: bool = False,
) -> Renewal:
    name = lineage.name
    old = lineage.current.serial if lineage.current else None

    def say(message: str) -> None:
        progress(f"{name}: {message}")

    try:
        if lineage.pending is not None:
            reason = f"request {lineage.pending.reference or '(not sent)'} in progress"
            if dry_run:
                return Renewal(name, "would resume", reason, old)
            pw = _passphrase_for(lineage, passphrase)
            run = _Run(state, lineage, passphrase=pw, agree_tos=False, progress=say, now=now)
            if lineage.pending.reference is None:
                run.start(reuse_key=reuse_key, previous=lineage.current)
            outcome = _finish(run)
        else:
            due = is_due(lineage, now(), state, renew_before=renew_before, force=force)
            if not due.due:
                return Renewal(name, "not due", due.reason, old, not_after=_not_after(lineage))
            if dry_run:
                return Renewal(name, "would renew", due.reason, old, not_after=_not_after(lineage))
            reason = due.reason
            say(f"renewing: {due.reason}")
            pw = _passphrase_for(lineage, passphrase)
            run = _Run(state, lineage, passphrase=pw, agree_tos=False, progress=say, now=now)
            run.start(reuse_key=reuse_key, previous=lineage.current)
            outcome = _finish(run)
    except PadlockError as exc:
        return Renewal(name, "failed", exc.message, old, detail=exc.hint or "")
    except Exception as exc:  # one certificate's bug must not stop the others
        return Renewal(name, "failed", f"{type(exc).__name__}: {exc}", old)
    if outcome.status == "waiting":
        return Renewal(name, "waiting", reason, old, detail=outcome.message, outcome=outcome)
    return Renewal(
        name,
        "renewed",
        reason,
        old,
        new_serial=outcome.serial,
        not_after=outcome.not_after,
        detail=outcome.message,
        outcome=outcome,
    )


def _not_after(lineage: Lineage) -> dt.datetime | None:
    return _time(lineage.current.not_after) if lineage.current else None


def _passphrase_for(lineage: Lineage, given: Callable[[Lineage], bytes | None]) -> bytes | None:
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
    "Current",
    "Due",
    "Lineage",
    "Outcome",
    "Pending",
    "Renewal",
    "Settings",
    "SiteState",
    "Target",
    "default_state_dir",
    "is_due",
    "normalize_names",
    "obtain",
    "out_files",
    "owned_files",
    "preflight",
    "renew",
    "resume",
    "verify_issued",
]
