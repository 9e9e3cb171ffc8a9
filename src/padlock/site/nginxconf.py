"""Read an nginx configuration, enough to find a server block and edit exactly it.

Tokens carry their byte offsets, so an edit replaces a directive's own characters (or
inserts before a block's closing brace) and leaves every other byte of the file alone,
even in files that put several server blocks on few lines. ``include`` is followed
(wildcards, relative to the main file's directory) and its directives are placed where
the ``include`` stood, remembering the file they came from.
"""

from __future__ import annotations

import fnmatch
import glob
import re
from dataclasses import dataclass, field
from pathlib import Path

from padlock.errors import ConfigError

MAX_DEPTH = 32


@dataclass(frozen=True)
class _Token:
    text: str
    start: int
    end: int
    line: int
    quoted: bool = False


def tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n, line = 0, len(text), 1
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c.isspace():
            i += 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif c in "{};":
            tokens.append(_Token(c, i, i + 1, line))
            i += 1
        elif c in "\"'":
            start, start_line = i, line
            i += 1
            word = []
            while i < n and text[i] != c:
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                if text[i] == "\n":
                    line += 1
                word.append(text[i])
                i += 1
            i += 1
            tokens.append(_Token("".join(word), start, i, start_line, quoted=True))
        else:
            start = i
            while i < n and not text[i].isspace() and text[i] not in "{};":
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                i += 1
            tokens.append(_Token(text[start:i], start, i, line))
    return tokens


@dataclass
class Directive:
    name: str
    args: tuple[str, ...]
    file: Path
    start: int  # offset of the name
    end: int  # offset just after ';' or '}'
    line: int
    block: list[Directive] | None = None
    open_brace: int = -1
    close_brace: int = -1

    def children(self, name: str) -> list[Directive]:
        return [d for d in self.block or [] if d.name == name]


@dataclass(frozen=True)
class ListenSpec:
    address: str | None
    port: int
    ssl: bool
    directive: Directive


def parse_listen(d: Directive) -> ListenSpec | None:
    if not d.args:
        return None
    target = d.args[0]
    if target.startswith("unix:"):
        return None
    address: str | None
    if target.startswith("["):
        close = target.find("]")
        address = target[: close + 1]
        port_text = target[close + 2 :] if target[close + 1 : close + 2] == ":" else "80"
    elif target.isdigit():
        address, port_text = None, target
    elif ":" in target:
        address, port_text = target.rsplit(":", 1)
    else:
        address, port_text = target, "80"
    if not port_text.isdigit():
        return None
    return ListenSpec(address, int(port_text), "ssl" in d.args[1:], d)


@dataclass
class Server:
    directive: Directive

    @property
    def file(self) -> Path:
        return self.directive.file

    @property
    def listens(self) -> list[ListenSpec]:
        out = [parse_listen(d) for d in self.directive.children("listen")]
        return [x for x in out if x is not None]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(a.lower() for d in self.directive.children("server_name") for a in d.args if a)

    def serves(self, name: str) -> bool:
        wanted = name.lower().rstrip(".")
        for candidate in self.names:
            if candidate == wanted:
                return True
            if candidate.startswith("."):
                if wanted == candidate[1:] or wanted.endswith(candidate):
                    return True
            elif candidate.startswith("~"):
                try:
                    if re.search(candidate[1:], wanted):
                        return True
                except re.error:
                    continue
            elif "*" in candidate and fnmatch.fnmatchcase(wanted, candidate):
                return True
        return False

    def on_port(self, port: int) -> bool:
        listens = self.listens
        if not listens:
            return port == 80
        return any(x.port == port for x in listens)

    @property
    def ssl(self) -> bool:
        if any(x.ssl for x in self.listens):
            return True
        return any(d.args[:1] == ("on",) for d in self.directive.children("ssl"))


@dataclass
class NginxConfig:
    main_file: Path
    files: list[Path] = field(default_factory=list)
    top: list[Directive] = field(default_factory=list)
    http: Directive | None = None
    servers: list[Server] = field(default_factory=list)
    include_patterns: list[tuple[str, Directive]] = field(default_factory=list)

    def servers_for(self, name: str) -> list[Server]:
        return [s for s in self.servers if s.serves(name)]

    def servers_in(self, path: Path) -> list[Server]:
        return [s for s in self.servers if s.file == path]

    def http_includes(self, path: Path) -> bool:
        """Whether a file at ``path`` would be read inside the http block."""
        return any(
            fnmatch.fnmatchcase(str(path), pattern) and self._in_http(d)
            for pattern, d in self.include_patterns
        )

    def _in_http(self, target: Directive) -> bool:
        if self.http is None:
            return False
        stack = list(self.http.block or [])
        while stack:
            d = stack.pop()
            if d is target:
                return True
            stack.extend(d.block or [])
        return False


class _Parser:
    def __init__(self, conf_dir: Path) -> None:
        self.conf_dir = conf_dir
        self.config: NginxConfig | None = None

    def parse(self, main: Path) -> NginxConfig:
        self.config = NginxConfig(main)
        self.config.top = self.read(main, 0)
        for d in self.config.top:
            if d.name == "http" and d.block is not None:
                self.config.http = d
                self.collect(d.block)
        return self.config

    def collect(self, block: list[Directive]) -> None:
        assert self.config is not None
        for d in block:
            if d.name == "server" and d.block is not None:
                self.config.servers.append(Server(d))

    def read(self, path: Path, depth: int) -> list[Directive]:
        assert self.config is not None
        if depth > MAX_DEPTH:
            raise ConfigError(f"nginx includes nest deeper than {MAX_DEPTH} at {path}.")
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise ConfigError(f"Cannot read {path}: {exc.strerror}.") from None
        if path not in self.config.files:
            self.config.files.append(path)
        tokens = tokenize(text)
        out, _end = self.block(tokens, 0, path, depth, top=True)
        return out

    def block(
        self, tokens: list[_Token], pos: int, path: Path, depth: int, top: bool
    ) -> tuple[list[Directive], int]:
        assert self.config is not None
        out: list[Directive] = []
        while pos < len(tokens):
            tok = tokens[pos]
            if tok.text == "}" and not tok.quoted:
                if top:
                    raise ConfigError(f"{path}:{tok.line}: unexpected '}}'.")
                return out, pos
            words: list[_Token] = []
            while pos < len(tokens) and (tokens[pos].quoted or tokens[pos].text not in "{};"):
                words.append(tokens[pos])
                pos += 1
            if pos >= len(tokens) or not words:
                raise ConfigError(f"{path}:{tok.line}: unexpected end or empty directive.")
            end_tok = tokens[pos]
            name = words[0].text
            args = tuple(w.text for w in words[1:])
            if end_tok.text == ";":
                d = Directive(name, args, path, words[0].start, end_tok.end, words[0].line)
                pos += 1
                if name == "include" and args:
                    self.config.include_patterns.append((str(self.resolve(args[0])), d))
                    out.append(d)
                    for target in self.expand(args[0]):
                        out.extend(self.read(target, depth + 1))
                    continue
                out.append(d)
            else:  # "{"
                children, close = self.block(tokens, pos + 1, path, depth, top=False)
                if close >= len(tokens):
                    raise ConfigError(f"{path}:{end_tok.line}: '{{' is never closed.")
                d = Directive(
                    name,
                    args,
                    path,
                    words[0].start,
                    tokens[close].end,
                    words[0].line,
                    block=children,
                    open_brace=end_tok.start,
                    close_brace=tokens[close].start,
                )
                out.append(d)
                pos = close + 1
        if not top:
            raise ConfigError(f"{path}: a block is never closed.")
        return out, pos

    def resolve(self, raw: str) -> Path:
        p = Path(raw)
        return p if p.is_absolute() else self.conf_dir / p

    def expand(self, raw: str) -> list[Path]:
        target = self.resolve(raw)
        if glob.has_magic(str(target)):
            return sorted(Path(p) for p in glob.glob(str(target)) if Path(p).is_file())
        if target.is_file():
            return [target]
        raise ConfigError(f"nginx would fail: the included file {target} does not exist.")


def parse_config(main: Path) -> NginxConfig:
    return _Parser(main.parent).parse(main)


@dataclass(frozen=True)
class TextEdit:
    """Replace ``text[start:end]`` with ``new`` (``start == end``: insert)."""

    start: int
    end: int
    new: str


def apply_text_edits(text: str, edits: list[TextEdit]) -> str:
    for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        text = text[: edit.start] + edit.new + text[edit.end :]
    return text


def line_start(text: str, offset: int) -> int:
    return text.rfind("\n", 0, offset) + 1


def line_indent(text: str, offset: int) -> str:
    start = line_start(text, offset)
    segment = text[start:offset]
    return segment[: len(segment) - len(segment.lstrip())]


def whole_lines(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen ``[start, end)`` to whole lines when nothing else shares them."""
    left = line_start(text, start)
    right_nl = text.find("\n", end)
    right = len(text) if right_nl < 0 else right_nl + 1
    if text[left:start].strip() or text[end:right].strip():
        return start, end
    return left, right
