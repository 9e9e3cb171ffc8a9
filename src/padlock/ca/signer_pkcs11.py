"""CA keys inside a PKCS#11 token (a hardware security module; SoftHSM2 in the tests).

The keys are made in the token as sensitive and never extractable (PKCS#11 3.0 4.9:
CKA_SENSITIVE true, CKA_EXTRACTABLE false), so no file, backup or process ever holds them:
padlock keeps handles and asks the token to sign. ``ca/signer.py`` is the door: its
``Signer`` and ``OcspSigner`` hold a :class:`TokenKey` where a file CA holds a key object.
A key is found by its CKA_ID, the SHA-1 of its public key (RFC 5280 4.2.1.2, method 1), so
a CA certificate names its key in the token and nothing else has to be recorded. The
binding is python-pkcs11; its errors become padlock's here.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pkcs11
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPublicKeyTypes as PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificatePublicKeyTypes,
)
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11
from pkcs11.util.ec import (
    encode_ec_public_key,
    encode_ecdsa_signature,
    encode_named_curve_parameters,
)
from pkcs11.util.rsa import encode_rsa_public_key

from padlock.errors import BadPassphrase, ConfigError, UnsupportedKey
from padlock.pki import keys

_CURVES = {keys.KeyType.EC_P256: "secp256r1", keys.KeyType.EC_P384: "secp384r1"}
_RSA_MECHANISMS = {
    "sha256": Mechanism.SHA256_RSA_PKCS,
    "sha384": Mechanism.SHA384_RSA_PKCS,
    "sha512": Mechanism.SHA512_RSA_PKCS,
}
# A private key that never leaves the token (PKCS#11 3.0 4.9, Table 27).
_PRIVATE = {Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.PRIVATE: True}


@dataclass(frozen=True)
class TokenConfig:
    """Which token holds the CA's keys: the PKCS#11 module and the token's label."""

    module: str
    token_label: str

    def as_meta(self) -> dict[str, str]:
        return {"module": self.module, "token_label": self.token_label}

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> TokenConfig | None:
        """The token ca.json names (its ``pkcs11`` entry), or None for a CA in files."""
        found = meta.get("pkcs11")
        if not isinstance(found, Mapping):
            return None
        return cls(str(found["module"]), str(found["token_label"]))


def key_id(public_key: PublicKey) -> bytes:
    """The CKA_ID of a CA key: the SHA-1 of its subjectPublicKey (RFC 5280 4.2.1.2 (1)),
    the key identifier of the certificates it has."""
    return x509.SubjectKeyIdentifier.from_public_key(public_key).digest


class TokenKey:
    """A private key inside a token: it signs there, and padlock holds only its handle."""

    def __init__(self, token: Token, private: Any, public_key: PublicKey) -> None:
        self.token = token
        self.__private = private
        self.__public = public_key

    def __repr__(self) -> str:
        return f"TokenKey({self.token.config.token_label!r}, {key_id(self.__public).hex()})"

    def __getstate__(self) -> None:
        raise TypeError("a TokenKey cannot be pickled")

    def public_key(self) -> PublicKey:
        return self.__public

    def sign(self, data: bytes, digest: hashes.HashAlgorithm) -> bytes:
        """``data`` signed in the token as X.509 wants it: ECDSA-Sig-Value (RFC 5758 3.2) or
        RSASSA-PKCS1-v1_5 (RFC 8017 8.2)."""
        try:
            with self.token.lock:
                if isinstance(self.__public, ec.EllipticCurvePublicKey):
                    hashed = hashlib.new(digest.name, data).digest()
                    raw = self.__private.sign(hashed, mechanism=Mechanism.ECDSA)
                    return bytes(encode_ecdsa_signature(raw))
                return bytes(self.__private.sign(data, mechanism=_RSA_MECHANISMS[digest.name]))
        except p11.PKCS11Error as err:
            raise ConfigError(
                f"The token {self.token.config.token_label!r} did not sign: {_name(err)}.",
                hint="Is the token still there (and its module working)?",
            ) from err


class Token:
    """One logged-in session with a token, shared by the process's threads."""

    def __init__(self, config: TokenConfig, session: Any, pin_digest: bytes) -> None:
        self.config = config
        self.lock = threading.RLock()  # one operation at a time on a PKCS#11 session
        self._session = session
        self._pin_digest = pin_digest

    def generate(self, kind: keys.KeyType, label: str) -> TokenKey:
        """A new key pair made inside the token, its private half never extractable."""
        try:
            with self.lock:
                if kind in _CURVES:
                    curve = encode_named_curve_parameters(_CURVES[kind])
                    params = self._session.create_domain_parameters(
                        KeyType.EC, {Attribute.EC_PARAMS: curve}, local=True
                    )
                    pub, priv = params.generate_keypair(
                        store=True, label=label, private_template=_PRIVATE
                    )
                elif kind.value.startswith("rsa-"):
                    bits = int(kind.value.removeprefix("rsa-"))
                    pub, priv = self._session.generate_keypair(
                        KeyType.RSA, bits, store=True, label=label, private_template=_PRIVATE
                    )
                else:
                    raise UnsupportedKey(
                        f"padlock makes no {kind.value} key in a token.",
                        hint="Use ec-p256, ec-p384 or rsa-2048/3072/4096.",
                    )
                public = _public_of(pub)
                ident = key_id(public)
                pub[Attribute.ID] = ident
                priv[Attribute.ID] = ident
        except p11.PKCS11Error as err:
            raise ConfigError(
                f"The token {self.config.token_label!r} made no key: {_name(err)}."
            ) from err
        return TokenKey(self, priv, public)

    def key_for(self, public_key: CertificatePublicKeyTypes, what: str) -> TokenKey:
        """The private key in the token of ``public_key`` (a CA certificate's), found by its
        CKA_ID; its public half read back from the token."""
        if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            raise ConfigError(f"The key of {what} is of a kind no token here signs with.")
        ident = key_id(public_key)
        try:
            with self.lock:
                priv = self._session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=ident)
                pub = self._session.get_key(object_class=ObjectClass.PUBLIC_KEY, id=ident)
                public = _public_of(pub)
        except (p11.NoSuchKey, p11.MultipleObjectsReturned) as err:
            raise ConfigError(
                f"The token {self.config.token_label!r} holds no single key of {what}"
                f" (CKA_ID {ident.hex()}).",
                hint="Is this the token the CA was made in?",
            ) from err
        except p11.PKCS11Error as err:
            raise ConfigError(
                f"The token {self.config.token_label!r} did not answer: {_name(err)}."
            ) from err
        return TokenKey(self, priv, public)


def _public_of(pub: Any) -> PublicKey:
    """A token's public key object as ``cryptography``'s public key."""
    # an EC key's SubjectPublicKeyInfo, or an RSA key's PKCS #1 RSAPublicKey
    der = encode_ec_public_key(pub) if pub.key_type == KeyType.EC else encode_rsa_public_key(pub)
    public = serialization.load_der_public_key(der)
    if not isinstance(public, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise ConfigError("The token made a key of a kind padlock does not sign with.")
    return public


_open_lock = threading.Lock()
_open: dict[tuple[int, TokenConfig], Token] = {}


def open_token(config: TokenConfig, pin: bytes) -> Token:
    """The process's session with the token, logged in with ``pin``.

    Errors are padlock's: a module that does not load or a token that is not there is a
    ConfigError, a wrong or locked PIN a BadPassphrase; nothing is signed before this."""
    digest = hashlib.sha256(pin).digest()
    key = (os.getpid(), config)  # a session does not survive fork (PKCS#11 3.0 5.1)
    with _open_lock:
        found = _open.get(key)
        if found is None:
            found = _log_in(config, pin, digest)
            _open[key] = found
    if found._pin_digest != digest:
        raise BadPassphrase(f"That is not the PIN of the token {config.token_label!r}.")
    return found


def _log_in(config: TokenConfig, pin: bytes, digest: bytes) -> Token:
    try:
        lib = pkcs11.lib(config.module)
    except (p11.PKCS11Error, OSError) as err:
        raise ConfigError(
            f"The PKCS#11 module {config.module} cannot be loaded: {err}.",
            hint="Give the path of the module's .so (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so).",
        ) from err
    try:
        token = lib.get_token(token_label=config.token_label)
    except p11.NoSuchToken as err:
        raise ConfigError(
            f"There is no token labelled {config.token_label!r} in {config.module}.",
            hint="Is the HSM connected, and its token initialized (softhsm2-util --show-slots)?",
        ) from err
    except p11.PKCS11Error as err:
        raise ConfigError(f"The PKCS#11 module did not list its tokens: {_name(err)}.") from err
    try:
        session = token.open(user_pin=pin.decode("utf-8"), rw=True)
    except (p11.PinIncorrect, p11.PinInvalid, p11.PinLenRange, UnicodeDecodeError) as err:
        raise BadPassphrase(
            f"The PIN of the token {config.token_label!r} is wrong.",
            hint="Give it in $PADLOCK_HSM_PIN, in the file $PADLOCK_HSM_PIN_FILE names,"
            " with --pin-file, or at the prompt.",
        ) from err
    except p11.PinLocked as err:
        raise BadPassphrase(
            f"The token {config.token_label!r} is locked (too many wrong PINs).",
            hint="Its security officer unlocks it (softhsm2-util or the HSM's own tool).",
        ) from err
    except p11.PKCS11Error as err:
        raise ConfigError(
            f"The token {config.token_label!r} refused a session: {_name(err)}."
        ) from err
    return Token(config, session, digest)


def _name(err: Exception) -> str:
    return str(err) or type(err).__name__
