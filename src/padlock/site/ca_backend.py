"""One protocol for the CA a certificate comes from, whichever way padlock talks to it.

``padlock obtain`` follows one path, start -> submit -> prove -> wait -> chain -> deliver
(:class:`padlock.site.obtain.Obtaining`); what differs between padlock's REST API
(:mod:`padlock.site.backend_rest`) and ACME (:mod:`padlock.site.backend_acme`) is behind
:class:`CaBackend`. A backend saves what the next run needs (the request's id, the order's
URL, its state) through the ``record`` callback as soon as the CA has it, so that a crash or
a wait continues with ``padlock obtain --resume``.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar

from padlock.errors import PadlockError
from padlock.site.lineage import Current, Pending
from padlock.site.responders import Responder

V = TypeVar("V")

# prove: names to prove | working: the CA has more to do (a review, processing)
# done: the CA is done (chain() checks it issued) | refused: the CA will not go on
Status = Literal["prove", "working", "done", "refused"]

Record = Callable[..., None]  # saves changes to the pending request (lineage.json)
Say = Callable[[str], None]


@dataclass(frozen=True)
class Ticket(Generic[V]):
    """The request at the CA as last seen, in one vocabulary for both protocols; ``view`` is
    the backend's own (a REST request, an ACME order)."""

    status: Status
    view: V
    message: str = ""  # working: what the site owner is told while the CA works
    refused: PadlockError | None = None  # refused: raised once the request is forgotten


@dataclass(frozen=True)
class Issued:
    """The certificate chain (PEM, leaf first) and where it came from."""

    chain: bytes
    request_id: str | None = None
    order_url: str | None = None
    certificate_url: str | None = None


@dataclass(frozen=True)
class Advice:
    """What the CA says about renewing a certificate: ``due`` (None: nothing either way)
    and why; with None, ``reason`` is a note for the lifetime rule's reason."""

    due: bool | None
    reason: str = ""


class CaBackend(Protocol[V]):
    """A CA, as ``padlock obtain`` and ``padlock renew`` need it."""

    def renews(self, pending: Pending, previous: Current) -> Pending:
        """The pending request tied to the certificate it renews."""
        ...

    def submit(self, pending: Pending) -> Ticket[V]:
        """Send the request (or find the one in flight again) and record its reference."""
        ...

    def prove(self, ticket: Ticket[V], answer: Responder, deadline: float) -> Ticket[V]:
        """Answer the CA's HTTP check for every name not yet proven (``deadline``: a
        ``time.monotonic()`` value)."""
        ...

    def wait(self, ticket: Ticket[V], deadline: float) -> Ticket[V]:
        """Let the CA finish what it can before ``deadline``."""
        ...

    def chain(self, ticket: Ticket[V]) -> Issued:
        """The issued certificate's chain, or an error when the request was not issued."""
        ...

    def forget(self, pending: Pending) -> Pending | None:
        """What is kept of a refused request: None to start afresh (a new key)."""
        ...

    def advice(
        self,
        current: Current,
        now: dt.datetime,
        wake_interval: dt.timedelta,
        rng: random.Random | None,
    ) -> Advice:
        """Whether the CA wants ``current`` renewed (RFC 9773, or revoked)."""
        ...

    def close(self) -> None:
        """Close the connection to the CA, if one was opened."""
        ...


def dns_hint(names: Sequence[str], resume: str) -> str:
    """The CA found no address for the names: no web server can help until DNS has one
    (BR 3.2.2.4.18/19: the CA connects to the name itself)."""
    listed = ", ".join(names)
    return (
        f"Publish an A or AAAA record for {listed} pointing at this web server (and check it"
        f" with: dig {names[0]} A), then run padlock obtain --resume {resume}."
    )


def ignore(**_: Any) -> None:
    """A ``record`` for a backend that only gives advice."""
    return None


__all__ = ["Advice", "CaBackend", "Issued", "Record", "Status", "Ticket", "dns_hint", "ignore"]
