"""An HTTP server on loopback that serves files the test puts in it (validation tests)."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _ThreadingHTTPServer6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class FileServer:
    """``files[path] = body`` serves it; ``redirects[path] = url`` answers 302; with a
    ``root`` directory, ``root/<path>`` is served too (a webroot other processes write)."""

    def __init__(self, port: int = 0, root: Path | None = None, host: str = "127.0.0.1") -> None:
        self.files: dict[str, bytes] = {}
        self.redirects: dict[str, str] = {}
        self.requests: list[tuple[str, str]] = []  # (Host header, path)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append((self.headers.get("Host", ""), self.path))
                if self.path in outer.redirects:
                    self.send_response(302)
                    self.send_header("Location", outer.redirects[self.path])
                    self.end_headers()
                    return
                body = outer.files.get(self.path)
                if body is None and root is not None and ".." not in self.path:
                    candidate = root / self.path.split("?", 1)[0].lstrip("/")
                    if candidate.is_file():
                        body = candidate.read_bytes()
                if body is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        server_class = _ThreadingHTTPServer6 if ":" in host else ThreadingHTTPServer
        self._server = server_class((host, port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
