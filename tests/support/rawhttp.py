"""A TCP server on loopback whose every answer a test writes byte by byte (hostile servers).

``RawServer({path: answer})`` calls ``answer(conn, stop)`` on a thread per connection once
the request's head has arrived (``"*"``: any other path; else a 404); ``stop`` is set when
the server stops, so an answer that drips or never ends can give up. Answers for the
validation tests are below.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable

Answer = Callable[[socket.socket, threading.Event], None]


class RawServer:
    def __init__(self, answers: dict[str, Answer]) -> None:
        self.answers = answers
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.requests: list[bytes] = []
        self._threads: list[threading.Thread] = []

    def start(self) -> RawServer:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _accept(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            head = b""
            with contextlib.suppress(OSError):
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    head += chunk
            self.requests.append(head)
            words = head.split(b"\r\n", 1)[0].split()
            path = words[1].decode("latin-1") if len(words) > 1 else ""
            answer = self.answers.get(path) or self.answers.get("*") or status(404)
            with contextlib.suppress(OSError):
                answer(conn, self._stop)


def redirect(code: int, location: str) -> Answer:
    def answer(conn: socket.socket, _stop: threading.Event) -> None:
        conn.sendall(
            f"HTTP/1.1 {code} Moved\r\nLocation: {location}\r\nContent-Length: 0\r\n"
            "Connection: close\r\n\r\n".encode("latin-1")
        )

    return answer


def status(code: int) -> Answer:
    def answer(conn: socket.socket, _stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 %d No\r\nContent-Length: 0\r\nConnection: close\r\n\r\n" % code)

    return answer


def body(content: bytes) -> Answer:
    def answer(conn: socket.socket, _stop: threading.Event) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(content)
            + content
        )

    return answer


def drip(every: float, head_too: bool = False) -> Answer:
    """One byte every ``every`` seconds, of the body (or of the whole answer), never ending."""

    def answer(conn: socket.socket, stop: threading.Event) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"
        if not head_too:
            conn.sendall(head)
            head = b""
        data = head + b"x" * 100000
        for byte in data:
            if stop.wait(every):
                return
            conn.sendall(bytes([byte]))

    return answer


def silent(conn: socket.socket, stop: threading.Event) -> None:
    """Takes the connection and never answers."""
    stop.wait(60)
