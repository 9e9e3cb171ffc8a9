"""The CA's HTTP client to its remote perspectives: one POST of a signed request, its JSON
answer back, over a keep-alive connection per thread and perspective (the standard
library's ``http.client``: a validation sends five or more of these, and a lighter client
leaves the CPU to the CA's own work). Bounded: each read within ``timeout`` and the whole
exchange by its deadline, the answer at most ``MAX_ANSWER`` bytes. Socket, TLS and HTTP
failures become padlock errors here (the border)."""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from padlock import bodies
from padlock.errors import Malformed, PadlockError

MAX_ANSWER = 256 * 1024


class PerspectiveUnreachable(PadlockError):
    problem = "connection"


class HttpTransport:
    """Implements ``ca.mpic.coordinator.Transport``.

    ``verify``: the CA file that a perspective's https certificate must chain to (True:
    the system's). The answer's signature, not TLS, is what makes it the perspective's."""

    def __init__(self, verify: str | bool = True) -> None:
        self._tls = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
        if verify is False:
            self._tls.check_hostname = False
            self._tls.verify_mode = ssl.CERT_NONE
        self._local = threading.local()

    def close(self) -> None:
        """Connections are per thread and closed with it (or when a perspective drops them)."""

    def _connection(self, url: str, timeout: float) -> http.client.HTTPConnection:
        parts = urlsplit(url)
        key = (parts.scheme, parts.hostname, parts.port)
        pool: dict[Any, http.client.HTTPConnection] = self._local.__dict__.setdefault("pool", {})
        conn = pool.get(key)
        if conn is None:
            host = parts.hostname or ""
            if parts.scheme == "https":
                conn = http.client.HTTPSConnection(
                    host, parts.port or 443, timeout=timeout, context=self._tls
                )
            else:
                conn = http.client.HTTPConnection(host, parts.port or 80, timeout=timeout)
            pool[key] = conn
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn

    def _drop(self, url: str) -> None:
        parts = urlsplit(url)
        pool = self._local.__dict__.get("pool", {})
        conn = pool.pop((parts.scheme, parts.hostname, parts.port), None)
        if conn is not None:
            conn.close()

    def _exchange(self, url: str, body: bytes, timeout: float) -> tuple[int, bytes]:
        """One POST; a kept connection the perspective closed meanwhile is opened again once."""
        deadline = time.monotonic() + timeout
        path = urlsplit(url).path or "/"
        headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
        for attempt in range(2):
            conn = self._connection(url, timeout)
            try:
                conn.request("POST", path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read(MAX_ANSWER + 1)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self._drop(url)
                if attempt or time.monotonic() > deadline:
                    raise
                continue
            except BaseException:
                self._drop(url)
                raise
            if len(data) > MAX_ANSWER or time.monotonic() > deadline:
                self._drop(url)
                raise PerspectiveUnreachable(
                    f"{url} answered over {MAX_ANSWER // 1024} KiB or past {timeout:g} s."
                )
            if resp.will_close:
                self._drop(url)
            return resp.status, data
        raise PerspectiveUnreachable(f"{url} closed the connection twice.")

    def post(self, url: str, message: Mapping[str, str], timeout: float) -> Any:
        body = json.dumps(dict(message)).encode()
        try:
            status, data = self._exchange(url, body, timeout)
        except TimeoutError:
            raise PerspectiveUnreachable(f"{url} gave no answer within {timeout:g} s.") from None
        except ssl.SSLError as exc:
            raise PerspectiveUnreachable(f"TLS with {url} failed: {exc.reason or exc}.") from None
        except (OSError, http.client.HTTPException) as exc:
            why = getattr(exc, "strerror", None) or exc
            raise PerspectiveUnreachable(f"{url} cannot be reached: {why}.") from None
        try:
            answer = bodies.loads(data, f"The answer of {url}")
        except Malformed:
            answer = None
        if status != 200:
            detail = answer.get("detail") if isinstance(answer, dict) else None
            raise PerspectiveUnreachable(
                f"{url} refused the request (HTTP {status}): {str(detail or '')[:200]}"
            )
        if answer is None:
            raise PerspectiveUnreachable(f"{url} answered with something that is not JSON.")
        return answer
