"""ACME replay nonces (RFC 8555 section 6.5), shared by every worker through the database."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets

from padlock.acme import jws as jwslib
from padlock.errors import BadNonce, Malformed

_NONCE_MAC_BYTES = 10
_NONCE_RANDOM_BYTES = 10


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
