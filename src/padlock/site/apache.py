"""``padlock apache install`` and ``rollback``: the seed's sections 7-9, done safely.

Distributions differ only in data: :data:`LAYOUTS` says, per layout, where the main file
is, where a site's own file goes, how it is enabled (Debian's ``sites-enabled`` and
``mods-enabled`` links — what ``a2ensite``/``a2enmod`` do, written by padlock itself so
that the transaction can undo them), and which binary to run. The installer:

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
from dataclasses import dataclass
from pathlib import Path

from padlock.errors import ConfigError, InstallFailed
from padlock.site import apacheconf
from padlock.site.apacheconf import ApacheConfig, Directive, LineEdit, VirtualHost
from padlock.site.common import (
    block_comments,
    find_binary,
    normalize_site_names,
    output_of,
    pid_alive,
    render,
    run_command,
    safe_path,
    site_files,
    stale_comments,
)
from padlock.site.material import NOTHING_CHANGED, Material, load_material, refuse
from padlock.site.probe import probe_address, wait_for_serial
from padlock.site.tls_profile import INTERMEDIATE
from padlock.site.transaction import (
    FileChange,
    Outcome,
    Plan,
    RollbackOutcome,
    StateDir,
    apply_plan,
    rollback,
)

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
class ApacheControl:
    """Runs ``httpd``/``apache2`` against one configuration: ``-d ROOT -f MAIN``."""

    binary: str
    server_root: Path
    main_file: Path
    env: dict[str, str]
    pid_file: Path | None
    label: str = "Apache"

    def _run(self, *args: str, timeout: float = 60.0) -> tuple[int, str]:
        argv = [self.binary, "-d", str(self.server_root), "-f", str(self.main_file), *args]
        proc = run_command(argv, env=self.env, timeout=timeout, what=" ".join(argv))
        return proc.returncode, output_of(proc)

    def configtest(self) -> None:
        rc, out = self._run("-t")
        if rc != 0:
            raise InstallFailed(f"{os.path.basename(self.binary)} -t says: {out}")

    def reload(self) -> None:
        rc, out = self._run("-k", "graceful")
        if rc != 0:
            raise InstallFailed(f"The graceful restart failed: {out}")

    def is_running(self) -> bool:
        return pid_alive(self.pid_file)

    def stop(self) -> None:
        self._run("-k", "stop")

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
class ApacheRequest:
    name: str
    cert: Path
    key: Path
    aliases: tuple[str, ...] = ()
    chain: Path | None = None
    ca: tuple[Path, ...] = ()
    config_root: Path = DEFAULT_ROOT
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
    command: str = "padlock apache install"


@dataclass(frozen=True)
class Prepared:
    plan: Plan
    material: Material
    control: ApacheControl
    state: StateDir
    names: tuple[str, ...]
    probe_host: str
    port: int
    site_file: Path | None
    edited: tuple[Path, ...]


@dataclass(frozen=True)
class _Context:
    root: Path
    layout: Layout
    env: dict[str, str]
    config: ApacheConfig
    control: ApacheControl
    compiled: frozenset[str]


MODULES_NEEDED = ("ssl", "socache_shmcb", "rewrite", "headers")


def _context(root: Path, layout_name: str | None, binary: str | None) -> _Context:
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
    return _Context(root, layout, env, config, control, compiled)


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


def _module_links(ctx: _Context, modules: Sequence[str]) -> list[FileChange]:
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


def _load_module_lines(ctx: _Context, modules: Sequence[str]) -> list[dict[str, str]]:
    """For layouts without a2enmod: LoadModule lines (guarded) for modules not loaded yet."""
    out = []
    directory = "modules"
    if ctx.config.module_paths:
        directory = os.path.dirname(ctx.config.module_paths[0]) or directory
    for mod in modules:
        if not ctx.config.has_module(f"{mod}_module") or _only_assumed(ctx, mod):
            out.append({"id": f"{mod}_module", "path": f"{directory}/mod_{mod}.so"})
    return out


def _only_assumed(ctx: _Context, mod: str) -> bool:
    """True when the parser only assumed the module (padlock added it for <IfModule>)."""
    loaded_by_config = any(
        d.key == "loadmodule" and d.args and d.args[0] == f"{mod}_module" for d in ctx.config.top
    )
    return not loaded_by_config and f"mod_{mod}.c" not in ctx.compiled


def _modules_enabled(ctx: _Context, mod: str) -> bool:
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


def _tls_block(files_fullchain: str, files_key: str, stapling: bool, hsts: bool) -> list[str]:
    text = render(
        "apache_tls.conf.j2",
        profile=INTERMEDIATE,
        fullchain=files_fullchain,
        key=files_key,
        stapling=stapling,
        hsts=hsts,
    )
    return text.rstrip("\n").split("\n")


def _redirect_block(port: int) -> list[str]:
    suffix = "" if port == 443 else f":{port}"
    return render("apache_redirect.conf.j2", port_suffix=suffix).rstrip("\n").split("\n")


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
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    return lines


_WILDCARDS = (None, "*", "_default_", "0.0.0.0", "::", "[::]")  # noqa: S104


def _probe_host(request: ApacheRequest, config: ApacheConfig, vhost: VirtualHost | None) -> str:
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


def prepare(request: ApacheRequest, now: dt.datetime | None = None) -> Prepared:
    """Everything up to the plan: pre-flight checks included, nothing written."""
    now = now or dt.datetime.now(dt.UTC)
    name, aliases = normalize_site_names(request.name, request.aliases)
    for port in (request.port, request.http_port):
        if not 0 < port < 65536:
            raise refuse(f"{port} is not a port number.")
    ctx = _context(request.config_root, request.layout, request.binary)
    state = StateDir.under(ctx.root)
    config = ctx.config
    if config.missing_includes:
        raise refuse(
            "The configuration includes files that do not exist:"
            f" {', '.join(config.missing_includes)}.",
            hint="Fix the Include lines first.",
        )
    ssl_vhost = next((v for v in config.vhosts_for(name) if v.on_port(request.port)), None)
    http_vhost = next(
        (
            v
            for v in config.vhosts_for(name)
            if v.on_port(request.http_port) and v is not ssl_vhost and not v.ssl
        ),
        None,
    )
    # Names the certificate must cover: ours, and every name of the vhosts we touch.
    required = [name, *aliases]
    for vhost in (ssl_vhost, http_vhost if request.redirect else None):
        if vhost is not None:
            required += [n for n in vhost.names if n not in required]
    material = load_material(
        request.cert,
        request.key,
        request.chain,
        request.ca,
        request.passphrase,
        required,
        now,
    )
    stapling = material.ocsp_url is not None
    if request.ocsp_stapling is not None:
        stapling = request.ocsp_stapling and material.ocsp_url is not None
    files = site_files(state, name, request.port, material, request.decrypt_key, "apache")
    fullchain_s, key_s = safe_path(files.fullchain), safe_path(files.key)
    changes: list[FileChange] = list(files.changes)
    notes: list[str] = []
    warnings: list[str] = list(material.warnings)

    # -- modules
    want_modules = ["ssl"]
    need_redirect_vhost = request.redirect and http_vhost is None
    if request.redirect and (
        need_redirect_vhost or (http_vhost is not None and not _redirects_already(http_vhost))
    ):
        want_modules.append("rewrite")
    if request.hsts:
        want_modules.append("headers")
    if stapling:
        want_modules.append("socache_shmcb")
    load_modules: list[dict[str, str]] = []
    if ctx.layout.mods_available:
        changes += _module_links(ctx, want_modules)
    else:
        load_modules = _load_module_lines(ctx, want_modules)

    # -- server-wide: pass phrase helper, stapling cache
    helper: Path | None = None
    if files.passphrase is not None:
        helper = state.root / "passphrase-helper"
        fallback = None
        for d in config.top_level("SSLPassPhraseDialog"):
            if d.args and d.args[0].startswith("exec:") and d.args[0][5:] != str(helper):
                fallback = d.args[0][5:]
        if fallback is not None and not re.fullmatch(r"[\w./-]+", fallback):
            fallback = None
        changes.append(
            FileChange(
                helper,
                render(
                    "passphrase-helper.sh.j2",
                    helper=safe_path(helper),
                    directory=safe_path(files.passphrase.parent),
                    fallback=fallback,
                ).encode(),
                mode=0o700,
                why="prints the pass phrase of an encrypted key for SSLPassPhraseDialog",
            )
        )
        notes.append(
            "The key stays encrypted; Apache gets its pass phrase from "
            f"{helper} (SSLPassPhraseDialog exec:), so restarts do not wait for a terminal."
        )
    elif material.key_encrypted and request.decrypt_key:
        notes.append(
            "--decrypt-key: the key is installed decrypted (mode 0600, root only). Restarts"
            " need no pass phrase; a copy of that file is enough to impersonate the site."
        )
    stapling_cache = None
    global_file = ctx.root / ctx.layout.global_dir / ctx.layout.global_name
    # padlock's own global file is rewritten whole below: a cache line found there is
    # ours to write again, not the admin's (else a re-install drops it; Apache then
    # fails to start stapling, AH01872).
    others_cache = [
        d for d in config.top_level("SSLStaplingCache") if d.file.resolve() != global_file.resolve()
    ]
    if stapling and not others_cache:
        stapling_cache = safe_path(state.root / "ocsp-stapling")
    if helper is not None or stapling_cache is not None:
        changes.append(
            FileChange(
                global_file,
                render(
                    "apache_global.conf.j2",
                    config_root=ctx.root,
                    helper=str(helper) if helper else None,
                    stapling_cache=stapling_cache,
                ).encode(),
                why="padlock's server-wide settings",
            )
        )
        if ctx.layout.global_enabled:
            link = ctx.root / ctx.layout.global_enabled / ctx.layout.global_name
            if not link.is_symlink():
                changes.append(
                    FileChange(
                        link,
                        link=f"../{ctx.layout.global_dir}/{ctx.layout.global_name}",
                        why="enable it (as a2enconf padlock would)",
                    )
                )

    # -- the virtual hosts
    edits: dict[Path, list[LineEdit]] = {}
    listens: list[str] = []
    if not config.listens_on(request.port):
        listens.append(_listen_arg(request.listen_address, request.port))
    site_file: Path | None = None
    tls_lines = _tls_block(fullchain_s, key_s, stapling, request.hsts)
    if ssl_vhost is not None:
        text = ssl_vhost.file.read_text(errors="replace")
        indent = _indent(text, ssl_vhost)
        outside = [d for d in ssl_vhost.directives if _managed(d) and d.file != ssl_vhost.file]
        if outside:
            where = ", ".join(f"{d.name} in {d.file}:{d.line}" for d in outside)
            raise refuse(
                f"The virtual host for {name} ({ssl_vhost.file}:{ssl_vhost.line}) takes TLS"
                f" settings from included files ({where}), which other sites may share.",
                hint="Move those lines into the virtual host itself, then run padlock again.",
            )
        own = [d for d in ssl_vhost.directives if _managed(d) and not d.nested]
        tls_block = tuple(indent + line if line else "" for line in tls_lines)
        file_edits = edits.setdefault(ssl_vhost.file.resolve(), [])
        if own:
            first = own[0]
            file_edits.append(LineEdit(first.line, first.last_line, tls_block))
            file_edits += [LineEdit(d.line, d.last_line, ()) for d in own[1:]]
            comments = block_comments(_tls_block("f", "k", stapling=True, hsts=True))
            stale = stale_comments(text, ssl_vhost.line + 1, ssl_vhost.end_line - 1, comments)
            file_edits += [LineEdit(n, n, ()) for n in stale]
        else:
            file_edits.append(LineEdit(ssl_vhost.end_line, ssl_vhost.end_line - 1, tls_block))
        new_aliases = [a for a in aliases if not ssl_vhost.serves(a)]
        if new_aliases:
            anchor = ssl_vhost.get("ServerName")
            at = anchor[-1].last_line + 1 if anchor else ssl_vhost.line + 1
            file_edits.append(
                LineEdit(at, at - 1, (f"{indent}ServerAlias {' '.join(new_aliases)}",))
            )
        if listens:
            file_edits.append(
                LineEdit(ssl_vhost.line, ssl_vhost.line - 1, tuple(f"Listen {x}" for x in listens))
            )
            listens = []
        if any(d.key == "sslcacertificatefile" for d in ssl_vhost.directives):
            notes.append(
                "SSLCACertificateFile stays: it names the CAs of *client* certificates; the"
                " chain is now served from SSLCertificateFile."
            )
        notes.append(f"Edited the TLS virtual host in {ssl_vhost.file} in place.")
    else:
        if need_redirect_vhost and not config.listens_on(request.http_port):
            listens.append(_listen_arg(request.listen_address, request.http_port))
        body = _clone_body(http_vhost) if http_vhost is not None else []
        site_file = ctx.root / ctx.layout.sites_dir / f"padlock-{name}.conf"
        content = render(
            "apache_site.conf.j2",
            command=request.command,
            written=now.strftime("%Y-%m-%d %H:%M UTC"),
            config_root=ctx.root,
            listens=listens,
            load_modules=load_modules,
            redirect=need_redirect_vhost,
            http_address=_address(request.listen_address, request.http_port),
            ssl_address=_address(request.listen_address, request.port),
            name=name,
            aliases=list(aliases),
            redirect_block="\n".join(_redirect_block(request.port)),
            body=body,
            tls_block="\n".join(tls_lines),
        )
        content = re.sub(r"\n{3,}", "\n\n", content)
        changes.append(
            FileChange(site_file, content.encode(), why=f"the TLS virtual host for {name}")
        )
        if ctx.layout.sites_enabled:
            link = ctx.root / ctx.layout.sites_enabled / site_file.name
            changes.append(
                FileChange(
                    link,
                    link=f"../{ctx.layout.sites_dir}/{site_file.name}",
                    why=f"enable it (as a2ensite {site_file.stem} would)",
                )
            )
        if ctx.layout.include_sites:
            pattern = f"{ctx.root / ctx.layout.sites_dir}/*.conf"
            included = any(
                d.key in ("include", "includeoptional") and d.args and d.args[0] == pattern
                for d in config.top
            )
            if not included:
                main_text = (ctx.root / ctx.layout.main_conf).read_text(errors="replace")
                line_count = len(main_text.splitlines())
                edits.setdefault((ctx.root / ctx.layout.main_conf).resolve(), []).append(
                    LineEdit(
                        line_count + 1,
                        line_count,
                        ("", "# Sites installed by padlock", f'IncludeOptional "{pattern}"'),
                    )
                )
    if request.redirect and http_vhost is not None and not _redirects_already(http_vhost):
        text = http_vhost.file.read_text(errors="replace")
        indent = _indent(text, http_vhost)
        redirect = tuple(indent + line for line in _redirect_block(request.port))
        edits.setdefault(http_vhost.file.resolve(), []).append(
            LineEdit(http_vhost.end_line, http_vhost.end_line - 1, redirect)
        )
        others = len(config.vhosts_in(http_vhost.file)) - 1
        notes.append(
            f"Added the https redirect to the :{request.http_port} virtual host in"
            f" {http_vhost.file.resolve()}"
            + (f" ({others} other virtual host(s) there untouched)." if others else ".")
        )
    for path, file_edits in edits.items():
        original = path.read_text(errors="replace")
        changes.append(
            FileChange(
                path,
                apacheconf.apply_edits(original, file_edits).encode(),
                why=f"edited in place: only the lines of the {name} virtual host change"
                if path != (ctx.root / ctx.layout.main_conf).resolve()
                else "include padlock's site files",
            )
        )
    plan = Plan(
        server="apache",
        description=f"install {material.serial} for {name}"
        + (f" (+ {', '.join(aliases)})" if aliases else ""),
        changes=tuple(changes),
        notes=tuple(notes),
        warnings=tuple(warnings),
    )
    return Prepared(
        plan=plan,
        material=material,
        control=ctx.control,
        state=state,
        names=(name, *[a for a in aliases if "*" not in a]),
        probe_host=_probe_host(request, config, ssl_vhost),
        port=request.port,
        site_file=site_file,
        edited=tuple(edits),
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


def install(request: ApacheRequest) -> tuple[Prepared, Outcome]:
    prepared = prepare(request)
    return prepared, apply(prepared)


def rollback_apache(
    config_root: Path = DEFAULT_ROOT,
    *,
    layout: str | None = None,
    binary: str | None = None,
    force: bool = False,
) -> RollbackOutcome:
    ctx = _context(config_root, layout, binary)
    return rollback(StateDir.under(ctx.root), ctx.control, force=force)


__all__ = [
    "LAYOUTS",
    "ApacheControl",
    "ApacheRequest",
    "Layout",
    "Prepared",
    "detect_layout",
    "install",
    "prepare",
    "rollback_apache",
]
