"""``padlock nginx install`` and ``rollback``: the Apache installer's twin for nginx.

Same pre-flight (:mod:`padlock.site.material`), same transaction
(:mod:`padlock.site.transaction`); what differs is data and syntax: a ``server`` block
with ``ssl_certificate`` holding the full chain, ``ssl_password_file`` for an encrypted
key (nginx's own answer to the seed's pass phrase at every restart), ``nginx -t`` and
``nginx -s reload``. Where a site's file goes is a table of layouts (Debian's
``sites-available`` + ``sites-enabled`` link, ``conf.d``, or padlock's own directory
included from the http block).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from padlock.errors import ConfigError, InstallFailed
from padlock.site import nginxconf
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
from padlock.site.nginxconf import Directive, NginxConfig, Server, TextEdit
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

DEFAULT_ROOT = Path("/etc/nginx")


@dataclass(frozen=True)
class NginxLayout:
    name: str
    markers: tuple[str, ...]
    main_conf: str
    sites_dir: str
    sites_enabled: str | None


NGINX_LAYOUTS: tuple[NginxLayout, ...] = (
    NginxLayout(
        "debian",
        ("nginx.conf", "sites-available"),
        "nginx.conf",
        "sites-available",
        "sites-enabled",
    ),
    NginxLayout("confd", ("nginx.conf", "conf.d"), "nginx.conf", "conf.d", None),
    NginxLayout("plain", ("nginx.conf",), "nginx.conf", "padlock.d", None),
)


def detect_layout(root: Path, name: str | None = None) -> NginxLayout:
    for layout in NGINX_LAYOUTS:
        if name is not None and layout.name == name:
            return layout
        if name is None and all((root / m).exists() for m in layout.markers):
            return layout
    if name is not None:
        known = ", ".join(x.name for x in NGINX_LAYOUTS)
        raise ConfigError(f"No nginx layout is called {name!r}; padlock knows {known}.")
    raise ConfigError(
        f"{root} holds no nginx.conf. {NOTHING_CHANGED}",
        hint="Give the directory that holds nginx.conf with --config-root.",
    )


@dataclass(frozen=True)
class NginxControl:
    binary: str
    main_file: Path
    pid_file: Path | None
    error_log: str | None
    label: str = "nginx"

    def _run(self, *args: str) -> tuple[int, str]:
        argv = [self.binary, "-c", str(self.main_file)]
        if self.error_log:
            argv += ["-e", self.error_log]
        argv += list(args)
        proc = run_command(argv, what=" ".join(argv))
        return proc.returncode, output_of(proc)

    def configtest(self) -> None:
        rc, out = self._run("-t", "-q")
        if rc != 0:
            raise InstallFailed(f"nginx -t says: {out}")

    def reload(self) -> None:
        if not self.is_running():
            rc, out = self._run()  # not running: start it, as Apache's graceful does
        else:
            rc, out = self._run("-s", "reload")
        if rc != 0:
            raise InstallFailed(f"Reloading nginx failed: {out}")

    def is_running(self) -> bool:
        return pid_alive(self.pid_file)

    def stop(self) -> None:
        self._run("-s", "quit")

    def version(self) -> tuple[int, ...]:
        _rc, out = self._run("-v")
        found = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", out)
        return tuple(int(x) for x in found.groups()) if found else (0, 0, 0)


def _compiled_pid_path(binary: str) -> Path | None:
    proc = run_command([binary, "-V"], what=f"{binary} -V")
    found = re.search(r"--pid-path=(\S+)", proc.stderr + proc.stdout)
    return Path(found.group(1)) if found else None


@dataclass(frozen=True)
class NginxRequest:
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
    command: str = "padlock nginx install"


@dataclass(frozen=True)
class Prepared:
    plan: Plan
    material: Material
    control: NginxControl
    state: StateDir
    names: tuple[str, ...]
    probe_host: str
    port: int
    site_file: Path | None
    edited: tuple[Path, ...]


@dataclass(frozen=True)
class _Context:
    root: Path
    layout: NginxLayout
    config: NginxConfig
    control: NginxControl


def _find_nginx(binary: str | None) -> str:
    found = find_binary(("nginx",), binary)
    if found is None:
        raise ConfigError(
            f"nginx is not installed. {NOTHING_CHANGED}", hint="apt-get install nginx"
        )
    return found


def _control(main: Path, binary: str, top: list[Directive] | None) -> NginxControl:
    """How to drive nginx for this configuration: its pid file and error log come from the
    main file's top level (read with a regular expression when the file does not parse, as
    after an interrupted install, so that rollback still works)."""
    values: dict[str, str] = {}
    if top is not None:
        values = {d.name: d.args[0] for d in top if d.name in ("pid", "error_log") and d.args}
    else:
        text = main.read_text(errors="replace") if main.is_file() else ""
        for key in ("pid", "error_log"):
            found = re.search(rf"^\s*{key}\s+([^\s;]+)", text, re.MULTILINE)
            if found:
                values[key] = found.group(1).strip("\"'")
    pid_file: Path | None = None
    if "pid" in values:
        pid_file = Path(values["pid"])
        if not pid_file.is_absolute():
            pid_file = main.parent / pid_file
    else:
        pid_file = _compiled_pid_path(binary)
    error_log = values.get("error_log")
    return NginxControl(
        binary, main, pid_file, error_log if error_log and error_log.startswith("/") else None
    )


def _context(root: Path, layout_name: str | None, binary: str | None) -> _Context:
    root = root.resolve()
    if not root.is_dir():
        raise ConfigError(f"The config root {root} is not a directory. {NOTHING_CHANGED}")
    layout = detect_layout(root, layout_name)
    found = _find_nginx(binary)
    main = root / layout.main_conf
    try:
        config = nginxconf.parse_config(main)
    except ConfigError as exc:
        raise ConfigError(f"{exc.message} {NOTHING_CHANGED}", hint=exc.hint) from None
    return _Context(root, layout, config, _control(main, found, config.top))


MANAGED = {
    "ssl_certificate",
    "ssl_certificate_key",
    "ssl_password_file",
    "ssl_protocols",
    "ssl_ciphers",
    "ssl_conf_command",
    "ssl_prefer_server_ciphers",
    "ssl_session_tickets",
    "ssl_session_cache",
    "ssl_session_timeout",
    "ssl_ecdh_curve",
    "ssl_stapling",
    "ssl_stapling_verify",
}


def _managed(d: Directive) -> bool:
    if d.name in MANAGED:
        return True
    return d.name == "add_header" and d.args[:1] == ("Strict-Transport-Security",)


def _listen(address: str | None, port: int) -> str:
    if not address or address == "*":
        return str(port)
    host = f"[{address}]" if ":" in address and not address.startswith("[") else address
    return f"{host}:{port}"


def _redirect_lines(port: int) -> list[str]:
    suffix = "" if port == 443 else f":{port}"
    return render("nginx_redirect.conf.j2", port_suffix=suffix).rstrip("\n").split("\n")


def _clone_body(server: Server) -> list[str]:
    """The :80 server block's own lines for the TLS one, without listen/server_name/return."""
    text = server.file.read_text(errors="replace")
    block = server.directive
    edits = []
    for d in block.block or []:
        if d.file == server.file and d.name in ("listen", "server_name", "return", "rewrite"):
            start, end = nginxconf.whole_lines(text, d.start, d.end)
            edits.append(TextEdit(start, end, ""))
    inner = text[block.open_brace + 1 : block.close_brace]
    shifted = [
        TextEdit(e.start - block.open_brace - 1, e.end - block.open_brace - 1, "") for e in edits
    ]
    body = nginxconf.apply_text_edits(inner, shifted)
    lines = body.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    return lines


def _tls_lines(
    fullchain: str, key: str, password_file: str | None, stapling: bool, hsts: bool
) -> list[str]:
    text = render(
        "nginx_tls.conf.j2",
        profile=INTERMEDIATE,
        fullchain=fullchain,
        key=key,
        password_file=password_file,
        stapling=stapling,
        hsts=hsts,
    )
    return text.rstrip("\n").split("\n")


def _stale_comment_edits(text: str, block: Directive) -> list[TextEdit]:
    """Remove an earlier padlock TLS block's comment lines from the server block: the new
    block brings its own (one managed block however often the site is renewed)."""
    comments = block_comments(_tls_lines("f", "k", "p", stapling=True, hsts=True))
    first = text.count("\n", 0, block.open_brace) + 2
    last = text.count("\n", 0, block.close_brace)
    edits = []
    starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
    for number in stale_comments(text, first, last, comments):
        start = starts[number - 1]
        end = starts[number] if number < len(starts) else len(text)
        edits.append(TextEdit(start, end, ""))
    return edits


def _redirects_already(server: Server) -> bool:
    """Whether the server block sends to https already, at any depth: padlock's own
    redirect sits inside an ``if`` block, and a re-install must not add it again."""
    stack = list(server.directive.block or [])
    while stack:
        d = stack.pop()
        if d.name in ("return", "rewrite") and any("https://" in a for a in d.args):
            return True
        stack.extend(d.block or [])
    return False


def _probe_host(request: NginxRequest, server: Server | None) -> str:
    """The given address; else the address the edited server block listens on; else
    127.0.0.1."""
    if request.listen_address or server is None:
        return probe_address(request.listen_address)
    for listen in server.listens:
        if listen.port == request.port and listen.address not in (None, "*", "[::]"):
            return probe_address(listen.address)
    return probe_address(None)


def prepare(request: NginxRequest, now: dt.datetime | None = None) -> Prepared:
    now = now or dt.datetime.now(dt.UTC)
    name, aliases = normalize_site_names(request.name, request.aliases)
    ctx = _context(request.config_root, request.layout, request.binary)
    if ctx.config.http is None:
        raise refuse(f"{ctx.config.main_file} has no http block.")
    state = StateDir.under(ctx.root)
    config = ctx.config
    ssl_server = next((s for s in config.servers_for(name) if s.on_port(request.port)), None)
    http_server = next(
        (
            s
            for s in config.servers_for(name)
            if s.on_port(request.http_port) and s is not ssl_server and not s.ssl
        ),
        None,
    )
    required = [name, *aliases]
    for server in (ssl_server, http_server if request.redirect else None):
        if server is not None:
            required += [
                n for n in server.names if n not in required and n != "_" and n[:1] not in "~."
            ]
    material = load_material(
        request.cert, request.key, request.chain, request.ca, request.passphrase, required, now
    )
    files = site_files(state, name, request.port, material, request.decrypt_key, "nginx")
    version = ctx.control.version()
    tls_lines = _tls_lines(
        safe_path(files.fullchain),
        safe_path(files.key),
        safe_path(files.passphrase) if files.passphrase else None,
        stapling=material.ocsp_url is not None and request.ocsp_stapling is not False,
        hsts=request.hsts,
    )
    changes: list[FileChange] = list(files.changes)
    notes: list[str] = []
    if files.passphrase is not None:
        notes.append(
            f"The key stays encrypted; nginx reads its pass phrase from {files.passphrase}"
            " (ssl_password_file), so restarts do not wait for a terminal."
        )
    elif material.key_encrypted:
        notes.append(
            "--decrypt-key: the key is installed decrypted (mode 0600, root only). Restarts"
            " need no pass phrase; a copy of that file is enough to impersonate the site."
        )
    edits: dict[Path, list[TextEdit]] = {}
    site_file: Path | None = None
    if ssl_server is not None:
        text = ssl_server.file.read_text(errors="replace")
        block = ssl_server.directive
        children = block.block or []
        outside = [d for d in children if _managed(d) and d.file != ssl_server.file]
        if outside:
            where = ", ".join(f"{d.name} in {d.file}:{d.line}" for d in outside)
            raise refuse(
                f"The server block for {name} ({ssl_server.file}:{block.line}) takes TLS"
                f" settings from included files ({where}), which other sites may share.",
                hint="Move those lines into the server block itself, then run padlock again.",
            )
        own = [d for d in children if _managed(d)]
        indent = nginxconf.line_indent(text, own[0].start if own else children[0].start)
        indent = indent or "    "
        new_block = "\n".join(indent + line if line else "" for line in tls_lines)
        file_edits = edits.setdefault(ssl_server.file.resolve(), [])
        if own:
            start, end = nginxconf.whole_lines(text, own[0].start, own[0].end)
            file_edits.append(TextEdit(start, end, new_block + "\n"))
            for d in own[1:]:
                s2, e2 = nginxconf.whole_lines(text, d.start, d.end)
                file_edits.append(TextEdit(s2, e2, ""))
            file_edits += _stale_comment_edits(text, block)
        else:
            at = nginxconf.line_start(text, block.close_brace)
            file_edits.append(TextEdit(at, at, "\n" + new_block + "\n"))
        for listen in ssl_server.listens:
            if listen.port == request.port and not listen.ssl:
                d = listen.directive
                file_edits.append(TextEdit(d.start, d.end, f"listen {' '.join(d.args)} ssl;"))
        new_names = [a for a in aliases if not ssl_server.serves(a)]
        sn = block.children("server_name")
        if new_names and sn and sn[0].file == ssl_server.file:
            d = sn[0]
            file_edits.append(
                TextEdit(d.start, d.end, f"server_name {' '.join((*d.args, *new_names))};")
            )
        notes.append(f"Edited the TLS server block in {ssl_server.file} in place.")
    else:
        need_redirect_server = request.redirect and http_server is None
        body = _clone_body(http_server) if http_server is not None else []
        site_file = ctx.root / ctx.layout.sites_dir / f"padlock-{name}.conf"
        content = render(
            "nginx_site.conf.j2",
            command=request.command,
            written=now.strftime("%Y-%m-%d %H:%M UTC"),
            config_root=ctx.root,
            redirect=need_redirect_server,
            http_listen=_listen(request.listen_address, request.http_port),
            ssl_listen=_listen(request.listen_address, request.port),
            http2_param=(1, 9, 5) <= version < (1, 25, 1),
            http2_directive=version >= (1, 25, 1),
            names=[name, *aliases],
            redirect_block="\n".join(_redirect_lines(request.port)),
            body=body,
            tls_block="\n".join(tls_lines),
        )
        content = re.sub(r"\n{3,}", "\n\n", content)
        changes.append(
            FileChange(site_file, content.encode(), why=f"the TLS server block for {name}")
        )
        enabled_path = site_file
        if ctx.layout.sites_enabled:
            enabled_path = ctx.root / ctx.layout.sites_enabled / site_file.name
            changes.append(
                FileChange(
                    enabled_path,
                    link=f"../{ctx.layout.sites_dir}/{site_file.name}",
                    why="enable it (a link in sites-enabled)",
                )
            )
        if not config.http_includes(enabled_path):
            http = config.http
            assert http is not None
            http_text = http.file.read_text(errors="replace")
            at = nginxconf.line_start(http_text, http.close_brace)
            pattern = safe_path(enabled_path.parent) + "/padlock-*.conf"
            edits.setdefault(http.file.resolve(), []).append(
                TextEdit(at, at, f"    # Sites installed by padlock\n    include {pattern};\n")
            )
    if request.redirect and http_server is not None and not _redirects_already(http_server):
        text = http_server.file.read_text(errors="replace")
        block = http_server.directive
        indent = nginxconf.line_indent(text, (block.block or [block])[0].start) or "    "
        at = nginxconf.line_start(text, block.close_brace)
        lines = "\n".join(indent + line for line in _redirect_lines(request.port))
        edits.setdefault(http_server.file.resolve(), []).append(TextEdit(at, at, lines + "\n"))
        others = len(config.servers_in(http_server.file)) - 1
        untouched = f" ({others} other server block(s) there untouched)" if others else ""
        notes.append(
            f"Added the https redirect to the :{request.http_port} server block in"
            f" {http_server.file.resolve()}{untouched}."
        )
    for path, file_edits in edits.items():
        original = path.read_text(errors="replace")
        changes.append(
            FileChange(
                path,
                nginxconf.apply_text_edits(original, file_edits).encode(),
                why=f"edited in place: only the {name} server block (or the http block's"
                " include) changes",
            )
        )
    plan = Plan(
        server="nginx",
        description=f"install {material.serial} for {name}"
        + (f" (+ {', '.join(aliases)})" if aliases else ""),
        changes=tuple(changes),
        notes=tuple(notes),
        warnings=material.warnings,
    )
    return Prepared(
        plan=plan,
        material=material,
        control=ctx.control,
        state=state,
        names=(name, *[a for a in aliases if "*" not in a]),
        probe_host=_probe_host(request, ssl_server),
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


def install(request: NginxRequest) -> tuple[Prepared, Outcome]:
    prepared = prepare(request)
    return prepared, apply(prepared)


def rollback_nginx(
    config_root: Path = DEFAULT_ROOT,
    *,
    layout: str | None = None,
    binary: str | None = None,
    force: bool = False,
) -> RollbackOutcome:
    """Needs no parsable configuration: an interrupted install may have left a broken one."""
    root = config_root.resolve()
    chosen = detect_layout(root, layout)
    main = root / chosen.main_conf
    try:
        top: list[Directive] | None = nginxconf.parse_config(main).top
    except ConfigError:
        top = None
    control = _control(main, _find_nginx(binary), top)
    return rollback(StateDir.under(root), control, force=force)
