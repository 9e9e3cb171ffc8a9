"""Private and public keys: make, write encrypted, read what OpenSSL writes, fingerprint.

The seed made ``genrsa -des3 1024``; padlock makes ECDSA P-256 by default, RSA
2048-4096 on request, and writes encrypted PKCS#8 (PBES2: scrypt and AES-256-CBC,
RFC 8018 and RFC 7914) that ``openssl pkey`` reads.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeGuard

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PrivateKeyTypes,
    PublicKeyTypes,
)

from padlock.errors import (
    BadPassphrase,
    UnrecognizedFile,
    UnsupportedKey,
    WeakKey,
    WrongFileKind,
)
from padlock.pki import pkcs8

MIN_RSA_BITS = 2048
_PEM_LABEL = re.compile(rb"^-----BEGIN ([A-Z0-9 #]+)-----", re.MULTILINE)
MIN_PASSPHRASE = 8

SigningKey = CertificateIssuerPrivateKeyTypes


class KeyType(StrEnum):
    EC_P256 = "ec-p256"
    EC_P384 = "ec-p384"
    RSA_2048 = "rsa-2048"
    RSA_3072 = "rsa-3072"
    RSA_4096 = "rsa-4096"
    ED25519 = "ed25519"


_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "secp256r1": ec.SECP256R1,
    "secp384r1": ec.SECP384R1,
    "secp521r1": ec.SECP521R1,
}
_CURVE_LABEL = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


def parse_key_type(text: str) -> KeyType:
    try:
        return KeyType(text.lower())
    except ValueError:
        low = text.lower()
        if low.startswith("rsa-") and low[4:].isdigit() and int(low[4:]) < MIN_RSA_BITS:
            raise WeakKey(
                f"RSA keys of {low[4:]} bits are refused: they can be factored today.",
                hint="Use rsa-2048 or larger, or the default ec-p256"
                " (the seed's 1024-bit RSA has been unsafe since 2013).",
            ) from None
        raise UnsupportedKey(
            f"Unknown key type {text!r}.",
            hint="Choose one of: " + ", ".join(k.value for k in KeyType),
        ) from None


def generate_key(kind: KeyType) -> SigningKey:
    if kind is KeyType.EC_P256:
        return ec.generate_private_key(ec.SECP256R1())
    if kind is KeyType.EC_P384:
        return ec.generate_private_key(ec.SECP384R1())
    if kind is KeyType.ED25519:
        return ed25519.Ed25519PrivateKey.generate()
    bits = int(kind.value.split("-")[1])
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def check_passphrase_strength(passphrase: bytes) -> None:
    if not passphrase:
        raise BadPassphrase(
            "The pass phrase is empty.",
            hint="Choose a pass phrase, or use --no-encrypt to write the key unencrypted.",
        )
    if len(passphrase) < MIN_PASSPHRASE:
        raise BadPassphrase(
            f"The pass phrase is shorter than {MIN_PASSPHRASE} characters.",
            hint="A short pass phrase can be guessed from a stolen key file; use a longer one.",
        )


def private_key_pem(key: PrivateKeyTypes, passphrase: bytes | None) -> bytes:
    """PKCS#8 PEM; encrypted with scrypt and AES-256-CBC when a pass phrase is given."""
    if passphrase is None:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    check_passphrase_strength(passphrase)
    plain = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pkcs8.der_to_pem(pkcs8.encrypt_pkcs8_der(plain, passphrase), "ENCRYPTED PRIVATE KEY")


def is_encrypted_pem(data: bytes) -> bool:
    return b"ENCRYPTED PRIVATE KEY" in data or b"Proc-Type: 4,ENCRYPTED" in data


def is_encrypted(data: bytes) -> bool:
    """Whether a PEM or DER private key needs a pass phrase."""
    if data.lstrip().startswith(b"-----BEGIN"):
        return is_encrypted_pem(data)
    try:
        serialization.load_der_private_key(data, None)
    except TypeError:
        return True
    except (ValueError, UnsupportedAlgorithm):
        return False
    return False


def _no_passphrase() -> BadPassphrase:
    return BadPassphrase(
        "The key is encrypted and no pass phrase was given.",
        hint="Give it with --passphrase-file, PADLOCK_PASSPHRASE, or type it at the prompt.",
    )


def _wrong_passphrase() -> BadPassphrase:
    return BadPassphrase(
        "The pass phrase is wrong: the key does not decrypt with it.",
        hint="Check the pass phrase you recorded when the key was made (or the backup copy's).",
    )


def _is_bad_decrypt(exc: ValueError) -> bool:
    """cryptography's way of saying the pass phrase did not decrypt the key."""
    text = str(exc).lower()
    return "incorrect password" in text or "bad decrypt" in text or "could not decrypt" in text


def _load_der(data: bytes, passphrase: bytes | None) -> tuple[PrivateKeyTypes, bool]:
    """A DER key, and whether it was encrypted (which DER does not say up front)."""
    try:
        return serialization.load_der_private_key(data, None), False
    except TypeError:
        pass  # encrypted PKCS#8: needs the pass phrase
    if passphrase is None:
        raise _no_passphrase()
    if passphrase == b"":
        raise BadPassphrase(
            "The pass phrase given is empty, and the key is encrypted.",
            hint="Check the pass phrase file (its first line is the pass phrase).",
        )
    try:
        return serialization.load_der_private_key(data, passphrase), True
    except ValueError as exc:
        if _is_bad_decrypt(exc):
            raise _wrong_passphrase() from None
        raise


def load_private_key(
    data: bytes, passphrase: bytes | None, what: str = "The key file"
) -> PrivateKeyTypes:
    """Read a PEM or DER private key in any format OpenSSL writes (PKCS#1, SEC1, PKCS#8).

    Every failure is a :class:`PadlockError`: a missing or wrong pass phrase is
    :class:`BadPassphrase`, an unsupported algorithm or curve :class:`UnsupportedKey`,
    anything else that is not a readable key :class:`UnrecognizedFile`.
    """
    stripped = data.lstrip()
    is_pem = stripped.startswith(b"-----BEGIN")
    if is_pem:
        labels = [
            m.decode() for m in _PEM_LABEL.findall(data) if m != b"EC PARAMETERS"
        ]  # openssl ecparam -genkey writes the curve's parameters before the key
        if len(labels) > 1:
            raise WrongFileKind(
                f"{what} holds {len(labels)} PEM objects ({', '.join(labels).lower()})"
                " where one private key is expected.",
                hint="Split the file so that the key is alone in its own file.",
            )
    encrypted = is_encrypted_pem(data) if is_pem else False
    if encrypted and passphrase is None:
        raise _no_passphrase()
    if encrypted and passphrase == b"":
        raise BadPassphrase(
            "The pass phrase given is empty, and the key is encrypted.",
            hint="Check the pass phrase file (its first line is the pass phrase).",
        )
    try:
        if is_pem:
            key = serialization.load_pem_private_key(data, passphrase if encrypted else None)
        else:
            key, encrypted = _load_der(data, passphrase)
    except UnsupportedAlgorithm as exc:
        raise UnsupportedKey(
            f"The key uses an algorithm or curve padlock does not support ({exc}).",
            hint="Use ECDSA P-256/P-384/P-521, RSA 2048+ or Ed25519.",
        ) from None
    except ValueError as exc:
        # cryptography's message for anything unreadable mentions "unsupported" and
        # "curves" in passing; an unsupported curve is an UnsupportedAlgorithm instead.
        # A wrong pass phrase usually fails the CBC padding check ("bad decrypt"), but one
        # time in 256 the padding happens to look right and the "plaintext" is garbage:
        # for an encrypted key given a pass phrase, both mean the pass phrase is wrong.
        if encrypted and (passphrase or _is_bad_decrypt(exc)):
            raise _wrong_passphrase() from None
        raise UnrecognizedFile(
            f"{what} is not a readable private key ({exc}).",
            hint="The file may be truncated or edited; use the key file exactly as it was made.",
        ) from None
    except TypeError:
        raise _no_passphrase() from None
    check_supported(key.public_key())
    return key


def check_supported(public: PublicKeyTypes) -> None:
    if isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name not in _CURVES:
        raise UnsupportedKey(
            f"The elliptic curve {public.curve.name} is not supported.",
            hint="Use P-256 (the default), P-384 or P-521.",
        )


def signing_key(key: PrivateKeyTypes) -> SigningKey:
    """``key`` if padlock signs with it (CSRs): RSA 2048+, P-256/384/521, Ed25519, Ed448."""
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise WeakKey(
                f"This RSA key has {key.key_size} bits; keys under {MIN_RSA_BITS} bits are"
                " refused because they can be factored today.",
                hint="Make a new key with: padlock key new FILE (ECDSA P-256),"
                " or --type rsa-2048 or larger.",
            )
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        check_supported(key.public_key())
        return key
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return key
    raise UnsupportedKey(
        f"A {key_info(key.public_key()).detail} key cannot sign a certificate request.",
        hint="Use ECDSA P-256 (the default), RSA 2048+ or Ed25519.",
    )


def spki_der(public: PublicKeyTypes) -> bytes:
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def fingerprint(public: PublicKeyTypes) -> str:
    """SHA-256 of the SubjectPublicKeyInfo, as ``openssl pkey -pubout -outform DER | sha256sum``."""
    return "sha256:" + hashlib.sha256(spki_der(public)).hexdigest()


@dataclass(frozen=True)
class KeyInfo:
    """What a person wants to know about a key."""

    algorithm: str  # "RSA", "ECDSA", "Ed25519", "Ed448"
    size: int
    detail: str  # "RSA 2048", "ECDSA P-256"
    fingerprint: str


def key_info(public: PublicKeyTypes) -> KeyInfo:
    fp = fingerprint(public)
    if isinstance(public, rsa.RSAPublicKey):
        return KeyInfo("RSA", public.key_size, f"RSA {public.key_size}", fp)
    if isinstance(public, ec.EllipticCurvePublicKey):
        label = _CURVE_LABEL.get(public.curve.name, public.curve.name)
        return KeyInfo("ECDSA", public.curve.key_size, f"ECDSA {label}", fp)
    if isinstance(public, ed25519.Ed25519PublicKey):
        return KeyInfo("Ed25519", 256, "Ed25519", fp)
    if isinstance(public, ed448.Ed448PublicKey):
        return KeyInfo("Ed448", 456, "Ed448", fp)
    if isinstance(public, dsa.DSAPublicKey):
        return KeyInfo("DSA", public.key_size, f"DSA {public.key_size}", fp)
    return KeyInfo(type(public).__name__, 0, type(public).__name__, fp)


# --- the kind of a key, once per type -----------------------------------------------------

# cryptography's key classes are ABCs: isinstance goes through ABCMeta.__instancecheck__,
# a Python call, on every check, several times an issuance. What it answers depends on the
# key's type alone, so it is asked once per type.
_EC_TYPES: dict[type, bool] = {}
_RSA_TYPES: dict[type, bool] = {}


def is_ec_key(key: object) -> TypeGuard[ec.EllipticCurvePublicKey]:
    """``isinstance(key, ec.EllipticCurvePublicKey)``."""
    known = _EC_TYPES.get(type(key))
    if known is None:
        known = _EC_TYPES[type(key)] = isinstance(key, ec.EllipticCurvePublicKey)
    return known


def is_rsa_key(key: object) -> TypeGuard[rsa.RSAPublicKey]:
    """``isinstance(key, rsa.RSAPublicKey)``."""
    known = _RSA_TYPES.get(type(key))
    if known is None:
        known = _RSA_TYPES[type(key)] = isinstance(key, rsa.RSAPublicKey)
    return known
