"""Recognise what a file holds: key, CSR, certificate or chain, CRL, PKCS#12; PEM or DER.

``padlock show`` and every command that reads a file start here, so that a file of
the wrong kind gets an error naming what the file actually is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

from padlock.errors import (
    BadPassphrase,
    PadlockError,
    UnrecognizedFile,
    UnsupportedKey,
    WrongFileKind,
)
from padlock.pki import keys


class Kind(StrEnum):
    PRIVATE_KEY = "private key"
    ENCRYPTED_PRIVATE_KEY = "encrypted private key"
    PUBLIC_KEY = "public key"
    CSR = "certificate signing request"
    CERTIFICATE = "certificate"
    CHAIN = "certificate chain"
    CRL = "certificate revocation list"
    PKCS12 = "PKCS#12 bundle"


@dataclass(frozen=True)
class Loaded:
    """What one file holds, parsed. Exactly the fields its kind needs are set."""

    kind: Kind
    encoding: str  # "PEM" or "DER"
    private_key: PrivateKeyTypes | None = None
    public_key: PublicKeyTypes | None = None
    csr: x509.CertificateSigningRequest | None = None
    certificates: tuple[x509.Certificate, ...] = field(default_factory=tuple)
    crl: x509.CertificateRevocationList | None = None


_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 #]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL)
_PRIVATE_LABELS = {b"PRIVATE KEY", b"RSA PRIVATE KEY", b"EC PRIVATE KEY", b"ENCRYPTED PRIVATE KEY"}
_CERT_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE"}
_CSR_LABELS = {b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST"}


def _garbage(what: str) -> UnrecognizedFile:
    return UnrecognizedFile(
        f"{what} holds nothing padlock recognises (no key, CSR, certificate, CRL or PKCS#12).",
        hint="Check that this is the right file and that it was copied whole.",
    )


def _load_pem(data: bytes, passphrase: bytes | None, what: str) -> Loaded:
    blocks = _PEM_BLOCK.findall(data)
    if not blocks:
        raise UnrecognizedFile(
            f"{what} has a PEM header but no complete PEM block (is it truncated?).",
            hint="A PEM file needs its BEGIN and END lines and everything between them.",
        )
    # openssl ecparam -genkey writes the curve's parameters before the key: not an object.
    labels = [label for label, _ in blocks if label != b"EC PARAMETERS"]
    if not labels:
        raise UnrecognizedFile(
            f"{what} holds only elliptic-curve parameters, no key.",
            hint="Make a key with: padlock key new FILE",
        )
    first = labels[0]
    try:
        if all(label in _CERT_LABELS for label in labels):
            certs = tuple(x509.load_pem_x509_certificates(data))
            kind = Kind.CERTIFICATE if len(certs) == 1 else Kind.CHAIN
            return Loaded(kind, "PEM", certificates=certs)
        if len(labels) > 1:
            kinds = ", ".join(sorted({label.decode().lower() for label in labels}))
            raise WrongFileKind(
                f"{what} holds {len(labels)} PEM objects ({kinds}) where padlock expects"
                " one (only certificates may come several to a file, as a chain).",
                hint="Split the file so that each holds one thing.",
            )
        if first in _PRIVATE_LABELS:
            encrypted = keys.is_encrypted_pem(data)
            key = (
                keys.load_private_key(data, passphrase, what)
                if (passphrase is not None or not encrypted)
                else None
            )
            kind = Kind.ENCRYPTED_PRIVATE_KEY if encrypted else Kind.PRIVATE_KEY
            return Loaded(
                kind, "PEM", private_key=key, public_key=key.public_key() if key else None
            )
        if first in _CSR_LABELS:
            return Loaded(Kind.CSR, "PEM", csr=x509.load_pem_x509_csr(data))
        if first == b"X509 CRL":
            return Loaded(Kind.CRL, "PEM", crl=x509.load_pem_x509_crl(data))
        if first in {b"PUBLIC KEY", b"RSA PUBLIC KEY"}:
            public = serialization.load_pem_public_key(data)
            keys.check_supported(public)
            return Loaded(Kind.PUBLIC_KEY, "PEM", public_key=public)
    except UnsupportedAlgorithm as exc:
        raise UnsupportedKey(
            f"{what} holds a key of an algorithm or curve padlock does not support ({exc}).",
            hint="Use ECDSA P-256/P-384/P-521, RSA 2048+ or Ed25519.",
        ) from None
    except ValueError as exc:
        raise UnrecognizedFile(
            f"{what} looks like a PEM {first.decode().lower()} but cannot be read ({exc}).",
            hint="The file may be truncated or edited; copy it again from its source.",
        ) from None
    raise UnrecognizedFile(
        f"{what} holds a PEM {first.decode()!r} block, which padlock does not read."
    )


def _der_length(data: bytes) -> int | None:
    """The total length the outer DER TLV declares, or None if the header is unreadable."""
    if len(data) < 2:
        return None
    first = data[1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if count == 0 or count > 4 or len(data) < 2 + count:
        return None
    return 2 + count + int.from_bytes(data[2 : 2 + count], "big")


def _der_certificate(data: bytes) -> Loaded:
    return Loaded(Kind.CERTIFICATE, "DER", certificates=(x509.load_der_x509_certificate(data),))


def _der_csr(data: bytes) -> Loaded:
    return Loaded(Kind.CSR, "DER", csr=x509.load_der_x509_csr(data))


def _der_crl(data: bytes) -> Loaded:
    return Loaded(Kind.CRL, "DER", crl=x509.load_der_x509_crl(data))


def _load_der(data: bytes, passphrase: bytes | None, what: str) -> Loaded:
    declared = _der_length(data)
    if declared is not None and declared > len(data):
        raise UnrecognizedFile(
            f"{what} is not readable: its DER structure declares {declared} bytes"
            f" but the file has only {len(data)} (is it truncated?).",
            hint="Copy the file again from its source, whole.",
        )
    if declared is not None and declared < len(data):
        if not data[declared:].strip(b"\0\r\n\t "):
            return _load_one_der(data[:declared], passphrase, what)  # padding: harmless
        try:
            first = _load_one_der(data[:declared], None, what)
        except PadlockError:
            raise _garbage(what) from None
        raise WrongFileKind(
            f"{what} holds a DER {first.kind.value} followed by more data;"
            " padlock expects one object per DER file.",
            hint="Split the file, or convert it to PEM, which can hold a chain.",
        )
    return _load_one_der(data, passphrase, what)


def _load_one_der(data: bytes, passphrase: bytes | None, what: str) -> Loaded:
    for attempt in (_der_certificate, _der_csr, _der_crl):
        try:
            return attempt(data)
        except ValueError:
            continue
    try:
        key = serialization.load_der_private_key(data, None)
    except TypeError:
        # Encrypted PKCS#8 in DER: needs the pass phrase.
        if passphrase is None:
            return Loaded(Kind.ENCRYPTED_PRIVATE_KEY, "DER")
        key = keys.load_private_key(data, passphrase, what)
        return Loaded(
            Kind.ENCRYPTED_PRIVATE_KEY, "DER", private_key=key, public_key=key.public_key()
        )
    except UnsupportedAlgorithm as exc:
        raise UnsupportedKey(
            f"{what} is a private key of an algorithm or curve padlock does not support ({exc}).",
            hint="Use ECDSA P-256/P-384/P-521, RSA 2048+ or Ed25519.",
        ) from None
    except ValueError:
        pass
    else:
        keys.check_supported(key.public_key())
        return Loaded(Kind.PRIVATE_KEY, "DER", private_key=key, public_key=key.public_key())
    try:
        public = serialization.load_der_public_key(data)
    except UnsupportedAlgorithm as exc:
        raise UnsupportedKey(
            f"{what} is a public key of an algorithm or curve padlock does not support ({exc}).",
        ) from None
    except ValueError:
        pass
    else:
        keys.check_supported(public)
        return Loaded(Kind.PUBLIC_KEY, "DER", public_key=public)
    return _load_pkcs12(data, passphrase, what)


_PKCS7_DATA_OID = b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x01"


def _load_pkcs12(data: bytes, passphrase: bytes | None, what: str) -> Loaded:
    last: Exception | None = None
    for pw in ([passphrase] if passphrase else []) + [None, b""]:
        try:
            bundle = pkcs12.load_pkcs12(data, pw)
        except (ValueError, UnsupportedAlgorithm) as exc:
            last = exc
            continue
        key = bundle.key
        certs = tuple(
            c.certificate
            for c in ([bundle.cert] if bundle.cert else []) + list(bundle.additional_certs)
        )
        return Loaded(
            Kind.PKCS12,
            "DER",
            private_key=key,
            public_key=key.public_key() if key else None,
            certificates=certs,
        )
    if _PKCS7_DATA_OID in data[:64]:
        # Looks like PKCS#12 (a PFX whose content is pkcs7-data) but nothing opened it.
        if isinstance(last, UnsupportedAlgorithm):
            raise UnsupportedKey(
                f"{what} is a PKCS#12 bundle protected with an algorithm padlock does not"
                f" support ({last}).",
                hint="Convert it with: openssl pkcs12 -legacy -in OLD -nodes |"
                " openssl pkcs12 -export -out NEW",
            )
        if not passphrase:
            raise BadPassphrase(
                f"{what} is a PKCS#12 bundle protected by a pass phrase, and none was given.",
                hint="Give the bundle's pass phrase with --passphrase-file or PADLOCK_PASSPHRASE.",
            )
        raise BadPassphrase(
            f"{what} is a PKCS#12 bundle and the pass phrase given does not open it.",
            hint="Check the bundle's pass phrase (it is the export password, not the key's).",
        )
    raise _garbage(what)


def load_any(data: bytes, passphrase: bytes | None = None, what: str = "The file") -> Loaded:
    """Parse whatever ``data`` holds. An encrypted key without a pass phrase comes back unparsed."""
    if not data.strip():
        raise UnrecognizedFile(f"{what} is empty.")
    if b"-----BEGIN" in data[:4096]:
        return _load_pem(data, passphrase, what)
    der = data.lstrip()
    if der[:1] != b"\x30":
        raise _garbage(what)
    return _load_der(der, passphrase, what)


def expect(loaded: Loaded, *kinds: Kind, what: str = "The file") -> Loaded:
    """Raise WrongFileKind naming what the file is, unless it is one of ``kinds``."""
    if loaded.kind in kinds:
        return loaded
    wanted = " or ".join(k.value for k in kinds)
    raise WrongFileKind(f"{what} is a {loaded.kind.value}, not a {wanted}.")


def load_key(data: bytes, passphrase: bytes | None, what: str = "The key file") -> PrivateKeyTypes:
    """Read a private key; a file of another kind gets an error naming what it is."""
    try:
        return keys.load_private_key(data, passphrase, what)
    except UnrecognizedFile as exc:
        try:
            loaded = load_any(data, None, what)
        except PadlockError:
            raise exc from None
        if loaded.kind in (Kind.PRIVATE_KEY, Kind.ENCRYPTED_PRIVATE_KEY):
            raise
        hint = (
            "Give the private key made with padlock key new (or openssl genrsa)."
            if loaded.kind is not Kind.PKCS12
            else "Extract the key first: openssl pkcs12 -in FILE -nocerts -out key.pem"
        )
        raise WrongFileKind(
            f"{what} is a {loaded.kind.value}, not a private key.", hint=hint
        ) from None
