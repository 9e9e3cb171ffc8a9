"""``padlock match``: the seed's "same modulus" check, for RSA, EC and Ed25519."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

from padlock.pki import keys
from tests.conftest import PASSPHRASE, Maker, OpensslKeys, Result, pem_of

CLI = Callable[..., Result]
OpenSSL = Callable[..., subprocess.CompletedProcess[str]]


def _assert_mismatch(result: Result, *words: str) -> None:
    assert result.rc == 1
    assert result.err.startswith("error: The files do not share one public key: ")
    assert "hint: A certificate works only with the key its CSR was made from" in result.err
    assert "Traceback" not in result.err
    for word in words:
        assert word in result.err, result.err


@pytest.fixture
def trio(
    make: Maker, any_key: CertificateIssuerPrivateKeyTypes
) -> tuple[Path, Path, Path, CertificateIssuerPrivateKeyTypes]:
    """A key (encrypted), its CSR and a certificate for it signed by a test CA."""
    key = make.key_file(any_key, "site.key", PASSPHRASE)
    csr = make.csr_file(any_key, "site.csr")
    leaf, _, _ = make.chain(any_key)
    cert = make.write("site.crt", leaf.public_bytes(serialization.Encoding.PEM))
    return key, csr, cert, any_key


def test_match_key_csr_cert(
    cli: CLI,
    trio: tuple[Path, Path, Path, CertificateIssuerPrivateKeyTypes],
    passphrase_file: Path,
) -> None:
    key, csr, cert, private = trio
    result = cli("match", key, csr, cert, "--passphrase-file", passphrase_file)
    assert result.rc == 0, result.err
    fp = keys.fingerprint(private.public_key())
    assert result.out.splitlines() == [
        f"{fp}  {'encrypted private key':<28} {key}",
        f"{fp}  {'certificate signing request':<28} {csr}",
        f"{fp}  {'certificate':<28} {cert}",
        "OK: all files share one public key.",
    ]


def test_match_json(
    cli: CLI,
    trio: tuple[Path, Path, Path, CertificateIssuerPrivateKeyTypes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key, csr, cert, private = trio
    monkeypatch.setenv("PADLOCK_PASSPHRASE", PASSPHRASE)
    result = cli("match", key, csr, cert, "--json")
    assert result.rc == 0
    doc = json.loads(result.out)
    assert doc["match"] is True
    assert doc["differ"] == []
    assert {f["fingerprint"] for f in doc["files"]} == {keys.fingerprint(private.public_key())}


@pytest.mark.parametrize("pair", [(0, 1), (0, 2), (1, 2)])
def test_match_two_files(
    cli: CLI,
    trio: tuple[Path, Path, Path, CertificateIssuerPrivateKeyTypes],
    monkeypatch: pytest.MonkeyPatch,
    pair: tuple[int, int],
) -> None:
    monkeypatch.setenv("PADLOCK_PASSPHRASE", PASSPHRASE)
    files = [trio[pair[0]], trio[pair[1]]]
    assert cli("match", *files).rc == 0


def test_match_cert_from_other_key(
    cli: CLI,
    make: Maker,
    trio: tuple[Path, Path, Path, CertificateIssuerPrivateKeyTypes],
    other_ec_key: ec.EllipticCurvePrivateKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key, csr, _, _ = trio
    other_cert = make.cert_file(other_ec_key, "other.crt")
    monkeypatch.setenv("PADLOCK_PASSPHRASE", PASSPHRASE)
    result = cli("match", key, csr, other_cert)
    _assert_mismatch(
        result,
        f"{key} (encrypted private key) and {other_cert} (certificate) differ",
        f"{csr} (certificate signing request) and {other_cert} (certificate) differ",
        f"({key} and {csr} do share one key.)",
    )
    assert "OK" not in result.out


def test_match_key_is_the_odd_one(
    cli: CLI,
    make: Maker,
    trio: tuple[Path, Path, Path, CertificateIssuerPrivateKeyTypes],
    other_ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    _, csr, cert, _ = trio
    wrong_key = make.write("wrong.key", pem_of(other_ec_key))
    result = cli("match", wrong_key, csr, cert)
    _assert_mismatch(result, f"({csr} and {cert} do share one key.)")


def test_match_two_files_differ_json(
    cli: CLI,
    make: Maker,
    ec_key: ec.EllipticCurvePrivateKey,
    other_ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    key = make.write("a.key", pem_of(ec_key))
    csr = make.csr_file(other_ec_key, "b.csr")
    result = cli("match", key, csr, "--json")
    assert result.rc == 1
    doc = json.loads(result.out)
    assert doc["match"] is False
    assert doc["differ"] == [[str(key), str(csr)]]
    _assert_mismatch(result, f"{key} (private key) and {csr} (certificate signing request) differ")


def test_match_openssl_files(
    cli: CLI, openssl_pki: OpensslKeys, openssl: OpenSSL, tmp_path: Path
) -> None:
    """Files openssl made: the key, its CSR, a certificate from req -x509, a PKCS#12."""
    openssl(
        "req",
        "-x509",
        "-key",
        openssl_pki["leaf.key"],
        "-subj",
        "/CN=www.mydomain.com",
        "-days",
        "21",
        "-out",
        "selfsigned.pem",
    )
    result = cli(
        "match", openssl_pki["leaf.key"], openssl_pki["leaf.csr"], tmp_path / "selfsigned.pem"
    )
    assert result.rc == 0, result.err
    assert cli("match", openssl_pki["leaf.der"], openssl_pki["plain.p12"]).rc == 0
    assert cli("match", openssl_pki["leaf.csr.der"], openssl_pki["chain.pem"]).rc == 0


def test_match_seed_rsa_key_same_modulus(
    cli: CLI, openssl_keys: OpensslKeys, openssl: OpenSSL, tmp_path: Path
) -> None:
    pw = tmp_path / "pw"
    pw.write_text(openssl_keys.passphrase)
    key = openssl_keys["rsa-des3-trad.pem"]
    openssl(
        "req",
        "-new",
        "-key",
        key,
        "-passin",
        f"file:{pw}",
        "-subj",
        "/CN=www.mydomain.com",
        "-out",
        "seed.csr",
    )
    assert cli("match", key, tmp_path / "seed.csr", "--passphrase-file", pw).rc == 0
    assert cli("match", openssl_keys["rsa-pkcs1.der"], tmp_path / "seed.csr").rc == 0


def test_match_encrypted_key_without_passphrase(
    cli: CLI, trio: tuple[Path, Path, Path, CertificateIssuerPrivateKeyTypes]
) -> None:
    key, csr, _, _ = trio
    result = cli("match", key, csr)
    assert result.rc == 1
    assert "is encrypted and no pass phrase was given" in result.err
    assert "Traceback" not in result.err


def test_match_encrypted_der_key_without_passphrase(cli: CLI, openssl_keys: OpensslKeys) -> None:
    result = cli("match", openssl_keys["rsa-pkcs8-enc.der"], openssl_keys["rsa-pkcs1.pem"])
    assert result.rc == 1
    assert "is encrypted and no pass phrase was given" in result.err


def test_match_wrong_passphrase(
    cli: CLI,
    trio: tuple[Path, Path, Path, CertificateIssuerPrivateKeyTypes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key, csr, _, _ = trio
    monkeypatch.setenv("PADLOCK_PASSPHRASE", "not the pass phrase")
    result = cli("match", key, csr)
    assert result.rc == 1
    assert "The pass phrase is wrong" in result.err


def test_match_crl_refused(cli: CLI, make: Maker, ec_key: ec.EllipticCurvePrivateKey) -> None:
    crl = make.crl_file()
    result = cli("match", make.write("k.pem", pem_of(ec_key)), crl)
    assert result.rc == 1
    assert (
        f"error: {crl} is a certificate revocation list, which holds no public key." in result.err
    )


def test_match_junk_refused(cli: CLI, make: Maker, ec_key: ec.EllipticCurvePrivateKey) -> None:
    junk = make.write("junk", b"junk")
    result = cli("match", make.write("k.pem", pem_of(ec_key)), junk)
    assert result.rc == 1
    assert "holds nothing padlock recognises" in result.err


@pytest.mark.parametrize("count", [1, 4])
def test_match_needs_two_or_three_files(
    cli: CLI, make: Maker, ec_key: ec.EllipticCurvePrivateKey, count: int
) -> None:
    key = make.write("k.pem", pem_of(ec_key))
    result = cli("match", *[key] * count)
    assert result.rc == 2
    assert "give two or three files" in result.err
    assert "Traceback" not in result.err


def test_match_real_process_mismatch(
    padlock_proc: Callable[..., Result],
    make: Maker,
    ec_key: ec.EllipticCurvePrivateKey,
    other_ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    make.write("a.key", pem_of(ec_key))
    make.cert_file(other_ec_key, "b.crt")
    result = padlock_proc("match", "a.key", "b.crt")
    assert result.rc == 1
    assert result.err.splitlines()[0] == (
        "error: The files do not share one public key:"
        " a.key (private key) and b.crt (certificate) differ."
    )
    assert "Traceback" not in result.err
