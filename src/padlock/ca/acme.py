"""ACME use cases (RFC 8555, RFC 8737, RFC 8738, RFC 9773): accounts, orders,
authorizations, challenges, finalization, certificates, revocation, renewal info.

The front end (``web/acme_api.py``) parses nothing but the HTTP envelope: it hands a
parsed :class:`~padlock.acme.jws.JWS`, the request URL and the directory to the
methods of :class:`AcmeService`, which authenticate, check and change state, and
return records (``padlock.acme.messages``) the front end renders.

Storage goes through :class:`AcmeStore` (implemented in ``store/acme.py``): one
:meth:`AcmeStore.transaction` per request step, in which the request's nonce is
consumed together with the change it authorizes. Several worker processes share
everything through the database: nonces (a used-nonce table with a primary key),
the nonce MAC key, rate-limit counters, challenge claims (a challenge is validated by
the worker that moved it to ``processing``; a claim older than the lease may be taken
over), and order state (a finalization wins by moving the order from ``ready`` to
``processing`` in one UPDATE, so parallel finalizations issue one certificate).
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import hmac
import ipaddress
import json
import logging
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from padlock.acme import challenges as ch
from padlock.acme import jws as jwslib
from padlock.acme import messages as m
from padlock.ca import validation
from padlock.ca.issuance import IssuedCertificate, Issuer, IssueRequest, utcnow
from padlock.ca.ports import AuditEntry, CertificateRecord, CertState
from padlock.errors import (
    AccountDoesNotExist,
    AlreadyReplaced,
    BadCSR,
    BadNonce,
    Conflict,
    ExternalAccountRequired,
    InvalidProfile,
    Malformed,
    NotFound,
    OrderNotReady,
    PadlockError,
    PolicyError,
    RateLimited,
    RejectedIdentifier,
    Unauthorized,
    UnsupportedKey,
    WeakKey,
)
from padlock.pki import certs, policy
from padlock.pki.csr import csr_names, load_csr
from padlock.pki.profiles import PROFILES, Hierarchy

log = logging.getLogger("padlock.acme")

Clock = Callable[[], dt.datetime]

NONCE_SECRET = "nonce-mac-key"  # noqa: S105 - the name of a stored secret
ORDERS = "orders"
FAILED = "failed"
_NONCE_MAC_BYTES = 10
_NONCE_RANDOM_BYTES = 10


# --- settings and directories ----------------------------------------------------------------


@dataclass(frozen=True)
class Directory:
    """One ACME directory: ``acme`` (trusted, /acme) or ``test`` (the test profile, /acme/test)."""

    name: str
    urls: m.Urls
    profiles: Mapping[str, str]  # profile name -> description (the directory's meta.profiles)
    default_profile: str

    @property
    def hierarchy(self) -> Hierarchy:
        return PROFILES[self.default_profile].hierarchy


def directories(base_url: str) -> dict[str, Directory]:
    """The two directories this CA serves, by name."""
    base = base_url.rstrip("/")
    trusted: dict[str, str] = {
        name: PROFILES[name].description for name in ("dv", "ov", "short-lived") if name in PROFILES
    }
    return {
        "acme": Directory("acme", m.Urls(base, "/acme"), trusted, "dv"),
        "test": Directory(
            "test", m.Urls(base, "/acme/test"), {"test": PROFILES["test"].description}, "test"
        ),
    }


@dataclass(frozen=True)
class AcmeSettings:
    terms_of_service: str | None = None  # None: padlock's page at /acme/terms; "": none
    website: str | None = None  # None: the base URL; "": none
    caa_identities: tuple[str, ...] = ()
    eab_required: bool = False
    eab_keys: Mapping[str, bytes] = field(default_factory=dict)  # EAB key id -> MAC key
    order_lifetime: dt.timedelta = dt.timedelta(days=7)
    authz_lifetime: dt.timedelta = dt.timedelta(days=7)
    valid_authz_lifetime: dt.timedelta = dt.timedelta(days=30)
    nonce_lifetime: dt.timedelta = dt.timedelta(minutes=10)
    orders_per_hour: int = 300  # per account; 0: no limit
    failed_validations_per_hour: int = 60  # per account; 0: no limit
    challenge_lease: dt.timedelta = dt.timedelta(minutes=2)
    review_retry_after: int = 60  # seconds, for an order waiting for a reviewer
    # How long a challenge POST waits for its validation before answering "processing"
    # (0: answer at once, validate right after; see docs/acme.md for the trade-off).
    validation_wait: float = 0.0
    allow_internal_in_test: bool = False
    # Tests and benchmarks only: every challenge is valid without looking (see docs/acme.md).
    insecure_always_valid: bool = False
    insecure_always_valid_trusted: bool = False  # the second, explicit flag for /acme

    def always_valid(self, directory: Directory) -> bool:
        if not self.insecure_always_valid:
            return False
        return directory.hierarchy is Hierarchy.TEST or self.insecure_always_valid_trusted

    def terms_url(self, directory: Directory) -> str | None:
        """The terms of service: the setting, or padlock's own page; "" for none."""
        if self.terms_of_service is None:
            return f"{directory.urls.base}/acme/terms"
        return self.terms_of_service or None

    def meta(self, directory: Directory) -> m.DirectoryMeta:
        return m.DirectoryMeta(
            terms_of_service=self.terms_url(directory),
            website=f"{directory.urls.base}/" if self.website is None else self.website or None,
            caa_identities=self.caa_identities,
            external_account_required=self.eab_required,
            profiles=directory.profiles,
        )


class AcmeRateLimited(RateLimited):
    """rateLimited with the seconds after which the limit lifts (the Retry-After header)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, hint=f"Try again in {retry_after} seconds.")
        self.retry_after = retry_after


class AccountDeactivated(Unauthorized):
    """Any request signed by a deactivated account's key: unauthorized with HTTP 401, not the
    403 the problem table gives unauthorized elsewhere (RFC 8555 section 7.3.6)."""

    def __init__(self, account: m.Account) -> None:
        super().__init__(
            f"The account is {account.status}; it can no longer be used (RFC 8555 section 7.3.6).",
            hint="Make a new account with a new key.",
        )

    def to_problem(self, **extra: Any) -> dict[str, Any]:
        return super().to_problem(**{"status": 401, **extra})


class KeyInUse(Conflict):
    """keyChange to a key another account holds: 409 with that account's URL (RFC 8555 7.3.5)."""

    def __init__(self, message: str, location: str) -> None:
        super().__init__(message)
        self.location = location


# --- the storage border ----------------------------------------------------------------------


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


@dataclass(frozen=True)
class Probes:
    """The validation probes (``ca.validation``), replaceable in tests."""

    http: Callable[..., validation.Evidence] = validation.check_http
    dns: Callable[..., validation.Evidence] = validation.check_dns_txt
    tls_alpn: Callable[..., validation.Evidence] = validation.check_tls_alpn
    caa: Callable[..., validation.Evidence] = validation.check_caa


# --- nonces ----------------------------------------------------------------------------------


class Nonces:
    """Nonces are ``time(6) || random(10) || HMAC(10)``, base64url.

    Making one costs no database write; using one inserts ``time || random`` (hex) into
    the used-nonce table, whose primary key refuses a second use in every worker. The
    MAC proves the server made it; the time bounds its life.
    """

    def __init__(self, key: bytes, lifetime: dt.timedelta) -> None:
        self._key = key
        self._lifetime_ms = int(lifetime.total_seconds() * 1000)

    def _mac(self, body: bytes) -> bytes:
        return hmac.digest(self._key, body, "sha256")[:_NONCE_MAC_BYTES]

    def make(self, now: dt.datetime) -> str:
        ms = int(now.timestamp() * 1000)
        body = ms.to_bytes(6, "big") + secrets.token_bytes(_NONCE_RANDOM_BYTES)
        return jwslib.b64encode(body + self._mac(body))

    def check(self, nonce: str | None, now: dt.datetime) -> str:
        """The database key of a nonce this server made and that has not expired."""
        if not nonce:
            raise BadNonce("The JWS has no nonce.", hint="Get one from newNonce.")
        try:
            raw = jwslib.b64decode(nonce, "nonce")
        except Malformed:
            raise BadNonce("The nonce is not one this server issued.") from None
        if len(raw) != 6 + _NONCE_RANDOM_BYTES + _NONCE_MAC_BYTES:
            raise BadNonce("The nonce is not one this server issued.")
        body, mac = raw[:-_NONCE_MAC_BYTES], raw[-_NONCE_MAC_BYTES:]
        if not hmac.compare_digest(mac, self._mac(body)):
            raise BadNonce("The nonce is not one this server issued.")
        age = int(now.timestamp() * 1000) - int.from_bytes(body[:6], "big")
        if age > self._lifetime_ms:
            raise BadNonce("The nonce has expired.", hint="Get a fresh one from newNonce.")
        return body.hex()

    def purge_key(self, now: dt.datetime) -> str:
        """Keys below this one belong to expired nonces."""
        ms = int(now.timestamp() * 1000) - self._lifetime_ms
        return max(ms, 0).to_bytes(6, "big").hex()


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountResult:
    account: m.Account
    created: bool


@dataclass(frozen=True)
class ChallengeResult:
    challenge: m.Challenge
    authz: m.Authorization
    claimed: bool = False  # this request moved it to processing: validate it now
    started: concurrent.futures.Future[m.Challenge] | None = None


# The chains a certificate is served with (RFC 8555 7.4.2): 0 the leaf and its issuer, 1 the
# same with the root. Each download holds its whole chain, so no Link rel="up" is sent (a
# client following one would POST-as-GET a URL that is not an ACME resource); the others
# are offered as rel="alternate" at their own POST-as-GET URLs.
CHAINS = (0, 1)


@dataclass(frozen=True)
class CertificateResult:
    issued: IssuedCertificate
    alternates: tuple[int, ...]  # the other chains (Link rel="alternate")


def _new_id() -> str:
    return secrets.token_urlsafe(16)


class _Randomness:
    """Ids (128 bits) and challenge tokens (256 bits) for one order, from one read of the OS
    random source instead of one per value."""

    def __init__(self, size: int = 1024) -> None:
        self._pool = secrets.token_bytes(size)
        self._at = 0

    def _take(self, n: int) -> bytes:
        if self._at + n > len(self._pool):
            self._pool, self._at = secrets.token_bytes(max(1024, n)), 0
        chunk = self._pool[self._at : self._at + n]
        self._at += n
        return chunk

    def id(self) -> str:
        return jwslib.b64encode(self._take(16))

    def token(self) -> str:
        return jwslib.b64encode(self._take(ch.TOKEN_BYTES))


def _window(now: dt.datetime) -> dt.datetime:
    return now.replace(minute=0, second=0, microsecond=0)


def _seconds_left(now: dt.datetime) -> int:
    return max(1, int((_window(now) + dt.timedelta(hours=1) - now).total_seconds()) + 1)


def _spki(public_key: Any) -> bytes:
    der: bytes = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return der


def _problem_with_identifier(exc: PadlockError, identifier: m.Identifier) -> dict[str, Any]:
    doc = exc.to_problem()
    doc["subproblems"] = [
        {"type": doc["type"], "detail": exc.message, "identifier": identifier.as_dict()}
    ]
    return doc


# --- the service -----------------------------------------------------------------------------


class AcmeService:
    """Every ACME operation; one instance per worker process, shared by its threads."""

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
    ) -> None:
        self.store = store
        self.issuer = issuer
        self.certificates = certificates
        self.settings = settings
        self.directories = directories(base_url)
        self.va = va
        self._revoke = revoke
        self.clock = clock
        self.probes = probes or Probes()
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

    # -- nonces and authentication ----------------------------------------------------------

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
            tx.purge(self.nonces.purge_key(now), _window(now) - dt.timedelta(hours=2))

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

    # -- accounts ---------------------------------------------------------------------------

    def new_account(self, d: Directory, jws: jwslib.JWS, url: str) -> AccountResult:
        if jws.jwk is None:
            raise Malformed("newAccount must be signed with 'jwk' (the new account's key).")
        # The url and the nonce's MAC first (no signature work for a made-up request).
        prechecked = self._precheck(jws, url, self.clock())
        key = jwslib.public_key_from_jwk(jws.jwk)
        jwslib.verify(jws, key)
        req = m.parse_new_account(jws.payload_json())
        thumb = jwslib.thumbprint(jws.jwk)
        canonical = json.loads(jwslib.canonical_jwk(jws.jwk))

        def work(tx: AcmeTx, nonce_key: str, now: dt.datetime) -> AccountResult:
            self._use_nonce(tx, nonce_key, now)
            existing = tx.account_by_thumbprint(d.name, thumb)
            if existing is not None and existing.status != m.VALID:
                raise AccountDeactivated(existing)
            if existing is not None:
                return AccountResult(existing, created=False)
            if req.only_return_existing:
                raise AccountDoesNotExist("No account exists with this key.")
            terms = self.settings.terms_url(d)
            if terms and not req.tos_agreed:
                raise Malformed(
                    "You must agree to the terms of service (termsOfServiceAgreed: true).",
                    hint=f"Read them at {terms}.",
                )
            eab_kid = self._check_eab(d, req.external_account_binding, canonical, url)
            account = m.Account(
                id=_new_id(),
                directory=d.name,
                status=m.VALID,
                jwk=canonical,
                thumbprint=thumb,
                contact=req.contact,
                tos_agreed=req.tos_agreed,
                created_at=now,
                eab_kid=eab_kid,
            )
            tx.insert_account(account)
            tx.audit(
                AuditEntry(
                    "acme.account.created",
                    f"acme:{account.id}",
                    "acme_account",
                    account.id,
                    {"directory": d.name, "contact": list(account.contact), "eab_kid": eab_kid},
                ),
                now,
            )
            return AccountResult(account, created=True)

        result: AccountResult = self._run(jws, url, work, nonce_key=prechecked)
        return result

    def _check_eab(
        self, d: Directory, eab: Mapping[str, Any] | None, jwk: Mapping[str, Any], url: str
    ) -> str | None:
        if eab is None:
            if self.settings.eab_required:
                raise ExternalAccountRequired(
                    "This CA needs an external account binding to open an account.",
                    hint="Ask the CA operator for an EAB key id and MAC key.",
                )
            return None
        inner = jwslib.parse_mac(eab)
        if not m.same_url(inner.url, url):
            raise Unauthorized("The external account binding's url is not the newAccount URL.")
        kid = str(inner.protected["kid"])
        mac_key = self.settings.eab_keys.get(kid)
        if mac_key is None:
            raise Unauthorized(f"The external account key id {kid!r} is unknown.")
        jwslib.verify_mac(inner, mac_key)
        try:
            bound = json.loads(inner.payload_bytes())
        except ValueError:
            raise Malformed("The external account binding's payload is not a JWK.") from None
        if not isinstance(bound, dict) or jwslib.thumbprint(bound) != jwslib.thumbprint(jwk):
            raise Unauthorized("The external account binding names another account key.")
        return kid

    def account(self, d: Directory, jws: jwslib.JWS, url: str, account_id: str) -> m.Account:
        """POST to the account URL: read it (POST-as-GET or ``{}``), update it, deactivate it."""

        def work(tx: AcmeTx, nonce_key: str, now: dt.datetime) -> m.Account:
            account = self._authenticate(tx, d, jws, nonce_key, now)
            if account.id != account_id:
                raise Unauthorized("An account can only read and change itself.")
            if jws.is_post_as_get:
                return account
            update = m.parse_account_update(jws.payload_json())
            if update.contact is None and not update.deactivate and update.tos_agreed is None:
                return account
            changed = tx.update_account(
                account.id,
                now,
                contact=update.contact,
                status=m.DEACTIVATED if update.deactivate else None,
                tos_agreed=update.tos_agreed,
            )
            if update.deactivate:
                tx.deactivate_pending_authzs(account.id, now)
            tx.audit(
                AuditEntry(
                    "acme.account.deactivated" if update.deactivate else "acme.account.updated",
                    f"acme:{account.id}",
                    "acme_account",
                    account.id,
                    {"contact": list(changed.contact)},
                ),
                now,
            )
            return changed

        result: m.Account = self._run(jws, url, work)
        return result

    def key_change(self, d: Directory, jws: jwslib.JWS, url: str) -> m.Account:
        """RFC 8555 7.3.5: the outer JWS by the old key, the inner by the new one. The inner
        JWS is read only once the outer one is authenticated."""

        def work(tx: AcmeTx, nonce_key: str, now: dt.datetime) -> m.Account:
            account = self._authenticate(tx, d, jws, nonce_key, now)
            inner = jwslib.parse(jws.payload_json(), need_nonce=False)
            if inner.jwk is None:
                raise Malformed("The inner keyChange JWS must carry the new key as 'jwk'.")
            if inner.url != jws.url:
                raise Malformed("The inner keyChange JWS must have the same url as the outer one.")
            jwslib.verify(inner, jwslib.public_key_from_jwk(inner.jwk))
            change = m.parse_key_change(inner.payload_json())
            new_thumb = jwslib.thumbprint(inner.jwk)
            canonical = json.loads(jwslib.canonical_jwk(inner.jwk))
            if change.account != jws.kid:
                raise Unauthorized("The inner keyChange payload names another account.")
            if jwslib.thumbprint(change.old_key) != account.thumbprint:
                raise Unauthorized("'oldKey' is not the account's current key.")
            holder = tx.account_by_thumbprint(d.name, new_thumb)
            if holder is not None:
                raise KeyInUse(
                    "Another account already uses the new key.", d.urls.account(holder.id)
                )
            changed = tx.update_account(account.id, now, jwk=canonical, thumbprint=new_thumb)
            tx.audit(
                AuditEntry(
                    "acme.account.key_changed",
                    f"acme:{account.id}",
                    "acme_account",
                    account.id,
                    {"old_thumbprint": account.thumbprint, "new_thumbprint": new_thumb},
                ),
                now,
            )
            return changed

        result: m.Account = self._run(jws, url, work)
        with self._keys_lock:
            self._keys.pop(result.id, None)
        return result

    def orders_of(
        self, d: Directory, jws: jwslib.JWS, url: str, account_id: str, before: str | None
    ) -> tuple[list[str], str | None]:
        """Order ids of the account, 100 a page; the next page's cursor, if any."""
        page = 100

        def work(tx: AcmeTx, nonce_key: str, now: dt.datetime) -> tuple[list[str], str | None]:
            account = self._authenticate(tx, d, jws, nonce_key, now)
            if account.id != account_id:
                raise Unauthorized("An account can only list its own orders.")
            ids = tx.orders_of_account(account.id, page + 1, before)
            more = ids[page] if len(ids) > page else None
            return ids[:page], (ids[page - 1] if more else None)

        result: tuple[list[str], str | None] = self._run(jws, url, work)
        return result

    # -- orders -----------------------------------------------------------------------------

    def _rate_limit(self, tx: AcmeTx, account: m.Account, now: dt.datetime) -> None:
        window = _window(now)
        limit = self.settings.orders_per_hour
        if limit and tx.bump_rate(account.id, ORDERS, window) > limit:
            raise AcmeRateLimited(
                f"This account created {limit} orders in this hour, the most allowed.",
                _seconds_left(now),
            )
        self._check_failures(tx, account, now)

    def _check_failures(self, tx: AcmeTx, account: m.Account, now: dt.datetime) -> None:
        limit = self.settings.failed_validations_per_hour
        if limit and tx.rate_count(account.id, FAILED, _window(now)) >= limit:
            raise AcmeRateLimited(
                f"This account failed {limit} validations in this hour, the most allowed.",
                _seconds_left(now),
            )

    def _identifiers(self, d: Directory, profile: str, req: m.NewOrder) -> list[m.Identifier]:
        dns = [i.value for i in req.identifiers if i.type == "dns"]
        ips = [i.value for i in req.identifiers if i.type == "ip"]
        name_policy = policy.NamePolicy(
            allow_internal=PROFILES[profile].hierarchy is Hierarchy.TEST
            and self.settings.allow_internal_in_test
        )
        good_dns, good_ips = policy.check_identifiers(dns, ips, name_policy)
        return [m.Identifier("dns", n) for n in good_dns] + [
            m.Identifier("ip", a) for a in good_ips
        ]

    @staticmethod
    def _profile(d: Directory, req: m.NewOrder) -> str:
        profile = req.profile or d.default_profile
        if profile not in d.profiles:
            raise InvalidProfile(
                f"This directory has no profile {profile!r}; it offers "
                + ", ".join(d.profiles)
                + " (draft-ietf-acme-profiles).",
                hint="Leave 'profile' out for the default, or pick one of the directory's"
                " meta.profiles.",
            )
        return profile

    def new_order(self, d: Directory, jws: jwslib.JWS, url: str) -> m.Order:
        def work(tx: AcmeTx, nonce_key: str, now: dt.datetime) -> m.Order:
            account = self._authenticate(tx, d, jws, nonce_key, now)
            # What the request carries is read only once it is authenticated.
            req = m.parse_new_order(jws.payload_json())
            profile = self._profile(d, req)
            identifiers = self._identifiers(d, profile, req)
            self._rate_limit(tx, account, now)
            if req.replaces is not None:
                self._check_replaces(tx, account, req.replaces, identifiers, now)
            ids = _Randomness()
            order_id = ids.id()
            expires = now + self.settings.order_lifetime
            authz_expires = min(expires, now + self.settings.authz_lifetime)
            authzs: list[m.Authorization] = []
            for identifier in identifiers:
                authz_id = ids.id()
                base = identifier.base
                authzs.append(
                    m.Authorization(
                        id=authz_id,
                        order_id=order_id,
                        account_id=account.id,
                        identifier=base,
                        wildcard=identifier.is_wildcard,
                        status=m.PENDING,
                        expires=authz_expires,
                        challenges=tuple(
                            m.Challenge(
                                id=ids.id(),
                                authz_id=authz_id,
                                type=kind,
                                token=ids.token(),
                                status=m.PENDING,
                            )
                            for kind in ch.offered(base, identifier.is_wildcard)
                        ),
                    )
                )
            order = m.Order(
                id=order_id,
                account_id=account.id,
                directory=d.name,
                profile=profile,
                status=m.PENDING,
                identifiers=tuple(identifiers),
                expires=expires,
                created_at=now,
                authz_ids=tuple(a.id for a in authzs),
                replaces=req.replaces,
            )
            tx.insert_order(order, authzs, now)
            tx.audit(
                AuditEntry(
                    "acme.order.created",
                    f"acme:{account.id}",
                    "acme_order",
                    order_id,
                    {
                        "profile": profile,
                        "identifiers": [i.as_dict() for i in identifiers],
                        "replaces": req.replaces,
                    },
                ),
                now,
            )
            return order

        result: m.Order = self._run(jws, url, work)
        return result

    @staticmethod
    def _check_replaces(
        tx: AcmeTx,
        account: m.Account,
        cert_id: str,
        identifiers: Sequence[m.Identifier],
        now: dt.datetime,
    ) -> None:
        """RFC 9773 section 5: the replaced certificate is the account's, shares an identifier
        with the new order, and no other live order replaces it (alreadyReplaced, 7.4)."""
        aki, serial = m.parse_cert_id(cert_id)
        order = tx.order_by_cert(format(serial, "x"))
        if order is None or order.account_id != account.id:
            raise Malformed("'replaces' names no certificate this account ordered (RFC 9773).")
        if not {(i.type, i.value) for i in order.identifiers} & {
            (i.type, i.value) for i in identifiers
        }:
            raise Malformed(
                "The order shares no identifier with the certificate it replaces"
                " (RFC 9773 section 5).",
                hint="Leave 'replaces' out for a certificate for other names.",
            )
        if any(tx.replacement_exists(c, now) for c in m.cert_id_forms(aki, serial)):
            raise AlreadyReplaced(
                "Another order already replaces that certificate (RFC 9773 section 5).",
                hint="Order again without 'replaces'.",
            )

    def order(self, d: Directory, jws: jwslib.JWS, url: str, order_id: str) -> m.Order:
        def work(tx: AcmeTx, nonce_key: str, now: dt.datetime) -> m.Order:
            account = self._authenticate(tx, d, jws, nonce_key, now)
            return self._own_order(tx, d, account, order_id)

        result: m.Order = self._run(jws, url, work)
        return result

    @staticmethod
    def _own_order(tx: AcmeTx, d: Directory, account: m.Account, order_id: str) -> m.Order:
        order = tx.order(order_id)
        if order is None or order.directory != d.name:
            raise NotFound(f"There is no order {order_id}.")
        if order.account_id != account.id:
            raise Unauthorized("This order belongs to another account.")
        return order

    # -- authorizations and challenges ------------------------------------------------------

    def authorization(
        self, d: Directory, jws: jwslib.JWS, url: str, authz_id: str
    ) -> m.Authorization:
        def work(tx: AcmeTx, nonce_key: str, now: dt.datetime) -> m.Authorization:
            account = self._authenticate(tx, d, jws, nonce_key, now)
            authz = self._own_authz(tx, account, authz_id)
            if jws.is_post_as_get:
                return authz
            payload = jws.payload_json()
            if payload.get("status") != m.DEACTIVATED:
                raise Malformed("An authorization can only be changed to 'deactivated'.")
            if authz.status not in (m.PENDING, m.VALID):
                raise Malformed(f"The authorization is {authz.status}; it cannot be deactivated.")
            tx.set_authz_status(authz.id, m.DEACTIVATED, now)
            self._settle_order(tx, authz.order_id, now, valid=False)
            tx.audit(
                AuditEntry(
                    "acme.authz.deactivated", f"acme:{account.id}", "acme_authz", authz.id, {}
                ),
                now,
            )
            return replace(authz, status=m.DEACTIVATED)

        result: m.Authorization = self._run(jws, url, work)
        return self._retake_stale(result)

    @staticmethod
    def _own_authz(tx: AcmeTx, account: m.Account, authz_id: str) -> m.Authorization:
        authz = tx.authorization(authz_id)
        if authz is None:
            raise NotFound(f"There is no authorization {authz_id}.")
        if authz.account_id != account.id:
            raise Unauthorized("This authorization belongs to another account.")
        return authz

    def _retake_stale(self, authz: m.Authorization) -> m.Authorization:
        """A challenge left in processing by a worker that died is validated again here."""
        now = self.clock()
        for challenge in authz.challenges:
            if (
                challenge.status == m.PROCESSING
                and challenge.claimed_at is not None
                and challenge.claimed_at < now - self.settings.challenge_lease
            ):
                with self.store.transaction() as tx:
                    claimed = tx.claim_challenge(
                        challenge.id, now, now - self.settings.challenge_lease
                    )
                if claimed:
                    self.start_validation(challenge.id)
        return authz

    def challenge(
        self, d: Directory, jws: jwslib.JWS, url: str, challenge_id: str
    ) -> ChallengeResult:
        """POST-as-GET reads the challenge; ``{}`` asks the server to validate it (8.3-8.4)."""
        respond = not jws.is_post_as_get

        def work(tx: AcmeTx, nonce_key: str, now: dt.datetime) -> ChallengeResult:
            account = self._authenticate(tx, d, jws, nonce_key, now)
            if respond:
                jws.payload_json()  # a JSON object; "{}" by the RFC, extra members ignored
            challenge = tx.challenge(challenge_id)
            if challenge is None:
                raise NotFound(f"There is no challenge {challenge_id}.")
            authz = self._own_authz(tx, account, challenge.authz_id)
            if not respond or challenge.status != m.PENDING:
                return ChallengeResult(challenge, authz)
            status = m.authz_status(authz, now)
            if status != m.PENDING:
                raise Malformed(
                    f"The authorization is {status}; its challenges can no longer be answered."
                )
            if self.settings.always_valid(d):
                done = replace(challenge, status=m.VALID, validated=now)
                evidence = [{"method": "none", "detail": "insecure: always valid, not probed"}]
                tx.finish_challenge(challenge.id, m.VALID, now, None, evidence)
                self._authz_done(tx, authz, valid=True, now=now)
                tx.audit(
                    AuditEntry(
                        "acme.challenge.valid",
                        "system",
                        "acme_challenge",
                        challenge.id,
                        {
                            "type": challenge.type,
                            "identifier": authz.identifier.as_dict(),
                            "order_id": authz.order_id,
                            "evidence": evidence,
                        },
                    ),
                    now,
                )
                return ChallengeResult(done, authz)
            self._check_failures(tx, account, now)
            if any(c.status == m.PROCESSING for c in authz.challenges):
                return ChallengeResult(challenge, authz)
            if not tx.claim_challenge(challenge.id, now, now - self.settings.challenge_lease):
                return ChallengeResult(challenge, authz)
            claimed = replace(challenge, status=m.PROCESSING, claimed_at=now)
            return ChallengeResult(claimed, authz, claimed=True)

        result: ChallengeResult = self._run(jws, url, work)
        if result.claimed:
            return replace(result, started=self.start_validation(challenge_id))
        return result

    def start_validation(self, challenge_id: str) -> concurrent.futures.Future[m.Challenge]:
        """Validate in the background, now; the future gives the challenge as it ends."""
        return self._pool.submit(self.validate, challenge_id)

    def validate(self, challenge_id: str) -> m.Challenge:
        """Probe one claimed challenge and store the outcome (runs in a validation thread)."""
        with self.store.transaction(write=False) as tx:
            challenge = tx.challenge(challenge_id)
            authz = tx.authorization(challenge.authz_id) if challenge else None
            account = tx.account(authz.account_id) if authz else None
        if challenge is None or authz is None or account is None:
            raise NotFound(f"There is no challenge {challenge_id}.")
        if challenge.status != m.PROCESSING:
            return challenge
        key_auth = ch.key_authorization(challenge.token, account.thumbprint)
        identifier = authz.identifier
        evidence: list[dict[str, Any]] = []
        error: dict[str, Any] | None = None
        try:
            # CAA first (RFC 8659; BR 3.2.2.8): a CA that may not issue does not contact
            # the applicant's server at all.
            if identifier.type == "dns":
                evidence.append(
                    self.probes.caa(self.va, identifier.value, wildcard=authz.wildcard).as_dict()
                )
            evidence.append(self._probe(challenge, identifier, key_auth).as_dict())
        except validation.ProbeFailed as exc:
            evidence.append(exc.evidence.as_dict())
            error = _problem_with_identifier(exc, identifier)
        except PadlockError as exc:
            error = _problem_with_identifier(exc, identifier)
        except Exception as exc:  # a bug in a probe must not leave the challenge processing
            log.exception("validation of challenge %s failed unexpectedly", challenge_id)
            error = _problem_with_identifier(
                PadlockError(f"The validation failed unexpectedly ({type(exc).__name__})."),
                identifier,
            )
        now = self.clock()
        valid = error is None
        with self.store.transaction() as tx:
            tx.finish_challenge(challenge.id, m.VALID if valid else m.INVALID, now, error, evidence)
            if not valid:
                tx.bump_rate(account.id, FAILED, _window(now))
            self._authz_done(tx, authz, valid=valid, now=now, error=error)
            tx.audit(
                AuditEntry(
                    "acme.challenge.valid" if valid else "acme.challenge.invalid",
                    "system",
                    "acme_challenge",
                    challenge.id,
                    {
                        "type": challenge.type,
                        "identifier": identifier.as_dict(),
                        "wildcard": authz.wildcard,
                        "order_id": authz.order_id,
                        "evidence": evidence,
                        "error": error,
                    },
                ),
                now,
            )
        return replace(
            challenge,
            status=m.VALID if valid else m.INVALID,
            validated=now if valid else None,
            error=error,
        )

    def _probe(
        self, challenge: m.Challenge, identifier: m.Identifier, key_auth: str
    ) -> validation.Evidence:
        name = identifier.value
        if challenge.type == m.HTTP_01:
            return self.probes.http(
                self.va, name, ch.http01_path(challenge.token), key_auth, exact=True
            )
        if challenge.type == m.DNS_01:
            return self.probes.dns(
                self.va, name, ch.dns01_name(identifier), ch.dns01_value(key_auth)
            )
        return self.probes.tls_alpn(self.va, name, key_auth)

    def _authz_done(
        self,
        tx: AcmeTx,
        authz: m.Authorization,
        *,
        valid: bool,
        now: dt.datetime,
        error: Mapping[str, Any] | None = None,
    ) -> None:
        tx.set_authz_status(
            authz.id,
            m.VALID if valid else m.INVALID,
            now,
            now + self.settings.valid_authz_lifetime if valid else None,
        )
        if valid:
            self._settle_order(tx, authz.order_id, now)
        else:
            tx.move_order(authz.order_id, m.PENDING, m.INVALID, now, error=error)

    @staticmethod
    def _settle_order(tx: AcmeTx, order_id: str, now: dt.datetime, *, valid: bool = True) -> None:
        """After an authorization changed: ready when all are valid, invalid when one failed."""
        if valid:
            tx.ready_if_all_valid(order_id, now)
            return
        tx.move_order(order_id, m.PENDING, m.INVALID, now)
        tx.move_order(order_id, m.READY, m.INVALID, now)

    # -- finalization -----------------------------------------------------------------------

    @staticmethod
    def _read_csr(csr_der: bytes) -> tuple[bytes, set[tuple[str, str]]]:
        """The CSR's key (SPKI DER) and names; badCSR when it cannot be read."""
        csr = load_csr(csr_der)
        try:
            csr_key = csr.public_key()
            dns, ips = csr_names(csr)
            names = {("dns", n.lower().rstrip(".")) for n in dns}
            names |= {("ip", str(ipaddress.ip_address(a))) for a in ips}
        except ValueError as exc:
            raise BadCSR(f"The CSR cannot be read ({exc}).") from None
        return _spki(csr_key), names

    def _match_csr(
        self, order: m.Order, account: m.Account, csr_key: bytes, asked: set[tuple[str, str]]
    ) -> None:
        if csr_key == _spki(self._key(account)):
            raise BadCSR(
                "The CSR's key is the account key; a certificate key must differ from the"
                " ACME account key (RFC 8555 section 11.1).",
                hint="Make a new key for the certificate.",
            )
        ordered = {(i.type, i.value) for i in order.identifiers}
        if asked != ordered:
            extra = sorted(v for _, v in asked - ordered)
            missing = sorted(v for _, v in ordered - asked)
            parts = []
            if extra:
                parts.append("names the order does not have: " + ", ".join(extra))
            if missing:
                parts.append("lacks the order's names: " + ", ".join(missing))
            raise BadCSR(
                "The CSR must name exactly the order's identifiers; it " + "; ".join(parts) + ".",
            )

    def _back_to_ready(self, order: m.Order, exc: PadlockError) -> BadCSR:
        """A CSR refused by the issuer's checks: the order is ready again for a better one."""
        with self.store.transaction() as tx:
            tx.move_order(order.id, m.PROCESSING, m.READY, self.clock())
        return BadCSR(exc.message, hint=exc.hint)

    def finalize(self, d: Directory, jws: jwslib.JWS, url: str, order_id: str) -> m.Order:
        """The CSR is read only after the request is authenticated (signature, nonce, account,
        the order's owner) and the order is ready: nobody else can make the server parse one."""

        def work(tx: AcmeTx, nonce_key: str, now: dt.datetime) -> tuple[m.Order, m.Account, bytes]:
            account = self._authenticate(tx, d, jws, nonce_key, now)
            order = self._own_order(tx, d, account, order_id)
            status = m.order_status(order, now)
            if status != m.READY:
                why = (
                    f"The order expired at {m.rfc3339(order.expires)}."
                    if status == m.INVALID and order.status != m.INVALID
                    else f"The order is {status}, not ready"
                    + (
                        ": complete its authorizations first."
                        if status == m.PENDING
                        else "; only a ready order can be finalized."
                    )
                )
                raise OrderNotReady(why)
            csr_der = m.parse_finalize(jws.payload_json())
            self._match_csr(order, account, *self._read_csr(csr_der))
            if not tx.move_order(order.id, m.READY, m.PROCESSING, now, csr=csr_der):
                raise OrderNotReady("The order is being finalized already.")
            return replace(order, status=m.PROCESSING), account, csr_der

        order: m.Order
        account: m.Account
        csr_der: bytes
        order, account, csr_der = self._run(jws, url, work)
        actor = f"acme:{account.id}"
        if not PROFILES[order.profile].needs_organization:
            return self._issue(order, csr_der, actor, None)
        # Issued after review: refuse a bad CSR now, not after the review. (The issuer's
        # checks run outside the transaction: they read the database themselves.)
        request = IssueRequest(
            csr_der, order.profile, domain_control_shown=True, organization=_PENDING_ORG
        )
        try:
            self.issuer.check(request)
        except _CSR_REFUSALS as exc:
            raise self._back_to_ready(order, exc) from None
        now = self.clock()
        with self.store.transaction() as tx:
            tx.audit(
                AuditEntry(
                    "acme.order.awaiting_review",
                    actor,
                    "acme_order",
                    order.id,
                    {"profile": order.profile},
                ),
                now,
            )
        return order  # stays processing until a reviewer approves (complete_reviewed_order)

    def _issue(
        self,
        order: m.Order,
        csr_der: bytes,
        actor: str,
        organization: certs.Organization | None,
    ) -> m.Order:
        request = IssueRequest(
            csr_der,
            order.profile,
            actor=actor,
            request_id=f"acme-order:{order.id}",
            domain_control_shown=True,
            organization=organization,
        )
        try:
            issued = self.issuer.issue(request)
        except _CSR_REFUSALS as exc:
            # Refused before anything was reserved: the order is ready again for a better CSR.
            raise self._back_to_ready(order, exc) from None
        except PadlockError as exc:
            now = self.clock()
            with self.store.transaction() as tx:
                tx.move_order(order.id, m.PROCESSING, m.INVALID, now, error=exc.to_problem())
                tx.audit(
                    AuditEntry(
                        "acme.order.invalid",
                        actor,
                        "acme_order",
                        order.id,
                        {"error": exc.to_problem()},
                    ),
                    now,
                )
            raise
        serial_hex = issued.record.serial_hex
        # No event of its own: the issuer's certificate.issued event, with request_id
        # acme-order:<id>, is the record of this order becoming valid.
        with self.store.transaction() as tx:
            tx.move_order(order.id, m.PROCESSING, m.VALID, self.clock(), cert_serial=serial_hex)
        return replace(order, status=m.VALID, cert_serial=serial_hex)

    # -- review (ov through ACME) -----------------------------------------------------------

    def orders_awaiting_review(self) -> list[m.Order]:
        profiles = [p.name for p in PROFILES.values() if p.needs_organization]
        with self.store.transaction(write=False) as tx:
            return tx.orders_awaiting_review(profiles)

    def complete_reviewed_order(
        self, order_id: str, organization: certs.Organization, reviewer: str
    ) -> m.Order:
        """The review console's hook: a reviewer verified the organization; issue now."""
        order, csr = self._awaiting_review(order_id)
        return self._issue(order, csr, f"reviewer:{reviewer}", organization)

    def reject_reviewed_order(self, order_id: str, reason: str, reviewer: str) -> m.Order:
        order, _csr = self._awaiting_review(order_id)
        now = self.clock()
        error = Unauthorized(f"The reviewer rejected the order: {reason}").to_problem()
        with self.store.transaction() as tx:
            if not tx.move_order(order.id, m.PROCESSING, m.INVALID, now, error=error):
                raise Conflict(f"Order {order_id} is no longer waiting for review.")
            tx.audit(
                AuditEntry(
                    "acme.order.rejected",
                    f"reviewer:{reviewer}",
                    "acme_order",
                    order.id,
                    {"reason": reason},
                ),
                now,
            )
        return replace(order, status=m.INVALID, error=error)

    def _awaiting_review(self, order_id: str) -> tuple[m.Order, bytes]:
        with self.store.transaction(write=False) as tx:
            order = tx.order(order_id)
            csr = tx.order_csr(order_id)
        if order is None:
            raise NotFound(f"There is no ACME order {order_id}.")
        if not PROFILES[order.profile].needs_organization or order.status != m.PROCESSING:
            raise Conflict(f"ACME order {order_id} is {order.status}, not waiting for review.")
        if csr is None:  # pragma: no cover - processing orders always keep their CSR
            raise Conflict(f"ACME order {order_id} has no CSR.")
        return order, csr

    # -- certificates -----------------------------------------------------------------------

    def certificate(
        self, d: Directory, jws: jwslib.JWS, url: str, serial_hex: str, alternate: int
    ) -> CertificateResult:
        def work(tx: AcmeTx, nonce_key: str, now: dt.datetime) -> None:
            account = self._authenticate(tx, d, jws, nonce_key, now)
            order = tx.order_by_cert(serial_hex)
            if order is None or order.directory != d.name:
                raise NotFound(f"There is no certificate {serial_hex} here.")
            if order.account_id != account.id:
                raise Unauthorized("This certificate was ordered by another account.")

        self._run(jws, url, work)
        record = self.certificates.get_certificate(int(serial_hex, 16))
        if record is None or record.der is None:
            raise NotFound(f"There is no certificate {serial_hex} here.")
        if alternate not in CHAINS:
            raise NotFound(f"There is no alternate chain {alternate}.")
        issued = self.issuer.package(record)
        if alternate == 1:  # the same chain with the root: for pinning and stapling setups
            issued = replace(issued, chain_pem=issued.chain_pem + issued.root_pem)
        return CertificateResult(issued, alternates=tuple(c for c in CHAINS if c != alternate))

    # -- revocation -------------------------------------------------------------------------

    def _revocable(
        self, d: Directory, req: m.Revocation
    ) -> tuple[x509.Certificate, CertificateRecord]:
        """The certificate a revokeCert names, issued by this CA under this directory."""
        try:
            cert = x509.load_der_x509_certificate(req.certificate_der)
        except ValueError:
            raise Malformed("'certificate' is not a DER certificate.") from None
        record = self.certificates.get_certificate(cert.serial_number)
        if record is None or record.der != req.certificate_der:
            raise NotFound("This CA did not issue that certificate.")
        if Hierarchy(record.hierarchy) is not d.hierarchy:
            raise NotFound("That certificate was issued under the other directory.")
        return cert, record

    def revoke(self, d: Directory, jws: jwslib.JWS, url: str) -> CertificateRecord:
        """RFC 8555 7.6: by the certificate's key (jwk) or by an account (kid). The request is
        authenticated (signature, nonce, account) before its certificate is read."""

        def work(
            tx: AcmeTx, nonce_key: str, now: dt.datetime
        ) -> tuple[str, int, CertificateRecord]:
            if jws.jwk is not None:
                key = jwslib.public_key_from_jwk(jws.jwk)
                jwslib.verify(jws, key)
                self._use_nonce(tx, nonce_key, now)
                req = m.parse_revocation(jws.payload_json())
                cert, record = self._revocable(d, req)
                if _spki(key) != _spki(cert.public_key()):
                    raise Unauthorized("The JWS key is not the certificate's key.")
                return "acme:certificate-key", req.reason, record
            account = self._authenticate(tx, d, jws, nonce_key, now)
            req = m.parse_revocation(jws.payload_json())
            _cert, record = self._revocable(d, req)
            actor = f"acme:{account.id}"
            order = tx.order_by_cert(record.serial_hex)
            if order is not None and order.account_id == account.id:
                return actor, req.reason, record
            names = {n.removeprefix("*.") for n in record.names}
            if tx.valid_identifiers(account.id, sorted(names), now) >= names:
                return actor, req.reason, record
            raise Unauthorized(
                "The account neither ordered this certificate nor holds valid"
                " authorizations for all its names."
            )

        actor: str
        reason: int
        record: CertificateRecord
        actor, reason, record = self._run(jws, url, work)
        result = self._revoke(record.serial, reason, actor, self.clock())
        if isinstance(result, CertificateRecord):
            return result
        return self.certificates.get_certificate(record.serial) or record

    # -- renewal information (RFC 9773) -----------------------------------------------------

    def renewal_info(self, cert_id: str) -> tuple[dt.datetime, dt.datetime, int]:
        """(window start, window end, Retry-After seconds) for a certificate identifier."""
        aki, serial = m.parse_cert_id(cert_id)
        record = self.certificates.get_certificate(serial)
        if record is None or record.der is None:
            raise NotFound("This CA knows no such certificate.")
        signer = self.issuer.signer_for(Hierarchy(record.hierarchy))
        ski = signer.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        if ski.value.digest != aki:
            raise NotFound("This CA knows no such certificate (the issuer key id differs).")
        revoked = record.revoked_at if record.state is CertState.REVOKED else None
        start, end = m.renewal_window(record.not_before, record.not_after, revoked)
        return start, end, 6 * 3600


_CSR_REFUSALS = (BadCSR, WeakKey, UnsupportedKey, PolicyError, RejectedIdentifier)

# The placeholder organization used only to run the issuer's checks on an ov CSR before
# review; the certificate is issued with the organization the reviewer verified.
_PENDING_ORG = certs.Organization("(verified at review)", None, None, "ZZ")


def pending_review(service: AcmeService) -> Iterator[m.Order]:
    """Orders waiting for a reviewer (ov through ACME), oldest first."""
    yield from sorted(service.orders_awaiting_review(), key=lambda o: o.created_at)
