"""The CA's HTTP client to its remote perspectives: one POST of a signed request, its JSON
answer back. Bounded: the whole exchange within ``timeout``, the answer at most
``MAX_ANSWER`` bytes. httpx's failures become padlock errors here (the border)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import httpx

from padlock import bodies
from padlock.errors import Malformed, PadlockError

MAX_ANSWER = 256 * 1024


class PerspectiveUnreachable(PadlockError):
    problem = "connection"


class HttpTransport:
    """Implements ``ca.mpic.coordinator.Transport`` over one pooled httpx client.

    ``verify``: the CA bundle that a perspective's https certificate must chain to (True:
    the system's). The answer's signature, not TLS, is what makes it the perspective's."""

    def __init__(self, verify: str | bool = True, connections: int = 64) -> None:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        self._client = httpx.Client(verify=verify, limits=limits, follow_redirects=False)

    def close(self) -> None:
        self._client.close()

    def post(self, url: str, message: Mapping[str, str], timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        try:
            with self._client.stream(
                "POST", url, json=dict(message), timeout=httpx.Timeout(timeout)
            ) as resp:
                body = bytearray()
                for chunk in resp.iter_bytes():
                    body += chunk
                    if len(body) > MAX_ANSWER or time.monotonic() > deadline:
                        raise PerspectiveUnreachable(
                            f"{url} answered over {MAX_ANSWER // 1024} KiB or past {timeout:g} s."
                        )
                status = resp.status_code
        except httpx.TimeoutException:
            raise PerspectiveUnreachable(f"{url} gave no answer within {timeout:g} s.") from None
        except httpx.HTTPError as exc:
            raise PerspectiveUnreachable(f"{url} cannot be reached: {exc}.") from None
        try:
            answer = bodies.loads(bytes(body), f"The answer of {url}")
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
