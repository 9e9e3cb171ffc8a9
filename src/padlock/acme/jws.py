"""JSON Web Signatures as ACME uses them (RFC 8555 section 6.2, RFC 7515, RFC 7518, RFC 7638).

Pure: bytes in, values out. The ACME server accepts only the flattened JSON
serialization with exactly one signature, a protected header carrying ``alg``,
``url``, ``nonce`` (except where ACME says otherwise) and exactly one of ``jwk``
and ``kid``; no unprotected header, no detached or unencoded payload.

Algorithms: ES256, ES384, RS256, PS256 and EdDSA (Ed25519, Ed448). ``none`` and the
MAC algorithms (HS*) are refused with badSignatureAlgorithm, except in the one place
RFC 8555 wants a MAC: the external account binding (section 7.3.4), checked by
:func:`verify_mac`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from padlock import bodies
from padlock.errors import BadNonce, BadPublicKey, BadSignatureAlgorithm, Malformed, Unauthorized

# What the server accepts for account keys, in the order the directory lists them.
ALGORITHMS: tuple[str, ...] = ("ES256", "ES384", "RS256", "PS256", "EdDSA")
MAC_ALGORITHMS: tuple[str, ...] = ("HS256", "HS384", "HS512")
MIN_RSA_BITS = 2048
MAX_RSA_BITS = 8192

PublicKey = (
    ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
)

_EC_CURVES: dict[str, tuple[ec.EllipticCurve, int]] = {
    "P-256": (ec.SECP256R1(), 32),
    "P-384": (ec.SECP384R1(), 48),
}
# alg -> (key family, curve or None, hash)
_ALG_KEY: dict[str, tuple[str, str | None]] = {
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "RS256": ("RSA", None),
    "PS256": ("RSA", None),
    "EdDSA": ("OKP", None),
}
_B64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


# --- base64url (RFC 7515 section 2: no padding) ------------------------------------------


def b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: Any, what: str) -> bytes:
    """Strict base64url without padding; Malformed naming ``what`` otherwise."""
    if not isinstance(text, str):
        raise Malformed(f"The JWS {what} must be a base64url string.")
    raw = text.encode("ascii", "replace")
    if not _B64_ALPHABET.issuperset(raw) or len(raw) % 4 == 1:
        raise Malformed(f"The JWS {what} is not base64url without padding (RFC 7515 section 2).")
    try:
        return base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        raise Malformed(f"The JWS {what} is not valid base64url.") from None


def _b64_uint(value: Any, what: str) -> int:
    data = b64decode(value, what)
    if not data:
        raise BadPublicKey(f"The JWK member {what} is empty.")
    return int.from_bytes(data, "big")


# --- JWK -------------------------------------------------------------------------------


def public_key_from_jwk(jwk: Any) -> PublicKey:
    """The public key a JWK (RFC 7517/7518) describes; BadPublicKey or Malformed if unusable."""
    if not isinstance(jwk, Mapping):
        raise Malformed("The JWS jwk header must be a JSON object.")
    if any(k in jwk for k in ("d", "p", "q", "dp", "dq", "qi", "k")):
        raise BadPublicKey("The jwk holds private key material; send only the public key.")
    kty = jwk.get("kty")
    try:
        if kty == "EC":
            crv = jwk.get("crv")
            if crv not in _EC_CURVES:
                raise BadPublicKey(
                    f"EC keys must use P-256 or P-384, not {crv!r}.",
                    hint="Make an ECDSA P-256 account key.",
                )
            curve, size = _EC_CURVES[crv]
            xb, yb = b64decode(jwk.get("x"), "jwk x"), b64decode(jwk.get("y"), "jwk y")
            if len(xb) != size or len(yb) != size:
                raise BadPublicKey(f"The {crv} key's coordinates must be {size} bytes long.")
            numbers = ec.EllipticCurvePublicNumbers(
                int.from_bytes(xb, "big"), int.from_bytes(yb, "big"), curve
            )
            return numbers.public_key()
        if kty == "RSA":
            n = _b64_uint(jwk.get("n"), "n")
            e = _b64_uint(jwk.get("e"), "e")
            bits = n.bit_length()
            if bits < MIN_RSA_BITS or bits > MAX_RSA_BITS:
                raise BadPublicKey(
                    f"RSA account keys must have {MIN_RSA_BITS} to {MAX_RSA_BITS} bits, not {bits}."
                )
            if e < 3 or e % 2 == 0 or e.bit_length() > 32:
                raise BadPublicKey("The RSA public exponent must be odd, at least 3, 32 bits.")
            return rsa.RSAPublicNumbers(e, n).public_key()
        if kty == "OKP":
            crv = jwk.get("crv")
            x = b64decode(jwk.get("x"), "jwk x")
            if crv == "Ed25519":
                return ed25519.Ed25519PublicKey.from_public_bytes(x)
            if crv == "Ed448":
                return ed448.Ed448PublicKey.from_public_bytes(x)
            raise BadPublicKey(f"OKP keys must be Ed25519 or Ed448, not {crv!r}.")
    except ValueError as exc:
        raise BadPublicKey(f"The jwk is not a valid public key ({exc}).") from None
    raise BadPublicKey(
        f"Account keys of type {kty!r} are not supported.", hint="Use EC, RSA or OKP keys."
    )


def _required_members(jwk: Mapping[str, Any]) -> dict[str, Any]:
    kty = jwk.get("kty")
    if kty == "EC":
        names: tuple[str, ...] = ("crv", "kty", "x", "y")
    elif kty == "RSA":
        names = ("e", "kty", "n")
    elif kty == "OKP":
        names = ("crv", "kty", "x")
    else:
        raise BadPublicKey(f"Account keys of type {kty!r} are not supported.")
    out = {}
    for name in names:
        value = jwk.get(name)
        if not isinstance(value, str):
            raise BadPublicKey(f"The jwk lacks its {name!r} member.")
        out[name] = value
    return out


def canonical_jwk(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 form: required members only, sorted, no whitespace."""
    return json.dumps(_required_members(jwk), sort_keys=True, separators=(",", ":"))


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256), base64url."""
    return b64encode(hashlib.sha256(canonical_jwk(jwk).encode("utf-8")).digest())


# --- the message -----------------------------------------------------------------------


@dataclass(frozen=True)
class JWS:
    """A parsed, not yet verified, flattened JWS."""

    protected: dict[str, Any]
    protected_b64: str
    payload_b64: str
    signature: bytes

    @property
    def alg(self) -> str:
        return str(self.protected["alg"])

    @property
    def url(self) -> str:
        return str(self.protected.get("url", ""))

    @property
    def nonce(self) -> str | None:
        value = self.protected.get("nonce")
        return value if isinstance(value, str) else None

    @property
    def kid(self) -> str | None:
        value = self.protected.get("kid")
        return value if isinstance(value, str) else None

    @property
    def jwk(self) -> dict[str, Any] | None:
        value = self.protected.get("jwk")
        return value if isinstance(value, dict) else None

    @property
    def signing_input(self) -> bytes:
        return f"{self.protected_b64}.{self.payload_b64}".encode("ascii")

    @property
    def is_post_as_get(self) -> bool:
        """An empty payload (RFC 8555 section 6.3)."""
        return self.payload_b64 == ""

    def payload_bytes(self) -> bytes:
        return b64decode(self.payload_b64, "payload") if self.payload_b64 else b""

    def payload_json(self) -> dict[str, Any]:
        """The payload as a JSON object; Malformed for anything else (POST-as-GET included)."""
        if not self.payload_b64:
            raise Malformed("This request needs a JSON object as payload, not POST-as-GET.")
        return _json_object(self.payload_bytes(), "payload")


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    value = bodies.loads(data, f"The JWS {what}")  # bounded: size, depth, UTF-8, no NaN
    if not isinstance(value, dict):
        raise Malformed(f"The JWS {what} must be a JSON object.")
    return value


def parse(body: bytes | Mapping[str, Any], *, need_nonce: bool = True) -> JWS:
    """Parse a flattened JWS and check its shape (RFC 8555 section 6.2); nothing is verified.

    ``body`` is the raw request body, or an already decoded JSON object (an inner JWS).
    """
    obj = _json_object(body, "body") if isinstance(body, bytes | bytearray) else dict(body)
    if "signatures" in obj:
        raise Malformed("ACME accepts only the flattened JWS serialization with one signature.")
    if "header" in obj:
        raise Malformed("The JWS must not have an unprotected header (RFC 8555 section 6.2).")
    extra = set(obj) - {"protected", "payload", "signature"}
    if extra:
        raise Malformed(f"The JWS has unexpected members: {', '.join(sorted(extra))}.")
    for member in ("protected", "payload", "signature"):
        if not isinstance(obj.get(member), str):
            raise Malformed(f"The JWS lacks its {member!r} member (a string).")
    protected_b64: str = obj["protected"]
    header = _json_object(b64decode(protected_b64, "protected header"), "protected header")
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise Malformed("The JWS protected header lacks 'alg'.")
    if alg not in ALGORITHMS:
        raise BadSignatureAlgorithm(
            f"The JWS algorithm {alg!r} is not accepted; use one of {', '.join(ALGORITHMS)}.",
        )
    if "b64" in header or "crit" in header:
        raise Malformed("The JWS must not use 'b64' or 'crit' (RFC 8555 section 6.2).")
    if not isinstance(header.get("url"), str):
        raise Malformed("The JWS protected header lacks 'url' (RFC 8555 section 6.4).")
    if need_nonce and not isinstance(header.get("nonce"), str):
        raise BadNonce("The JWS protected header lacks 'nonce' (RFC 8555 section 6.5).")
    has_jwk, has_kid = "jwk" in header, "kid" in header
    if has_jwk == has_kid:
        raise Malformed("The JWS protected header must have exactly one of 'jwk' and 'kid'.")
    if has_jwk and not isinstance(header["jwk"], dict):
        raise Malformed("The JWS 'jwk' must be a JSON object.")
    if has_kid and not isinstance(header["kid"], str):
        raise Malformed("The JWS 'kid' must be a string (the account URL).")
    signature = b64decode(obj["signature"], "signature")
    # The payload is decoded when it is read (payload_json), with the same strict checks.
    return JWS(header, protected_b64, obj["payload"], signature)


def check_key_matches_alg(alg: str, key: PublicKey) -> None:
    family, curve = _ALG_KEY[alg]
    if family == "EC":
        ok = isinstance(key, ec.EllipticCurvePublicKey) and (
            key.curve.name == _EC_CURVES[curve or ""][0].name
        )
    elif family == "RSA":
        ok = isinstance(key, rsa.RSAPublicKey)
    else:
        ok = isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey)
    if not ok:
        raise BadSignatureAlgorithm(f"The algorithm {alg} does not fit the account key's type.")


def verify(jws: JWS, key: PublicKey) -> None:
    """Check the signature with ``key``; Malformed when it does not verify."""
    alg = jws.alg
    check_key_matches_alg(alg, key)
    data = jws.signing_input
    sig = jws.signature
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            size = _EC_CURVES["P-256" if alg == "ES256" else "P-384"][1]
            if len(sig) != 2 * size:
                raise InvalidSignature
            der = encode_dss_signature(
                int.from_bytes(sig[:size], "big"), int.from_bytes(sig[size:], "big")
            )
            hash_alg: hashes.HashAlgorithm = hashes.SHA256() if alg == "ES256" else hashes.SHA384()
            key.verify(der, data, ec.ECDSA(hash_alg))
        elif isinstance(key, rsa.RSAPublicKey):
            if alg == "RS256":
                key.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
            else:
                key.verify(
                    sig,
                    data,
                    padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                    hashes.SHA256(),
                )
        else:
            key.verify(sig, data)
    except InvalidSignature:
        raise Malformed("The JWS signature does not verify (JWS verification error).") from None


def verify_mac(jws: JWS, mac_key: bytes) -> None:
    """Check an HMAC-signed JWS (the external account binding, RFC 8555 section 7.3.4)."""
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}.get(
        jws.alg
    )
    if digest is None:
        raise Malformed("The external account binding must be signed with HS256/384/512.")
    expected = hmac.new(mac_key, jws.signing_input, digest).digest()
    if not hmac.compare_digest(expected, jws.signature):
        raise Unauthorized("The external account binding's MAC does not verify.")


def parse_mac(body: Mapping[str, Any]) -> JWS:
    """Parse the external account binding JWS: like :func:`parse`, with a MAC algorithm,
    a ``kid`` (the EAB key id), no ``jwk`` and no ``nonce``."""
    obj = dict(body)
    for member in ("protected", "payload", "signature"):
        if not isinstance(obj.get(member), str):
            raise Malformed(f"The external account binding lacks its {member!r} member.")
    if set(obj) - {"protected", "payload", "signature"}:
        raise Malformed("The external account binding has unexpected members.")
    header = _json_object(b64decode(obj["protected"], "EAB protected header"), "EAB header")
    if header.get("alg") not in MAC_ALGORITHMS:
        raise Malformed("The external account binding must use HS256, HS384 or HS512.")
    if "nonce" in header:
        raise Malformed("The external account binding must not carry a nonce.")
    if not isinstance(header.get("kid"), str) or "jwk" in header:
        raise Malformed("The external account binding needs a 'kid' and no 'jwk'.")
    if not isinstance(header.get("url"), str):
        raise Malformed("The external account binding lacks 'url'.")
    return JWS(
        header, obj["protected"], obj["payload"], b64decode(obj["signature"], "EAB signature")
    )
