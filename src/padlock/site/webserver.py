"""One installer over every web server: ``padlock apache|nginx install|rollback``.

A :class:`WebServer` is one server's configuration, read for one install (Apache's in
:mod:`padlock.site.apache`, nginx's in :mod:`padlock.site.nginx`): it finds a site's
blocks, writes padlock's TLS block into an existing one or a new site file of its own,
makes the server-wide changes (Apache: modules, ``SSLPassPhraseDialog``, the stapling
cache; nginx: its version gates), and holds the control (configtest, reload).
:func:`prepare` is the one skeleton every server follows::

    names -> read the configuration -> the site's TLS and HTTP blocks -> pre-flight
    (every name covered, chain, key) -> certificate files -> server-wide changes
    -> TLS block edited in place, or a new site file -> the https redirect -> the plan

and :func:`apply` runs the plan as one transaction (:mod:`padlock.site.transaction`):
write, configtest, reload, probe every name; undo on any failure.
"""

from __future__ import annotations

import datetime as dt
import importlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from padlock.site.material import Material, load_material, refuse
from padlock.site.probe import wait_for_serial
from padlock.site.server_config import (
    SiteFiles,
    normalize_site_names,
    redirect_lines,
    render,
    site_files,
)
from padlock.site.transaction import (
    FileChange,
    Outcome,
    Plan,
    RollbackOutcome,
    ServerControl,
    StateDir,
    apply_plan,
    rollback,
)

DECRYPTED_NOTE = (
    "--decrypt-key: the key is installed decrypted (mode 0600, root only). Restarts"
    " need no pass phrase; a copy of that file is enough to impersonate the site."
)


@dataclass(frozen=True)
class InstallRequest:
    """What ``padlock apache|nginx install`` (or ``padlock obtain``) asks for."""

    name: str
    cert: Path
    key: Path
    aliases: tuple[str, ...] = ()
    chain: Path | None = None
    ca: tuple[Path, ...] = ()
    config_root: Path = Path("/etc")
    port: int = 443
    http_port: int = 80
    listen_address: str | None = None
    redirect: bool = True
    hsts: bool = False
    ocsp_stapling: bool | None = None  # None: when the certificate names an OCSP responder
    decrypt_key: bool = False
    passphrase: bytes | None = None
    layout: str | None = None
    binary: str | None = None
    command: str = "padlock install"


@dataclass
class Draft:
    """What :func:`prepare` has decided so far; the server's own steps add to it."""

    request: InstallRequest
    name: str
    aliases: tuple[str, ...]
    now: dt.datetime
    state: StateDir
    material: Material
    files: SiteFiles
    stapling: bool
    changes: list[FileChange]
    notes: list[str] = field(default_factory=list)


class Block(Protocol):
    """A virtual host (Apache) or a server block (nginx)."""

    @property
    def file(self) -> Path: ...

    @property
    def names(self) -> tuple[str, ...]: ...

    @property
    def ssl(self) -> bool: ...

    def serves(self, name: str) -> bool: ...

    def on_port(self, port: int) -> bool: ...


class SitesLayout(Protocol):
    """Where a distribution keeps site files."""

    @property
    def sites_dir(self) -> str:
        """Where padlock's own site files go, under the config root."""


BlockT = TypeVar("BlockT", bound=Block)
EditT = TypeVar("EditT")


class Edits(Generic[EditT]):
    """The in-place edits of one install, file by file (resolved paths), in the server's
    own kind of edit (Apache: lines, nginx: offsets)."""

    def __init__(self, apply: Callable[[str, list[EditT]], str]) -> None:
        self._apply = apply
        self.by_file: dict[Path, list[EditT]] = {}

    def of(self, path: Path) -> list[EditT]:
        return self.by_file.setdefault(path.resolve(), [])

    def changes(self, why: Callable[[Path], str]) -> list[FileChange]:
        """The edited files' new contents (each file read as it is now)."""
        out = []
        for path, edits in self.by_file.items():
            original = path.read_text(errors="replace")
            out.append(FileChange(path, self._apply(original, edits).encode(), why=why(path)))
        return out


class WebServer(Protocol[BlockT]):
    """One server's configuration, read for one install; what :func:`prepare` needs."""

    @property
    def name(self) -> str:
        """``apache`` or ``nginx``: the plan's server."""

    @property
    def root(self) -> Path:
        """The config root, resolved."""

    @property
    def control(self) -> ServerControl: ...

    @property
    def edits(self) -> Edits[Any]:
        """The in-place edits planned so far."""

    def blocks_for(self, name: str) -> Sequence[BlockT]:
        """The site's blocks, in the configuration's order."""

    def names_needed(self, block: BlockT) -> list[str]:
        """The names of ``block`` the certificate must cover (it keeps serving them)."""

    def server_wide(self, draft: Draft, http_block: BlockT | None) -> None:
        """Changes beyond the site's own block (modules, global files), with their notes."""

    def tls_lines(self, draft: Draft) -> list[str]:
        """padlock's TLS block (certificate, key, protocols, stapling, HSTS)."""

    def edit_tls_block(self, draft: Draft, block: BlockT, tls: list[str]) -> None:
        """Write the TLS block into the site's existing TLS block, in place."""

    @property
    def block_kind(self) -> str:
        """What a site's block is called: ``virtual host``, ``server block``."""

    @property
    def layout(self) -> SitesLayout: ...

    def clone_body(self, block: BlockT) -> list[str]:
        """The plain HTTP block's own lines (root, logs, locations) for the TLS one."""

    def site_context(self, draft: Draft, http_block: BlockT | None) -> dict[str, object]:
        """The server's own values for its site file template (addresses, names...)."""

    def enable_site(self, draft: Draft, site_file: Path) -> None:
        """Make the server read a new site file (a link, an include)."""

    def redirects_already(self, block: BlockT) -> bool: ...

    def add_redirect(self, draft: Draft, block: BlockT) -> None:
        """Send the plain HTTP block's requests to https (``/.well-known/`` excepted)."""

    def why_edited(self, path: Path, name: str) -> str: ...

    def probe_host(self, request: InstallRequest, ssl_block: BlockT | None) -> str:
        """Where the live server answers for the site."""


@dataclass(frozen=True)
class Prepared:
    plan: Plan
    material: Material
    control: ServerControl
    state: StateDir
    names: tuple[str, ...]
    probe_host: str
    port: int
    site_file: Path | None
    edited: tuple[Path, ...]


@dataclass(frozen=True)
class ServerKind:
    """How to open one kind of server: for an install, and for a rollback (which must
    work on a configuration an interrupted install left broken)."""

    name: str
    open: Callable[[Path, str | None, str | None], WebServer[Any]]
    rollback_control: Callable[[Path, str | None, str | None], ServerControl]


def kind(name: str) -> ServerKind:
    """``apache`` or ``nginx`` (imported on use)."""
    found: ServerKind = importlib.import_module(f"padlock.site.{name}").KIND
    return found


def _first(blocks: Sequence[BlockT], wanted: Callable[[BlockT], bool]) -> BlockT | None:
    return next((b for b in blocks if wanted(b)), None)


def _draft(
    server: WebServer[BlockT],
    request: InstallRequest,
    now: dt.datetime,
    names: tuple[str, tuple[str, ...]],
    touched: Sequence[BlockT | None],
) -> Draft:
    """Pre-flight: the certificate, chain and key checked before any change (every name
    of the blocks touched covered); the certificate files padlock keeps for the site."""
    name, aliases = names
    required = [name, *aliases]
    for block in touched:
        if block is not None:
            required += [n for n in server.names_needed(block) if n not in required]
    material = load_material(
        request.cert, request.key, request.chain, request.ca, request.passphrase, required, now
    )
    state = StateDir.under(server.root)
    files = site_files(state, name, request.port, material, request.decrypt_key, server.name)
    return Draft(
        request=request,
        name=name,
        aliases=aliases,
        now=now,
        state=state,
        material=material,
        files=files,
        stapling=material.ocsp_url is not None and request.ocsp_stapling is not False,
        changes=list(files.changes),
    )


def _new_site_file(
    server: WebServer[BlockT], draft: Draft, http_block: BlockT | None, tls: list[str]
) -> Path:
    """A site file of padlock's own: the TLS block (with the plain HTTP block's own lines),
    and a redirecting plain HTTP block when there is none; enabled as the server wants."""
    request = draft.request
    site_file = server.root / server.layout.sites_dir / f"padlock-{draft.name}.conf"
    content = render(
        f"{server.name}_site.conf.j2",
        command=request.command,
        written=draft.now.strftime("%Y-%m-%d %H:%M UTC"),
        config_root=server.root,
        redirect=request.redirect and http_block is None,
        redirect_block="\n".join(redirect_lines(server.name, request.port)),
        body=server.clone_body(http_block) if http_block is not None else [],
        tls_block="\n".join(tls),
        **server.site_context(draft, http_block),
    )
    content = re.sub(r"\n{3,}", "\n\n", content)
    why = f"the TLS {server.block_kind} for {draft.name}"
    draft.changes.append(FileChange(site_file, content.encode(), why=why))
    server.enable_site(draft, site_file)
    return site_file


def prepare(kind: ServerKind, request: InstallRequest, now: dt.datetime | None = None) -> Prepared:
    """Everything up to the plan: pre-flight checks included, nothing written."""
    now = now or dt.datetime.now(dt.UTC)
    names = normalize_site_names(request.name, request.aliases)
    for port in (request.port, request.http_port):
        if not 0 < port < 65536:
            raise refuse(f"{port} is not a port number.")
    server = kind.open(request.config_root, request.layout, request.binary)
    blocks = server.blocks_for(names[0])
    ssl_block = _first(blocks, lambda b: b.on_port(request.port))
    http_block = _first(
        blocks, lambda b: b.on_port(request.http_port) and b is not ssl_block and not b.ssl
    )
    touched = (ssl_block, http_block if request.redirect else None)
    draft = _draft(server, request, now, names, touched)
    server.server_wide(draft, http_block)
    if draft.files.passphrase is None and draft.material.key_encrypted:
        draft.notes.append(DECRYPTED_NOTE)
    tls = server.tls_lines(draft)
    site_file: Path | None = None
    if ssl_block is not None:
        server.edit_tls_block(draft, ssl_block, tls)
        draft.notes.append(f"Edited the TLS {server.block_kind} in {ssl_block.file} in place.")
    else:
        site_file = _new_site_file(server, draft, http_block, tls)
    if request.redirect and http_block is not None and not server.redirects_already(http_block):
        server.add_redirect(draft, http_block)
    draft.changes += server.edits.changes(lambda path: server.why_edited(path, draft.name))
    aliases = draft.aliases
    plan = Plan(
        server=server.name,
        description=f"install {draft.material.serial} for {draft.name}"
        + (f" (+ {', '.join(aliases)})" if aliases else ""),
        changes=tuple(draft.changes),
        notes=tuple(draft.notes),
        warnings=tuple(draft.material.warnings),
    )
    return Prepared(
        plan=plan,
        material=draft.material,
        control=server.control,
        state=draft.state,
        names=(draft.name, *[a for a in aliases if "*" not in a]),
        probe_host=server.probe_host(request, ssl_block),
        port=request.port,
        site_file=site_file,
        edited=tuple(server.edits.by_file),
    )


def apply(prepared: Prepared) -> Outcome:
    """Run a prepared plan as one transaction: write, configtest, reload, probe; undo on
    any failure."""
    material = prepared.material

    def probe() -> object:
        return wait_for_serial(
            prepared.probe_host,
            prepared.port,
            prepared.names,
            material.serial,
            material.anchor_pem,
        )

    return apply_plan(
        prepared.state,
        prepared.plan,
        prepared.control,
        probe,
        extra={"serial": material.serial, "names": list(prepared.names), "port": prepared.port},
    )


def install(kind: ServerKind, request: InstallRequest) -> tuple[Prepared, Outcome]:
    prepared = prepare(kind, request)
    return prepared, apply(prepared)


def rollback_site(
    kind: ServerKind,
    config_root: Path,
    *,
    layout: str | None = None,
    binary: str | None = None,
    force: bool = False,
) -> RollbackOutcome:
    """Undo an interrupted install if there is one, else the newest completed one."""
    control = kind.rollback_control(config_root, layout, binary)
    return rollback(StateDir.under(config_root.resolve()), control, force=force)
