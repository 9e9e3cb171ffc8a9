"""Recognising what a file holds, on its own; junk and the wrong kind get errors naming it."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from padlock.errors import BadPassphrase, UnrecognizedFile, UnsupportedKey, WrongFileKind
from padlock.pki import keys, objects
from padlock.pki.objects import Kind, expect, load_any, load_key
from tests.conftest import PASSPHRASE, Maker, OpensslKeys, pem_of


def _fp(loaded: objects.Loaded) -> str:
    assert loaded.public_key is not None
    return keys.fingerprint(loaded.public_key)


# ----------------------------------------------------------------- keys


def test_load_any_private_key_pem(ec_key: ec.EllipticCurvePrivateKey) -> None:
    loaded = load_any(pem_of(ec_key))
    assert (loaded.kind, loaded.encoding) == (Kind.PRIVATE_KEY, "PEM")
    assert _fp(loaded) == keys.fingerprint(ec_key.public_key())


def test_load_any_encrypted_key_without_passphrase(ec_key: ec.EllipticCurvePrivateKey) -> None:
    loaded = load_any(keys.private_key_pem(ec_key, PASSPHRASE.encode()))
    assert loaded.kind is Kind.ENCRYPTED_PRIVATE_KEY
    assert loaded.private_key is None and loaded.public_key is None


def test_load_any_encrypted_key_with_passphrase(ec_key: ec.EllipticCurvePrivateKey) -> None:
    loaded = load_any(keys.private_key_pem(ec_key, PASSPHRASE.encode()), PASSPHRASE.encode())
    assert loaded.kind is Kind.ENCRYPTED_PRIVATE_KEY
    assert _fp(loaded) == keys.fingerprint(ec_key.public_key())


def test_load_any_encrypted_key_wrong_passphrase(ec_key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(BadPassphrase, match="pass phrase is wrong"):
        load_any(keys.private_key_pem(ec_key, PASSPHRASE.encode()), b"wrong pass phrase")


@pytest.mark.parametrize(
    ("name", "kind", "encoding"),
    [
        ("rsa-pkcs1.pem", Kind.PRIVATE_KEY, "PEM"),
        ("rsa-pkcs1.der", Kind.PRIVATE_KEY, "DER"),
        ("rsa-pkcs8.der", Kind.PRIVATE_KEY, "DER"),
        ("ec-sec1.der", Kind.PRIVATE_KEY, "DER"),
        ("ec-sec1-params.pem", Kind.PRIVATE_KEY, "PEM"),
        ("ed25519.pem", Kind.PRIVATE_KEY, "PEM"),
        ("rsa-des3-trad.pem", Kind.ENCRYPTED_PRIVATE_KEY, "PEM"),
        ("rsa-des3-pkcs8.pem", Kind.ENCRYPTED_PRIVATE_KEY, "PEM"),
        ("rsa-pkcs8-enc.der", Kind.ENCRYPTED_PRIVATE_KEY, "DER"),
        ("ec-public.pem", Kind.PUBLIC_KEY, "PEM"),
    ],
)
def test_load_any_openssl_keys(
    openssl_keys: OpensslKeys, name: str, kind: Kind, encoding: str
) -> None:
    loaded = load_any(openssl_keys[name].read_bytes())
    assert (loaded.kind, loaded.encoding) == (kind, encoding)


@pytest.mark.parametrize("name", ["rsa-des3-trad.pem", "rsa-pkcs8-enc.der"])
def test_load_any_openssl_encrypted_opened(openssl_keys: OpensslKeys, name: str) -> None:
    plain = load_any(openssl_keys["rsa-pkcs1.pem"].read_bytes())
    loaded = load_any(openssl_keys[name].read_bytes(), openssl_keys.passphrase.encode())
    assert _fp(loaded) == _fp(plain)


def test_load_any_encrypted_der_wrong_passphrase(openssl_keys: OpensslKeys) -> None:
    with pytest.raises(BadPassphrase, match="pass phrase is wrong"):
        load_any(openssl_keys["rsa-pkcs8-enc.der"].read_bytes(), b"wrong pass phrase")


def test_load_any_public_key_der(ec_key: ec.EllipticCurvePrivateKey) -> None:
    loaded = load_any(keys.spki_der(ec_key.public_key()))
    assert (loaded.kind, loaded.encoding) == (Kind.PUBLIC_KEY, "DER")


@pytest.mark.parametrize("name", ["secp256k1.pem", "secp256k1.der", "p224.pem", "sect163k1.pem"])
def test_load_any_unsupported_curve(openssl_keys: OpensslKeys, name: str) -> None:
    with pytest.raises(UnsupportedKey):
        load_any(openssl_keys[name].read_bytes())


def test_load_any_only_ec_parameters(openssl_keys: OpensslKeys) -> None:
    data = openssl_keys["ec-sec1-params.pem"].read_bytes()
    params_only = data[: data.index(b"-----BEGIN EC PRIVATE KEY")]
    with pytest.raises(UnrecognizedFile, match="only elliptic-curve parameters"):
        load_any(params_only)


# ----------------------------------------------------------------- CSRs, certificates, CRLs


def test_load_any_csr_pem_and_der(make: Maker, ec_key: ec.EllipticCurvePrivateKey) -> None:
    req = make.csr(ec_key)
    for enc, name in ((serialization.Encoding.PEM, "PEM"), (serialization.Encoding.DER, "DER")):
        loaded = load_any(req.public_bytes(enc))
        assert (loaded.kind, loaded.encoding) == (Kind.CSR, name)
        assert loaded.csr == req


def test_load_any_certificate_pem_and_der(make: Maker, ec_key: ec.EllipticCurvePrivateKey) -> None:
    cert = make.cert(ec_key)
    for enc in (serialization.Encoding.PEM, serialization.Encoding.DER):
        loaded = load_any(cert.public_bytes(enc))
        assert loaded.kind is Kind.CERTIFICATE
        assert loaded.certificates == (cert,)


def test_load_any_chain(make: Maker, ec_key: ec.EllipticCurvePrivateKey) -> None:
    leaf, ca, _ = make.chain(ec_key)
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (leaf, ca))
    loaded = load_any(pem)
    assert loaded.kind is Kind.CHAIN
    assert loaded.certificates == (leaf, ca)


def test_load_any_crl_pem_and_der(make: Maker) -> None:
    crl = make.crl()
    for enc in (serialization.Encoding.PEM, serialization.Encoding.DER):
        loaded = load_any(crl.public_bytes(enc))
        assert loaded.kind is Kind.CRL
        assert loaded.crl == crl


@pytest.mark.parametrize(
    ("name", "kind", "encoding"),
    [
        ("leaf.csr", Kind.CSR, "PEM"),
        ("leaf.csr.der", Kind.CSR, "DER"),
        ("leaf.pem", Kind.CERTIFICATE, "PEM"),
        ("leaf.der", Kind.CERTIFICATE, "DER"),
        ("chain.pem", Kind.CHAIN, "PEM"),
        ("crl.pem", Kind.CRL, "PEM"),
        ("crl.der", Kind.CRL, "DER"),
        ("empty.p12", Kind.PKCS12, "DER"),
        ("plain.p12", Kind.PKCS12, "DER"),
    ],
)
def test_load_any_openssl_objects(
    openssl_pki: OpensslKeys, name: str, kind: Kind, encoding: str
) -> None:
    loaded = load_any(openssl_pki[name].read_bytes())
    assert (loaded.kind, loaded.encoding) == (kind, encoding)


def test_load_any_pkcs12_with_passphrase(openssl_pki: OpensslKeys) -> None:
    loaded = load_any(openssl_pki["pw.p12"].read_bytes(), openssl_pki.passphrase.encode())
    assert loaded.kind is Kind.PKCS12
    assert loaded.private_key is not None
    assert len(loaded.certificates) == 2  # the leaf, then the CA from -certfile
    leaf = load_any(openssl_pki["leaf.pem"].read_bytes()).certificates[0]
    assert loaded.certificates[0] == leaf
    assert _fp(loaded) == keys.fingerprint(leaf.public_key())


def test_load_any_pkcs12_without_passphrase_refused(openssl_pki: OpensslKeys) -> None:
    with pytest.raises(BadPassphrase, match="protected by a pass phrase, and none was given"):
        load_any(openssl_pki["pw.p12"].read_bytes())


def test_load_any_pkcs12_wrong_passphrase_refused(openssl_pki: OpensslKeys) -> None:
    with pytest.raises(BadPassphrase, match="pass phrase given does not open it"):
        load_any(openssl_pki["pw.p12"].read_bytes(), b"wrong pass phrase")


def test_load_any_pkcs12_empty_passphrase_opened_despite_given(openssl_pki: OpensslKeys) -> None:
    # A PADLOCK_PASSPHRASE set for some key must not stop an unprotected bundle from opening.
    loaded = load_any(openssl_pki["empty.p12"].read_bytes(), b"unrelated pass phrase")
    assert loaded.kind is Kind.PKCS12


# ----------------------------------------------------------------- junk and the wrong kind


@pytest.mark.parametrize(
    "data",
    [b"\x00\x01\x02garbage", b"just some text\n", "ünïcödé".encode(), b"\xff" * 100],
    ids=["binary", "text", "unicode", "ff"],
)
def test_load_any_junk(data: bytes) -> None:
    with pytest.raises(UnrecognizedFile, match="holds nothing padlock recognises") as info:
        load_any(data, what="junk.bin")
    assert str(info.value).startswith("junk.bin ")
    assert info.value.hint and "copied whole" in info.value.hint


@pytest.mark.parametrize("data", [b"", b"  \n\n"])
def test_load_any_empty(data: bytes) -> None:
    with pytest.raises(UnrecognizedFile, match="is empty"):
        load_any(data)


def test_load_any_der_junk_starting_like_der() -> None:
    data = b"\x30\x05" + b"\x01\x02\x03\x04\x05"  # a well-formed SEQUENCE of nonsense
    with pytest.raises(UnrecognizedFile, match="holds nothing padlock recognises"):
        load_any(data)


def test_load_any_truncated_der(make: Maker, ec_key: ec.EllipticCurvePrivateKey) -> None:
    der = make.cert(ec_key).public_bytes(serialization.Encoding.DER)
    with pytest.raises(UnrecognizedFile, match=r"declares \d+ bytes but the file has only 100"):
        load_any(der[:100], what="cert.der")


def test_load_any_truncated_pkcs12(openssl_pki: OpensslKeys) -> None:
    data = openssl_pki["pw.p12"].read_bytes()
    with pytest.raises(UnrecognizedFile, match="is it truncated"):
        load_any(data[: len(data) - 10], openssl_pki.passphrase.encode())


def test_load_any_two_der_objects(make: Maker, ec_key: ec.EllipticCurvePrivateKey) -> None:
    der = make.cert(ec_key).public_bytes(serialization.Encoding.DER)
    with pytest.raises(WrongFileKind, match="holds a DER certificate followed by more data"):
        load_any(der + der)


def test_load_any_der_trailing_newline_accepted(
    make: Maker, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    der = make.cert(ec_key).public_bytes(serialization.Encoding.DER)
    assert load_any(der + b"\n").kind is Kind.CERTIFICATE


def test_load_any_truncated_pem(make: Maker, ec_key: ec.EllipticCurvePrivateKey) -> None:
    pem = make.cert(ec_key).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(UnrecognizedFile, match=r"no complete PEM block \(is it truncated\?\)"):
        load_any(pem[: len(pem) // 2])


def test_load_any_pem_garbage_body() -> None:
    pem = b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
    with pytest.raises(UnrecognizedFile, match="looks like a PEM certificate but cannot be read"):
        load_any(pem)


def test_load_any_pem_corrupted_key(ec_key: ec.EllipticCurvePrivateKey) -> None:
    lines = pem_of(ec_key).splitlines(keepends=True)
    corrupted = b"".join([lines[0], lines[1][:20] + b"\n", lines[-1]])
    with pytest.raises(UnrecognizedFile, match="is not a readable private key"):
        load_any(corrupted, what="key.pem")


def test_load_any_key_and_cert_in_one_file(make: Maker, ec_key: ec.EllipticCurvePrivateKey) -> None:
    pem = make.cert(ec_key).public_bytes(serialization.Encoding.PEM) + pem_of(ec_key)
    with pytest.raises(WrongFileKind, match=r"holds 2 PEM objects \(certificate, private key\)"):
        load_any(pem)


def test_load_any_two_csrs(
    make: Maker, ec_key: ec.EllipticCurvePrivateKey, other_ec_key: ec.EllipticCurvePrivateKey
) -> None:
    pem = b"".join(
        make.csr(k).public_bytes(serialization.Encoding.PEM) for k in (ec_key, other_ec_key)
    )
    with pytest.raises(WrongFileKind, match="where padlock expects one"):
        load_any(pem)


def test_load_any_unknown_pem_label() -> None:
    pem = b"-----BEGIN PKCS7-----\nAAAA\n-----END PKCS7-----\n"
    with pytest.raises(UnrecognizedFile, match="holds a PEM 'PKCS7' block, which padlock does not"):
        load_any(pem)


def test_load_any_pem_after_text(make: Maker, ec_key: ec.EllipticCurvePrivateKey) -> None:
    # openssl x509 -text writes the readable dump before the PEM block.
    pem = make.cert(ec_key).public_bytes(serialization.Encoding.PEM)
    assert load_any(b"Certificate:\n    Data: ...\n" + pem).kind is Kind.CERTIFICATE


def test_load_any_crlf_pem(make: Maker, ec_key: ec.EllipticCurvePrivateKey) -> None:
    pem = make.csr(ec_key).public_bytes(serialization.Encoding.PEM).replace(b"\n", b"\r\n")
    assert load_any(pem).kind is Kind.CSR


def test_expect_passes_right_kind(make: Maker, ec_key: ec.EllipticCurvePrivateKey) -> None:
    loaded = load_any(make.csr(ec_key).public_bytes(serialization.Encoding.PEM))
    assert expect(loaded, Kind.CSR) is loaded


def test_expect_names_what_the_file_is(make: Maker, ec_key: ec.EllipticCurvePrivateKey) -> None:
    loaded = load_any(make.cert(ec_key).public_bytes(serialization.Encoding.PEM))
    with pytest.raises(WrongFileKind) as info:
        expect(loaded, Kind.CSR, Kind.PRIVATE_KEY, what="cert.pem")
    assert info.value.message == (
        "cert.pem is a certificate, not a certificate signing request or private key."
    )


# ----------------------------------------------------------------- load_key


def test_load_key_reads_key(ec_key: ec.EllipticCurvePrivateKey) -> None:
    key = load_key(keys.private_key_pem(ec_key, PASSPHRASE.encode()), PASSPHRASE.encode())
    assert keys.fingerprint(key.public_key()) == keys.fingerprint(ec_key.public_key())


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("leaf.csr", "certificate signing request"),
        ("leaf.csr.der", "certificate signing request"),
        ("leaf.pem", "certificate"),
        ("leaf.der", "certificate"),
        ("crl.pem", "certificate revocation list"),
        ("plain.p12", "PKCS#12 bundle"),
    ],
)
def test_load_key_wrong_kind_named(openssl_pki: OpensslKeys, name: str, kind: str) -> None:
    with pytest.raises(WrongFileKind) as info:
        load_key(openssl_pki[name].read_bytes(), None, f"The key file {name!r}")
    assert info.value.message == f"The key file {name!r} is a {kind}, not a private key."


def test_load_key_pkcs12_hint(openssl_pki: OpensslKeys) -> None:
    with pytest.raises(WrongFileKind) as info:
        load_key(openssl_pki["plain.p12"].read_bytes(), None)
    assert info.value.hint and "openssl pkcs12" in info.value.hint


def test_load_key_public_key_named(openssl_keys: OpensslKeys) -> None:
    with pytest.raises(WrongFileKind, match="is a public key, not a private key"):
        load_key(openssl_keys["ec-public.pem"].read_bytes(), None)


def test_load_key_junk_stays_unrecognised() -> None:
    with pytest.raises(UnrecognizedFile, match="is not a readable private key"):
        load_key(b"junk", None)


def test_load_key_two_objects_refused(make: Maker, ec_key: ec.EllipticCurvePrivateKey) -> None:
    pem = pem_of(ec_key) + make.cert(ec_key).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(WrongFileKind, match="where one private key is expected"):
        load_key(pem, None)
