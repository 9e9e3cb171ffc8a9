"""``padlock show``: any file, recognised on its own, readable; ``--json`` the same as JSON."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from padlock.cli import console
from padlock.pki import keys
from tests.conftest import PASSPHRASE, Maker, OpensslKeys, Result, pem_of

CLI = Callable[..., Result]


def _json(result: Result) -> dict[str, object]:
    assert result.rc == 0, result.err
    doc = json.loads(result.out)
    assert isinstance(doc, dict)
    return doc


def _assert_clean_error(result: Result, *words: str) -> None:
    assert result.rc == 1
    assert result.out == ""
    assert result.err.startswith("error: ")
    assert "Traceback" not in result.err
    for word in words:
        assert word in result.err, result.err


# ----------------------------------------------------------------- every kind


def test_show_private_key(cli: CLI, make: Maker, ec_key: ec.EllipticCurvePrivateKey) -> None:
    path = make.write("k.pem", pem_of(ec_key))
    result = cli("show", path)
    assert result.rc == 0
    fp = keys.fingerprint(ec_key.public_key())
    assert result.out == (
        f"{path}:\n"
        "Private key\n"
        "  Encoding              PEM\n"
        "  Encrypted             NO\n"
        "  Key                   ECDSA P-256\n"
        f"  Key fingerprint       {fp}\n"
    )
    assert _json(cli("show", path, "--json")) == {
        "file": str(path),
        "kind": "private key",
        "encoding": "PEM",
        "encrypted": False,
        "key": {"type": "ECDSA P-256", "algorithm": "ECDSA", "bits": 256, "fingerprint": fp},
    }


def test_show_encrypted_key_without_passphrase(
    cli: CLI, make: Maker, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    path = make.key_file(ec_key, "k.pem", PASSPHRASE)
    result = cli("show", path)
    assert result.rc == 0
    assert "Encrypted private key" in result.out
    assert "Encrypted             yes" in result.out
    assert "Key fingerprint" not in result.out
    assert _json(cli("show", path, "--json"))["encrypted"] is True


def test_show_encrypted_key_with_passphrase_file(
    cli: CLI, make: Maker, rsa_key: rsa.RSAPrivateKey, passphrase_file: Path
) -> None:
    path = make.key_file(rsa_key, "k.pem", PASSPHRASE)
    doc = _json(cli("show", path, "--json", "--passphrase-file", passphrase_file))
    assert doc["key"] == {
        "type": "RSA 2048",
        "algorithm": "RSA",
        "bits": 2048,
        "fingerprint": keys.fingerprint(rsa_key.public_key()),
    }


def test_show_encrypted_key_wrong_passphrase(
    cli: CLI, make: Maker, ec_key: ec.EllipticCurvePrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make.key_file(ec_key, "k.pem", PASSPHRASE)
    monkeypatch.setenv("PADLOCK_PASSPHRASE", "not the pass phrase")
    _assert_clean_error(cli("show", path), "The pass phrase is wrong")


@pytest.mark.parametrize(
    ("name", "kind", "detail"),
    [
        ("rsa-pkcs1.pem", "Private key", "RSA 2048"),
        ("rsa-pkcs1.der", "Private key", "RSA 2048"),
        ("ec-sec1.der", "Private key", "ECDSA P-256"),
        ("ec-sec1-params.pem", "Private key", "ECDSA P-256"),
        ("ed25519.pem", "Private key", "Ed25519"),
        ("ec-public.pem", "Public key", "ECDSA P-256"),
        ("rsa-des3-trad.pem", "Encrypted private key", None),
        ("rsa-pkcs8-enc.der", "Encrypted private key", None),
    ],
)
def test_show_openssl_keys(
    cli: CLI, openssl_keys: OpensslKeys, name: str, kind: str, detail: str | None
) -> None:
    result = cli("show", openssl_keys[name])
    assert result.rc == 0, result.err
    assert result.out.splitlines()[1] == kind
    if detail:
        assert f"Key                   {detail}" in result.out


def test_show_openssl_traditional_key_opened(
    cli: CLI, openssl_keys: OpensslKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PADLOCK_PASSPHRASE", openssl_keys.passphrase)
    doc = _json(cli("show", openssl_keys["rsa-des3-trad.pem"], "--json"))
    assert doc["kind"] == "encrypted private key"
    assert doc["key"]["type"] == "RSA 2048"  # type: ignore[index]


def test_show_csr(cli: CLI, openssl_pki: OpensslKeys) -> None:
    result = cli("show", openssl_pki["leaf.csr"])
    assert result.rc == 0
    lines = result.out.splitlines()
    assert lines[1] == "Certificate signing request"
    assert "  Subject               C=US, O=Widgets Inc., CN=www.mydomain.com" in lines
    assert "  Names (SAN)           DNS:www.mydomain.com, DNS:mydomain.com" in lines
    assert "  Key                   ECDSA P-256" in lines
    assert "  Self-signature valid  yes" in lines
    doc = _json(cli("show", openssl_pki["leaf.csr.der"], "--json"))
    assert doc["kind"] == "certificate signing request"
    assert doc["encoding"] == "DER"
    assert doc["names"] == ["DNS:www.mydomain.com", "DNS:mydomain.com"]
    assert doc["signature_valid"] is True


def test_show_certificate(cli: CLI, openssl_pki: OpensslKeys) -> None:
    result = cli("show", openssl_pki["leaf.pem"])
    assert result.rc == 0
    assert result.out.splitlines()[1] == "Certificate"
    assert "  Issuer                CN=Test CA" in result.out
    assert "  Days left             " in result.out
    assert "  Expired               no" in result.out
    doc = _json(cli("show", openssl_pki["leaf.der"], "--json"))
    assert doc["kind"] == "certificate"
    assert doc["issuer"] == "CN=Test CA"
    assert doc["expired"] is False
    assert isinstance(doc["days_left"], int) and 0 <= doc["days_left"] <= 21


def test_show_chain(cli: CLI, openssl_pki: OpensslKeys) -> None:
    result = cli("show", openssl_pki["chain.pem"])
    assert result.rc == 0
    assert result.out.splitlines()[1] == "Certificate chain"
    assert "  Chain in order        yes" in result.out
    assert "  [0]" in result.out and "  [1]" in result.out
    doc = _json(cli("show", openssl_pki["chain.pem"], "--json"))
    assert [c["subject"] for c in doc["certificates"]] == [  # type: ignore[attr-defined]
        "C=US, O=Widgets Inc., CN=www.mydomain.com",
        "CN=Test CA",
    ]


def test_show_crl(cli: CLI, openssl_pki: OpensslKeys) -> None:
    result = cli("show", openssl_pki["crl.pem"])
    assert result.rc == 0
    assert result.out.splitlines()[1] == "Certificate revocation list"
    assert "  CRL number            1" in result.out
    doc = _json(cli("show", openssl_pki["crl.der"], "--json"))
    assert doc["kind"] == "certificate revocation list"
    assert doc["revoked"] == 0


def test_show_crl_made_with_cryptography(cli: CLI, make: Maker) -> None:
    doc = _json(cli("show", make.crl_file(der=True), "--json"))
    assert doc["crl_number"] == 7
    assert doc["revoked"] == 2


def test_show_pkcs12(cli: CLI, openssl_pki: OpensslKeys, tmp_path: Path) -> None:
    pw = tmp_path / "p12pass"
    pw.write_text(openssl_pki.passphrase)
    result = cli("show", openssl_pki["pw.p12"], "--passphrase-file", pw)
    assert result.rc == 0, result.err
    assert result.out.splitlines()[1] == "PKCS#12 bundle"
    doc = _json(cli("show", openssl_pki["pw.p12"], "--json", "--passphrase-file", pw))
    assert doc["kind"] == "PKCS#12 bundle"
    assert len(doc["certificates"]) == 2  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["empty.p12", "plain.p12"])
def test_show_pkcs12_without_passphrase(cli: CLI, openssl_pki: OpensslKeys, name: str) -> None:
    doc = _json(cli("show", openssl_pki[name], "--json"))
    assert doc["kind"] == "PKCS#12 bundle"
    assert doc["key"]["type"] == "ECDSA P-256"  # type: ignore[index]


def test_show_pkcs12_needs_passphrase(cli: CLI, openssl_pki: OpensslKeys) -> None:
    _assert_clean_error(
        cli("show", openssl_pki["pw.p12"]),
        "is a PKCS#12 bundle protected by a pass phrase, and none was given",
        "hint: ",
    )


def test_show_pkcs12_wrong_passphrase(
    cli: CLI, openssl_pki: OpensslKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PADLOCK_PASSPHRASE", "not the pass phrase")
    _assert_clean_error(cli("show", openssl_pki["pw.p12"]), "pass phrase given does not open it")


def test_show_stdin(
    cli: CLI,
    make: Maker,
    ec_key: ec.EllipticCurvePrivateKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = make.csr(ec_key).public_bytes(serialization.Encoding.PEM)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    doc = _json(cli("show", "-", "--json"))
    assert doc["file"] == "-"
    assert doc["kind"] == "certificate signing request"


# ----------------------------------------------------------------- junk and mistakes


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", ["is empty"]),
        (b"hello, world\n", ["holds nothing padlock recognises"]),
        (b"\x00\x01\x02\x03", ["holds nothing padlock recognises"]),
        (b"-----BEGIN CERTIFICATE-----\nMIIB\n", ["no complete PEM block (is it truncated?)"]),
        (
            b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
            ["looks like a PEM certificate but cannot be read"],
        ),
        (b"\x30\x82\x04\x00\x02\x01\x00", ["declares 1028 bytes but the file has only 7"]),
        (
            b"-----BEGIN PKCS7-----\nMAA=\n-----END PKCS7-----\n",
            ["holds a PEM 'PKCS7' block, which padlock does not read"],
        ),
    ],
    ids=["empty", "text", "binary", "pem-truncated", "pem-garbage", "der-truncated", "pkcs7"],
)
def test_show_junk(cli: CLI, make: Maker, content: bytes, words: list[str]) -> None:
    path = make.write("junk.bin", content)
    result = cli("show", path)
    _assert_clean_error(result, str(path), *words)
    _assert_clean_error(cli("show", path, "--json"), *words)


def test_show_truncated_certificate(cli: CLI, openssl_pki: OpensslKeys, make: Maker) -> None:
    der = openssl_pki["leaf.der"].read_bytes()
    path = make.write("cut.der", der[: len(der) // 2])
    _assert_clean_error(cli("show", path), "is it truncated?")


def test_show_two_objects_of_different_kinds(
    cli: CLI, make: Maker, ec_key: ec.EllipticCurvePrivateKey, openssl_pki: OpensslKeys
) -> None:
    path = make.write("both.pem", openssl_pki["leaf.pem"].read_bytes() + pem_of(ec_key))
    _assert_clean_error(
        cli("show", path),
        "holds 2 PEM objects (certificate, private key)",
        "hint: Split the file",
    )


def test_show_unsupported_curve(cli: CLI, openssl_keys: OpensslKeys) -> None:
    _assert_clean_error(cli("show", openssl_keys["secp256k1.pem"]), "secp256k1 is not supported")


def test_show_missing_file(cli: CLI, tmp_path: Path) -> None:
    _assert_clean_error(cli("show", tmp_path / "nope.pem"), "does not exist")


def test_show_directory(cli: CLI, tmp_path: Path) -> None:
    _assert_clean_error(cli("show", tmp_path), "is a directory, not a file")


def test_show_real_process_json(
    padlock_proc: Callable[..., Result], openssl_pki: OpensslKeys
) -> None:
    result = padlock_proc("show", "--json", openssl_pki["chain.pem"])
    assert result.rc == 0, result.err
    assert json.loads(result.out)["kind"] == "certificate chain"


def test_show_real_process_junk(padlock_proc: Callable[..., Result], tmp_path: Path) -> None:
    (tmp_path / "junk").write_bytes(b"junk")
    result = padlock_proc("show", "junk")
    assert result.rc == 1
    assert result.err.startswith("error: junk holds nothing padlock recognises")
    assert "Traceback" not in result.err


def test_show_real_process_junk_debug(padlock_proc: Callable[..., Result], tmp_path: Path) -> None:
    (tmp_path / "junk").write_bytes(b"junk")
    result = padlock_proc("--debug", "show", "junk")
    assert result.rc == 1
    assert "Traceback (most recent call last)" in result.err
    assert "padlock.errors.UnrecognizedFile" in result.err


def test_show_unreadable_file(
    cli: CLI, make: Maker, ec_key: ec.EllipticCurvePrivateKey, unreadable: Callable[[Path], None]
) -> None:
    path = make.write("secret.key", pem_of(ec_key))
    unreadable(path)
    _assert_clean_error(cli("show", path), f"'{path}' cannot be read: permission denied", "hint:")


def test_show_pkcs12_asks_for_passphrase_on_terminal(
    cli: CLI, openssl_pki: OpensslKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts: list[str] = []

    def fake_getpass(prompt: str) -> str:
        prompts.append(prompt)
        return openssl_pki.passphrase

    monkeypatch.setattr(console, "is_terminal", lambda: True)
    monkeypatch.setattr(console.getpass, "getpass", fake_getpass)
    doc = _json(cli("show", openssl_pki["pw.p12"], "--json"))
    assert doc["kind"] == "PKCS#12 bundle"
    assert prompts == [f"Enter pass phrase for {openssl_pki['pw.p12']}: "]


def test_show_passphrase_env_bytes_kept(
    cli: CLI, make: Maker, ec_key: ec.EllipticCurvePrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pass phrase set in a non-UTF-8 locale reaches the key as the bytes it was."""
    raw = b"pass-\xe9-phrase-latin1"
    path = make.write("k.pem", keys.private_key_pem(ec_key, raw))
    monkeypatch.setenv("PADLOCK_PASSPHRASE", raw.decode("utf-8", "surrogateescape"))
    assert _json(cli("show", path, "--json"))["key"]["fingerprint"] == keys.fingerprint(  # type: ignore[index]
        ec_key.public_key()
    )
