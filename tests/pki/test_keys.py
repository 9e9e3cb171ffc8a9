"""Keys: made the modern way, written so openssl reads them, read however openssl wrote them."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from padlock.errors import BadPassphrase, UnrecognizedFile, UnsupportedKey, WeakKey, WrongFileKind
from padlock.pki import keys, pkcs8
from padlock.pki.keys import KeyType
from tests.conftest import PASSPHRASE, OpensslKeys, pem_of

OpenSSL = Callable[..., subprocess.CompletedProcess[str]]


def _pub(key: PrivateKeyTypes) -> bytes:
    return keys.spki_der(key.public_key())


# ----------------------------------------------------------------- key types


@pytest.mark.parametrize(
    ("text", "kind"),
    [("ec-p256", KeyType.EC_P256), ("EC-P384", KeyType.EC_P384), ("rsa-3072", KeyType.RSA_3072)],
)
def test_parse_key_type_known(text: str, kind: KeyType) -> None:
    assert keys.parse_key_type(text) is kind


@pytest.mark.parametrize("text", ["rsa-1024", "rsa-512", "RSA-2047"])
def test_parse_key_type_weak_rsa_refused(text: str) -> None:
    with pytest.raises(WeakKey, match="bits are refused: they can be factored today") as info:
        keys.parse_key_type(text)
    assert info.value.hint and "rsa-2048" in info.value.hint and "1024" in info.value.hint


@pytest.mark.parametrize("text", ["dsa-2048", "ec-p224", "secp256k1", "rsa-", ""])
def test_parse_key_type_unknown_refused(text: str) -> None:
    with pytest.raises(UnsupportedKey, match="Unknown key type") as info:
        keys.parse_key_type(text)
    assert info.value.hint and "ec-p256" in info.value.hint


@pytest.mark.parametrize(
    ("kind", "cls", "detail"),
    [
        (KeyType.EC_P256, ec.EllipticCurvePrivateKey, "ECDSA P-256"),
        (KeyType.EC_P384, ec.EllipticCurvePrivateKey, "ECDSA P-384"),
        (KeyType.ED25519, ed25519.Ed25519PrivateKey, "Ed25519"),
    ],
)
def test_generate_key_types(kind: KeyType, cls: type, detail: str) -> None:
    key = keys.generate_key(kind)
    assert isinstance(key, cls)
    assert keys.key_info(key.public_key()).detail == detail


def test_generate_key_rsa_2048() -> None:
    key = keys.generate_key(KeyType.RSA_2048)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 2048
    assert key.public_key().public_numbers().e == 65537


# ----------------------------------------------------------------- pass phrases


def test_passphrase_strength_empty_refused() -> None:
    with pytest.raises(BadPassphrase, match="The pass phrase is empty") as info:
        keys.check_passphrase_strength(b"")
    assert info.value.hint and "--no-encrypt" in info.value.hint


def test_passphrase_strength_short_refused() -> None:
    with pytest.raises(BadPassphrase, match="shorter than 8 characters"):
        keys.check_passphrase_strength(b"1234567")


def test_passphrase_strength_eight_accepted() -> None:
    keys.check_passphrase_strength(b"12345678")


def test_private_key_pem_short_passphrase_refused(ec_key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(BadPassphrase):
        keys.private_key_pem(ec_key, b"short")


# ----------------------------------------------------------------- writing


def test_private_key_pem_unencrypted_is_pkcs8(ec_key: ec.EllipticCurvePrivateKey) -> None:
    pem = keys.private_key_pem(ec_key, None)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    assert not keys.is_encrypted_pem(pem)
    assert _pub(keys.load_private_key(pem, None)) == _pub(ec_key)


def test_private_key_pem_encrypted_round_trip(ec_key: ec.EllipticCurvePrivateKey) -> None:
    pem = keys.private_key_pem(ec_key, PASSPHRASE.encode())
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
    assert pem.endswith(b"-----END ENCRYPTED PRIVATE KEY-----\n")
    assert all(len(line) <= 64 for line in pem.splitlines())
    assert keys.is_encrypted_pem(pem)
    assert keys.is_encrypted(pem)
    assert _pub(keys.load_private_key(pem, PASSPHRASE.encode())) == _pub(ec_key)


def test_private_key_pem_fresh_salt_each_time(ec_key: ec.EllipticCurvePrivateKey) -> None:
    one = keys.private_key_pem(ec_key, PASSPHRASE.encode())
    two = keys.private_key_pem(ec_key, PASSPHRASE.encode())
    assert one != two


def test_encrypted_pkcs8_uses_scrypt_and_aes256(
    ec_key: ec.EllipticCurvePrivateKey, tmp_path: Path, openssl: OpenSSL
) -> None:
    path = tmp_path / "k.pem"
    path.write_bytes(keys.private_key_pem(ec_key, PASSPHRASE.encode()))
    dump = openssl("asn1parse", "-in", path).stdout
    assert "PBES2" in dump
    assert ":scrypt" in dump
    assert "aes-256-cbc" in dump
    assert ":4000" in dump  # N = 2^14


@pytest.mark.parametrize("passphrase", [PASSPHRASE, "pässwörter-ünicode", "with spaces and ' \""])
def test_encrypted_key_openssl_pkey_reads_every_type(
    any_key: PrivateKeyTypes, passphrase: str, tmp_path: Path, openssl: OpenSSL
) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(keys.private_key_pem(any_key, passphrase.encode()))
    (tmp_path / "pass").write_text(passphrase)
    openssl("pkey", "-passin", f"pass:{passphrase}", "-in", path, "-noout")
    openssl(
        "pkey", "-passin", "file:pass", "-in", path, "-pubout", "-outform", "DER", "-out", "pub"
    )
    assert (tmp_path / "pub").read_bytes() == _pub(any_key)


@pytest.mark.parametrize("kind", [KeyType.EC_P384, KeyType.RSA_2048])
def test_encrypted_key_openssl_pkey_reads_other_types(
    kind: KeyType, tmp_path: Path, openssl: OpenSSL
) -> None:
    key = keys.generate_key(kind)
    path = tmp_path / "key.pem"
    path.write_bytes(keys.private_key_pem(key, PASSPHRASE.encode()))
    openssl("pkey", "-passin", f"pass:{PASSPHRASE}", "-in", path, "-noout")


def test_encrypted_key_openssl_refuses_wrong_passphrase(
    ec_key: ec.EllipticCurvePrivateKey, tmp_path: Path, openssl: OpenSSL
) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(keys.private_key_pem(ec_key, PASSPHRASE.encode()))
    proc = openssl("pkey", "-passin", "pass:wrong-pass", "-in", path, "-noout", check=False)
    assert proc.returncode != 0


def test_unencrypted_key_openssl_reads(
    any_key: PrivateKeyTypes, tmp_path: Path, openssl: OpenSSL
) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(keys.private_key_pem(any_key, None))
    openssl("pkey", "-in", path, "-noout")


# ----------------------------------------------------------------- reading what openssl writes


@pytest.mark.parametrize(
    ("name", "encrypted", "detail"),
    [
        ("rsa-pkcs1.pem", False, "RSA 2048"),
        ("rsa-pkcs8.pem", False, "RSA 2048"),
        ("rsa-pkcs8.der", False, "RSA 2048"),
        ("rsa-pkcs1.der", False, "RSA 2048"),
        ("rsa-des3-trad.pem", True, "RSA 2048"),
        ("rsa-des3-pkcs8.pem", True, "RSA 2048"),
        ("rsa-pkcs8-enc.der", True, "RSA 2048"),
        ("ec-sec1.pem", False, "ECDSA P-256"),
        ("ec-sec1-params.pem", False, "ECDSA P-256"),
        ("ec-sec1.der", False, "ECDSA P-256"),
        ("ec-pkcs8.pem", False, "ECDSA P-256"),
        ("ec-pkcs8-enc.pem", True, "ECDSA P-256"),
        ("ec-sec1-enc.pem", True, "ECDSA P-256"),
        ("ec-p384.pem", False, "ECDSA P-384"),
        ("ed25519.pem", False, "Ed25519"),
    ],
)
def test_load_private_key_openssl_forms(
    openssl_keys: OpensslKeys, name: str, encrypted: bool, detail: str
) -> None:
    data = openssl_keys[name].read_bytes()
    assert keys.is_encrypted(data) is encrypted
    passphrase = openssl_keys.passphrase.encode() if encrypted else None
    key = keys.load_private_key(data, passphrase)
    assert keys.key_info(key.public_key()).detail == detail


def test_load_private_key_traditional_des3_is_the_seeds_format(openssl_keys: OpensslKeys) -> None:
    data = openssl_keys["rsa-des3-trad.pem"].read_bytes()
    assert b"Proc-Type: 4,ENCRYPTED" in data
    assert b"DEK-Info: DES-EDE3-CBC" in data


def test_load_private_key_same_key_in_every_form(openssl_keys: OpensslKeys) -> None:
    pw = openssl_keys.passphrase.encode()
    forms = [
        "rsa-pkcs1.pem",
        "rsa-pkcs8.pem",
        "rsa-pkcs8.der",
        "rsa-pkcs1.der",
        "rsa-des3-trad.pem",
    ]
    fingerprints = {
        keys.fingerprint(keys.load_private_key(openssl_keys[f].read_bytes(), pw).public_key())
        for f in forms
    }
    fingerprints.add(
        keys.fingerprint(
            keys.load_private_key(openssl_keys["rsa-pkcs8-enc.der"].read_bytes(), pw).public_key()
        )
    )
    assert len(fingerprints) == 1


def test_load_private_key_passphrase_ignored_for_plain_key(openssl_keys: OpensslKeys) -> None:
    key = keys.load_private_key(openssl_keys["ec-sec1.pem"].read_bytes(), b"not needed")
    assert isinstance(key, ec.EllipticCurvePrivateKey)


@pytest.mark.parametrize(
    "name", ["rsa-des3-trad.pem", "rsa-des3-pkcs8.pem", "rsa-pkcs8-enc.der", "ec-sec1-enc.pem"]
)
def test_load_private_key_wrong_passphrase(openssl_keys: OpensslKeys, name: str) -> None:
    with pytest.raises(BadPassphrase, match="The pass phrase is wrong") as info:
        keys.load_private_key(openssl_keys[name].read_bytes(), b"not-the-pass-phrase")
    assert info.value.hint and "recorded" in info.value.hint


@pytest.mark.parametrize("name", ["rsa-des3-trad.pem", "rsa-des3-pkcs8.pem", "rsa-pkcs8-enc.der"])
def test_load_private_key_missing_passphrase(openssl_keys: OpensslKeys, name: str) -> None:
    with pytest.raises(BadPassphrase, match="encrypted and no pass phrase was given") as info:
        keys.load_private_key(openssl_keys[name].read_bytes(), None)
    assert info.value.hint and "PADLOCK_PASSPHRASE" in info.value.hint


@pytest.mark.parametrize("name", ["rsa-des3-trad.pem", "rsa-des3-pkcs8.pem", "rsa-pkcs8-enc.der"])
def test_load_private_key_empty_passphrase(openssl_keys: OpensslKeys, name: str) -> None:
    with pytest.raises(BadPassphrase, match="pass phrase given is empty"):
        keys.load_private_key(openssl_keys[name].read_bytes(), b"")


def test_load_private_key_our_key_wrong_passphrase(ec_key: ec.EllipticCurvePrivateKey) -> None:
    pem = keys.private_key_pem(ec_key, PASSPHRASE.encode())
    with pytest.raises(BadPassphrase, match="The pass phrase is wrong"):
        keys.load_private_key(pem, b"wrong pass phrase")


def test_load_private_key_our_der_wrong_passphrase(ec_key: ec.EllipticCurvePrivateKey) -> None:
    der = pkcs8.encrypt_pkcs8_der(
        ec_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        PASSPHRASE.encode(),
    )
    assert keys.is_encrypted(der)
    assert _pub(keys.load_private_key(der, PASSPHRASE.encode())) == _pub(ec_key)
    with pytest.raises(BadPassphrase, match="The pass phrase is wrong"):
        keys.load_private_key(der, b"wrong pass phrase")


@pytest.mark.parametrize(
    "name", ["secp256k1.pem", "secp256k1.der", "p224.pem", "bp256.pem", "sect163k1.pem"]
)
def test_load_private_key_unsupported_curve(openssl_keys: OpensslKeys, name: str) -> None:
    with pytest.raises(UnsupportedKey, match=r"not supported|does not support") as info:
        keys.load_private_key(openssl_keys[name].read_bytes(), None)
    assert info.value.hint and "P-256" in info.value.hint


def test_load_private_key_unsupported_curve_named(openssl_keys: OpensslKeys) -> None:
    with pytest.raises(UnsupportedKey, match="secp256k1"):
        keys.load_private_key(openssl_keys["secp256k1.pem"].read_bytes(), None)
    with pytest.raises(UnsupportedKey, match="secp224r1"):
        keys.load_private_key(openssl_keys["p224.pem"].read_bytes(), None)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello world",
        b"\x30\x03\x02\x01\x00",
        b"-----BEGIN PRIVATE KEY-----\nnot base64 !!\n-----END PRIVATE KEY-----\n",
        b"-----BEGIN PRIVATE KEY-----\n"
        b"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n"
        b"-----END PRIVATE KEY-----\n",
    ],
    ids=["empty", "text", "der-junk", "pem-garbage", "pem-truncated-body"],
)
def test_load_private_key_garbage(data: bytes) -> None:
    with pytest.raises(UnrecognizedFile, match="is not a readable private key"):
        keys.load_private_key(data, None, "The key file 'k.pem'")


def test_load_private_key_truncated_file(openssl_keys: OpensslKeys) -> None:
    data = openssl_keys["rsa-pkcs8.pem"].read_bytes()
    with pytest.raises(UnrecognizedFile, match=r"'k\.pem' is not a readable private key"):
        keys.load_private_key(data[: len(data) // 2], None, "The key file 'k.pem'")


def test_load_private_key_truncated_der(openssl_keys: OpensslKeys) -> None:
    data = openssl_keys["rsa-pkcs8.der"].read_bytes()
    with pytest.raises(UnrecognizedFile):
        keys.load_private_key(data[:300], None)


def test_load_private_key_two_keys_refused(
    ec_key: ec.EllipticCurvePrivateKey, other_ec_key: ec.EllipticCurvePrivateKey
) -> None:
    with pytest.raises(WrongFileKind, match="holds 2 PEM objects") as info:
        keys.load_private_key(pem_of(ec_key) + pem_of(other_ec_key), None)
    assert "where one private key is expected" in info.value.message


def test_signing_key_rsa_1024_refused(openssl_keys: OpensslKeys) -> None:
    key = keys.load_private_key(openssl_keys["rsa-1024.pem"].read_bytes(), None)
    with pytest.raises(WeakKey, match="1024 bits") as info:
        keys.signing_key(key)
    assert "can be factored" in info.value.message
    assert info.value.hint and "padlock key new" in info.value.hint


def test_signing_key_accepts_supported(any_key: PrivateKeyTypes) -> None:
    assert keys.signing_key(any_key) is any_key


def test_signing_key_ed448_accepted() -> None:
    key = ed448.Ed448PrivateKey.generate()
    assert keys.signing_key(key) is key


def test_signing_key_dsa_refused() -> None:
    key = dsa.generate_private_key(2048)
    with pytest.raises(UnsupportedKey, match="DSA 2048 key cannot sign"):
        keys.signing_key(key)


def test_signing_key_x25519_refused(openssl_keys: OpensslKeys) -> None:
    key = keys.load_private_key(openssl_keys["x25519.pem"].read_bytes(), None)
    with pytest.raises(UnsupportedKey, match="cannot sign a certificate request"):
        keys.signing_key(key)


def test_signing_key_unsupported_curve_refused() -> None:
    key = ec.generate_private_key(ec.SECP256K1())
    with pytest.raises(UnsupportedKey, match="secp256k1"):
        keys.signing_key(key)


# ----------------------------------------------------------------- fingerprints


def test_fingerprint_matches_openssl(
    openssl_keys: OpensslKeys, openssl: OpenSSL, tmp_path: Path
) -> None:
    for name in ("rsa-pkcs1.pem", "ec-sec1.pem", "ed25519.pem"):
        openssl("pkey", "-in", openssl_keys[name], "-pubout", "-outform", "DER", "-out", "pub.der")
        expected = "sha256:" + hashlib.sha256((tmp_path / "pub.der").read_bytes()).hexdigest()
        key = keys.load_private_key(openssl_keys[name].read_bytes(), None)
        assert keys.fingerprint(key.public_key()) == expected


def test_fingerprint_format(ec_key: ec.EllipticCurvePrivateKey) -> None:
    fp = keys.fingerprint(ec_key.public_key())
    assert fp.startswith("sha256:")
    assert len(fp) == len("sha256:") + 64


@pytest.mark.parametrize(
    ("make_key", "expected"),
    [
        (lambda: ec.generate_private_key(ec.SECP384R1()), ("ECDSA", 384, "ECDSA P-384")),
        (lambda: ec.generate_private_key(ec.SECP521R1()), ("ECDSA", 521, "ECDSA P-521")),
        (ed25519.Ed25519PrivateKey.generate, ("Ed25519", 256, "Ed25519")),
        (ed448.Ed448PrivateKey.generate, ("Ed448", 456, "Ed448")),
    ],
)
def test_key_info(make_key: Callable[[], PrivateKeyTypes], expected: tuple[str, int, str]) -> None:
    info = keys.key_info(make_key().public_key())
    assert (info.algorithm, info.size, info.detail) == expected


def test_key_info_rsa(rsa_key: rsa.RSAPrivateKey) -> None:
    info = keys.key_info(rsa_key.public_key())
    assert (info.algorithm, info.size, info.detail) == ("RSA", 2048, "RSA 2048")
