"""A database that fails under a real ``padlock serve``: 503 with Retry-After, a public
answer that names no URL, host or user, and a WARNING in the server's log with the
incident id the answer gives."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.ca.issue_loop import pg_schema
from tests.conftest import PADLOCK_BIN
from tests.web.conftest import UNSTARTED, PadlockServer, make_csr


class Relay:
    """A TCP relay on 127.0.0.1 to PostgreSQL: ``cut()`` stops it and closes every
    connection through it, as a database that went away would."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            with self._lock:
                self._open += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        self._listener.close()
        with self._lock:
            for s in self._open:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()


def _env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PADLOCK_")}
    env.update({"PADLOCK_DATABASE_URL": url, "PADLOCK_CA_PASSPHRASE": "storage tests phrase"})
    return env


@contextlib.contextmanager
def _relayed_schema() -> Iterator[tuple[str, Relay]]:
    with pg_schema("padlock_unavail") as url:
        parsed = make_url(url)
        relay = Relay((parsed.host or "127.0.0.1", parsed.port or 5432))
        try:
            yield parsed.set(port=relay.port).render_as_string(hide_password=False), relay
        finally:
            relay.cut()


def test_storage_failure_answers_503_without_connection_details(tmp_path: Path) -> None:
    with _relayed_schema() as (url, relay):
        base = UNSTARTED  # serve takes any free port and says which
        server = PadlockServer(
            base, tmp_path / "data", {**_env(url), "PADLOCK_BASE_URL": base}, tmp_path / "log"
        ).start()
        try:
            _key, csr = make_csr(["www.example.com"])
            body = {"csr": csr, "kind": "test", "contact": "ops@example.com"}
            with server.client() as client:
                assert client.post("/api/v1/requests", json=body).status_code == 201
                relay.cut()  # the database goes away under the running server
                resp = client.post("/api/v1/requests", json=body)
            assert resp.status_code == 503, resp.text
            assert resp.headers["retry-after"] == "5"
            doc = resp.json()
            text = resp.text
            for secret in ("postgres", "127.0.0.1", str(relay.port), "padlock_unavail", "psycopg"):
                assert secret not in text, (secret, text)
            incident = re.search(r"incident ([0-9a-f]{12})", doc["detail"])
            assert incident and "database is unavailable" in doc["detail"]
        finally:
            server.stop()
        log = server.log()
        assert re.search(rf"WARNING .*storage failure, incident {incident.group(1)}: ", log), log
        answered = f"/api/v1/requests answered 503: storage failure, incident {incident.group(1)}"
        assert answered in log
        assert "Traceback" not in log


def test_storage_closed_port_refused_at_start_clearly(tmp_path: Path) -> None:
    with socket.socket() as held:  # bound, never listening: connections to it are refused
        held.bind(("127.0.0.1", 0))
        closed = held.getsockname()[1]
        url = f"postgresql+psycopg://postgres@127.0.0.1:{closed}/test"
        proc = subprocess.run(
            [str(PADLOCK_BIN), "serve", "--port", "0", "--data-dir", tmp_path / "d"],
            env=_env(url),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert f"127.0.0.1:{closed}" in proc.stderr  # the operator's own terminal may say where
    assert "Check that the database server is running" in proc.stderr
    assert not (tmp_path / "d" / "ca" / "ca.json").exists()
