"""ACME orders (RFC 8555 sections 7.4 and 7.4.2, RFC 9773 section 5, profiles): new orders
with their authorizations, reading one, finalization (the CSR checked and the certificate
issued) and the certificate's download."""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
from collections.abc import Sequence
from dataclasses import replace

from padlock.acme import challenges as ch
from padlock.acme import jws as jwslib
from padlock.acme import messages as m
from padlock.ca.acmeserver.core import AcmeCore, rate_window, seconds_to_next_window, spki_der
from padlock.ca.acmeserver.model import (
    CHAINS,
    ORDERS,
    AcmeRateLimited,
    CertificateResult,
    Directory,
)
from padlock.ca.audit import AuditEntry
from padlock.ca.issuance import IssueRequest
from padlock.ca.mpic.coordinator import CheckSpec
from padlock.ca.ports.acme_server import AcmeTx
from padlock.errors import (
    AlreadyReplaced,
    BadCSR,
    InvalidProfile,
    Malformed,
    NotFound,
    OrderNotReady,
    PadlockError,
    PolicyError,
    RejectedIdentifier,
    Unauthorized,
    UnsupportedKey,
    WeakKey,
)
from padlock.pki import certs, policy
from padlock.pki.csr import csr_names, load_csr
from padlock.pki.profiles import reuse_days, still_reusable
from padlock.pki.schedule import rules_day


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


# BR 3.2.2.8: CAA is checked within 8 hours before issuance.
CAA_RECHECK = dt.timedelta(hours=8)

_CSR_REFUSALS = (BadCSR, WeakKey, UnsupportedKey, PolicyError, RejectedIdentifier)

# The placeholder organization used only to run the issuer's checks on an ov CSR before
# review; the certificate is issued with the organization the reviewer verified.
_PENDING_ORG = certs.Organization("(verified at review)", None, None, "ZZ")


class AcmeOrders(AcmeCore):
    """newOrder, the order URL, finalize and the certificate URL."""

    def _rate_limit(self, tx: AcmeTx, account: m.Account, now: dt.datetime) -> None:
        window = rate_window(now)
        limit = self.settings.orders_per_hour
        if limit and tx.bump_rate(account.id, ORDERS, window) > limit:
            raise AcmeRateLimited(
                f"This account created {limit} orders in this hour, the most allowed.",
                seconds_to_next_window(now),
            )
        self._check_failures(tx, account, now)

    def _identifiers(self, d: Directory, profile: str, req: m.NewOrder) -> list[m.Identifier]:
        dns = [i.value for i in req.identifiers if i.type == "dns"]
        ips = [i.value for i in req.identifiers if i.type == "ip"]
        # RFC 8738 / BR 3.2.2.5: IP identifiers only in a profile that certifies them.
        profiles = self.issuer.profiles
        name_policy = policy.for_profile(
            profiles[profile], self.settings.allow_internal_in_test, profiles.ip_profiles()
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
                            for kind in ch.offered(
                                base,
                                identifier.is_wildcard,
                                persist=bool(self.settings.issuer_domain_names),
                            )
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
        return spki_der(csr_key), names

    def _match_csr(
        self, order: m.Order, account: m.Account, csr_key: bytes, asked: set[tuple[str, str]]
    ) -> None:
        if csr_key == spki_der(self._key(account)):
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
        if not self.issuer.profiles[order.profile].needs_organization:
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
            self._fresh_enough(order)
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

    def _fresh_enough(self, order: m.Order) -> None:
        """Right before signing: every authorization's validation is within the reuse window
        of today and the order's profile (BR 4.2.1), and CAA looked up over 8 hours ago is
        looked up again with the account and the method used (BR 3.2.2.8, RFC 8657)."""
        if self.settings.always_valid(self.directories[order.directory]):
            return  # nothing was probed: the insecure switch (docs/acme.md)
        now = self.clock()
        with self.store.transaction(write=False) as tx:
            authzs = [tx.authorization(i) for i in order.authz_ids]
            account = tx.account(order.account_id)
        profile = self.issuer.profiles[order.profile]
        hierarchy = self.directories[order.directory].hierarchy
        rules_on = rules_day(hierarchy, now.date(), self.settings.test_clock_offset)
        for authz in authzs:
            done = (
                next((c for c in authz.challenges if c.status == m.VALID and c.validated), None)
                if authz is not None
                else None
            )
            if authz is None or done is None or done.validated is None or account is None:
                raise Unauthorized(f"The order {order.id} has an authorization that is not valid.")
            name = authz.identifier.value
            if not still_reusable(done.validated, now, profile, rules_on):
                raise Unauthorized(
                    f"The validation of {name} ({m.rfc3339(done.validated)}) is older than the"
                    f" {reuse_days(rules_on, profile)} days BR 4.2.1 allows for issuance"
                    " today.",
                    hint="Order again: the new order's authorization proves control anew.",
                )
            if authz.identifier.type == "dns" and now - done.validated > CAA_RECHECK:
                ask = {
                    "name": name,
                    "wildcard": authz.wildcard,
                    "account_uri": self.account_url(account),
                    "method": done.type,
                }
                self.corroborated(  # from the remote perspectives too (BR 3.2.2.9)
                    [CheckSpec("caa", ask | {"identities": list(self.va.caa_identities)})],
                    lambda ask=ask: self.probes.caa(self.va, **ask),  # type: ignore[misc]
                )

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
