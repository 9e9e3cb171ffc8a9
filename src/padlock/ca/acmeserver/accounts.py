"""ACME accounts (RFC 8555 section 7.3): new accounts (with external account binding),
reading, updating and deactivating them, key rollover, and the account's order list."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Mapping
from typing import Any

from padlock.acme import jws as jwslib
from padlock.acme import messages as m
from padlock.ca.acmeserver.core import AcmeCore
from padlock.ca.acmeserver.model import AccountDeactivated, AccountResult, Directory, KeyInUse
from padlock.ca.audit import AuditEntry
from padlock.ca.ports.acme_server import AcmeTx
from padlock.errors import (
    AccountDoesNotExist,
    ExternalAccountRequired,
    Malformed,
    Unauthorized,
)


def _new_id() -> str:
    return secrets.token_urlsafe(16)


class AcmeAccounts(AcmeCore):
    """newAccount, the account URL, keyChange and the orders list."""

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
            tx.retire_key(account.id, account.thumbprint, now)
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
