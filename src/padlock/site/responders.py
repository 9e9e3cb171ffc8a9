"""The two ways of answering a CA's HTTP check (RFC 8555 section 8.3; BR 3.2.2.4.18/19):
files under the web server's document root (:class:`Webroot`), or a small HTTP listener of
our own on a given port (:class:`Standalone`). Both CA backends use them; only the paths a
CA may ask for are ever written or served."""

from __future__ import annotations

import abc
import contextlib
import os
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from padlock.errors import CAError, ConfigError, FileProblem
from padlock.fileio import write_atomic

TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")  # a challenge token (base64url)
PKI_VALIDATION_PATH = re.compile(r"/\.well-known/pki-validation/[A-Za-z0-9_-]{1,256}\.txt")
ACME_CHALLENGE_PATH = "/.well-known/acme-challenge/"


@dataclass
class Responder(abc.ABC):
    """Serves ``files`` (URL path -> body) for the CA's HTTP check while in ``serving``."""

    fetched: list[str] = field(default_factory=list)

    @abc.abstractmethod
    def serving(self, files: Mapping[str, bytes]) -> contextlib.AbstractContextManager[None]:
        """Webroot and Standalone say how the files reach the CA's check."""

    @abc.abstractmethod
    def describe(self) -> str:
        """How the check is answered, for progress lines and hints."""


def _check_paths(files: Mapping[str, bytes]) -> None:
    for path in files:
        ok = PKI_VALIDATION_PATH.fullmatch(path) or (
            path.startswith(ACME_CHALLENGE_PATH)
            and TOKEN.fullmatch(path[len(ACME_CHALLENGE_PATH) :])
        )
        if not ok:
            raise CAError(f"The CA asked for a file at an unexpected path ({path!r}).")


@dataclass
class Webroot(Responder):
    """Files under the web server's document root: ``ROOT/.well-known/...`` (0644), removed
    afterwards together with any directory made for them."""

    root: Path = Path()

    def describe(self) -> str:
        return f"files in {self.root}"

    def __post_init__(self) -> None:
        if not self.root.is_dir():
            raise FileProblem(
                f"The web root {str(self.root)!r} is not a directory.",
                hint="Give the DocumentRoot (Apache) or root (nginx) of the site's :80 server.",
            )

    @contextlib.contextmanager
    def serving(self, files: Mapping[str, bytes]) -> Iterator[None]:
        _check_paths(files)
        made_dirs: list[Path] = []
        written: list[Path] = []
        try:
            for url_path, body in files.items():
                target = self.root / url_path.lstrip("/")
                missing = []
                parent = target.parent
                while not parent.exists() and parent != self.root:
                    missing.append(parent)
                    parent = parent.parent
                for directory in reversed(missing):
                    try:
                        directory.mkdir(mode=0o755)
                        os.chmod(directory, 0o755)  # noqa: S103 - the web server reads it, whatever the umask
                    except OSError as exc:
                        raise FileProblem(
                            f"Cannot make {str(directory)!r} in the web root: {exc.strerror}."
                        ) from exc
                    made_dirs.append(directory)
                write_atomic(target, body, mode=0o644, overwrite=True)
                written.append(target)
            yield
        finally:
            for path in written:
                with contextlib.suppress(OSError):
                    path.unlink()
            for directory in reversed(made_dirs):
                with contextlib.suppress(OSError):
                    directory.rmdir()


@dataclass
class Standalone(Responder):
    """A small HTTP listener of our own on ``address:port`` for the length of the check
    (the port the CA connects to: 80 on the Internet)."""

    port: int = 80
    address: str = "0.0.0.0"  # noqa: S104 - the CA connects from outside

    def describe(self) -> str:
        return f"padlock's listener on {self.address}:{self.port}"

    @contextlib.contextmanager
    def serving(self, files: Mapping[str, bytes]) -> Iterator[None]:
        _check_paths(files)
        served = dict(files)
        fetched = self.fetched

        class Handler(BaseHTTPRequestHandler):
            server_version = "padlock"
            sys_version = ""

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                body = served.get(path)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                fetched.append(path)
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        try:
            server = ThreadingHTTPServer((self.address, self.port), Handler)
        except OSError as exc:
            raise ConfigError(
                f"Cannot listen on {self.address}:{self.port} for the CA's check:"
                f" {exc.strerror or exc}.",
                hint="Is a web server using the port? Then answer through it with --webroot"
                " DIR instead of --standalone-port.",
            ) from exc
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, name="padlock-http01", daemon=True)
        thread.start()
        try:
            yield
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)


@dataclass
class NoHttp(Responder):
    """The names are proven in DNS (``--challenge dns-*``): nothing is served over HTTP."""

    def describe(self) -> str:
        return "DNS records (no HTTP check)"

    @contextlib.contextmanager
    def serving(self, files: Mapping[str, bytes]) -> Iterator[None]:
        if files:
            raise CAError("The CA asked for an HTTP check, and padlock was told to prove in DNS.")
        yield


def responder(webroot: Path | None, standalone_port: int | None, address: str) -> Responder:
    if webroot is not None and standalone_port is not None:
        raise ConfigError("Give --webroot or --standalone-port, not both.")
    if webroot is not None:
        return Webroot(root=webroot)
    if standalone_port is not None:
        if not 0 < standalone_port < 65536:
            raise ConfigError(f"{standalone_port} is not a port number.")
        return Standalone(port=standalone_port, address=address)
    raise ConfigError(
        "The CA checks that you control the names over HTTP, and padlock was not told how"
        " to answer.",
        hint="Give --webroot DIR (the document root of the site on port 80) or"
        " --standalone-port 80 (padlock listens itself; nothing else may use the port).",
    )


__all__ = [
    "ACME_CHALLENGE_PATH",
    "PKI_VALIDATION_PATH",
    "TOKEN",
    "NoHttp",
    "Responder",
    "Standalone",
    "Webroot",
    "responder",
]
