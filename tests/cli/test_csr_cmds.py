"""``padlock csr new``: the seed's section 4 with the right names, checked."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID

from padlock.cli import console
from padlock.pki import keys
from tests.conftest import PASSPHRASE, Maker, OpensslKeys, Result, leftovers, pem_of

CLI = Callable[..., Result]
OpenSSL = Callable[..., subprocess.CompletedProcess[str]]


def _read(path: Path) -> x509.CertificateSigningRequest:
    return x509.load_pem_x509_csr(path.read_bytes())


def _dns(req: x509.CertificateSigningRequest) -> list[str]:
    ext = req.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(n.value) for n in ext]


def _assert_clean_error(result: Result, *words: str) -> None:
    assert result.rc == 1
    assert result.err.startswith("error: ")
    assert "Traceback" not in result.err
    for word in words:
        assert word in result.err, result.err


@pytest.fixture
def key_file(make: Maker, ec_key: ec.EllipticCurvePrivateKey) -> Path:
    return make.write("www.mydomain.com.key", pem_of(ec_key))


@pytest.fixture
def encrypted_key_file(make: Maker, ec_key: ec.EllipticCurvePrivateKey) -> Path:
    return make.key_file(ec_key, "enc.key", PASSPHRASE)


SEED_OPTIONS = (
    "--country",
    "US",
    "--state",
    "Texas",
    "--locality",
    "Dallas",
    "--org",
    "Widgets Inc.",
    "--ou",
    "Widgets",
)


# ----------------------------------------------------------------- making CSRs


def test_csr_new_seed_fields(cli: CLI, tmp_path: Path, key_file: Path, openssl: OpenSSL) -> None:
    out = tmp_path / "www.mydomain.com.csr"
    result = cli(
        "csr", "new", "--key", key_file, "--out", out, "--cn", "www.mydomain.com", *SEED_OPTIONS
    )
    assert result.rc == 0, result.err
    assert result.out.startswith(f"Wrote CSR to {out}.\nCertificate signing request\n")
    assert "Self-signature valid  yes" in result.out
    assert f"padlock show {out}" in result.err
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o644
    req = _read(out)
    assert req.subject.rfc4514_string() == (
        "CN=www.mydomain.com,OU=Widgets,O=Widgets Inc.,L=Dallas,ST=Texas,C=US"
    )
    assert _dns(req) == ["www.mydomain.com"]  # the CN is always a SAN too
    verify = openssl("req", "-verify", "-noout", "-in", out)
    assert "verify OK" in verify.stdout + verify.stderr
    text = openssl("req", "-text", "-noout", "-in", out).stdout
    assert "DNS:www.mydomain.com" in text
    assert (
        "C = US, ST = Texas, L = Dallas, O = Widgets Inc., OU = Widgets, CN = www.mydomain.com"
        in (text)
    )


def test_csr_new_every_key_type(
    cli: CLI,
    tmp_path: Path,
    make: Maker,
    any_key: CertificateIssuerPrivateKeyTypes,
    openssl: OpenSSL,
) -> None:
    key = make.key_file(any_key, "k.pem", PASSPHRASE)
    out = tmp_path / "req.csr"
    result = cli(
        "csr",
        "new",
        "--key",
        key,
        "--out",
        out,
        "--cn",
        "www.example.com",
        "--san",
        "example.com",
        "--passphrase-file",
        make.write("pw", PASSPHRASE.encode()),
    )
    assert result.rc == 0, result.err
    assert _dns(_read(out)) == ["www.example.com", "example.com"]
    openssl("req", "-verify", "-noout", "-in", out)
    assert keys.spki_der(_read(out).public_key()) == keys.spki_der(any_key.public_key())


def test_csr_new_names_normalised(cli: CLI, tmp_path: Path, key_file: Path) -> None:
    out = tmp_path / "req.csr"
    result = cli(
        "csr",
        "new",
        "--key",
        key_file,
        "--out",
        out,
        "--cn",
        "WWW.Bücher.DE",
        "--san",
        "Shop.Bücher.de.",
        "--san",
        "www.bücher.de",
        "--san",
        "192.0.2.1",
    )
    assert result.rc == 0, result.err
    req = _read(out)
    assert [a.value for a in req.subject.get_attributes_for_oid(NameOID.COMMON_NAME)] == [
        "www.xn--bcher-kva.de"
    ]
    assert _dns(req) == ["www.xn--bcher-kva.de", "shop.xn--bcher-kva.de", "192.0.2.1"]


def test_csr_new_san_only(cli: CLI, tmp_path: Path, key_file: Path) -> None:
    out = tmp_path / "req.csr"
    assert cli("csr", "new", "--key", key_file, "--out", out, "--san", "a.example.com").rc == 0
    assert _dns(_read(out)) == ["a.example.com"]


def test_csr_new_encrypted_key_env(
    cli: CLI, tmp_path: Path, encrypted_key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PADLOCK_PASSPHRASE", PASSPHRASE)
    out = tmp_path / "req.csr"
    assert (
        cli("csr", "new", "--key", encrypted_key_file, "--out", out, "--cn", "a.example.com").rc
        == 0
    )


def test_csr_new_encrypted_key_prompts_on_terminal(
    cli: CLI, tmp_path: Path, encrypted_key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts: list[str] = []

    def fake_getpass(prompt: str) -> str:
        prompts.append(prompt)
        return PASSPHRASE

    monkeypatch.setattr(console, "is_terminal", lambda: True)
    monkeypatch.setattr(console.getpass, "getpass", fake_getpass)
    out = tmp_path / "req.csr"
    assert (
        cli("csr", "new", "--key", encrypted_key_file, "--out", out, "--cn", "a.example.com").rc
        == 0
    )
    assert prompts == ["Enter pass phrase for the key: "]


def test_csr_new_openssl_seed_key(
    cli: CLI, tmp_path: Path, openssl_keys: OpensslKeys, openssl: OpenSSL
) -> None:
    """The seed's key (genrsa -des3, traditional PEM) makes a CSR with the same modulus."""
    pw = tmp_path / "pw"
    pw.write_text(openssl_keys.passphrase)
    out = tmp_path / "www.mydomain.com.csr"
    key = openssl_keys["rsa-des3-trad.pem"]
    result = cli(
        "csr",
        "new",
        "--key",
        key,
        "--out",
        out,
        "--cn",
        "www.mydomain.com",
        "--passphrase-file",
        pw,
    )
    assert result.rc == 0, result.err
    csr_modulus = openssl("req", "-noout", "-modulus", "-in", out).stdout
    key_modulus = openssl("rsa", "-noout", "-modulus", "-passin", f"file:{pw}", "-in", key).stdout
    assert csr_modulus == key_modulus


def test_csr_new_json(cli: CLI, tmp_path: Path, key_file: Path) -> None:
    out = tmp_path / "req.csr"
    result = cli("csr", "new", "--key", key_file, "--out", out, "--cn", "a.example.com", "--json")
    assert result.rc == 0
    doc = json.loads(result.out)
    assert doc["file"] == str(out)
    assert doc["kind"] == "certificate signing request"
    assert doc["names"] == ["DNS:a.example.com"]
    assert doc["signature_valid"] is True


def test_csr_new_force_replaces(cli: CLI, tmp_path: Path, key_file: Path) -> None:
    out = tmp_path / "req.csr"
    out.write_text("old")
    assert (
        cli("csr", "new", "--key", key_file, "--out", out, "--cn", "a.example.com", "--force").rc
        == 0
    )
    assert _dns(_read(out)) == ["a.example.com"]


# ----------------------------------------------------------------- prompting like openssl req


def test_csr_new_prompts_like_openssl_req(
    cli: CLI, tmp_path: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    answers = iter(["US", "Texas", "Dallas", "Widgets Inc.", "Widgets", "www.mydomain.com", ""])

    def fake_prompt(text: str, **kwargs: object) -> str:
        asked.append(text)
        return next(answers)

    monkeypatch.setattr(console, "is_terminal", lambda: True)
    monkeypatch.setattr(typer, "prompt", fake_prompt)
    out = tmp_path / "req.csr"
    result = cli("csr", "new", "--key", key_file, "--out", out, "--country", "GB")
    assert result.rc == 0, result.err
    assert asked == [
        "Country Name (2 letter code) [GB]",
        "State or Province Name (full name) []",
        "Locality Name (eg, city) []",
        "Organization Name (eg, company) []",
        "Organizational Unit Name (eg, section) []",
        "Common Name (the server's host name, e.g. www.example.com) []",
        "Email Address []",
    ]
    assert _read(out).subject.rfc4514_string() == (
        "CN=www.mydomain.com,OU=Widgets,O=Widgets Inc.,L=Dallas,ST=Texas,C=US"
    )


def test_csr_new_prompt_enter_keeps_default_dot_clears(
    cli: CLI, tmp_path: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter(["", "", "", ".", "", "www.example.com", ""])
    monkeypatch.setattr(console, "is_terminal", lambda: True)
    monkeypatch.setattr(typer, "prompt", lambda text, **kwargs: next(answers))
    out = tmp_path / "req.csr"
    result = cli("csr", "new", "--key", key_file, "--out", out, "--country", "DE", "--org", "Old")
    assert result.rc == 0, result.err
    assert _read(out).subject.rfc4514_string() == "CN=www.example.com,C=DE"


def test_csr_new_prompted_url_explained_and_asked_again(
    cli: CLI, tmp_path: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    answers = iter(
        [
            "UK",
            "GB",
            "",
            "",
            "",
            "",
            "https://secure.mydomain.com/checkout",
            "secure.mydomain.com",
            "",
        ]
    )

    def fake_prompt(text: str, **kwargs: object) -> str:
        asked.append(text)
        return next(answers)

    monkeypatch.setattr(console, "is_terminal", lambda: True)
    monkeypatch.setattr(typer, "prompt", fake_prompt)
    out = tmp_path / "req.csr"
    result = cli("csr", "new", "--key", key_file, "--out", out)
    assert result.rc == 0, result.err
    assert "error: 'UK' is not an ISO 3166 country code" in result.err
    assert "hint: Put only the host name: secure.mydomain.com" in result.err
    assert asked.count("Country Name (2 letter code) []") == 2
    assert _read(out).subject.rfc4514_string() == "CN=secure.mydomain.com,C=GB"


def test_csr_new_prompt_bad_default_cleared(
    cli: CLI, tmp_path: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    answers = iter(["", "", "", "", "", "", "www.example.com", ""])

    def fake_prompt(text: str, **kwargs: object) -> str:
        asked.append(text)
        return next(answers)

    monkeypatch.setattr(console, "is_terminal", lambda: True)
    monkeypatch.setattr(typer, "prompt", fake_prompt)
    out = tmp_path / "req.csr"
    result = cli("csr", "new", "--key", key_file, "--out", out, "--country", "UK")
    assert result.rc == 0, result.err
    assert asked[:2] == ["Country Name (2 letter code) [UK]", "Country Name (2 letter code) []"]
    assert _read(out).subject.rfc4514_string() == "CN=www.example.com"


# ----------------------------------------------------------------- the bad-input battery

NAME_MISTAKES = [
    (
        "http://secure.mydomain.com/checkout",
        ["is a URL, not a host name", "hint: Put only the host name: secure.mydomain.com"],
    ),
    ("secure.mydomain.com/checkout", ["is a path", "secure.mydomain.com"]),
    ("/var/www/html", ["is a path"]),
    ("www.mydomain.com:443", ["has a port", "hint: Put only the host name: www.mydomain.com"]),
    ("www mydomain.com", ["contains a space"]),
    ("my_host.mydomain.com", ["contains an underscore"]),
    ("www..mydomain.com", ["has an empty label"]),
    ("a" * 64 + ".com", ["longer than 63 characters"]),
    (".".join(["a" * 63] * 4), ["longer than 253 characters"]),
    ("*.*.mydomain.com", ["bad wildcard"]),
    ("www.*.mydomain.com", ["bad wildcard"]),
    ("*.com", ["wildcard over a top-level domain"]),
    ("webmaster@mydomain.com", ["looks like an email address", "--email"]),
    ("xn--zz.mydomain.com", ["not a valid IDN A-label"]),
]


@pytest.mark.parametrize(("name", "words"), NAME_MISTAKES, ids=[n[:30] for n, _ in NAME_MISTAKES])
@pytest.mark.parametrize("option", ["--cn", "--san"])
def test_csr_new_name_mistake_refused(
    cli: CLI, tmp_path: Path, key_file: Path, option: str, name: str, words: list[str]
) -> None:
    out = tmp_path / "req.csr"
    result = cli("csr", "new", "--key", key_file, "--out", out, option, name)
    _assert_clean_error(result, *words)
    assert result.out == ""
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_csr_new_ip_as_cn_goes_to_ip_san(cli: CLI, tmp_path: Path, key_file: Path) -> None:
    out = tmp_path / "req.csr"
    assert cli("csr", "new", "--key", key_file, "--out", out, "--cn", "192.0.2.1").rc == 0
    ext = _read(out).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(i) for i in ext.get_values_for_type(x509.IPAddress)] == ["192.0.2.1"]


def test_csr_new_country_uk_refused(cli: CLI, tmp_path: Path, key_file: Path) -> None:
    out = tmp_path / "req.csr"
    result = cli(
        "csr",
        "new",
        "--key",
        key_file,
        "--out",
        out,
        "--cn",
        "www.example.co.uk",
        "--country",
        "UK",
    )
    _assert_clean_error(result, "'UK' is not an ISO 3166 country code", "GB")
    assert not out.exists()


@pytest.mark.parametrize("country", ["USA", "1", "United Kingdom"])
def test_csr_new_country_not_two_letters_refused(
    cli: CLI, tmp_path: Path, key_file: Path, country: str
) -> None:
    result = cli(
        "csr",
        "new",
        "--key",
        key_file,
        "--out",
        tmp_path / "r.csr",
        "--cn",
        "a.example.com",
        "--country",
        country,
    )
    _assert_clean_error(result, "is not a two-letter country code")


def test_csr_new_bad_email_refused(cli: CLI, tmp_path: Path, key_file: Path) -> None:
    result = cli(
        "csr",
        "new",
        "--key",
        key_file,
        "--out",
        tmp_path / "r.csr",
        "--cn",
        "a.example.com",
        "--email",
        "webmaster",
    )
    _assert_clean_error(result, "is not an email address")


def test_csr_new_no_names_refused(cli: CLI, tmp_path: Path, key_file: Path) -> None:
    result = cli("csr", "new", "--key", key_file, "--out", tmp_path / "r.csr")
    _assert_clean_error(result, "No host name was given", "--cn www.example.com")
    assert not (tmp_path / "r.csr").exists()


def test_csr_new_existing_out_refused_untouched(cli: CLI, tmp_path: Path, key_file: Path) -> None:
    out = tmp_path / "req.csr"
    out.write_text("the CSR the CA already has")
    result = cli("csr", "new", "--key", key_file, "--out", out, "--cn", "a.example.com")
    _assert_clean_error(result, "exists already", "--force")
    assert out.read_text() == "the CSR the CA already has"
    assert leftovers(tmp_path) == []


def test_csr_new_wrong_passphrase_refused(
    cli: CLI, tmp_path: Path, encrypted_key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PADLOCK_PASSPHRASE", "not the pass phrase")
    out = tmp_path / "req.csr"
    result = cli("csr", "new", "--key", encrypted_key_file, "--out", out, "--cn", "a.example.com")
    _assert_clean_error(result, "The pass phrase is wrong")
    assert not out.exists()


def test_csr_new_empty_passphrase_refused(
    cli: CLI, tmp_path: Path, encrypted_key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PADLOCK_PASSPHRASE", "")
    out = tmp_path / "req.csr"
    result = cli("csr", "new", "--key", encrypted_key_file, "--out", out, "--cn", "a.example.com")
    _assert_clean_error(result, "pass phrase given is empty")
    assert not out.exists()


def test_csr_new_no_passphrase_no_terminal_refused(
    cli: CLI, tmp_path: Path, encrypted_key_file: Path
) -> None:
    out = tmp_path / "req.csr"
    result = cli("csr", "new", "--key", encrypted_key_file, "--out", out, "--cn", "a.example.com")
    _assert_clean_error(result, "The key is encrypted and no pass phrase was given")


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("rsa-1024.pem", ["This RSA key has 1024 bits", "can be factored", "padlock key new"]),
        ("secp256k1.pem", ["The elliptic curve secp256k1 is not supported", "P-256"]),
        ("p224.pem", ["The elliptic curve secp224r1 is not supported"]),
        ("x25519.pem", ["cannot sign a certificate request"]),
    ],
)
def test_csr_new_unusable_key_refused(
    cli: CLI, tmp_path: Path, openssl_keys: OpensslKeys, name: str, words: list[str]
) -> None:
    out = tmp_path / "req.csr"
    result = cli("csr", "new", "--key", openssl_keys[name], "--out", out, "--cn", "a.example.com")
    _assert_clean_error(result, *words)
    assert not out.exists()


def test_csr_new_key_is_a_csr_refused(
    cli: CLI, tmp_path: Path, make: Maker, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    csr = make.csr_file(ec_key)
    result = cli("csr", "new", "--key", csr, "--out", tmp_path / "new.csr", "--cn", "a.example.com")
    _assert_clean_error(result, "is a certificate signing request, not a private key")


def test_csr_new_key_is_a_certificate_refused(
    cli: CLI, tmp_path: Path, make: Maker, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    cert = make.cert_file(ec_key, der=True)
    result = cli(
        "csr", "new", "--key", cert, "--out", tmp_path / "new.csr", "--cn", "a.example.com"
    )
    _assert_clean_error(result, "is a certificate, not a private key")


def test_csr_new_key_file_with_two_objects_refused(
    cli: CLI, tmp_path: Path, make: Maker, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    cert_pem = make.cert(ec_key).public_bytes(serialization.Encoding.PEM)
    both = make.write("both.pem", pem_of(ec_key) + cert_pem)
    result = cli("csr", "new", "--key", both, "--out", tmp_path / "r.csr", "--cn", "a.example.com")
    _assert_clean_error(result, "holds 2 PEM objects", "where one private key is expected")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", ["is not a readable private key"]),
        (b"garbage", ["is not a readable private key"]),
        (b"-----BEGIN PRIVATE KEY-----\nMIGH\n", ["is not a readable private key"]),
        (b"\x30\x82\x05\x00\x02\x01", ["is not a readable private key"]),
    ],
    ids=["empty", "garbage", "truncated-pem", "truncated-der"],
)
def test_csr_new_junk_key_refused(
    cli: CLI, tmp_path: Path, make: Maker, content: bytes, words: list[str]
) -> None:
    key = make.write("junk.key", content)
    out = tmp_path / "r.csr"
    _assert_clean_error(
        cli("csr", "new", "--key", key, "--out", out, "--cn", "a.example.com"), *words
    )
    assert not out.exists()


def test_csr_new_truncated_key_refused(
    cli: CLI, tmp_path: Path, make: Maker, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    pem = pem_of(ec_key)
    key = make.write("cut.key", pem[: len(pem) - 40])
    out = tmp_path / "r.csr"
    result = cli("csr", "new", "--key", key, "--out", out, "--cn", "a.example.com")
    _assert_clean_error(result, "cut.key' is not a readable private key")
    assert not out.exists()


def test_csr_new_missing_key_refused(cli: CLI, tmp_path: Path) -> None:
    result = cli(
        "csr",
        "new",
        "--key",
        tmp_path / "nope.key",
        "--out",
        tmp_path / "r.csr",
        "--cn",
        "a.example.com",
    )
    _assert_clean_error(result, "The key file", "does not exist")


def test_csr_new_key_is_directory_refused(cli: CLI, tmp_path: Path) -> None:
    result = cli(
        "csr", "new", "--key", tmp_path, "--out", tmp_path / "r.csr", "--cn", "a.example.com"
    )
    _assert_clean_error(result, "is a directory, not a file")


def test_csr_new_out_in_missing_directory(cli: CLI, tmp_path: Path, key_file: Path) -> None:
    result = cli(
        "csr", "new", "--key", key_file, "--out", tmp_path / "no" / "r.csr", "--cn", "a.example.com"
    )
    _assert_clean_error(result, "does not exist")


def test_csr_new_real_process_url_refused(
    padlock_proc: Callable[..., Result], tmp_path: Path, key_file: Path
) -> None:
    result = padlock_proc(
        "csr",
        "new",
        "--key",
        key_file.name,
        "--out",
        "www.mydomain.com.csr",
        "--cn",
        "http://secure.mydomain.com/checkout",
    )
    assert result.rc == 1
    assert result.err == (
        "error: 'http://secure.mydomain.com/checkout' is a URL, not a host name.\n"
        "hint: Put only the host name: secure.mydomain.com\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [key_file.name]


def test_csr_new_unreadable_key(
    cli: CLI,
    make: Maker,
    ec_key: ec.EllipticCurvePrivateKey,
    unreadable: Callable[[Path], None],
    tmp_path: Path,
) -> None:
    key = make.write("secret.key", pem_of(ec_key))
    unreadable(key)
    result = cli("csr", "new", "--key", key, "--out", tmp_path / "r.csr", "--cn", "a.example.com")
    _assert_clean_error(result, "The key file", "cannot be read: permission denied")
    assert not (tmp_path / "r.csr").exists()
