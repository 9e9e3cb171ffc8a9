"""The signed messages: a payload signed by one key opens with that key only."""

from __future__ import annotations

import pickle

import pytest

from padlock.ca.mpic.signing import (
    BadSignature,
    RequestKey,
    b64,
    public_key,
    public_text,
    unseal,
)
from padlock.errors import ConfigError, Malformed


def test_signing_roundtrip() -> None:
    key, pem = RequestKey.generate()
    again = RequestKey.from_pem(pem, "key")
    message = key.seal({"v": 1, "hello": "wörld"})
    payload, sent = unseal(message, again.public, "The message")
    assert payload == {"v": 1, "hello": "wörld"}
    assert sent == message["payload"]


def test_signing_other_key_refused() -> None:
    key, _pem = RequestKey.generate()
    other, _pem2 = RequestKey.generate()
    with pytest.raises(BadSignature, match="not signed by the key configured"):
        unseal(key.seal({"v": 1}), other.public, "The answer")


def test_signing_changed_payload_refused() -> None:
    key, _pem = RequestKey.generate()
    message = key.seal({"v": 1, "ok": False})
    message["payload"] = b64(b'{"ok":true,"v":1}')
    with pytest.raises(BadSignature):
        unseal(message, key.public, "The answer")


@pytest.mark.parametrize("message", [None, [], {"payload": 1}, {"payload": "x"}, "text"])
def test_signing_not_a_message_malformed(message: object) -> None:
    key, _pem = RequestKey.generate()
    with pytest.raises(Malformed):
        unseal(message, key.public, "The answer")


def test_signing_public_key_text_roundtrip() -> None:
    key, _pem = RequestKey.generate()
    text = public_text(key.public)
    assert public_text(public_key(text, "key")) == text


@pytest.mark.parametrize("text", ["", "abc", b64(b"x" * 31), "!!!!"])
def test_signing_public_key_bad_config(text: str) -> None:
    with pytest.raises(ConfigError, match="not an Ed25519 public key"):
        public_key(text, "perspective 'fra''s key")


def test_signing_key_not_pickled() -> None:
    key, _pem = RequestKey.generate()
    with pytest.raises(TypeError):
        pickle.dumps(key)


def test_signing_pem_not_ed25519_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
    )
    with pytest.raises(ConfigError, match="not an Ed25519 key"):
        RequestKey.from_pem(pem, "perspective.key")
    with pytest.raises(ConfigError, match="not an unencrypted PEM"):
        RequestKey.from_pem(b"junk", "perspective.key")
