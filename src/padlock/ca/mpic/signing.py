"""The signed messages between the CA and its perspectives.

Only the CA may ask a perspective to validate, and only the perspective may answer for
itself: the CA signs each request with its request key, the perspective signs its evidence
with its own key, both Ed25519 (RFC 8032). A message travels as ``{"payload": B64,
"signature": B64}``, the payload being canonical JSON (sorted keys, no spaces), so the
signed bytes are the bytes read. A request names the perspective it is for, its time and a
random nonce (a replayed or redirected request is refused); the answer names the request
it answers by its SHA-256, so an answer cannot be replayed either.

These keys sign no certificate and no CRL: they are not CA keys in ``ca/signer.py``'s sense.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from typing import Any, NoReturn

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from padlock import bodies
from padlock.errors import ConfigError, Malformed, Unauthorized

VERSION = 1
MAX_MESSAGE = 128 * 1024  # bytes of one request or answer, before decoding


class BadSignature(Unauthorized):
    """A message not signed by the key it must be signed by."""


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str, what: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise Malformed(f"{what} is not base64url.") from exc


def canonical(payload: Mapping[str, Any]) -> bytes:
    """The one byte form of a payload: sorted keys, no spaces, UTF-8."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(payload_b64: str) -> str:
    """What an answer names its request by: SHA-256 of the request's payload as sent."""
    return b64(hashlib.sha256(payload_b64.encode()).digest())


def public_text(key: Ed25519PublicKey) -> str:
    """A public key as configuration writes it: base64url of its 32 raw bytes."""
    return b64(key.public_bytes(Encoding.Raw, PublicFormat.Raw))


def public_key(text: str, what: str) -> Ed25519PublicKey:
    """A configured public key (base64url of 32 bytes); ConfigError when it is not one."""
    try:
        raw = unb64(text.strip(), what)
        if len(raw) != 32:
            raise ValueError(len(raw))
        return Ed25519PublicKey.from_public_bytes(raw)
    except (Malformed, ValueError) as exc:
        raise ConfigError(
            f"{what} is not an Ed25519 public key (base64url of 32 bytes).",
            hint="Copy it from 'padlock perspective init' or 'padlock perspective ca-key'.",
        ) from exc


class RequestKey:
    """A private Ed25519 key that signs messages: the CA's request key, or a perspective's
    evidence key. It cannot be pickled, so it never travels to another process."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key

    @property
    def public(self) -> Ed25519PublicKey:
        return self._key.public_key()

    def seal(self, payload: Mapping[str, Any]) -> dict[str, str]:
        """The signed message of ``payload``."""
        data = b64(canonical(payload))
        return {"payload": data, "signature": b64(self._key.sign(data.encode()))}

    def __reduce__(self) -> NoReturn:
        raise TypeError("A signing key is not pickled.")

    @classmethod
    def generate(cls) -> tuple[RequestKey, bytes]:
        """A new key and its PKCS #8 PEM (unencrypted: the file is mode 0600)."""
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        return cls(key), pem

    @classmethod
    def from_pem(cls, pem: bytes, what: str) -> RequestKey:
        """The key a file holds; ConfigError when it is not an Ed25519 private key."""
        try:
            key = load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{what} is not an unencrypted PEM private key.") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"{what} is not an Ed25519 key.")
        return cls(key)


def unseal(message: Any, key: Ed25519PublicKey, what: str) -> tuple[dict[str, Any], str]:
    """The payload of a message signed by ``key``, and the payload as sent (base64url);
    BadSignature when ``key`` did not sign it, Malformed when it is not a message."""
    if not isinstance(message, Mapping):
        raise Malformed(f"{what} is not a signed message.")
    data, signature = message.get("payload"), message.get("signature")
    if not isinstance(data, str) or not isinstance(signature, str):
        raise Malformed(f"{what} lacks its payload or signature.")
    if len(data) > MAX_MESSAGE:
        raise Malformed(f"{what} is over {MAX_MESSAGE // 1024} KiB.")
    try:
        key.verify(unb64(signature, f"{what}'s signature"), data.encode())
    except InvalidSignature:
        raise BadSignature(f"{what} is not signed by the key configured for it.") from None
    payload = bodies.loads(unb64(data, f"{what}'s payload"), what)
    if not isinstance(payload, dict) or payload.get("v") != VERSION:
        raise Malformed(f"{what} is not a version {VERSION} message.")
    return payload, data
