"""Read an Apache httpd configuration the way httpd does, enough to find things in it.

Follows ``Include`` and ``IncludeOptional`` (wildcards, directories, relative to
``ServerRoot``), joins continuation lines, substitutes ``${VAR}`` from the environment
and ``Define``, evaluates ``<IfModule>`` and ``<IfDefine>`` (other conditionals count as
true), and records every ``<VirtualHost>`` with the file and lines it spans, its
addresses, ``ServerName`` and ``ServerAlias`` — so that padlock finds the virtual host
for a name wherever it is, and edits exactly its lines and nothing else.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

MAX_DEPTH = 32
_VAR = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


@dataclass(frozen=True)
class Directive:
    name: str
    args: tuple[str, ...]
    file: Path
    line: int  # first physical line, 1-based
    last_line: int  # last physical line (continuation lines)
    nested: bool = False  # inside <Directory>, <Location>... within its VirtualHost

    @property
    def key(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Address:
    host: str  # "*", "_default_", an IP, "[v6]" or a name
    port: int | None  # None: any port

    @classmethod
    def parse(cls, text: str) -> Address:
        if text.startswith("["):
            close = text.find("]")
            host, rest = text[: close + 1], text[close + 1 :]
            port = rest[1:] if rest.startswith(":") else ""
        elif text.count(":") == 1:
            host, port = text.split(":")
        else:
            host, port = text, ""
        return cls(host, int(port) if port.isdigit() else None)

    def __str__(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class VirtualHost:
    file: Path
    line: int  # the <VirtualHost ...> line
    end_line: int  # the </VirtualHost> line
    addresses: tuple[Address, ...]
    directives: tuple[Directive, ...]

    def get(self, name: str) -> list[Directive]:
        return [d for d in self.directives if d.key == name.lower()]

    @property
    def server_name(self) -> str | None:
        found = self.get("ServerName")
        if not found or not found[-1].args:
            return None
        return _host_part(found[-1].args[0])

    @property
    def aliases(self) -> tuple[str, ...]:
        return tuple(a.lower() for d in self.get("ServerAlias") for a in d.args)

    @property
    def names(self) -> tuple[str, ...]:
        first = (self.server_name,) if self.server_name else ()
        return first + self.aliases

    @property
    def ports(self) -> set[int | None]:
        return {a.port for a in self.addresses}

    @property
    def ssl(self) -> bool:
        engine = self.get("SSLEngine")
        return bool(engine) and engine[-1].args[:1] in (("on",), ("On",), ("ON",))

    def serves(self, name: str) -> bool:
        wanted = name.lower().rstrip(".")
        for candidate in self.names:
            if candidate == wanted:
                return True
            if "*" in candidate or "?" in candidate:  # ServerAlias takes wildcards
                pattern = re.escape(candidate).replace(r"\*", ".*").replace(r"\?", ".")
                if re.fullmatch(pattern, wanted):
                    return True
        return False

    def on_port(self, port: int) -> bool:
        return port in self.ports or None in self.ports


@dataclass(frozen=True)
class Listen:
    address: str | None
    port: int
    directive: Directive


@dataclass
class ApacheConfig:
    server_root: Path
    main_file: Path
    files: list[Path] = field(default_factory=list)
    vhosts: list[VirtualHost] = field(default_factory=list)
    listens: list[Listen] = field(default_factory=list)
    modules: set[str] = field(default_factory=set)
    module_paths: list[str] = field(default_factory=list)
    top: list[Directive] = field(default_factory=list)  # outside any VirtualHost
    missing_includes: list[str] = field(default_factory=list)

    def vhosts_for(self, name: str) -> list[VirtualHost]:
        return [v for v in self.vhosts if v.serves(name)]

    def vhosts_in(self, path: Path) -> list[VirtualHost]:
        return [v for v in self.vhosts if v.file == path]

    def listens_on(self, port: int) -> bool:
        return any(listen.port == port for listen in self.listens)

    def has_module(self, *names: str) -> bool:
        return any(n in self.modules for n in names)

    def top_level(self, name: str) -> list[Directive]:
        return [d for d in self.top if d.key == name.lower()]


def _host_part(server_name: str) -> str:
    text = server_name.lower()
    for prefix in ("https://", "http://"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    if text.startswith("["):
        return text[: text.find("]") + 1]
    return text.split(":", 1)[0].rstrip(".")


def split_args(text: str) -> list[str]:
    """Apache's ap_getword_conf: whitespace-separated words, "..." or '...' quoted,
    a backslash escaping the quote inside."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        quote = text[i] if text[i] in "\"'" else None
        if quote:
            i += 1
            word = []
            while i < n and text[i] != quote:
                if text[i] == "\\" and i + 1 < n and text[i + 1] == quote:
                    i += 1
                word.append(text[i])
                i += 1
            i += 1
            out.append("".join(word))
        else:
            start = i
            while i < n and not text[i].isspace():
                i += 1
            out.append(text[start:i])
    return out


@dataclass(frozen=True)
class _Line:
    text: str
    first: int
    last: int


def logical_lines(text: str) -> list[_Line]:
    """Join continuation lines (a trailing backslash), keep the physical line numbers."""
    out: list[_Line] = []
    physical = text.splitlines()
    i = 0
    while i < len(physical):
        first = i
        line = physical[i]
        while line.endswith("\\") and i + 1 < len(physical):
            i += 1
            line = line[:-1] + " " + physical[i].lstrip()
        out.append(_Line(line, first + 1, i + 1))
        i += 1
    return out


def module_aliases(identifier: str, path: str | None = None) -> set[str]:
    """The names ``<IfModule>`` accepts for one module: ``ssl_module`` and ``mod_ssl.c``."""
    names = {identifier}
    if identifier.endswith("_module"):
        names.add(f"mod_{identifier[: -len('_module')]}.c")
    if path:
        base = os.path.basename(path)
        if base.endswith(".so"):
            names.add(base[:-3] + ".c")
    return names


class _Parser:
    def __init__(
        self,
        server_root: Path,
        env: Mapping[str, str],
        loaded: Iterable[str],
    ) -> None:
        self.env = dict(env)
        self.defines: dict[str, str] = {}
        self.config: ApacheConfig | None = None
        self.server_root = server_root
        self.preloaded = set(loaded)

    def subst(self, text: str) -> str:
        def one(match: re.Match[str]) -> str:
            key = match.group(1)
            return self.defines.get(key, self.env.get(key, match.group(0)))

        return _VAR.sub(one, text)

    def resolve(self, raw: str) -> Path:
        path = Path(raw)
        return path if path.is_absolute() else self.server_root / path

    def parse(self, main_file: Path) -> ApacheConfig:
        self.config = ApacheConfig(self.server_root, main_file)
        self.config.modules |= self.preloaded
        self.read_file(main_file, depth=0, vhost=None, active=True)
        return self.config

    def condition(self, section: str, args: list[str]) -> bool:
        if not args:
            return True
        arg = args[0]
        negate = arg.startswith("!")
        arg = arg[1:] if negate else arg
        assert self.config is not None
        if section == "ifmodule":
            value = arg in self.config.modules
        elif section == "ifdefine":
            value = arg in self.defines
        else:
            return True  # IfVersion, IfFile, IfDirective, If...: assume the common case
        return value != negate

    def read_file(
        self, path: Path, depth: int, vhost: _OpenVhost | None, active: bool
    ) -> _OpenVhost | None:
        assert self.config is not None
        if depth > MAX_DEPTH:
            return vhost
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            self.config.missing_includes.append(str(path))
            return vhost
        if path not in self.config.files:
            self.config.files.append(path)
        stack: list[tuple[str, bool]] = []
        for line in logical_lines(text):
            stripped = line.text.strip()
            if not stripped or stripped.startswith("#"):
                continue
            enabled = active and all(on for _, on in stack)
            if stripped.startswith("</"):
                name = stripped[2:].rstrip(">").strip().lower()
                if name == "virtualhost" and vhost is not None and vhost.file == path:
                    if enabled:
                        self.config.vhosts.append(vhost.close(line.first))
                    vhost = None
                elif stack:
                    stack.pop()
                continue
            if stripped.startswith("<"):
                inner = stripped[1:].rstrip(">").strip()
                parts = split_args(self.subst(inner))
                if not parts:
                    continue
                section, args = parts[0].lower(), parts[1:]
                if section == "virtualhost":
                    vhost = _OpenVhost(path, line.first, tuple(Address.parse(a) for a in args))
                    continue
                on = self.condition(section, args) if section.startswith("if") else True
                stack.append((section, on))
                continue
            if not enabled:
                continue
            parts = split_args(self.subst(stripped))
            if not parts:
                continue
            nested = any(not name.startswith("if") for name, _ in stack)
            directive = Directive(parts[0], tuple(parts[1:]), path, line.first, line.last, nested)
            vhost = self.directive(directive, depth, vhost)
        return vhost

    def directive(self, d: Directive, depth: int, vhost: _OpenVhost | None) -> _OpenVhost | None:
        assert self.config is not None
        key = d.key
        if key in ("include", "includeoptional") and d.args:
            for target in self.expand(d.args[0], optional=key == "includeoptional"):
                vhost = self.read_file(target, depth + 1, vhost, True)
            return vhost
        if vhost is not None:
            vhost.directives.append(d)
            return vhost
        self.config.top.append(d)
        if key == "serverroot" and d.args:
            self.server_root = Path(d.args[0])
            self.config.server_root = self.server_root
        elif key == "define" and d.args:
            self.defines[d.args[0]] = d.args[1] if len(d.args) > 1 else ""
        elif key == "undefine" and d.args:
            self.defines.pop(d.args[0], None)
        elif key == "loadmodule" and len(d.args) >= 2:
            self.config.modules |= module_aliases(d.args[0], d.args[1])
            self.config.module_paths.append(d.args[1])
        elif key == "listen" and d.args:
            address = Address.parse(d.args[0]) if not d.args[0].isdigit() else None
            if address is None:
                self.config.listens.append(Listen(None, int(d.args[0]), d))
            elif address.port is not None:
                self.config.listens.append(Listen(address.host, address.port, d))
        return vhost

    def expand(self, raw: str, optional: bool) -> list[Path]:
        assert self.config is not None
        base = self.resolve(raw)
        if glob.has_magic(str(base)):
            found = sorted(Path(p) for p in glob.glob(str(base)))
            return [p for p in found if p.is_file()]
        if base.is_dir():
            return sorted(p for p in base.rglob("*") if p.is_file())
        if base.exists():
            return [base]
        if not optional:
            self.config.missing_includes.append(str(base))
        return []


@dataclass
class _OpenVhost:
    file: Path
    line: int
    addresses: tuple[Address, ...]
    directives: list[Directive] = field(default_factory=list)

    def close(self, end_line: int) -> VirtualHost:
        return VirtualHost(self.file, self.line, end_line, self.addresses, tuple(self.directives))


def parse_config(
    main_file: Path,
    server_root: Path,
    env: Mapping[str, str] | None = None,
    loaded: Iterable[str] = (),
) -> ApacheConfig:
    """Read ``main_file`` and everything it includes. ``loaded``: module names to treat as
    loaded (compiled-in modules, and those padlock is about to enable)."""
    return _Parser(server_root, env if env is not None else os.environ, loaded).parse(main_file)


# --------------------------------------------------------------------------- line edits


@dataclass(frozen=True)
class LineEdit:
    """Replace physical lines ``first``..``last`` (1-based, inclusive) with ``lines``;
    ``last = first - 1`` inserts before ``first``."""

    first: int
    last: int
    lines: tuple[str, ...]


def apply_edits(text: str, edits: Iterable[LineEdit]) -> str:
    """Apply non-overlapping line edits; every other byte of ``text`` is kept as it was."""
    physical = text.splitlines(keepends=True)
    eol = "\r\n" if physical and physical[0].endswith("\r\n") else "\n"
    edits = list(edits)
    appends = any(e.first > len(physical) for e in edits)
    if appends and physical and not physical[-1].endswith(("\n", "\r")):
        physical[-1] += eol
    ordered = sorted(edits, key=lambda e: (e.first, e.last), reverse=True)
    for edit in ordered:
        replacement = [line + eol for line in edit.lines]
        physical[edit.first - 1 : edit.last] = replacement
    return "".join(physical)


def indent_of(text: str, line: int) -> str:
    physical = text.splitlines()
    if 0 < line <= len(physical):
        raw = physical[line - 1]
        return raw[: len(raw) - len(raw.lstrip())]
    return ""
