"""``padlock apache install`` and ``rollback``: the seed's sections 7-9, done safely.

Distributions differ only in data: :data:`LAYOUTS` says, per layout, where the main file
is, where a site's own file goes, how it is enabled (Debian's ``sites-enabled`` and
``mods-enabled`` links — what ``a2ensite``/``a2enmod`` do, written by padlock itself so
that the transaction can undo them), and which binary to run. :class:`Apache` is the
:class:`~padlock.site.webserver.WebServer` whose steps the one installer
(:func:`padlock.site.webserver.prepare`) runs:

1. reads the whole configuration (:mod:`padlock.site.apacheconf`) and finds the virtual
   host for the name, on the TLS port and on the HTTP port, wherever it is included from;
2. runs every pre-flight check (:mod:`padlock.site.material`) before touching anything;
3. plans the change: an existing TLS virtual host is edited in place (only its own lines);
   otherwise a new file of its own holds the TLS virtual host (and the :80 redirect when
   no :80 virtual host exists); an existing :80 virtual host gets the redirect added;
   ``Listen`` is added only when nothing listens on the port yet;
4. applies it as one transaction (:mod:`padlock.site.transaction`): configtest, graceful
   reload, probe of every name; any failure restores every file and reloads.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from padlock.errors import ConfigError
from padlock.site import apacheconf, webserver
from padlock.site.apacheconf import ApacheConfig, Directive, LineEdit, VirtualHost
from padlock.site.material import NOTHING_CHANGED, refuse
from padlock.site.probe import probe_address
from padlock.site.server_config import (
    block_comments,
    redirect_lines,
    refuse_included_tls,
    render,
    safe_path,
    site_link,
    stale_comments,
    tls_lines,
    trim_blank_ends,
)
from padlock.site.server_control import ServerCommands, find_binary, output_of, run_command
from padlock.site.transaction import FileChange
from padlock.site.webserver import Draft, Edits, InstallRequest, Prepared

DEFAULT_ROOT = Path("/etc/apache2")


# --------------------------------------------------------------------------- layouts


@dataclass(frozen=True)
class Layout:
    """Where things are in one family of Apache installations."""

    name: str
    markers: tuple[str, ...]  # all exist under the config root
    main_conf: str
    binaries: tuple[str, ...]
    envvars: str | None  # a shell file setting APACHE_* variables (Debian)
    sites_dir: str  # where padlock writes a site's own file
    sites_enabled: str | None  # a link here enables it (a2ensite); None: sites_dir is included
    global_dir: str  # padlock's server-wide file (SSLPassPhraseDialog, stapling cache)
    global_enabled: str | None
    global_name: str  # sorts after the distribution's ssl.conf, so its settings win
    mods_available: str | None  # a2enmod's directories; None: LoadModule lines instead
    mods_enabled: str | None
    include_sites: bool  # add "IncludeOptional <sites_dir>/*.conf" to the main file


LAYOUTS: tuple[Layout, ...] = (
    Layout(
        name="debian",
        markers=("apache2.conf", "mods-available"),
        main_conf="apache2.conf",
        binaries=("apache2",),
        envvars="envvars",
        sites_dir="sites-available",
        sites_enabled="sites-enabled",
        global_dir="conf-available",
        global_enabled="conf-enabled",
        global_name="padlock.conf",
        mods_available="mods-available",
        mods_enabled="mods-enabled",
        include_sites=False,
    ),
    Layout(
        name="rhel",
        markers=("conf/httpd.conf", "conf.d"),
        main_conf="conf/httpd.conf",
        binaries=("httpd", "apache2"),
        envvars=None,
        sites_dir="conf.d",
        sites_enabled=None,
        global_dir="conf.d",
        global_enabled=None,
        global_name="zz-padlock.conf",
        mods_available=None,
        mods_enabled=None,
        include_sites=False,
    ),
    Layout(
        name="plain",
        markers=("httpd.conf",),
        main_conf="httpd.conf",
        binaries=("httpd", "apache2"),
        envvars=None,
        sites_dir="padlock.d",
        sites_enabled=None,
        global_dir="padlock.d",
        global_enabled=None,
        global_name="zz-padlock.conf",
        mods_available=None,
        mods_enabled=None,
        include_sites=True,
    ),
    Layout(
        name="plain-conf",
        markers=("conf/httpd.conf",),
        main_conf="conf/httpd.conf",
        binaries=("httpd", "apache2"),
        envvars=None,
        sites_dir="conf/padlock.d",
        sites_enabled=None,
        global_dir="conf/padlock.d",
        global_enabled=None,
        global_name="zz-padlock.conf",
        mods_available=None,
        mods_enabled=None,
        include_sites=True,
    ),
)


def detect_layout(config_root: Path, name: str | None = None) -> Layout:
    if name is not None:
        for layout in LAYOUTS:
            if layout.name == name:
                return layout
        known = ", ".join(lay.name for lay in LAYOUTS)
        raise ConfigError(f"No Apache layout is called {name!r}; padlock knows {known}.")
    for layout in LAYOUTS:
        if all((config_root / marker).exists() for marker in layout.markers):
            return layout
    raise ConfigError(
        f"{config_root} does not look like an Apache configuration (no apache2.conf or"
        f" httpd.conf). {NOTHING_CHANGED}",
        hint="Give the directory that holds it with --config-root.",
    )


# --------------------------------------------------------------------------- the server


def _sourced_env(envvars: Path, config_root: Path) -> dict[str, str]:
    """The environment after ``. envvars``, as Debian's apache2ctl prepares it."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("APACHE_")}
    base["APACHE_CONFDIR"] = str(config_root)
    proc = run_command(
        ["/bin/sh", "-c", '. "$1" >/dev/null 2>&1; env -0', "padlock-envvars", str(envvars)],
        env=base,
        what=f"reading {envvars}",
    )
    if proc.returncode != 0:
        raise ConfigError(f"Cannot read {envvars}: {output_of(proc)}.")
    env: dict[str, str] = {}
    for item in proc.stdout.split("\0"):
        key, sep, value = item.partition("=")
        if sep:
            env[key] = value
    return env


@dataclass(frozen=True)
class ApacheControl(ServerCommands):
    """Runs ``httpd``/``apache2`` against one configuration: ``-d ROOT -f MAIN``."""

    binary: str
    server_root: Path
    main_file: Path
    environment: dict[str, str]
    pid_file: Path | None
    label: str = "Apache"

    test_args = ("-t",)
    reload_args = ("-k", "graceful")  # starts Apache when it is not running
    stop_args = ("-k", "stop")
    reload_failure = "The graceful restart failed"

    def argv(self, args: Sequence[str]) -> list[str]:
        return [self.binary, "-d", str(self.server_root), "-f", str(self.main_file), *args]

    def env(self) -> dict[str, str]:
        return self.environment

    def tested_by(self) -> str:
        return f"{os.path.basename(self.binary)} -t"

    def compiled_modules(self) -> set[str]:
        rc, out = self._run("-l")
        found: set[str] = set()
        if rc == 0:
            for word in re.findall(r"\b(mod_\w+\.c|core\.c|http_core\.c)", out):
                found.add(word)
                stem = word[:-2].removeprefix("mod_")
                found.add(f"{stem}_module")
        return found


# --------------------------------------------------------------------------- the request


@dataclass(frozen=True)
class ApacheRequest(InstallRequest):
    config_root: Path = DEFAULT_ROOT
    command: str = "padlock apache install"


MODULES_NEEDED = ("ssl", "socache_shmcb", "rewrite", "headers")


def _read(root: Path, layout_name: str | None, binary: str | None) -> Apache:
    """The configuration as Apache reads it (the layout's envvars sourced, ``<IfModule>``
    evaluated as it will be once padlock enabled its modules) and how to drive Apache."""
    root = root.resolve()
    if not root.is_dir():
        raise ConfigError(f"The config root {root} is not a directory. {NOTHING_CHANGED}")
    layout = detect_layout(root, layout_name)
    env = dict(os.environ)
    if layout.envvars and (root / layout.envvars).is_file():
        env = _sourced_env(root / layout.envvars, root)
    main = root / layout.main_conf
    found = find_binary(layout.binaries, binary)
    if found is None:
        raise ConfigError(
            f"No Apache binary ({' or '.join(layout.binaries)}) is installed. {NOTHING_CHANGED}",
            hint="Install apache2 (Debian) or httpd (RHEL), or give --binary.",
        )
    server_root = root
    probe_control = ApacheControl(found, server_root, main, env, None)
    compiled = frozenset(probe_control.compiled_modules())
    loaded = set(compiled)
    for mod in MODULES_NEEDED:  # evaluate <IfModule> as it will be once padlock enabled them
        loaded |= apacheconf.module_aliases(f"{mod}_module")
    config = apacheconf.parse_config(main, server_root, env, loaded)
    pid = config.top_level("PidFile")
    pid_file: Path | None
    if pid and pid[-1].args:
        raw = Path(pid[-1].args[0])
        pid_file = raw if raw.is_absolute() else config.server_root / raw
    else:
        pid_file = config.server_root / "logs" / "httpd.pid"
    control = ApacheControl(found, config.server_root, main, env, pid_file)
    return Apache(root, layout, env, config, control, compiled)


def _open(root: Path, layout_name: str | None, binary: str | None) -> Apache:
    """For an install: a configuration whose includes all exist."""
    apache = _read(root, layout_name, binary)
    if apache.config.missing_includes:
        raise refuse(
            "The configuration includes files that do not exist:"
            f" {', '.join(apache.config.missing_includes)}.",
            hint="Fix the Include lines first.",
        )
    return apache


# --------------------------------------------------------------------------- planning


def _address(listen_address: str | None, port: int) -> str:
    if not listen_address or listen_address == "*":
        return f"*:{port}"
    host = listen_address
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


def _listen_arg(listen_address: str | None, port: int) -> str:
    return (
        str(port) if not listen_address or listen_address == "*" else _address(listen_address, port)
    )


def _module_links(ctx: Apache, modules: Sequence[str]) -> list[FileChange]:
    """What ``a2enmod`` would do: link mods-available/X.load (and X.conf) into mods-enabled,
    with the modules X.load says it depends on."""
    layout = ctx.layout
    assert layout.mods_available and layout.mods_enabled
    available = ctx.root / layout.mods_available
    enabled = ctx.root / layout.mods_enabled
    todo = list(modules)
    seen: set[str] = set()
    changes: list[FileChange] = []
    while todo:
        mod = todo.pop(0)
        if mod in seen:
            continue
        seen.add(mod)
        load = available / f"{mod}.load"
        if not load.is_file():
            raise refuse(
                f"{load} does not exist: the Apache module {mod} is not installed.",
                hint=f"Install the package that provides mod_{mod}.",
            )
        for line in load.read_text(errors="replace").splitlines():
            if line.startswith("# Depends:"):
                todo.extend(line.split(":", 1)[1].split())
        for suffix in (".load", ".conf"):
            source = available / f"{mod}{suffix}"
            link = enabled / f"{mod}{suffix}"
            if source.is_file() and not (link.exists() or link.is_symlink()):
                changes.append(
                    FileChange(
                        link,
                        link=f"../{layout.mods_available}/{mod}{suffix}",
                        why=f"enable mod_{mod} (as a2enmod {mod} would)",
                    )
                )
    return changes


def _load_module_lines(ctx: Apache, modules: Sequence[str]) -> list[dict[str, str]]:
    """For layouts without a2enmod: LoadModule lines (guarded) for modules not loaded yet."""
    out = []
    directory = "modules"
    if ctx.config.module_paths:
        directory = os.path.dirname(ctx.config.module_paths[0]) or directory
    for mod in modules:
        if not ctx.config.has_module(f"{mod}_module") or _only_assumed(ctx, mod):
            out.append({"id": f"{mod}_module", "path": f"{directory}/mod_{mod}.so"})
    return out


def _only_assumed(ctx: Apache, mod: str) -> bool:
    """True when the parser only assumed the module (padlock added it for <IfModule>)."""
    loaded_by_config = any(
        d.key == "loadmodule" and d.args and d.args[0] == f"{mod}_module" for d in ctx.config.top
    )
    return not loaded_by_config and f"mod_{mod}.c" not in ctx.compiled


def _modules_enabled(ctx: Apache, mod: str) -> bool:
    layout = ctx.layout
    if layout.mods_enabled:
        return (ctx.root / layout.mods_enabled / f"{mod}.load").exists()
    return not _only_assumed(ctx, mod)


def _managed(d: Directive) -> bool:
    key = d.key
    if key in {
        "sslengine",
        "sslcertificatefile",
        "sslcertificatekeyfile",
        "sslcertificatechainfile",
        "sslprotocol",
        "sslciphersuite",
        "sslhonorcipherorder",
        "sslsessiontickets",
        "sslusestapling",
        "sslstaplingrespondertimeout",
        "sslstaplingreturnrespondererrors",
    }:
        return True
    if key == "sslopensslconfcmd" and d.args:
        return d.args[0].lower() in ("curves", "groups", "ecdhparameters")
    return key == "header" and any("strict-transport-security" in a.lower() for a in d.args)


def _redirects_already(vhost: VirtualHost) -> bool:
    for d in vhost.directives:
        if d.key in ("redirect", "redirectmatch", "rewriterule", "redirectpermanent") and any(
            a.startswith("https://") for a in d.args
        ):
            return True
    return False


def _indent(text: str, vhost: VirtualHost) -> str:
    for d in vhost.directives:
        if d.file == vhost.file and not d.nested:
            return apacheconf.indent_of(text, d.line)
    return "    "


def _tls_block(fullchain: str, key: str, stapling: bool, hsts: bool) -> list[str]:
    return tls_lines("apache", fullchain, key, stapling=stapling, hsts=hsts)


def _redirect_block(port: int) -> list[str]:
    return redirect_lines("apache", port)


def _clone_body(vhost: VirtualHost) -> list[str]:
    """The :80 virtual host's own lines for the new TLS one (DocumentRoot, logs, <Directory>
    ...), without its names and its redirects."""
    text = vhost.file.read_text(errors="replace").splitlines()
    skip: set[int] = set()
    for d in vhost.directives:
        if d.file != vhost.file or d.nested:
            continue
        if d.key in ("servername", "serveralias") or d.key.startswith(("rewrite", "redirect")):
            skip.update(range(d.line, d.last_line + 1))
    lines = []
    for number in range(vhost.line + 1, vhost.end_line):
        if number not in skip:
            lines.append(text[number - 1])
    return trim_blank_ends(lines)


_WILDCARDS = (None, "*", "_default_", "0.0.0.0", "::", "[::]")  # noqa: S104


def _probe_host(request: InstallRequest, config: ApacheConfig, vhost: VirtualHost | None) -> str:
    """Where the live server answers for this site: the given address; else the address
    of the virtual host edited; else the one address Apache listens on for the port;
    else 127.0.0.1."""
    if request.listen_address:
        return probe_address(request.listen_address)
    if vhost is not None:
        for address in vhost.addresses:
            if address.port in (request.port, None) and address.host not in _WILDCARDS:
                return probe_address(address.host)
    listens = [x for x in config.listens if x.port == request.port]
    if listens and all(x.address not in _WILDCARDS for x in listens):
        return probe_address(listens[0].address)
    return probe_address(None)


# --------------------------------------------------------------------------- the WebServer


@dataclass
class Apache:
    """Apache's configuration, read for one install: the :class:`WebServer` for Apache.
    What is Apache's own: modules (a2enmod's links or LoadModule lines), the
    ``SSLPassPhraseDialog`` helper and the stapling cache (a server-wide file), ``Listen``."""

    root: Path
    layout: Layout
    env: dict[str, str]
    config: ApacheConfig
    control: ApacheControl
    compiled: frozenset[str]
    edits: Edits[LineEdit] = field(default_factory=lambda: Edits(apacheconf.apply_edits))
    load_modules: list[dict[str, str]] = field(default_factory=list)
    name = "apache"
    block_kind = "virtual host"
    clone_body = staticmethod(_clone_body)
    redirects_already = staticmethod(_redirects_already)

    def blocks_for(self, name: str) -> list[VirtualHost]:
        return self.config.vhosts_for(name)

    def names_needed(self, block: VirtualHost) -> list[str]:
        return list(block.names)

    def server_wide(self, draft: Draft, http_block: VirtualHost | None) -> None:
        request = draft.request
        want_modules = ["ssl"]
        if request.redirect and (http_block is None or not _redirects_already(http_block)):
            want_modules.append("rewrite")
        if request.hsts:
            want_modules.append("headers")
        if draft.stapling:
            want_modules.append("socache_shmcb")
        if self.layout.mods_available:
            draft.changes += _module_links(self, want_modules)
        else:
            self.load_modules = _load_module_lines(self, want_modules)
        self._global_file(draft, self._passphrase_helper(draft))

    def _passphrase_helper(self, draft: Draft) -> Path | None:
        """For an encrypted key: a helper that prints its pass phrase (SSLPassPhraseDialog
        exec:), falling back to the one configured before for other keys."""
        passphrase = draft.files.passphrase
        if passphrase is None:
            return None
        helper = draft.state.root / "passphrase-helper"
        fallback = None
        for d in self.config.top_level("SSLPassPhraseDialog"):
            if d.args and d.args[0].startswith("exec:") and d.args[0][5:] != str(helper):
                fallback = d.args[0][5:]
        if fallback is not None and not re.fullmatch(r"[\w./-]+", fallback):
            fallback = None
        draft.changes.append(
            FileChange(
                helper,
                render(
                    "passphrase-helper.sh.j2",
                    helper=safe_path(helper),
                    directory=safe_path(passphrase.parent),
                    fallback=fallback,
                ).encode(),
                mode=0o700,
                why="prints the pass phrase of an encrypted key for SSLPassPhraseDialog",
            )
        )
        draft.notes.append(
            "The key stays encrypted; Apache gets its pass phrase from "
            f"{helper} (SSLPassPhraseDialog exec:), so restarts do not wait for a terminal."
        )
        return helper

    def _global_file(self, draft: Draft, helper: Path | None) -> None:
        """padlock's server-wide file: the pass phrase helper and the stapling cache."""
        layout = self.layout
        global_file = self.root / layout.global_dir / layout.global_name
        # padlock's own global file is rewritten whole below: a cache line found there is
        # ours to write again, not the admin's (else a re-install drops it; Apache then
        # fails to start stapling, AH01872).
        others_cache = [
            d
            for d in self.config.top_level("SSLStaplingCache")
            if d.file.resolve() != global_file.resolve()
        ]
        stapling_cache = None
        if draft.stapling and not others_cache:
            stapling_cache = safe_path(draft.state.root / "ocsp-stapling")
        if helper is None and stapling_cache is None:
            return
        draft.changes.append(
            FileChange(
                global_file,
                render(
                    "apache_global.conf.j2",
                    config_root=self.root,
                    helper=str(helper) if helper else None,
                    stapling_cache=stapling_cache,
                ).encode(),
                why="padlock's server-wide settings",
            )
        )
        if layout.global_enabled:
            link = self.root / layout.global_enabled / layout.global_name
            if not link.is_symlink():
                draft.changes.append(
                    FileChange(
                        link,
                        link=f"../{layout.global_dir}/{layout.global_name}",
                        why="enable it (as a2enconf padlock would)",
                    )
                )

    def tls_lines(self, draft: Draft) -> list[str]:
        files = draft.files
        return _tls_block(
            safe_path(files.fullchain), safe_path(files.key), draft.stapling, draft.request.hsts
        )

    def edit_tls_block(self, draft: Draft, block: VirtualHost, tls: list[str]) -> None:
        text = block.file.read_text(errors="replace")
        indent = _indent(text, block)
        outside = [d for d in block.directives if _managed(d) and d.file != block.file]
        refuse_included_tls(self.block_kind, draft.name, block, outside)
        own = [d for d in block.directives if _managed(d) and not d.nested]
        tls_block = tuple(indent + line if line else "" for line in tls)
        file_edits = self.edits.of(block.file)
        if own:
            first = own[0]
            file_edits.append(LineEdit(first.line, first.last_line, tls_block))
            file_edits += [LineEdit(d.line, d.last_line, ()) for d in own[1:]]
            comments = block_comments(_tls_block("f", "k", stapling=True, hsts=True))
            stale = stale_comments(text, block.line + 1, block.end_line - 1, comments)
            file_edits += [LineEdit(n, n, ()) for n in stale]
        else:
            file_edits.append(LineEdit(block.end_line, block.end_line - 1, tls_block))
        new_aliases = [a for a in draft.aliases if not block.serves(a)]
        if new_aliases:
            anchor = block.get("ServerName")
            at = anchor[-1].last_line + 1 if anchor else block.line + 1
            file_edits.append(
                LineEdit(at, at - 1, (f"{indent}ServerAlias {' '.join(new_aliases)}",))
            )
        request = draft.request
        if not self.config.listens_on(request.port):
            listen = f"Listen {_listen_arg(request.listen_address, request.port)}"
            file_edits.append(LineEdit(block.line, block.line - 1, (listen,)))
        if any(d.key == "sslcacertificatefile" for d in block.directives):
            draft.notes.append(
                "SSLCACertificateFile stays: it names the CAs of *client* certificates; the"
                " chain is now served from SSLCertificateFile."
            )

    def site_context(self, draft: Draft, http_block: VirtualHost | None) -> dict[str, object]:
        request = draft.request
        listens: list[str] = []
        need_redirect_vhost = request.redirect and http_block is None
        for port, needed in ((request.port, True), (request.http_port, need_redirect_vhost)):
            if needed and not self.config.listens_on(port):
                listens.append(_listen_arg(request.listen_address, port))
        return {
            "listens": listens,
            "load_modules": self.load_modules,
            "http_address": _address(request.listen_address, request.http_port),
            "ssl_address": _address(request.listen_address, request.port),
            "name": draft.name,
            "aliases": list(draft.aliases),
        }

    def enable_site(self, draft: Draft, site_file: Path) -> None:
        layout = self.layout
        if layout.sites_enabled:
            why = f"enable it (as a2ensite {site_file.stem} would)"
            draft.changes.append(site_link(self.root, layout.sites_enabled, site_file, why))
        if layout.include_sites:
            self._include_sites()

    def _include_sites(self) -> None:
        """Layouts without an include of padlock's directory: one line in the main file."""
        pattern = f"{self.root / self.layout.sites_dir}/*.conf"
        included = any(
            d.key in ("include", "includeoptional") and d.args and d.args[0] == pattern
            for d in self.config.top
        )
        if not included:
            main = self.root / self.layout.main_conf
            line_count = len(main.read_text(errors="replace").splitlines())
            self.edits.of(main).append(
                LineEdit(
                    line_count + 1,
                    line_count,
                    ("", "# Sites installed by padlock", f'IncludeOptional "{pattern}"'),
                )
            )

    def add_redirect(self, draft: Draft, block: VirtualHost) -> None:
        text = block.file.read_text(errors="replace")
        indent = _indent(text, block)
        redirect = tuple(indent + line for line in _redirect_block(draft.request.port))
        self.edits.of(block.file).append(LineEdit(block.end_line, block.end_line - 1, redirect))
        others = len(self.config.vhosts_in(block.file)) - 1
        draft.notes.append(
            f"Added the https redirect to the :{draft.request.http_port} virtual host in"
            f" {block.file.resolve()}"
            + (f" ({others} other virtual host(s) there untouched)." if others else ".")
        )

    def why_edited(self, path: Path, name: str) -> str:
        if path == (self.root / self.layout.main_conf).resolve():
            return "include padlock's site files"
        return f"edited in place: only the lines of the {name} virtual host change"

    def probe_host(self, request: InstallRequest, ssl_block: VirtualHost | None) -> str:
        return _probe_host(request, self.config, ssl_block)


def _rollback_control(root: Path, layout_name: str | None, binary: str | None) -> ApacheControl:
    return _read(root, layout_name, binary).control


KIND = webserver.ServerKind("apache", _open, _rollback_control)


def prepare(request: InstallRequest, now: dt.datetime | None = None) -> Prepared:
    """The plan of an install into Apache (see :func:`padlock.site.webserver.prepare`)."""
    return webserver.prepare(KIND, request, now)


apply = webserver.apply


__all__ = [
    "KIND",
    "LAYOUTS",
    "Apache",
    "ApacheControl",
    "ApacheRequest",
    "Layout",
    "Prepared",
    "apply",
    "detect_layout",
    "prepare",
]
