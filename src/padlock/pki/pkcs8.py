"""Encrypted PKCS#8 with scrypt (RFC 8018 PBES2, RFC 7914 section 7), which OpenSSL reads.

``cryptography`` writes encrypted PKCS#8 only with 2,048 PBKDF2 rounds; a stolen
key file deserves a memory-hard KDF, so we build the small DER structure here.
Parameters are OpenSSL's own ``pkcs8 -scrypt`` defaults (N=2^14, r=8, p=1), the
largest that fit OpenSSL's default 32 MiB scrypt memory limit.
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from padlock.pki.der import OCTET_STRING, integer, oid, sequence, tlv

SCRYPT_N = 1 << 14
SCRYPT_R = 8
SCRYPT_P = 1

_PBES2 = "1.2.840.113549.1.5.13"
_SCRYPT = "1.3.6.1.4.1.11591.4.11"
_AES256_CBC = "2.16.840.1.101.3.4.1.42"


def encrypt_pkcs8_der(plain_pkcs8_der: bytes, passphrase: bytes) -> bytes:
    """EncryptedPrivateKeyInfo (RFC 5958 section 3) around an unencrypted PKCS#8 DER."""
    salt = os.urandom(16)
    iv = os.urandom(16)
    key = Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(passphrase)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain_pkcs8_der) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    scrypt_params = sequence(
        tlv(OCTET_STRING, salt),
        integer(SCRYPT_N),
        integer(SCRYPT_R),
        integer(SCRYPT_P),
        integer(32),
    )
    algorithm = sequence(
        oid(_PBES2),
        sequence(
            sequence(oid(_SCRYPT), scrypt_params), sequence(oid(_AES256_CBC), tlv(OCTET_STRING, iv))
        ),
    )
    return sequence(algorithm, tlv(OCTET_STRING, ciphertext))


def der_to_pem(der: bytes, label: str) -> bytes:
    import base64

    b64 = base64.encodebytes(der).replace(b"\n", b"")
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    head = f"-----BEGIN {label}-----\n".encode()
    tail = f"-----END {label}-----\n".encode()
    return head + b"\n".join(lines) + b"\n" + tail
