"""ACME authorizations and challenges (RFC 8555 sections 7.5 and 8, RFC 8737, RFC 8738):
reading and deactivating authorizations, answering a challenge, and validating it in the
background (CAA first, then the probe), with the order settled by the outcome."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from padlock.acme import challenges as ch
from padlock.acme import jws as jwslib
from padlock.acme import messages as m
from padlock.acme import persist
from padlock.ca import validation
from padlock.ca.acmeserver.core import AcmeCore, log, rate_window
from padlock.ca.acmeserver.model import FAILED, ChallengeResult, Directory
from padlock.ca.audit import AuditEntry
from padlock.ca.mpic.coordinator import CheckSpec, NotCorroborated
from padlock.ca.ports.acme_server import AcmeTx
from padlock.errors import Malformed, NotFound, PadlockError, Unauthorized
from padlock.pki.profiles import reuse_days
from padlock.pki.schedule import rules_day


def _problem_with_identifier(exc: PadlockError, identifier: m.Identifier) -> dict[str, Any]:
    doc = exc.to_problem()
    doc["subproblems"] = [
        {"type": doc["type"], "detail": exc.message, "identifier": identifier.as_dict()}
    ]
    return doc


def _check_of(
    challenge: m.Challenge,
    identifier: m.Identifier,
    key_auth: str,
    account_url: str,
    expected: persist.Expected | None,
) -> CheckSpec:
    """The challenge as a remote perspective is asked to check it (``ca/checks.py``)."""
    name = identifier.value
    params: dict[str, Any]
    if challenge.type == m.HTTP_01:
        params = {"name": name, "path": ch.http01_path(challenge.token), "expected": key_auth}
    elif challenge.type in (m.DNS_01, m.DNS_ACCOUNT_01):
        qname = (
            ch.dns01_name(identifier)
            if challenge.type == m.DNS_01
            else ch.dns_account_name(identifier, account_url)
        )
        params = {"name": name, "qname": qname, "expected": ch.dns01_value(key_auth)}
    elif challenge.type == m.DNS_PERSIST_01 and expected is not None:
        params = {
            "name": name,
            "qname": persist.persist_name(name),
            "issuers": list(expected.issuers),
            "account_url": expected.account_url,
            "thumbprints": list(expected.thumbprints),
            "hash_prefix": expected.hash_prefix,
            "wildcard": expected.wildcard,
            "now": expected.now.isoformat(),
        }
    else:
        params = {"name": name, "key_authorization": key_auth}
    return CheckSpec(challenge.type, params)


def _until(evidence: list[dict[str, Any]]) -> dt.datetime | None:
    """The persistUntil of the dns-persist-01 record that validated, if it had one."""
    for item in evidence:
        if item.get("persist_until"):
            return dt.datetime.fromisoformat(item["persist_until"])
    return None


class AcmeChallenges(AcmeCore):
    """The authorization and challenge URLs, and the validation they start."""

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
            prior = tx.prior_thumbprints(account.id) if account else []
        if challenge is None or authz is None or account is None:
            raise NotFound(f"There is no challenge {challenge_id}.")
        if challenge.status != m.PROCESSING:
            return challenge
        identifier = authz.identifier
        evidence: list[dict[str, Any]] = []
        error: dict[str, Any] | None = None
        try:
            self._probe_all(challenge, authz, account, prior, evidence)
        except NotCorroborated as exc:
            evidence.append(exc.record)
            error = _problem_with_identifier(exc, identifier)
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
                tx.bump_rate(account.id, FAILED, rate_window(now))
            self._authz_done(tx, authz, valid=valid, now=now, error=error, until=_until(evidence))
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

    def _probe_all(
        self,
        challenge: m.Challenge,
        authz: m.Authorization,
        account: m.Account,
        prior: list[str],
        evidence: list[dict[str, Any]],
    ) -> None:
        """CAA, then the challenge's probe, from this VA and, at the same time, from every
        remote perspective (BR 3.2.2.9); each one's evidence is appended to ``evidence``."""
        identifier = authz.identifier
        account_uri = self.account_url(account)
        key_auth = ch.key_authorization(challenge.token, account.thumbprint)
        expected = (
            self._persist_expected(authz, account, prior)
            if challenge.type == m.DNS_PERSIST_01
            else None
        )
        checks = [_check_of(challenge, identifier, key_auth, account_uri, expected)]
        caa = {"name": identifier.value, "wildcard": authz.wildcard, "account_uri": account_uri}
        if identifier.type == "dns":
            caa |= {"method": challenge.type, "identities": list(self.va.caa_identities)}
            checks.insert(0, CheckSpec("caa", caa))

        def primary() -> None:
            # CAA first (RFC 8659; BR 3.2.2.8): a CA that may not issue does not contact
            # the applicant's server at all. RFC 8657: the account's URL and the challenge
            # type meet accounturi and validationmethods.
            if identifier.type == "dns":
                ev = self.probes.caa(
                    self.va,
                    identifier.value,
                    wildcard=authz.wildcard,
                    account_uri=account_uri,
                    method=challenge.type,
                )
                evidence.append(ev.as_dict())
            evidence.append(self._probe(challenge, authz, account, expected).as_dict())

        _none, record = self.corroborated(checks, primary)
        if record is not None:
            evidence.append(record)

    def _persist_expected(
        self, authz: m.Authorization, account: m.Account, prior: list[str]
    ) -> persist.Expected:
        """What dns-persist-01 accepts for this account (draft-ietf-acme-dns-persist-02 4.2)."""
        if account.status != m.VALID:  # section 4.2 rule 1: live account state
            raise Unauthorized(f"The account is {account.status} (draft section 4.2).")
        return persist.Expected(
            issuers=self.settings.issuer_domain_names,
            account_url=self.account_url(account),
            thumbprints=(account.thumbprint, *prior),
            hash_prefix=persist.account_hash_prefix(self.directories[account.directory].urls.root),
            wildcard=authz.wildcard,
            now=self.clock(),
        )

    def _probe(
        self,
        challenge: m.Challenge,
        authz: m.Authorization,
        account: m.Account,
        expected: persist.Expected | None,
    ) -> validation.Evidence:
        identifier = authz.identifier
        name = identifier.value
        key_auth = ch.key_authorization(challenge.token, account.thumbprint)
        if challenge.type == m.HTTP_01:
            return self.probes.http(
                self.va, name, ch.http01_path(challenge.token), key_auth, exact=True
            )
        if challenge.type == m.DNS_01:
            return self.probes.dns(
                self.va, name, ch.dns01_name(identifier), ch.dns01_value(key_auth)
            )
        url = self.account_url(account)
        if challenge.type == m.DNS_ACCOUNT_01:
            qname = ch.dns_account_name(identifier, url)
            return self.probes.dns_account(self.va, name, qname, ch.dns01_value(key_auth))
        if challenge.type == m.DNS_PERSIST_01 and expected is not None:
            return self.probes.dns_persist(self.va, name, persist.persist_name(name), expected)
        return self.probes.tls_alpn(self.va, name, key_auth)

    def _reuse(self, tx: AcmeTx, authz: m.Authorization, now: dt.datetime) -> int:
        """BR 4.2.1's reuse days for issuance today; by the rules of a later day in the test
        directory when its hierarchy's clock runs ahead (one order read, only then)."""
        day = now.date()
        offset = self.settings.test_clock_offset
        if offset:
            order = tx.order(authz.order_id)
            if order is not None:
                day = rules_day(self.directories[order.directory].hierarchy, day, offset)
        return reuse_days(day)

    def _authz_done(
        self,
        tx: AcmeTx,
        authz: m.Authorization,
        *,
        valid: bool,
        now: dt.datetime,
        error: Mapping[str, Any] | None = None,
        until: dt.datetime | None = None,
    ) -> None:
        # Never past BR 4.2.1's reuse window (finalize checks it again for its day), nor past
        # a dns-persist-01 record's persistUntil (draft-ietf-acme-dns-persist-02 4.1 item 5).
        expires: dt.datetime | None = None
        if valid:
            reuse = dt.timedelta(days=self._reuse(tx, authz, now))
            expires = now + min(self.settings.valid_authz_lifetime, reuse)
            if until is not None:
                expires = min(expires, until)
        tx.set_authz_status(authz.id, m.VALID if valid else m.INVALID, now, expires)
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
