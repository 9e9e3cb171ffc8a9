"""The ACME server's storage border: one transaction of the ACME store (``AcmeTx``), the
store itself, and the two other things the server reads or calls (certificates, revocation).

``store/acme.py`` implements :class:`AcmeStore`; the records crossing the border are
``padlock.acme.messages``' and ``padlock.ca.records``'."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from padlock.acme import messages as m
from padlock.ca.audit import AuditEntry
from padlock.ca.records import CertificateRecord


class AcmeTx(Protocol):
    """One transaction of the ACME store; every method runs inside it."""

    def use_nonce(self, key: str) -> bool:
        """Record a nonce as used; False if it was used before."""

    def purge(self, nonces_before: str, windows_before: dt.datetime) -> None:
        """Drop used nonces whose key sorts before ``nonces_before`` and old rate windows."""

    def audit(self, entry: AuditEntry, at: dt.datetime) -> None: ...

    def account(self, account_id: str) -> m.Account | None: ...

    def account_by_thumbprint(self, directory: str, thumbprint: str) -> m.Account | None: ...

    def insert_account(self, account: m.Account) -> None: ...

    def update_account(
        self,
        account_id: str,
        now: dt.datetime,
        *,
        contact: tuple[str, ...] | None = None,
        status: str | None = None,
        jwk: Mapping[str, Any] | None = None,
        thumbprint: str | None = None,
        tos_agreed: bool | None = None,
    ) -> m.Account: ...

    def retire_key(self, account_id: str, thumbprint: str, now: dt.datetime) -> None:
        """Keep the thumbprint of a key the account rolled over from."""

    def prior_thumbprints(self, account_id: str) -> list[str]:
        """The account's earlier keys' thumbprints, newest first (draft-ietf-acme-dns-persist
        section 4.2: records made with them still validate)."""

    def deactivate_pending_authzs(self, account_id: str, now: dt.datetime) -> None: ...

    def insert_order(
        self, order: m.Order, authzs: Sequence[m.Authorization], now: dt.datetime
    ) -> None:
        """The order, its authorizations and their challenges."""

    def order(self, order_id: str) -> m.Order | None: ...

    def order_csr(self, order_id: str) -> bytes | None: ...

    def order_by_cert(self, serial_hex: str) -> m.Order | None: ...

    def orders_of_account(self, account_id: str, limit: int, before: str | None) -> list[str]:
        """Order ids, newest first; ``before`` is the last id of the previous page."""

    def orders_awaiting_review(self, profiles: Sequence[str]) -> list[m.Order]: ...

    def move_order(
        self,
        order_id: str,
        from_status: str,
        to_status: str,
        now: dt.datetime,
        *,
        csr: bytes | None = None,
        cert_serial: str | None = None,
        error: Mapping[str, Any] | None = None,
    ) -> bool:
        """UPDATE ... WHERE status = from_status; whether this call moved it."""

    def replacement_exists(self, cert_id: str, now: dt.datetime) -> bool:
        """Whether another order replaces that certificate (RFC 9773 section 5): a valid one,
        or one still pending, ready or processing that has not expired at ``now``."""

    def authorization(self, authz_id: str) -> m.Authorization | None:
        """With its challenges."""

    def authz_statuses(self, order_id: str) -> list[str]: ...

    def ready_if_all_valid(self, order_id: str, now: dt.datetime) -> bool:
        """pending -> ready when every authorization of the order is valid (one statement)."""

    def challenge(self, challenge_id: str) -> m.Challenge | None: ...

    def challenge_evidence(self, challenge_id: str) -> list[dict[str, Any]]:
        """What validating the challenge saw (each probe's and each perspective's evidence)."""

    def claim_challenge(
        self, challenge_id: str, now: dt.datetime, stale_before: dt.datetime
    ) -> bool:
        """pending (or processing claimed before ``stale_before``) -> processing, by this worker."""

    def finish_challenge(
        self,
        challenge_id: str,
        status: str,
        now: dt.datetime,
        error: Mapping[str, Any] | None,
        evidence: Sequence[Mapping[str, Any]],
    ) -> None: ...

    def set_authz_status(
        self, authz_id: str, status: str, now: dt.datetime, valid_until: dt.datetime | None = None
    ) -> None:
        """A valid authorization lives until ``valid_until`` (it may be used to revoke)."""

    def valid_identifiers(
        self, account_id: str, values: Sequence[str], now: dt.datetime
    ) -> set[str]:
        """Which of ``values`` the account holds a valid, unexpired authorization for."""

    def bump_rate(self, account_id: str, kind: str, window: dt.datetime) -> int:
        """Add one to the counter; its new value."""

    def rate_count(self, account_id: str, kind: str, window: dt.datetime) -> int: ...


class AcmeStore(Protocol):
    def transaction(self, write: bool = True) -> AbstractContextManager[AcmeTx]: ...

    def secret(self, name: str, make: Callable[[], bytes], now: dt.datetime) -> bytes:
        """The secret ``name``, made by ``make`` and stored the first time (every worker
        gets the same value)."""


class CertificateReader(Protocol):
    def get_certificate(self, serial: int) -> CertificateRecord | None: ...


class Revoke(Protocol):
    """The revocation use case (``ca.revocation.Revoker.revoke``) as ACME calls it."""

    def __call__(self, serial: int, reason: int, actor: str, now: dt.datetime) -> object: ...
