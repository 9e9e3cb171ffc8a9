"""JWS as ACME uses it (RFC 8555 6.2, RFC 7515, RFC 7638): parsing, keys, signatures."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from padlock.acme import jws as jwslib
from padlock.errors import BadNonce, BadPublicKey, BadSignatureAlgorithm, Malformed, Unauthorized
from tests.support.acme_client import b64, jwk_of, jws

URL = "https://ca.example.com/acme/new-order"


def _body(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj).encode()


def _signed(key: Any, alg: str | None = None, payload: Any = None, **header: Any) -> bytes:
    protected = {"alg": alg or "ES256", "nonce": "n", "url": URL, "jwk": jwk_of(key), **header}
    return _body(jws(key, protected, payload if payload is not None else {"a": 1}))


@pytest.fixture(scope="module")
def rsa_2048() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, 2048)


# --- RFC 7638 --------------------------------------------------------------------------------

RFC7638_JWK = {
    "kty": "RSA",
    "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhD"
    "R1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4"
    "QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOp"
    "bISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur"
    "-kEgU8awapJzKnqDKgw",
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}


def test_thumbprint_rfc7638_example() -> None:
    assert jwslib.thumbprint(RFC7638_JWK) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_thumbprint_ignores_optional_members_and_order() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = jwk_of(key)
    shuffled = {"y": jwk["y"], "use": "sig", **{k: v for k, v in jwk.items() if k != "y"}}
    assert jwslib.thumbprint(shuffled) == jwslib.thumbprint(jwk)


# --- parsing ---------------------------------------------------------------------------------


def test_parse_valid_es256() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    parsed = jwslib.parse(_signed(key))
    assert parsed.alg == "ES256"
    assert parsed.url == URL
    assert parsed.nonce == "n"
    assert parsed.jwk == jwk_of(key)
    assert parsed.payload_json() == {"a": 1}


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"protected": 1, "payload": "", "signature": ""}',
        b'{"payload": "", "signature": ""}',
    ],
)
def test_parse_garbage_malformed(body: bytes) -> None:
    with pytest.raises(Malformed):
        jwslib.parse(body)


def test_parse_general_serialization_malformed() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    flat = json.loads(_signed(key))
    general = {
        "payload": flat["payload"],
        "signatures": [{"protected": flat["protected"], "signature": flat["signature"]}],
    }
    with pytest.raises(Malformed, match="flattened"):
        jwslib.parse(_body(general))


def test_parse_unprotected_header_malformed() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    flat = json.loads(_signed(key))
    flat["header"] = {"kid": "x"}
    with pytest.raises(Malformed, match="unprotected"):
        jwslib.parse(_body(flat))


def test_parse_padded_base64_malformed() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    flat = json.loads(_signed(key))
    flat["signature"] += "=="
    with pytest.raises(Malformed, match="base64url"):
        jwslib.parse(_body(flat))


@pytest.mark.parametrize("alg", ["none", "HS256", "HS512", "RS512", "ES512"])
def test_parse_alg_refused(alg: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    protected = {"alg": alg, "nonce": "n", "url": URL, "jwk": jwk_of(key)}
    body = _body(jws(b"secret" if alg.startswith("HS") else None, protected, {}))
    with pytest.raises(BadSignatureAlgorithm):
        jwslib.parse(body)


def test_parse_jwk_and_kid_malformed() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(Malformed, match="exactly one"):
        jwslib.parse(_signed(key, kid="https://ca.example.com/acme/acct/1"))


def test_parse_neither_jwk_nor_kid_malformed() -> None:
    body = _body(jws(None, {"alg": "ES256", "nonce": "n", "url": URL}, {}, alg="ES256"))
    with pytest.raises(Malformed, match="exactly one"):
        jwslib.parse(body)


def test_parse_missing_nonce_bad_nonce() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    body = _body(jws(key, {"alg": "ES256", "url": URL, "jwk": jwk_of(key)}, {}))
    with pytest.raises(BadNonce):
        jwslib.parse(body)
    assert jwslib.parse(body, need_nonce=False).nonce is None


def test_parse_missing_url_malformed() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    body = _body(jws(key, {"alg": "ES256", "nonce": "n", "jwk": jwk_of(key)}, {}))
    with pytest.raises(Malformed, match="url"):
        jwslib.parse(body)


def test_parse_b64_false_malformed() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(Malformed, match="b64"):
        jwslib.parse(_signed(key, b64=False))


def test_post_as_get_payload() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    parsed = jwslib.parse(
        _body(jws(key, {"alg": "ES256", "nonce": "n", "url": URL, "kid": "k"}, ""))
    )
    assert parsed.is_post_as_get
    with pytest.raises(Malformed, match="POST-as-GET"):
        parsed.payload_json()


def test_payload_not_object_malformed() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    parsed = jwslib.parse(
        _body(jws(key, {"alg": "ES256", "nonce": "n", "url": URL, "kid": "k"}, b"[1]"))
    )
    with pytest.raises(Malformed, match="object"):
        parsed.payload_json()


@pytest.mark.parametrize("depth", [40, 1_000, 30_000])
def test_parse_deep_nesting_malformed(depth: int) -> None:
    """Deeply nested JSON anywhere in a JWS (body, protected header, payload, an inner JWS) is
    malformed, never a RecursionError."""
    deep = b"[" * depth + b"]" * depth
    key = ec.generate_private_key(ec.SECP256R1())
    header = {"alg": "ES256", "nonce": "n", "url": URL, "kid": "k"}
    with pytest.raises(Malformed):
        jwslib.parse(b"[" * depth)
    with pytest.raises(Malformed):
        jwslib.parse(b'{"protected": ' + deep + b"}")
    with pytest.raises(Malformed):
        jwslib.parse(_body({"protected": b64(deep), "payload": "", "signature": ""}))
    with pytest.raises(Malformed):
        jwslib.parse(
            _body({"protected": b64(b'{"a":' + deep + b"}"), "payload": "", "signature": ""})
        )
    parsed = jwslib.parse(_body(jws(key, header, b'{"identifiers": ' + deep + b"}")))
    with pytest.raises(Malformed):
        parsed.payload_json()
    inner = jws(key, header, {})
    inner["payload"] = b64(deep)
    outer = jwslib.parse(_body(jws(key, header, inner)))
    with pytest.raises(Malformed):
        jwslib.parse(outer.payload_json(), need_nonce=False).payload_json()


# --- signatures ------------------------------------------------------------------------------


def _keys(rsa_2048: rsa.RSAPrivateKey) -> list[tuple[str, Any]]:
    return [
        ("ES256", ec.generate_private_key(ec.SECP256R1())),
        ("ES384", ec.generate_private_key(ec.SECP384R1())),
        ("RS256", rsa_2048),
        ("PS256", rsa_2048),
        ("EdDSA", ed25519.Ed25519PrivateKey.generate()),
    ]


def test_verify_every_algorithm(rsa_2048: rsa.RSAPrivateKey) -> None:
    for alg, key in _keys(rsa_2048):
        parsed = jwslib.parse(_signed(key, alg))
        jwslib.verify(parsed, jwslib.public_key_from_jwk(parsed.jwk))


def test_verify_tampered_payload_malformed(rsa_2048: rsa.RSAPrivateKey) -> None:
    for alg, key in _keys(rsa_2048):
        flat = json.loads(_signed(key, alg))
        flat["payload"] = b64(b'{"a":2}')
        parsed = jwslib.parse(_body(flat))
        with pytest.raises(Malformed, match="does not verify"):
            jwslib.verify(parsed, jwslib.public_key_from_jwk(parsed.jwk))


def test_verify_other_key_malformed() -> None:
    key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    parsed = jwslib.parse(_signed(key))
    with pytest.raises(Malformed):
        jwslib.verify(parsed, other.public_key())


def test_verify_alg_key_mismatch_bad_signature_algorithm() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    parsed = jwslib.parse(_signed(key, "ES384"))
    with pytest.raises(BadSignatureAlgorithm):
        jwslib.verify(parsed, key.public_key())


def test_verify_truncated_ecdsa_signature_malformed() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    flat = json.loads(_signed(key))
    flat["signature"] = flat["signature"][:40]
    parsed = jwslib.parse(_body(flat))
    with pytest.raises(Malformed):
        jwslib.verify(parsed, key.public_key())


# --- keys ------------------------------------------------------------------------------------


def test_jwk_private_members_refused() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = {**jwk_of(key), "d": b64(b"\x01" * 32)}
    with pytest.raises(BadPublicKey, match="private"):
        jwslib.public_key_from_jwk(jwk)


def test_jwk_small_rsa_refused() -> None:
    small = rsa.generate_private_key(65537, 1024)  # noqa: S505 - the key to refuse
    with pytest.raises(BadPublicKey, match="2048"):
        jwslib.public_key_from_jwk(jwk_of(small))


def test_jwk_unknown_curve_refused() -> None:
    with pytest.raises(BadPublicKey, match="P-256"):
        jwslib.public_key_from_jwk({"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"})


def test_jwk_short_coordinate_refused() -> None:
    jwk = jwk_of(ec.generate_private_key(ec.SECP256R1()))
    jwk["x"] = b64(b"\x01" * 31)
    with pytest.raises(BadPublicKey, match="32 bytes"):
        jwslib.public_key_from_jwk(jwk)


def test_jwk_point_not_on_curve_refused() -> None:
    jwk = jwk_of(ec.generate_private_key(ec.SECP256R1()))
    jwk["y"] = b64(b"\x01" * 32)
    with pytest.raises(BadPublicKey):
        jwslib.public_key_from_jwk(jwk)


def test_jwk_unknown_kty_refused() -> None:
    with pytest.raises(BadPublicKey):
        jwslib.public_key_from_jwk({"kty": "oct", "k": "AA"})


# --- external account binding (HS256 allowed only here) ----------------------------------------


def test_eab_mac_verifies_and_refuses_wrong_key() -> None:
    account = ec.generate_private_key(ec.SECP256R1())
    protected = {"alg": "HS256", "kid": "eab-1", "url": URL}
    eab = jws(b"mac key", protected, jwk_of(account))
    parsed = jwslib.parse_mac(eab)
    jwslib.verify_mac(parsed, b"mac key")
    with pytest.raises(Unauthorized):
        jwslib.verify_mac(parsed, b"other key")


def test_eab_with_nonce_malformed() -> None:
    account = ec.generate_private_key(ec.SECP256R1())
    eab = jws(b"k", {"alg": "HS256", "kid": "e", "url": URL, "nonce": "n"}, jwk_of(account))
    with pytest.raises(Malformed, match="nonce"):
        jwslib.parse_mac(eab)
