"""Revocation: one use case to revoke, CRLs per CA, and the OCSP responder's answers.

Every front end revokes through :meth:`Revoker.revoke` (the CLI, the REST API,
ACME ``revokeCert``, the review console)::

    revoker = Revoker(RevocationRepository(store), crls=..., ocsp=...)
    record = revoker.revoke(serial, "keyCompromise", actor="acme:acct-1", now=now)

It raises :class:`~padlock.errors.NotFound` (no such certificate, or one reserved
but never issued), :class:`~padlock.errors.AlreadyRevoked` and
:class:`~padlock.errors.BadRevocationReason`. The revocation, the blocked key (for
keyCompromise), the dropped OCSP responses and the bumped generation are one
transaction with its audit event; the CRL and the OCSP response are then signed
again at once when the Revoker was given a :class:`CrlService` and an
:class:`OcspResponder` (else the servers' refresher does it within seconds).

A keyCompromise revocation blocks that key (its SPKI fingerprint) from ever being
certified again and, in the same transaction, revokes every other unexpired certificate
of that key, each with its own audit event (BR 4.9.1.1: the CA revokes within 24 hours
when it learns of a key compromise; Let's Encrypt does the same). A certificate of that
key reserved before and completed after is refused at completion (``Issuer.issue``).

This module talks to storage only through
:class:`~padlock.ca.ports.revocation.RevocationStore`, and to keys only through the
signers of :mod:`padlock.ca.signer`.
"""

from __future__ import annotations

import base64
import binascii
import collections
import datetime as dt
import hashlib
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from padlock.ca.audit import AuditEntry
from padlock.ca.crl_shards import ShardedCrls, sign_crl
from padlock.ca.ports.revocation import CachedResponse, RevocationStore, StoredCrl
from padlock.ca.records import CertificateRecord, CertState
from padlock.ca.signer import OcspSigner, Signer
from padlock.errors import (
    AlreadyRevoked,
    BadRevocationReason,
    Malformed,
    NotFound,
    PadlockError,
    Unauthorized,
)
from padlock.pki import crl_ocsp, crl_shards
from padlock.pki.crl_ocsp import CertStatus, OcspQuery, Reason, SingleStatus

log = logging.getLogger("padlock.revocation")

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- revoking --------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyProof:
    """A revocation asked for by whoever holds the certificate's private key.

    The key signs :func:`padlock.pki.crl_ocsp.revocation_statement` over the
    certificate's SHA-256, the reason, a timestamp and the CA's base URL; the key
    never leaves the client.
    """

    certificate: bytes  # PEM or DER
    reason: str
    timestamp: str  # RFC 3339 UTC
    signature: bytes


class Revoker:
    """The one revocation use case."""

    def __init__(
        self,
        store: RevocationStore,
        crls: CrlService | None = None,
        ocsp: OcspResponder | None = None,
        clock: Clock = utcnow,
        shards: ShardedCrls | None = None,
    ) -> None:
        self._store = store
        self._crls = crls
        self._ocsp = ocsp
        self._clock = clock
        self._shards = shards

    def revoke(
        self,
        serial: int,
        reason: str | int | None,
        actor: str,
        now: dt.datetime | None = None,
        *,
        subscriber: bool = False,
    ) -> CertificateRecord:
        """Revoke certificate ``serial`` for ``reason`` (a name or an RFC 5280 code).

        ``subscriber``: the request comes from the certificate's holder (ACME, REST,
        the site owner's CLI), who may not use privilegeWithdrawn (the CA's reason).
        """
        parsed = self.check_reason(reason, subscriber=subscriber)
        now = now or self._clock()
        record = self._store.get_certificate(serial)
        if record is None:
            raise NotFound(f"There is no certificate with serial {serial:x} in this CA.")
        if record.state is CertState.REVOKED:
            raise AlreadyRevoked(
                f"Certificate {serial:x} is already revoked"
                f" ({record.revocation_reason or 'unspecified'},"
                f" {record.revoked_at:%Y-%m-%d %H:%M} UTC)."
                if record.revoked_at
                else f"Certificate {serial:x} is already revoked."
            )
        if record.state is not CertState.ISSUED:
            raise NotFound(
                f"Certificate {serial:x} was reserved but never issued ({record.state.value});"
                " there is nothing to revoke (OCSP already answers revoked for it)."
            )
        block = parsed.name == "keyCompromise"
        event = AuditEntry(
            "certificate.revoked",
            actor,
            "certificate",
            format(serial, "x"),
            {
                "reason": parsed.name,
                "reason_code": parsed.code,
                "key_blocked": block,
                "key_fingerprint": record.key_fingerprint if block else None,
            },
        )
        if block:
            revoked = self._store.revoke_key(serial, now, event)
            if len(revoked) > 1:
                log.info(
                    "key of certificate %x revoked as compromised: %d more certificates of"
                    " the key revoked (%s)",
                    serial,
                    len(revoked) - 1,
                    ", ".join(r.serial_hex for r in revoked[1:]),
                )
        else:
            revoked = [self._store.revoke(serial, parsed.name, now, event, False)]
        self._publish(revoked, now)
        return revoked[0]

    @staticmethod
    def check_reason(reason: str | int | None, *, subscriber: bool = False) -> Reason:
        parsed = crl_ocsp.parse_reason(reason)
        if subscriber and not parsed.subscriber_may:
            raise BadRevocationReason(
                f"Only the CA revokes for {parsed.name}.",
                hint="Use unspecified, keyCompromise, superseded, cessationOfOperation or"
                " affiliationChanged.",
            )
        return parsed

    def _publish(self, records: Sequence[CertificateRecord], now: dt.datetime) -> None:
        """Sign the OCSP responses and the CRLs the certificates name again now: only its
        shard for a certificate that names one, else the issuer's full CRL. On failure the
        refresher catches up."""
        try:
            if self._ocsp is not None:
                for record in records:
                    self._ocsp.refresh(record.serial, now)
            full: dict[str, None] = {}
            sharded = self._shards.issuers if self._shards is not None else ()
            for r in records:
                shard = None if r.der is None else crl_shards.shard_named_in(r.der, r.issuer)
                if shard is not None and self._shards is not None and r.issuer in sharded:
                    self._shards.regenerate(r.issuer, shard, now)
                else:
                    full[r.issuer] = None
            for issuer in full:
                if self._crls is not None and self._crls.can_sign(issuer):
                    self._crls.regenerate(issuer, now)
        except PadlockError as exc:
            log.warning(
                "certificate %x is revoked; publishing its new status failed (%s);"
                " the background refresher will retry",
                records[0].serial,
                exc,
            )

    def revoke_certificate(
        self,
        certificate: bytes,
        reason: str | int | None,
        actor: str,
        now: dt.datetime | None = None,
        *,
        subscriber: bool = False,
    ) -> CertificateRecord:
        """Revoke the certificate given as PEM or DER; it must be one this CA issued."""
        cert = load_certificate(certificate)
        record = self._own(cert)
        return self.revoke(record.serial, reason, actor, now, subscriber=subscriber)

    def _own(self, cert: x509.Certificate) -> CertificateRecord:
        record = self._store.get_certificate(cert.serial_number)
        if record is None or record.der != cert.public_bytes(Encoding.DER):
            raise NotFound(
                f"This CA did not issue the certificate with serial {cert.serial_number:x}.",
                hint="Revoke it at the CA that issued it (its issuer is"
                f" {cert.issuer.rfc4514_string()}).",
            )
        return record

    def revoke_request(
        self,
        request_id: str,
        reason: str | int | None,
        actor: str,
        now: dt.datetime | None = None,
    ) -> list[CertificateRecord]:
        """Revoke every issued certificate of an enrollment request (its id is the capability)."""
        self.check_reason(reason, subscriber=True)
        records = self._store.certificates_for_request(request_id)
        if not records:
            raise NotFound("There is no certificate for that request.")
        issued = [r for r in records if r.state is CertState.ISSUED]
        if not issued:
            if any(r.state is CertState.REVOKED for r in records):
                raise AlreadyRevoked("The request's certificate is already revoked.")
            raise NotFound("The request has no issued certificate to revoke.")
        now = now or self._clock()
        revoked: list[CertificateRecord] = []
        for r in issued:
            try:
                revoked.append(self.revoke(r.serial, reason, actor, now, subscriber=True))
            except AlreadyRevoked:  # with an earlier one of the same compromised key
                continue
        return revoked

    def revoke_with_key_proof(
        self, proof: KeyProof, audience: str, actor: str, now: dt.datetime | None = None
    ) -> CertificateRecord:
        """Revoke on a request signed by the certificate's own key (see :class:`KeyProof`)."""
        now = now or self._clock()
        cert = load_certificate(proof.certificate)
        self.check_reason(proof.reason, subscriber=True)
        when = crl_ocsp.parse_timestamp(proof.timestamp)
        if abs(now - when) > crl_ocsp.STATEMENT_MAX_AGE:
            raise Unauthorized(
                f"The signed request's timestamp {proof.timestamp} is more than"
                f" {int(crl_ocsp.STATEMENT_MAX_AGE.total_seconds() // 60)} minutes from the"
                " CA's clock.",
                hint="Check the clock of the machine that signed it, and sign again.",
            )
        der = cert.public_bytes(Encoding.DER)
        statement = crl_ocsp.revocation_statement(
            hashlib.sha256(der).hexdigest(), proof.reason, proof.timestamp, audience
        )
        crl_ocsp.verify_statement(cert.public_key(), statement, proof.signature)
        record = self._own(cert)
        return self.revoke(record.serial, proof.reason, actor, now, subscriber=True)


def load_certificate(data: bytes) -> x509.Certificate:
    """A certificate from PEM or DER; Malformed otherwise (never a foreign exception)."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise Malformed(f"That is not a readable certificate ({exc}).") from None


def decode_signature(text: str) -> bytes:
    """Base64 or base64url, padded or not; Malformed otherwise."""
    cleaned = text.strip().replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        raise Malformed("The signature is not valid base64.") from None


# --- CRLs ------------------------------------------------------------------------------------


FULL_CRL_LAG = dt.timedelta(hours=1)  # BR 4.9.7 allows 24 hours


class CrlService:
    """Builds, signs and stores the full CRL of each CA whose key is online.

    Safe with several workers: the stored CRL is replaced by compare-and-set on
    its number, so two workers refreshing at once store one CRL (the other's work
    is dropped) and CRL numbers only grow.
    """

    def __init__(
        self,
        store: RevocationStore,
        signers: Iterable[Signer],
        days: Mapping[str, int] | None = None,
        lagging: Callable[[str], bool] | None = None,
    ) -> None:
        self._store = store
        self._signers = {s.issuer: s for s in signers}
        self._days = dict(days or {})
        self._lock = threading.Lock()
        # Issuers with CRL shards: their full CRL (for certificates from before the shards)
        # follows revocations at most every FULL_CRL_LAG, not at once (it can be large).
        self._lagging = lagging

    @property
    def issuers(self) -> tuple[str, ...]:
        return tuple(self._signers)

    def replace_signers(self, signers: Iterable[Signer]) -> None:
        """Sign for these CAs from now on (``ca new-issuer`` added one)."""
        self._signers = {s.issuer: s for s in signers}

    def can_sign(self, issuer: str) -> bool:
        return issuer in self._signers

    def days_for(self, issuer: str) -> int:
        return self._days.get(issuer, crl_ocsp.CRL_DAYS)

    def regenerate(
        self,
        issuer: str,
        now: dt.datetime,
        *,
        signer: Signer | None = None,
        days: int | None = None,
    ) -> StoredCrl:
        """Build, sign and store a new CRL for ``issuer``, its number allocated in the
        database (higher than any before it); stored only over the CRL read before the
        number was allocated, so the stored numbers only grow."""
        signer = signer or self._signers.get(issuer)
        if signer is None:
            raise NotFound(f"There is no online CA {issuer!r} to sign a CRL.")
        with self._lock:  # one builder per process at a time: a large CRL is memory-hungry
            for _attempt in range(5):
                state = self._store.crl_state(issuer)
                number = self._store.allocate_crl_number(issuer)  # after the state is read
                generation = self._store.generation(issuer)  # read before the entries
                this_update, next_update = crl_ocsp.crl_times(now, days or self.days_for(issuer))
                entries = list(self._store.revoked_entries(issuer, this_update))
                der = sign_crl(
                    signer, number, (this_update, next_update), crl_shards.revoked_list(entries)
                )
                crl = StoredCrl(
                    issuer, number, generation, this_update, next_update, len(entries), der
                )
                if self._store.save_crl(crl, None if state is None else state[0]):
                    log.info("CRL %s number %d signed (%d entries)", issuer, number, len(entries))
                    return crl
                # Another process stored one meanwhile: use it if it is as new as ours.
                stored = self._store.get_crl(issuer)
                if stored is not None and stored.generation >= generation:
                    return stored
        raise PadlockError(f"Could not store a new CRL for {issuer}: too many concurrent writers.")

    def needs_refresh(self, issuer: str, now: dt.datetime) -> bool:
        state = self._store.crl_state(issuer)
        if state is None:
            return True
        _number, generation, this_update, next_update = state
        if crl_ocsp.half_way(this_update, next_update, now):
            return True
        lags = self._lagging is not None and self._lagging(issuer)
        if lags and now < this_update + crl_ocsp.BACKDATE + FULL_CRL_LAG:
            return False
        return generation < self._store.generation(issuer)

    def refresh_due(self, now: dt.datetime) -> list[StoredCrl]:
        """Regenerate every online CA's CRL that is missing, stale or half-way to nextUpdate."""
        return [self.regenerate(i, now) for i in self._signers if self.needs_refresh(i, now)]

    def current(self, issuer: str, now: dt.datetime) -> StoredCrl:
        """The stored CRL; made now if there is none yet and the CA's key is online."""
        crl = self._store.get_crl(issuer)
        if crl is not None and (now < crl.next_update or not self.can_sign(issuer)):
            return crl
        if self.can_sign(issuer):
            return self.regenerate(issuer, now)
        raise NotFound(
            f"There is no CRL for {issuer} yet.",
            hint="Its key is offline: sign it with `padlock ca sign-root-crl`.",
        )


# --- OCSP ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OcspAnswer:
    """What the HTTP layer sends: the DER and how long caches may keep it."""

    der: bytes
    status: str  # "good" | "revoked" | "unknown" | "malformedRequest" | "unauthorized" | ...
    max_age: int = 0  # seconds; 0: do not cache
    this_update: dt.datetime | None = None
    next_update: dt.datetime | None = None

    @property
    def cacheable(self) -> bool:
        return self.max_age > 0


MALFORMED = OcspAnswer(crl_ocsp.MALFORMED_REQUEST, "malformedRequest")
UNAUTHORIZED = OcspAnswer(crl_ocsp.UNAUTHORIZED, "unauthorized")
INTERNAL_ERROR = OcspAnswer(crl_ocsp.INTERNAL_ERROR, "internalError")
TRY_LATER = OcspAnswer(crl_ocsp.TRY_LATER, "tryLater")

MAX_AGE_CAP = 3600  # a revocation reaches HTTP caches within an hour (RFC 5019 6.2)
UNKNOWN_CACHE = dt.timedelta(minutes=5)  # in-process only: a serial may be issued later
PRESIGN_BATCH = 100  # pre-signed responses stored per transaction
LRU_SIZE = 100_000


@dataclass(frozen=True)
class _Entry:
    answer: OcspAnswer
    generation: int
    refresh_at: dt.datetime


class OcspResponder:
    """Answers OCSP requests for the issuing CAs it holds responders for.

    Pre-signed responses live in the database per (serial, hash algorithm) — the
    source of truth every worker shares — and in an in-process LRU for speed. An
    LRU entry is used only while the issuer's revocation generation (one indexed
    single-row read per request) is the one it was loaded under; a revocation in
    any process bumps it, so every worker sees the change at its next request.

    Status rules (RFC 6960 2.2, BR 4.9.10): issued -> good; revoked -> revoked
    with time and reason; reserved or abandoned (a serial drawn but never signed)
    -> revoked, reason unspecified, at the reservation time, never "good" and
    never "unknown"; a serial this issuer never used -> unknown; an issuer it
    does not serve -> unauthorized; anything unreadable -> malformedRequest.
    """

    def __init__(
        self,
        store: RevocationStore,
        responders: Iterable[OcspSigner],
        clock: Clock = utcnow,
        lru_size: int = LRU_SIZE,
    ) -> None:
        self._store = store
        self._clock = clock
        self._lru: collections.OrderedDict[tuple[int, str], _Entry] = collections.OrderedDict()
        self._lru_size = lru_size
        self._lock = threading.Lock()
        self._by_hash: dict[tuple[str, bytes, bytes], OcspSigner] = {}
        self._by_issuer: dict[str, OcspSigner] = {}
        self.replace_responders(responders)

    def replace_responders(self, responders: Iterable[OcspSigner]) -> None:
        by_hash: dict[tuple[str, bytes, bytes], OcspSigner] = {}
        by_issuer: dict[str, OcspSigner] = {}
        for responder in responders:
            by_issuer[responder.issuer] = responder
            for alg, (name_hash, key_hash) in crl_ocsp.issuer_hashes(
                responder.issuer_certificate
            ).items():
                by_hash[(alg, name_hash, key_hash)] = responder
        self._by_hash, self._by_issuer = by_hash, by_issuer

    @property
    def responders(self) -> Mapping[str, OcspSigner]:
        return dict(self._by_issuer)

    def serves(self, issuer: str) -> bool:
        return issuer in self._by_issuer

    # -- the hot path -----------------------------------------------------------------------

    def _resolve(self, der: bytes) -> OcspQuery | OcspAnswer:
        try:
            query = crl_ocsp.parse_ocsp_request(der)
        except Malformed:
            return MALFORMED
        if (query.hash_alg, query.issuer_name_hash, query.issuer_key_hash) not in self._by_hash:
            return UNAUTHORIZED
        return query

    def cached(self, der: bytes, now: dt.datetime | None = None) -> OcspAnswer | None:
        """The answer if it needs no signature and no write (one small read); else None."""
        resolved = self._resolve(der)
        if isinstance(resolved, OcspAnswer):
            return resolved
        if resolved.nonce is not None:
            return None
        now = now or self._clock()
        responder = self._by_hash[
            (resolved.hash_alg, resolved.issuer_name_hash, resolved.issuer_key_hash)
        ]
        key = (resolved.serial, resolved.hash_alg)
        with self._lock:
            entry = self._lru.get(key)
            if entry is not None:
                self._lru.move_to_end(key)
        if entry is None or now >= entry.refresh_at:
            return None
        if entry.generation != self._store.generation(responder.issuer):
            return None
        return self._aged(entry.answer, now)

    def answer(self, der: bytes, now: dt.datetime | None = None) -> OcspAnswer:
        """The complete answer to one request; never raises (storage trouble: tryLater)."""
        resolved = self._resolve(der)
        if isinstance(resolved, OcspAnswer):
            return resolved
        now = now or self._clock()
        try:
            return self._answer(resolved, now)
        except PadlockError as exc:
            log.warning("OCSP: could not answer for serial %x: %s", resolved.serial, exc)
            return TRY_LATER

    def _answer(self, query: OcspQuery, now: dt.datetime) -> OcspAnswer:
        responder = self._by_hash[(query.hash_alg, query.issuer_name_hash, query.issuer_key_hash)]
        if query.nonce is not None:  # unique to this request: signed now, never cached
            single, _state = self._status(responder, query.serial)
            answer = self._sign(responder, query, single, now, with_nonce=True)
            return OcspAnswer(answer.der, answer.status, 0, answer.this_update, answer.next_update)
        key = (query.serial, query.hash_alg)
        generation = self._store.generation(responder.issuer)  # before any status is read
        with self._lock:
            entry = self._lru.get(key)
        if entry is not None and entry.generation == generation and now < entry.refresh_at:
            return self._aged(entry.answer, now)
        stored = self._store.get_ocsp(query.serial, query.hash_alg)
        if stored is not None and stored.issuer == responder.issuer and now < stored.refresh_at():
            answer = OcspAnswer(
                stored.der,
                _status_of(stored.cert_state),
                1,
                stored.this_update,
                stored.next_update,
            )
            self._remember(key, _Entry(answer, generation, stored.refresh_at()))
            return self._aged(answer, now)
        single, state = self._status(responder, query.serial)
        answer = self._sign(responder, query, single, now, with_nonce=False)
        if state is None:  # never used by this issuer: in-process only, briefly
            self._remember(key, _Entry(answer, generation, now + UNKNOWN_CACHE))
        elif state is not CertState.RESERVED:  # reserved: may be issued any moment
            saved = _to_cache(query, responder, state, answer)
            if self._store.save_ocsp(saved):
                self._remember(key, _Entry(answer, generation, saved.refresh_at()))
        else:
            return OcspAnswer(answer.der, answer.status, 0, answer.this_update, answer.next_update)
        return self._aged(answer, now)

    def _status(self, responder: OcspSigner, serial: int) -> tuple[SingleStatus, CertState | None]:
        record = self._store.get_certificate(serial) if serial > 0 else None
        return self._record_status(responder, record)

    @staticmethod
    def _record_status(
        responder: OcspSigner, record: CertificateRecord | None
    ) -> tuple[SingleStatus, CertState | None]:
        if record is None or record.issuer != responder.issuer:
            return SingleStatus(CertStatus.UNKNOWN), None
        if record.state is CertState.ISSUED:
            return SingleStatus(CertStatus.GOOD), record.state
        if record.state is CertState.REVOKED:
            return (
                SingleStatus(
                    CertStatus.REVOKED,
                    record.revoked_at or record.reserved_at,
                    record.revocation_reason,
                ),
                record.state,
            )
        # Reserved or abandoned: the serial was assigned but no certificate was signed.
        # BR 4.9.10: never "good"; and never "unknown" (Let's Encrypt's 2019 incident).
        return SingleStatus(CertStatus.REVOKED, record.reserved_at, None), record.state

    def _sign(
        self,
        responder: OcspSigner,
        query: OcspQuery,
        single: SingleStatus,
        now: dt.datetime,
        with_nonce: bool,
    ) -> OcspAnswer:
        this_update, next_update = crl_ocsp.ocsp_times(now)
        builder = crl_ocsp.ocsp_response_builder(
            query, single, responder.builder_certificate, this_update, next_update, with_nonce
        )
        der = responder.sign_response(builder)
        return OcspAnswer(der, single.status, 1, this_update, next_update)

    def _remember(self, key: tuple[int, str], entry: _Entry) -> None:
        with self._lock:
            self._lru[key] = entry
            self._lru.move_to_end(key)
            while len(self._lru) > self._lru_size:
                self._lru.popitem(last=False)

    @staticmethod
    def _aged(answer: OcspAnswer, now: dt.datetime) -> OcspAnswer:
        """Cache-Control max-age: never past nextUpdate, at most an hour (RFC 5019 6.2)."""
        if answer.next_update is None or answer.max_age == 0:
            return answer
        left = int((answer.next_update - now).total_seconds())
        max_age = max(0, min(MAX_AGE_CAP, left))
        if max_age == answer.max_age:
            return answer
        return OcspAnswer(
            answer.der, answer.status, max_age, answer.this_update, answer.next_update
        )

    # -- keeping the cache fresh ------------------------------------------------------------

    def refresh(self, serial: int, now: dt.datetime | None = None) -> None:
        """Sign and store the SHA-1 response for ``serial`` now (after a revocation)."""
        now = now or self._clock()
        record = self._store.get_certificate(serial)
        if record is None or record.issuer not in self._by_issuer:
            return
        self._presign(self._by_issuer[record.issuer], [record], now)

    def _presign(
        self, responder: OcspSigner, records: Sequence[CertificateRecord], now: dt.datetime
    ) -> int:
        """Sign the SHA-1 responses of ``records`` and store them in one transaction."""
        name_hash, key_hash = crl_ocsp.issuer_hashes(responder.issuer_certificate)["sha1"]
        generation = self._store.generation(responder.issuer)  # before any status is read
        signed: list[tuple[OcspAnswer, CachedResponse]] = []
        for record in records:
            single, state = self._record_status(responder, record)
            if state is None or state is CertState.RESERVED:
                continue
            query = OcspQuery("sha1", name_hash, key_hash, record.serial)
            answer = self._sign(responder, query, single, now, with_nonce=False)
            signed.append((answer, _to_cache(query, responder, state, answer)))
        saved = self._store.save_ocsp_many([cached for _answer, cached in signed])
        for (answer, cached), ok in zip(signed, saved, strict=True):
            if ok:
                self._remember(
                    (cached.serial, "sha1"), _Entry(answer, generation, cached.refresh_at())
                )
        return sum(saved)

    def presign(self, now: dt.datetime | None = None, limit: int = 1000) -> int:
        """Pre-sign SHA-1 responses for certificates with none or one past half-life, stored
        :data:`PRESIGN_BATCH` to a transaction (one each cost ~0.75 ms of CPU in SQLAlchemy
        and a commit, four times the signature)."""
        now = now or self._clock()
        validity = dt.timedelta(days=crl_ocsp.OCSP_RESPONSE_DAYS)
        stale_before = now - crl_ocsp.OCSP_BACKDATE - validity / 2
        done = 0
        for issuer, responder in self._by_issuer.items():
            due = self._store.ocsp_due(issuer, now, stale_before, limit - done)
            for start in range(0, len(due), PRESIGN_BATCH):
                done += self._presign(responder, due[start : start + PRESIGN_BATCH], now)
            if done >= limit:
                break
        return done


def _to_cache(
    query: OcspQuery, responder: OcspSigner, state: CertState, answer: OcspAnswer
) -> CachedResponse:
    """The stored form of ``answer``, signed by ``responder`` for a certificate in ``state``."""
    assert answer.this_update is not None and answer.next_update is not None
    return CachedResponse(
        query.serial,
        query.hash_alg,
        responder.issuer,
        state.value,
        answer.this_update,
        answer.next_update,
        answer.der,
    )


def _status_of(cert_state: str) -> str:
    return CertStatus.GOOD if cert_state == CertState.ISSUED.value else CertStatus.REVOKED


# --- everything together -----------------------------------------------------------------------


RenewResponders = Callable[[dt.datetime], Iterable[OcspSigner]]


@dataclass
class Revocation:
    """The revocation services of one process: what the front ends hold."""

    revoker: Revoker
    crls: CrlService
    ocsp: OcspResponder
    renew_responders: RenewResponders | None = None  # signer.ensure_ocsp_signers, bound
    # The issuing CAs this process holds now (the Issuer's, refreshed after ca new-issuer):
    # a CA without a responder here gets one (renew_responders) at the next tick.
    issuers: Callable[[], Iterable[Signer]] | None = None

    def _held(self) -> set[str]:
        if self.issuers is None:
            return set()
        try:
            return {s.issuer for s in self.issuers()}
        except PadlockError as exc:  # this host lacks a new issuing CA: the rest goes on
            log.warning("the issuing CAs could not be refreshed: %s", exc)
            return set()

    shards: ShardedCrls | None = None
    _seen: set[str] = field(default_factory=set)  # the issuing CAs renew_responders took up

    def tick(
        self, now: dt.datetime, presign_limit: int = 1000, *, shared: bool = True
    ) -> dict[str, int]:
        """One round of upkeep: responder certificates near their end are renewed; CRLs
        that are missing, stale or half-way to nextUpdate are signed again; OCSP
        responses are pre-signed. ``shared`` False leaves the last two (stored, so one
        process does them for all) to a process whose turn it is; responders are held in
        each process's memory, so each renews its own."""
        renewed = 0
        held = self._held()
        # A new issuing CA (with OCSP or not: its CRLs too) is taken up by renew_responders.
        if self.renew_responders is not None and (
            held != self._seen
            or any(
                crl_ocsp.responder_needs_renewal(r.certificate, now)
                for r in self.ocsp.responders.values()
            )
        ):
            self.ocsp.replace_responders(self.renew_responders(now))
            self._seen = held
            renewed = 1
        if not shared:
            return {"responders": renewed, "crls": 0, "shards": 0, "ocsp": 0}
        refreshed = self.crls.refresh_due(now)
        shards = self.shards.refresh_due(now) if self.shards is not None else 0
        signed = self.ocsp.presign(now, presign_limit)
        return {"responders": renewed, "crls": len(refreshed), "shards": shards, "ocsp": signed}
