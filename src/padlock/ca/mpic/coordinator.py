"""The CA's side of BR 3.2.2.9: ask the primary (this VA) and every remote perspective at
once, bounded in time; apply the quorum (``quorum.judge``); keep every perspective's signed
evidence; refuse naming the perspectives that disagreed and why.

The primary runs in the calling thread while the remote requests run in a pool. A remote
perspective that is down, slow, or answers a failure counts as not corroborating. One whose
answer is not signed by its configured key stops the validation outright: someone between
the CA and that perspective is answering for it.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from padlock.ca.mpic.config import PerspectiveConfig, places
from padlock.ca.mpic.quorum import Verdict, judge
from padlock.ca.mpic.signing import VERSION, BadSignature, RequestKey, digest, unseal
from padlock.errors import PadlockError, Unauthorized

T = TypeVar("T")
log = logging.getLogger("padlock.mpic")
MAX_DETAIL = 300


class Transport(Protocol):
    """Sends a signed request to a perspective and gives its JSON answer (an adapter:
    ``padlock.perspective.client``); raises a PadlockError when there is none."""

    def post(self, url: str, message: Mapping[str, str], timeout: float) -> Any: ...


@dataclass(frozen=True)
class CheckSpec:
    """One check a perspective is asked to run: a method of ``ca/checks.py``'s registry."""

    method: str
    params: Mapping[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "params": dict(self.params)}


@dataclass(frozen=True)
class Outcome:
    """What one remote perspective said (or why it said nothing usable)."""

    perspective: PerspectiveConfig
    ok: bool
    detail: str
    problem: str = ""
    results: tuple[Mapping[str, Any], ...] = ()
    answer: Mapping[str, str] = field(default_factory=dict)  # the signed message, as sent

    def as_dict(self) -> dict[str, Any]:
        place = self.perspective.place
        return {
            "name": place.name,
            "rir": place.rir,
            "location": [place.latitude, place.longitude],
            "ok": self.ok,
            "problem": self.problem,
            "detail": self.detail,
            "results": list(self.results),
            "signed": dict(self.answer),
        }


class NotCorroborated(Unauthorized):
    """The remote perspectives did not corroborate the primary (BR 3.2.2.9); ``record`` is
    the evidence of every perspective, stored with the refusal."""

    def __init__(self, message: str, record: dict[str, Any]) -> None:
        super().__init__(
            message,
            hint="The applicant's DNS or server answers differently from different places"
            " (a hijack, or a change still spreading); fix it, then try again.",
        )
        self.record = record


class Corroborator:
    """Multi-perspective corroboration over the configured remote perspectives."""

    def __init__(
        self,
        perspectives: Sequence[PerspectiveConfig],
        key: RequestKey,
        transport: Transport,
        clock: Callable[[], dt.datetime],
        deadline: float = 30.0,
        threads: int = 32,
    ) -> None:
        self.perspectives = tuple(perspectives)
        self._key = key
        self._transport = transport
        self._clock = clock
        self.deadline = deadline
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(len(self.perspectives), threads), thread_name_prefix="padlock-mpic"
        )

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def corroborate(
        self, checks: Sequence[CheckSpec], primary: Callable[[], T]
    ) -> tuple[T, dict[str, Any]]:
        """The primary's result and the corroboration record; NotCorroborated when the
        quorum does not hold. The primary's own failure is raised as it is."""
        futures = {self._pool.submit(self._ask, p, checks): p for p in self.perspectives}
        until = self._clock() + dt.timedelta(seconds=self.deadline)
        try:
            result = primary()
        except BaseException:
            for f in futures:
                f.cancel()
            raise
        left = max(0.0, (until - self._clock()).total_seconds())
        concurrent.futures.wait(futures, timeout=left)
        outcomes = [self._outcome(f, p) for f, p in futures.items()]
        forged = [o for o in outcomes if o.problem == "forged"]
        verdict = judge(places(self.perspectives), [o.perspective.name for o in outcomes if o.ok])
        record = _record(verdict, outcomes, forged)
        if forged or not verdict.ok:
            raise NotCorroborated(_refusal(verdict, outcomes, forged), record)
        return result, record

    def _outcome(self, future: concurrent.futures.Future[Outcome], p: PerspectiveConfig) -> Outcome:
        if not future.done():
            future.cancel()
            return Outcome(p, False, f"gave no answer within {self.deadline:g} s", "connection")
        error = future.exception()
        if error is not None:  # a bug, not an answer: this perspective did not corroborate
            log.error("asking perspective %s failed", p.name, exc_info=error)
            return Outcome(p, False, f"asking it failed ({type(error).__name__})", "serverInternal")
        return future.result()

    def _ask(self, p: PerspectiveConfig, checks: Sequence[CheckSpec]) -> Outcome:
        message = self._key.seal(
            {
                "v": VERSION,
                "perspective": p.name,
                "nonce": secrets.token_urlsafe(18),
                "at": self._clock().isoformat(),
                "checks": [c.as_dict() for c in checks],
            }
        )
        try:
            answer = self._transport.post(p.check_url, message, self.deadline)
            payload, _sent = unseal(answer, p.key, f"The answer of perspective {p.name}")
        except BadSignature as exc:
            return Outcome(p, False, exc.message, "forged", answer=_signed(answer))
        except PadlockError as exc:
            return Outcome(p, False, exc.message[:MAX_DETAIL], exc.problem)
        if payload.get("perspective") != p.name or payload.get("request") != digest(
            message["payload"]
        ):
            return Outcome(p, False, "its answer is not the answer to this request", "forged")
        results = payload.get("results")
        if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
            return Outcome(p, False, "its answer holds no results", "malformed")
        failed = next((r for r in results if r.get("ok") is not True), None)
        signed = _signed(answer)
        if failed is None and len(results) == len(checks):
            return Outcome(p, True, "corroborates", "", tuple(results), signed)
        why = str(failed.get("detail") if failed else "it ran fewer checks than asked")
        problem = str(failed.get("problem") or "") if failed else "malformed"
        return Outcome(p, False, why[:MAX_DETAIL], problem, tuple(results), signed)


def _signed(answer: Any) -> dict[str, str]:
    if isinstance(answer, Mapping):
        return {k: str(answer.get(k, ""))[:200_000] for k in ("payload", "signature")}
    return {}


def _record(
    verdict: Verdict, outcomes: Sequence[Outcome], forged: Sequence[Outcome]
) -> dict[str, Any]:
    return {
        "method": "mpic",
        "ok": verdict.ok and not forged,
        "detail": verdict.reason,
        "remote": len(outcomes),
        "allowed_failures": verdict.allowed,
        "corroborating": list(verdict.corroborating),
        "dissenting": list(verdict.dissenting),
        "perspectives": [o.as_dict() for o in outcomes],
    }


def _refusal(verdict: Verdict, outcomes: Sequence[Outcome], forged: Sequence[Outcome]) -> str:
    """The error: which perspectives disagreed, and why."""
    head = verdict.reason
    if forged:
        head = "an answer not signed by its perspective's key came back"
    why = "; ".join(
        f"{o.perspective.name} ({o.perspective.place.rir}): {o.detail}"
        for o in outcomes
        if not o.ok
    )
    return f"Multi-perspective corroboration refused issuance (BR 3.2.2.9): {head}. {why}."
