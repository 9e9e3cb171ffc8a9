"""What every ACME request step shares: the service's parts, nonces, authentication of a
JWS by its account, one transaction per step, and the per-account rate limits."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import logging
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from padlock.acme import jws as jwslib
from padlock.acme import messages as m
from padlock.ca import validation
from padlock.ca.acmeserver.model import (
    FAILED,
    NONCE_SECRET,
    AccountDeactivated,
    AcmeRateLimited,
    AcmeSettings,
    Directory,
    directories,
)
from padlock.ca.acmeserver.nonces import Nonces
from padlock.ca.issuance import Issuer, utcnow
from padlock.ca.mpic.coordinator import CheckSpec, Corroborator
from padlock.ca.ports.acme_server import AcmeStore, AcmeTx, CertificateReader, Revoke
from padlock.errors import (
    AccountDoesNotExist,
    BadNonce,
    Malformed,
    PadlockError,
    Unauthorized,
)

log = logging.getLogger("padlock.acme")

Clock = Callable[[], dt.datetime]
T = TypeVar("T")


@dataclass(frozen=True)
class Probes:
    """The validation probes (``ca.validation``), replaceable in tests."""

    http: Callable[..., validation.Evidence] = validation.check_http
    dns: Callable[..., validation.Evidence] = validation.check_dns_txt
    tls_alpn: Callable[..., validation.Evidence] = validation.check_tls_alpn
    caa: Callable[..., validation.Evidence] = validation.check_caa
    dns_account: Callable[..., validation.Evidence] = validation.check_dns_account
    dns_persist: Callable[..., validation.Evidence] = validation.check_dns_persist


def rate_window(now: dt.datetime) -> dt.datetime:
    """The hour a rate counter counts in (counters are per account and clock hour)."""
    return now.replace(minute=0, second=0, microsecond=0)


def seconds_to_next_window(now: dt.datetime) -> int:
    """Retry-After for a rate limit: when the next hour's counter starts."""
    return max(1, int((rate_window(now) + dt.timedelta(hours=1) - now).total_seconds()) + 1)


def spki_der(public_key: Any) -> bytes:
    """A public key as SubjectPublicKeyInfo DER, to compare keys whatever their type."""
    der: bytes = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return der


class AcmeCore:
    """The parts every ACME use case works with; the rooms (accounts, orders, challenges,
    review, revocation) extend it and :class:`~padlock.ca.acmeserver.service.AcmeService`
    joins them. One instance per worker process, shared by its threads."""

    def __init__(
        self,
        store: AcmeStore,
        issuer: Issuer,
        certificates: CertificateReader,
        settings: AcmeSettings,
        base_url: str,
        va: validation.VAConfig,
        revoke: Revoke,
        clock: Clock = utcnow,
        probes: Probes | None = None,
        validation_threads: int = 8,
        corroborator: Corroborator | None = None,
    ) -> None:
        self.store = store
        self.issuer = issuer
        self.certificates = certificates
        self.settings = settings
        self.directories = directories(base_url, issuer.profiles)
        self.va = va
        self._revoke = revoke
        self.clock = clock
        self.probes = probes or Probes()
        self.corroborator = corroborator
        now = clock()
        self.nonces = Nonces(
            store.secret(NONCE_SECRET, lambda: secrets.token_bytes(32), now),
            settings.nonce_lifetime,
        )
        self._keys: dict[str, tuple[str, jwslib.PublicKey]] = {}
        self._keys_lock = threading.Lock()
        self._uses = 0
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=validation_threads, thread_name_prefix="padlock-acme-va"
        )

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self.corroborator is not None:
            self.corroborator.close()

    def corroborated(
        self, checks: Sequence[CheckSpec], primary: Callable[[], T]
    ) -> tuple[T, dict[str, Any] | None]:
        """``primary()`` (this VA's own checks), corroborated by the remote perspectives
        asked to run ``checks`` at the same time (BR 3.2.2.9); no record without them."""
        if self.corroborator is None:
            return primary(), None
        return self.corroborator.corroborate(checks, primary)

    def new_nonce(self) -> str:
        return self.nonces.make(self.clock())

    def _key(self, account: m.Account) -> jwslib.PublicKey:
        cached = self._keys.get(account.id)
        if cached is not None and cached[0] == account.thumbprint:
            return cached[1]
        key = jwslib.public_key_from_jwk(account.jwk)
        with self._keys_lock:
            if len(self._keys) > 50_000:
                self._keys.clear()
            self._keys[account.id] = (account.thumbprint, key)
        return key

    def _precheck(self, jws: jwslib.JWS, url: str, now: dt.datetime) -> str:
        """Checks that need no database: the url (RFC 8555 6.4), the nonce's MAC and age."""
        if not m.same_url(jws.url, url):
            raise Unauthorized(
                f"The JWS url {jws.url!r} is not the URL this request was sent to ({url})."
            )
        return self.nonces.check(jws.nonce, now)

    def _use_nonce(self, tx: AcmeTx, key: str, now: dt.datetime) -> None:
        if not tx.use_nonce(key):
            raise BadNonce("The nonce was used already.", hint="Use the latest Replay-Nonce.")
        self._uses += 1
        if self._uses % 1024 == 0:
            tx.purge(self.nonces.purge_key(now), rate_window(now) - dt.timedelta(hours=2))

    def _authenticate(
        self, tx: AcmeTx, d: Directory, jws: jwslib.JWS, nonce_key: str, now: dt.datetime
    ) -> m.Account:
        """A kid-signed request: the account exists here, is valid, signed it; the nonce is used."""
        if jws.kid is None:
            raise Malformed(
                "This request must be signed with the account's key and name it with 'kid'"
                " (the account URL), not 'jwk' (RFC 8555 section 6.2)."
            )
        account_id = d.urls.account_id_from_kid(jws.kid)
        account = tx.account(account_id) if account_id else None
        if account is None or account.directory != d.name:
            raise AccountDoesNotExist(f"There is no account {jws.kid} in this directory.")
        jwslib.verify(jws, self._key(account))
        if account.status != m.VALID:
            raise AccountDeactivated(account)
        self._use_nonce(tx, nonce_key, now)
        return account

    def _run(
        self,
        jws: jwslib.JWS,
        url: str,
        work: Callable[[AcmeTx, str, dt.datetime], Any],
        *,
        nonce_key: str | None = None,
    ) -> Any:
        """One request step in one transaction: the nonce is used with the change it allows.
        ``nonce_key``: the caller ran :meth:`_precheck` already."""
        now = self.clock()
        if nonce_key is None:
            nonce_key = self._precheck(jws, url, now)
        with self.store.transaction() as tx:
            return work(tx, nonce_key, now)

    def spend_nonce(self, jws: jwslib.JWS) -> None:
        """After a refusal: the request's nonce, if it is one of ours, is used up all the same,
        so that a refused request cannot be replayed once the refusal no longer holds."""
        now = self.clock()
        try:
            key = self.nonces.check(jws.nonce, now)
            with self.store.transaction() as tx:
                tx.use_nonce(key)
        except BadNonce:
            return
        except PadlockError:  # pragma: no cover - the refusal already answers the client
            log.warning("could not spend a nonce after a refused request", exc_info=True)

    def account_url(self, account: m.Account) -> str:
        """The account's URL, as a CAA accounturi names it (RFC 8657 section 3)."""
        return self.directories[account.directory].urls.account(account.id)

    def _check_failures(self, tx: AcmeTx, account: m.Account, now: dt.datetime) -> None:
        limit = self.settings.failed_validations_per_hour
        if limit and tx.rate_count(account.id, FAILED, rate_window(now)) >= limit:
            raise AcmeRateLimited(
                f"This account failed {limit} validations in this hour, the most allowed.",
                seconds_to_next_window(now),
            )
