"""A remote perspective's use case: check that the CA signed the request, that it is for
this perspective, fresh and not seen before; run the checks it names through the one
registry (``ca/checks.py``) from where this process stands; sign what it saw.

The checks run in order and stop at the first that fails, as the primary's do (CAA first:
BR 3.2.2.8). Nothing is cached between requests (BR 3.2.2.9: no perspective reuses another's
results, nor its own).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from padlock.ca import checks, validation
from padlock.ca.mpic.signing import VERSION, RequestKey, digest, unseal
from padlock.errors import Malformed, PadlockError, Unauthorized

log = logging.getLogger("padlock.perspective")

SKEW = dt.timedelta(seconds=60)  # how far a request's time may be from ours
MAX_CHECKS = 8
MAX_NONCES = 200_000  # nonces remembered (each for 2 x SKEW): a bounded replay cache


class Replayed(Unauthorized):
    """A request seen before, too old, from the future, or for another perspective."""


class Nonces:
    """The nonces of the last 2 x SKEW, so no signed request is answered twice."""

    def __init__(self) -> None:
        self._seen: OrderedDict[str, dt.datetime] = OrderedDict()
        self._lock = threading.Lock()

    def first_use(self, nonce: str, now: dt.datetime) -> bool:
        with self._lock:
            while self._seen and next(iter(self._seen.values())) < now:
                self._seen.popitem(last=False)
            if nonce in self._seen or len(self._seen) >= MAX_NONCES:
                return False
            self._seen[nonce] = now + 2 * SKEW
            return True


def _when(payload: Mapping[str, Any]) -> dt.datetime:
    try:
        at = dt.datetime.fromisoformat(str(payload.get("at")))
    except ValueError:
        raise Malformed("The request's time is not an ISO 8601 time.") from None
    if at.tzinfo is None:
        raise Malformed("The request's time names no time zone.")
    return at


class Perspective:
    """One perspective: its name, its key, the CA's request key, its VA configuration."""

    def __init__(
        self,
        name: str,
        key: RequestKey,
        ca_key: Ed25519PublicKey,
        va: validation.VAConfig,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.name = name
        self._key = key
        self._ca_key = ca_key
        self._va = va
        self._clock = clock
        self._nonces = Nonces()

    def answer(self, message: Any) -> dict[str, str]:
        """The signed evidence for a signed request; Unauthorized or Malformed when the
        request is not the CA's, not fresh, not for this perspective, or not well formed."""
        payload, sent = unseal(message, self._ca_key, "The request")
        now = self._clock()
        if payload.get("perspective") != self.name:
            raise Replayed(f"The request is for {str(payload.get('perspective'))[:40]!r}.")
        if abs(_when(payload) - now) > SKEW:
            raise Replayed(f"The request's time is over {SKEW.seconds} s from this clock.")
        nonce = payload.get("nonce")
        if not isinstance(nonce, str) or not 16 <= len(nonce) <= 64:
            raise Malformed("The request's nonce must be 16 to 64 characters.")
        if not self._nonces.first_use(nonce, now):
            raise Replayed("The request was answered before (its nonce was used).")
        wanted = payload.get("checks")
        if not isinstance(wanted, list) or not 1 <= len(wanted) <= MAX_CHECKS:
            raise Malformed(f"The request must name 1 to {MAX_CHECKS} checks.")
        results: list[dict[str, Any]] = []
        for check in wanted:
            results.append(self._run(check))
            if not results[-1]["ok"]:
                break
        return self._key.seal(
            {
                "v": VERSION,
                "perspective": self.name,
                "request": digest(sent),
                "at": self._clock().isoformat(),
                "results": results,
            }
        )

    def _run(self, check: Any) -> dict[str, Any]:
        if not isinstance(check, dict) or not isinstance(check.get("params"), dict):
            raise Malformed("Each check is an object with a method and its params.")
        method = str(check.get("method"))[:40]
        try:
            evidence = checks.run(self._va, method, check["params"])
        except validation.ProbeFailed as exc:
            return _failed(method, exc, exc.evidence.as_dict())
        except PadlockError as exc:
            return _failed(method, exc, {})
        except Exception as exc:  # a bug in a check answers as a failure, never a 500
            log.exception("check %s failed unexpectedly", method)
            return _failed(method, PadlockError(f"The check failed ({type(exc).__name__})."), {})
        return {"method": method, "ok": True, "evidence": evidence.as_dict()}


def _failed(method: str, exc: PadlockError, evidence: dict[str, Any]) -> dict[str, Any]:
    return {
        "method": method,
        "ok": False,
        "problem": exc.problem,
        "detail": exc.message,
        "evidence": evidence,
    }
