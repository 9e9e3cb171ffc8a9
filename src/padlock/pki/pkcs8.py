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

SCRYPT_N = 1 << 14
SCRYPT_R = 8
SCRYPT_P = 1

_PBES2 = "1.2.840.113549.1.5.13"
_SCRYPT = "1.3.6.1.4.1.11591.4.11"
_AES256_CBC = "2.16.840.1.101.3.4.1.42"


def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _len(len(body)) + body


def _seq(*parts: bytes) -> bytes:
    return _tlv(0x30, b"".join(parts))


def _int(n: int) -> bytes:
    body = n.to_bytes(n.bit_length() // 8 + 1, "big")
    return _tlv(0x02, body)


def _oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out.extend(reversed(chunk))
    return _tlv(0x06, bytes(out))


def encrypt_pkcs8_der(plain_pkcs8_der: bytes, passphrase: bytes) -> bytes:
    """EncryptedPrivateKeyInfo (RFC 5958 section 3) around an unencrypted PKCS#8 DER."""
    salt = os.urandom(16)
    iv = os.urandom(16)
    key = Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(passphrase)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain_pkcs8_der) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    scrypt_params = _seq(_tlv(0x04, salt), _int(SCRYPT_N), _int(SCRYPT_R), _int(SCRYPT_P), _int(32))
    algorithm = _seq(
        _oid(_PBES2),
        _seq(_seq(_oid(_SCRYPT), scrypt_params), _seq(_oid(_AES256_CBC), _tlv(0x04, iv))),
    )
    return _seq(algorithm, _tlv(0x04, ciphertext))


def der_to_pem(der: bytes, label: str) -> bytes:
    import base64

    b64 = base64.encodebytes(der).replace(b"\n", b"")
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    head = f"-----BEGIN {label}-----\n".encode()
    tail = f"-----END {label}-----\n".encode()
    return head + b"\n".join(lines) + b"\n" + tail
