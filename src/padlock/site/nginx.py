"""``padlock nginx install`` and ``rollback``: :class:`Nginx` is the
:class:`~padlock.site.webserver.WebServer` for nginx.

The one installer (:mod:`padlock.site.webserver`) runs the same pre-flight and the same
transaction as for Apache; what differs is data and syntax: a ``server`` block
with ``ssl_certificate`` holding the full chain, ``ssl_password_file`` for an encrypted
key (nginx's own answer to the seed's pass phrase at every restart), ``nginx -t`` and
``nginx -s reload``. Where a site's file goes is a table of layouts (Debian's
``sites-available`` + ``sites-enabled`` link, ``conf.d``, or padlock's own directory
included from the http block).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from padlock.errors import ConfigError
from padlock.site import nginxconf, server_config, webserver
from padlock.site.material import NOTHING_CHANGED, refuse
from padlock.site.nginxconf import Directive, NginxConfig, Server, TextEdit
from padlock.site.probe import probe_address
from padlock.site.server_config import safe_path
from padlock.site.server_control import ServerCommands, find_binary, run_command
from padlock.site.webserver import Draft, Edits, InstallRequest, Prepared

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
class NginxControl(ServerCommands):
    binary: str
    main_file: Path
    pid_file: Path | None
    error_log: str | None
    label: str = "nginx"

    test_args = ("-t", "-q")
    stop_args = ("-s", "quit")
    reload_failure = "Reloading nginx failed"

    def tested_by(self) -> str:
        return "nginx -t"

    def reload_command(self) -> tuple[str, ...]:
        """Not running: start it, as Apache's graceful does."""
        return ("-s", "reload") if self.is_running() else ()

    def argv(self, args: Sequence[str]) -> list[str]:
        argv = [self.binary, "-c", str(self.main_file)]
        if self.error_log:
            argv += ["-e", self.error_log]
        return [*argv, *args]

    def version(self) -> tuple[int, ...]:
        _rc, out = self._run("-v")
        found = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", out)
        return tuple(int(x) for x in found.groups()) if found else (0, 0, 0)


def _compiled_pid_path(binary: str) -> Path | None:
    proc = run_command([binary, "-V"], what=f"{binary} -V")
    found = re.search(r"--pid-path=(\S+)", proc.stderr + proc.stdout)
    return Path(found.group(1)) if found else None


@dataclass(frozen=True)
class NginxRequest(InstallRequest):
    config_root: Path = DEFAULT_ROOT
    command: str = "padlock nginx install"


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


def _open(root: Path, layout_name: str | None, binary: str | None) -> Nginx:
    """The configuration as nginx reads it from the layout's main file (which must have
    an http block) and how to drive nginx."""
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
    if config.http is None:
        raise refuse(f"{config.main_file} has no http block.")
    return Nginx(root, layout, config, _control(main, found, config.top))


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
    return server_config.redirect_lines("nginx", port)


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
    return server_config.trim_blank_ends(body.split("\n"))


def _tls_lines(
    fullchain: str, key: str, password_file: str | None, stapling: bool, hsts: bool
) -> list[str]:
    return server_config.tls_lines(
        "nginx", fullchain, key, stapling=stapling, hsts=hsts, password_file=password_file
    )


def _stale_comment_edits(text: str, block: Directive) -> list[TextEdit]:
    """Remove an earlier padlock TLS block's comment lines from the server block: the new
    block brings its own (one managed block however often the site is renewed)."""
    comments = server_config.block_comments(_tls_lines("f", "k", "p", stapling=True, hsts=True))
    first = text.count("\n", 0, block.open_brace) + 2
    last = text.count("\n", 0, block.close_brace)
    edits = []
    starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
    for number in server_config.stale_comments(text, first, last, comments):
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


def _probe_host(request: InstallRequest, server: Server | None) -> str:
    """The given address; else the address the edited server block listens on; else
    127.0.0.1."""
    if request.listen_address or server is None:
        return probe_address(request.listen_address)
    for listen in server.listens:
        if listen.port == request.port and listen.address not in (None, "*", "[::]"):
            return probe_address(listen.address)
    return probe_address(None)


# --------------------------------------------------------------------------- the WebServer


@dataclass
class Nginx:
    """nginx's configuration, read for one install: the :class:`WebServer` for nginx.
    What is nginx's own: ``ssl_password_file`` for an encrypted key, the version gates of
    ``http2``, the ``include`` of padlock's site files in the http block."""

    root: Path
    layout: NginxLayout
    config: NginxConfig
    control: NginxControl
    edits: Edits[TextEdit] = field(default_factory=lambda: Edits(nginxconf.apply_text_edits))
    name, block_kind = "nginx", "server block"

    def blocks_for(self, name: str) -> list[Server]:
        return self.config.servers_for(name)

    def names_needed(self, block: Server) -> list[str]:
        """Its names but the catch-all ``_``, regular expressions and ``.suffix`` forms."""
        return [n for n in block.names if n != "_" and n[:1] not in "~."]

    redirects_already, clone_body = staticmethod(_redirects_already), staticmethod(_clone_body)

    def server_wide(self, draft: Draft, http_block: Server | None) -> None:
        if draft.files.passphrase is not None:
            draft.notes.append(
                "The key stays encrypted; nginx reads its pass phrase from"
                f" {draft.files.passphrase} (ssl_password_file), so restarts do not wait for"
                " a terminal."
            )

    def tls_lines(self, draft: Draft) -> list[str]:
        files = draft.files
        return _tls_lines(
            safe_path(files.fullchain),
            safe_path(files.key),
            safe_path(files.passphrase) if files.passphrase else None,
            stapling=draft.stapling,
            hsts=draft.request.hsts,
        )

    def edit_tls_block(self, draft: Draft, block: Server, tls: list[str]) -> None:
        text = block.file.read_text(errors="replace")
        directive = block.directive
        children = directive.block or []
        outside = [d for d in children if _managed(d) and d.file != block.file]
        server_config.refuse_included_tls(self.block_kind, draft.name, directive, outside)
        own = [d for d in children if _managed(d)]
        indent = nginxconf.line_indent(text, own[0].start if own else children[0].start)
        indent = indent or "    "
        new_block = "\n".join(indent + line if line else "" for line in tls)
        file_edits = self.edits.of(block.file)
        if own:
            start, end = nginxconf.whole_lines(text, own[0].start, own[0].end)
            file_edits.append(TextEdit(start, end, new_block + "\n"))
            for d in own[1:]:
                s2, e2 = nginxconf.whole_lines(text, d.start, d.end)
                file_edits.append(TextEdit(s2, e2, ""))
            file_edits += _stale_comment_edits(text, directive)
        else:
            at = nginxconf.line_start(text, directive.close_brace)
            file_edits.append(TextEdit(at, at, "\n" + new_block + "\n"))
        for listen in block.listens:
            if listen.port == draft.request.port and not listen.ssl:
                d = listen.directive
                file_edits.append(TextEdit(d.start, d.end, f"listen {' '.join(d.args)} ssl;"))
        new_names = [a for a in draft.aliases if not block.serves(a)]
        sn = directive.children("server_name")
        if new_names and sn and sn[0].file == block.file:
            d = sn[0]
            file_edits.append(
                TextEdit(d.start, d.end, f"server_name {' '.join((*d.args, *new_names))};")
            )

    def site_context(self, draft: Draft, http_block: Server | None) -> dict[str, object]:
        request = draft.request
        version = self.control.version()
        return {
            "http_listen": _listen(request.listen_address, request.http_port),
            "ssl_listen": _listen(request.listen_address, request.port),
            "http2_param": (1, 9, 5) <= version < (1, 25, 1),
            "http2_directive": version >= (1, 25, 1),
            "names": [draft.name, *draft.aliases],
        }

    def enable_site(self, draft: Draft, site_file: Path) -> None:
        """A link in sites-enabled (Debian), and an include in the http block unless one
        covers the site file already."""
        enabled_path = site_file
        if self.layout.sites_enabled:
            why = "enable it (a link in sites-enabled)"
            link = server_config.site_link(self.root, self.layout.sites_enabled, site_file, why)
            draft.changes.append(link)
            enabled_path = link.path
        if not self.config.http_includes(enabled_path):
            http = self.config.http
            assert http is not None
            http_text = http.file.read_text(errors="replace")
            at = nginxconf.line_start(http_text, http.close_brace)
            pattern = safe_path(enabled_path.parent) + "/padlock-*.conf"
            self.edits.of(http.file).append(
                TextEdit(at, at, f"    # Sites installed by padlock\n    include {pattern};\n")
            )

    def add_redirect(self, draft: Draft, block: Server) -> None:
        text = block.file.read_text(errors="replace")
        directive = block.directive
        indent = nginxconf.line_indent(text, (directive.block or [directive])[0].start) or "    "
        at = nginxconf.line_start(text, directive.close_brace)
        lines = "\n".join(indent + line for line in _redirect_lines(draft.request.port))
        self.edits.of(block.file).append(TextEdit(at, at, lines + "\n"))
        others = len(self.config.servers_in(block.file)) - 1
        untouched = f" ({others} other server block(s) there untouched)" if others else ""
        draft.notes.append(
            f"Added the https redirect to the :{draft.request.http_port} server block in"
            f" {block.file.resolve()}{untouched}."
        )

    def why_edited(self, path: Path, name: str) -> str:
        return (
            f"edited in place: only the {name} server block (or the http block's include) changes"
        )

    def probe_host(self, request: InstallRequest, ssl_block: Server | None) -> str:
        return _probe_host(request, ssl_block)


def _rollback_control(root: Path, layout_name: str | None, binary: str | None) -> NginxControl:
    """Needs no parsable configuration: an interrupted install may have left a broken one."""
    root = root.resolve()
    main = root / detect_layout(root, layout_name).main_conf
    try:
        top: list[Directive] | None = nginxconf.parse_config(main).top
    except ConfigError:
        top = None
    return _control(main, _find_nginx(binary), top)


KIND = webserver.ServerKind("nginx", _open, _rollback_control)


def prepare(request: InstallRequest, now: dt.datetime | None = None) -> Prepared:
    """The plan of an install into nginx (see :func:`padlock.site.webserver.prepare`)."""
    return webserver.prepare(KIND, request, now)


apply = webserver.apply
