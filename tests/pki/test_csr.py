"""CSRs: the right names (the CN always a SAN too), readable by openssl, and openssl's readable."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID

from padlock.errors import BadCSR, InvalidName, UnsupportedKey, WeakKey
from padlock.pki import csr as csrlib
from padlock.pki import keys
from padlock.pki.csr import SubjectFields, build_csr, csr_names, load_csr, plan_names
from tests.conftest import Maker, OpensslKeys, pem_of

OpenSSL = Callable[..., subprocess.CompletedProcess[str]]

SEED_FIELDS = SubjectFields(
    country="US",
    state="Texas",
    locality="Dallas",
    organization="Widgets Inc.",
    organizational_unit="Widgets",
    common_name="www.mydomain.com",
)


def _sans(req: x509.CertificateSigningRequest) -> list[x509.GeneralName]:
    return list(req.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)


def _attr(req: x509.CertificateSigningRequest, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(a.value) for a in req.subject.get_attributes_for_oid(oid)]


# ----------------------------------------------------------------- plan_names


def test_plan_names_cn_first_among_sans() -> None:
    assert plan_names("WWW.Example.com", ["example.com", "www.example.com"]) == (
        "www.example.com",
        ["www.example.com", "example.com"],
        [],
    )


def test_plan_names_cn_from_first_san() -> None:
    assert plan_names(None, ["b.example.com", "a.example.com"]) == (
        "b.example.com",
        ["b.example.com", "a.example.com"],
        [],
    )


def test_plan_names_ip_addresses() -> None:
    assert plan_names(None, ["192.0.2.1", "2001:DB8::1", "192.0.2.1"]) == (
        "192.0.2.1",
        [],
        ["192.0.2.1", "2001:db8::1"],
    )


def test_plan_names_nothing_refused() -> None:
    with pytest.raises(InvalidName, match="No host name was given") as info:
        plan_names(None, [])
    assert info.value.hint and "--cn" in info.value.hint


def test_plan_names_bad_san_refused() -> None:
    with pytest.raises(InvalidName, match="is a URL"):
        plan_names("www.example.com", ["https://shop.example.com/cart"])


# ----------------------------------------------------------------- build_csr


def test_build_csr_every_key_type(any_key: CertificateIssuerPrivateKeyTypes) -> None:
    req = build_csr(any_key, SubjectFields(common_name="www.example.com"), [])
    assert req.is_signature_valid
    assert keys.spki_der(req.public_key()) == keys.spki_der(any_key.public_key())
    assert [n.value for n in _sans(req)] == ["www.example.com"]


def test_build_csr_seed_fields(ec_key: ec.EllipticCurvePrivateKey) -> None:
    req = build_csr(ec_key, SEED_FIELDS, ["mydomain.com"])
    assert req.subject.rfc4514_string() == (
        "CN=www.mydomain.com,OU=Widgets,O=Widgets Inc.,L=Dallas,ST=Texas,C=US"
    )
    assert [n.value for n in _sans(req)] == ["www.mydomain.com", "mydomain.com"]
    ext = req.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert not ext.critical


def test_build_csr_names_normalised(ec_key: ec.EllipticCurvePrivateKey) -> None:
    req = build_csr(ec_key, SubjectFields(common_name="WWW.Bücher.DE"), ["*.Bücher.de."])
    assert _attr(req, NameOID.COMMON_NAME) == ["www.xn--bcher-kva.de"]
    assert [n.value for n in _sans(req)] == ["www.xn--bcher-kva.de", "*.xn--bcher-kva.de"]


def test_build_csr_ip_san(ec_key: ec.EllipticCurvePrivateKey) -> None:
    req = build_csr(ec_key, SubjectFields(common_name="www.example.com"), ["192.0.2.7"])
    assert [str(n.value) for n in _sans(req)] == ["www.example.com", "192.0.2.7"]
    assert isinstance(_sans(req)[1], x509.IPAddress)


def test_build_csr_no_cn_uses_first_san(ec_key: ec.EllipticCurvePrivateKey) -> None:
    req = build_csr(ec_key, SubjectFields(), ["shop.example.com"])
    assert _attr(req, NameOID.COMMON_NAME) == ["shop.example.com"]


def test_build_csr_long_name_only_in_san(ec_key: ec.EllipticCurvePrivateKey) -> None:
    long_name = "a" * 60 + ".example.com"
    req = build_csr(ec_key, SubjectFields(common_name=long_name, organization="Widgets"), [])
    assert _attr(req, NameOID.COMMON_NAME) == []
    assert _attr(req, NameOID.ORGANIZATION_NAME) == ["Widgets"]
    assert [n.value for n in _sans(req)] == [long_name]


def test_build_csr_cn_of_64_kept(ec_key: ec.EllipticCurvePrivateKey) -> None:
    name = "a" * 52 + ".example.com"
    assert len(name) == 64
    req = build_csr(ec_key, SubjectFields(common_name=name), [])
    assert _attr(req, NameOID.COMMON_NAME) == [name]


def test_build_csr_country_checked(ec_key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(InvalidName, match="'UK' is not an ISO 3166") as info:
        build_csr(ec_key, SubjectFields(country="UK", common_name="www.example.co.uk"), [])
    assert info.value.hint and "GB" in info.value.hint


def test_build_csr_country_upper_cased(ec_key: ec.EllipticCurvePrivateKey) -> None:
    req = build_csr(ec_key, SubjectFields(country="gb", common_name="www.example.co.uk"), [])
    assert _attr(req, NameOID.COUNTRY_NAME) == ["GB"]


def test_build_csr_organization_too_long_refused(ec_key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(BadCSR, match=r"longer than the 64 characters X\.520 allows"):
        build_csr(ec_key, SubjectFields(organization="W" * 65, common_name="a.example.com"), [])


def test_build_csr_locality_up_to_128(ec_key: ec.EllipticCurvePrivateKey) -> None:
    req = build_csr(ec_key, SubjectFields(locality="L" * 128, common_name="a.example.com"), [])
    assert _attr(req, NameOID.LOCALITY_NAME) == ["L" * 128]
    with pytest.raises(BadCSR, match="128 characters"):
        build_csr(ec_key, SubjectFields(locality="L" * 129, common_name="a.example.com"), [])


def test_build_csr_email(ec_key: ec.EllipticCurvePrivateKey) -> None:
    fields = SubjectFields(common_name="a.example.com", email="webmaster@example.com")
    req = build_csr(ec_key, fields, [])
    assert _attr(req, NameOID.EMAIL_ADDRESS) == ["webmaster@example.com"]


@pytest.mark.parametrize("email", ["webmaster", "web master@example.com", "ü@example.com", "@x"])
def test_build_csr_bad_email_refused(ec_key: ec.EllipticCurvePrivateKey, email: str) -> None:
    with pytest.raises(BadCSR, match="is not an email address a CSR can hold"):
        build_csr(ec_key, SubjectFields(common_name="a.example.com", email=email), [])


def test_build_csr_rsa_1024_refused(openssl_keys: OpensslKeys) -> None:
    key = keys.load_private_key(openssl_keys["rsa-1024.pem"].read_bytes(), None)
    with pytest.raises(WeakKey, match="1024 bits"):
        build_csr(key, SubjectFields(common_name="www.example.com"), [])


def test_build_csr_x25519_refused(openssl_keys: OpensslKeys) -> None:
    key = keys.load_private_key(openssl_keys["x25519.pem"].read_bytes(), None)
    with pytest.raises(UnsupportedKey):
        build_csr(key, SubjectFields(common_name="www.example.com"), [])


@pytest.mark.parametrize(
    ("curve", "hash_name"),
    [(ec.SECP256R1(), "sha256"), (ec.SECP384R1(), "sha384"), (ec.SECP521R1(), "sha512")],
)
def test_build_csr_hash_fits_curve(curve: ec.EllipticCurve, hash_name: str) -> None:
    req = build_csr(ec.generate_private_key(curve), SubjectFields(common_name="a.example.com"), [])
    assert req.signature_hash_algorithm is not None
    assert req.signature_hash_algorithm.name == hash_name


def test_build_csr_rsa_sha256(rsa_key: rsa.RSAPrivateKey) -> None:
    req = build_csr(rsa_key, SubjectFields(common_name="a.example.com"), [])
    assert isinstance(req.signature_hash_algorithm, hashes.SHA256)


def test_build_csr_ed25519_no_hash(ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    req = build_csr(ed25519_key, SubjectFields(common_name="a.example.com"), [])
    assert req.signature_hash_algorithm is None


# ----------------------------------------------------------------- openssl reads ours


def test_build_csr_openssl_verifies(
    any_key: CertificateIssuerPrivateKeyTypes, tmp_path: Path, openssl: OpenSSL
) -> None:
    req = build_csr(any_key, SEED_FIELDS, ["mydomain.com", "192.0.2.1"])
    path = tmp_path / "req.csr"
    path.write_bytes(req.public_bytes(serialization.Encoding.PEM))
    proc = openssl("req", "-verify", "-noout", "-in", path)
    assert "verify OK" in proc.stdout + proc.stderr
    text = openssl("req", "-text", "-noout", "-in", path).stdout
    assert "DNS:www.mydomain.com, DNS:mydomain.com, IP Address:192.0.2.1" in text
    assert (
        "C = US, ST = Texas, L = Dallas, O = Widgets Inc., OU = Widgets, CN = www.mydomain.com"
        in (text)
    )


def test_build_csr_openssl_reads_idn(
    ec_key: ec.EllipticCurvePrivateKey, tmp_path: Path, openssl: OpenSSL
) -> None:
    req = build_csr(ec_key, SubjectFields(common_name="bücher.de"), [])
    path = tmp_path / "req.csr"
    path.write_bytes(req.public_bytes(serialization.Encoding.PEM))
    assert "DNS:xn--bcher-kva.de" in openssl("req", "-text", "-noout", "-in", path).stdout


def test_build_csr_openssl_pubkey_matches_key(
    ec_key: ec.EllipticCurvePrivateKey, tmp_path: Path, openssl: OpenSSL
) -> None:
    req = build_csr(ec_key, SubjectFields(common_name="a.example.com"), [])
    (tmp_path / "req.csr").write_bytes(req.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(pem_of(ec_key))
    from_csr = openssl("req", "-in", "req.csr", "-pubkey", "-noout").stdout
    from_key = openssl("pkey", "-in", "key.pem", "-pubout").stdout
    assert from_csr == from_key


# ----------------------------------------------------------------- reading CSRs


@pytest.fixture
def openssl_csr(openssl_keys: OpensslKeys, tmp_path: Path, openssl: OpenSSL) -> Path:
    openssl(
        "req", "-new", "-key", openssl_keys["ec-sec1.pem"],
        "-subj", "/C=US/ST=Texas/L=Dallas/O=Widgets Inc./OU=Widgets/CN=www.mydomain.com",
        "-addext", "subjectAltName=DNS:www.mydomain.com,DNS:mydomain.com,IP:192.0.2.1",
        "-out", "openssl.csr",
    )  # fmt: skip
    return tmp_path / "openssl.csr"


def test_load_csr_openssl_pem(openssl_csr: Path) -> None:
    req = load_csr(openssl_csr.read_bytes())
    assert req.is_signature_valid
    assert csr_names(req) == (["www.mydomain.com", "mydomain.com"], ["192.0.2.1"])
    assert _attr(req, NameOID.ORGANIZATION_NAME) == ["Widgets Inc."]


def test_load_csr_openssl_der(openssl_csr: Path, openssl: OpenSSL, tmp_path: Path) -> None:
    openssl("req", "-in", openssl_csr, "-outform", "DER", "-out", "openssl.der")
    req = load_csr((tmp_path / "openssl.der").read_bytes())
    assert csr_names(req)[0] == ["www.mydomain.com", "mydomain.com"]


def test_load_csr_with_surrounding_whitespace(openssl_csr: Path) -> None:
    load_csr(b"\n\n  " + openssl_csr.read_bytes() + b"\n\n")


def test_csr_names_cn_only(openssl_keys: OpensslKeys, tmp_path: Path, openssl: OpenSSL) -> None:
    # The seed's CSR: a CN and no SAN.
    openssl(
        "req", "-new", "-key", openssl_keys["rsa-pkcs1.pem"],
        "-subj", "/C=US/O=Widgets Inc./CN=www.mydomain.com", "-out", "seed.csr",
    )  # fmt: skip
    req = load_csr((tmp_path / "seed.csr").read_bytes())
    assert csr_names(req) == (["www.mydomain.com"], [])


def test_load_csr_private_key_refused(ec_key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(BadCSR, match=r"This is a private key, not a CSR\. Never send") as info:
        load_csr(pem_of(ec_key))
    assert info.value.hint and "padlock csr new" in info.value.hint


def test_load_csr_certificate_refused(make: Maker, ec_key: ec.EllipticCurvePrivateKey) -> None:
    pem = make.cert(ec_key).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(BadCSR, match="This is a certificate, not a CSR"):
        load_csr(pem)


def test_load_csr_two_objects_refused(
    make: Maker, ec_key: ec.EllipticCurvePrivateKey, other_ec_key: ec.EllipticCurvePrivateKey
) -> None:
    one = make.csr(ec_key).public_bytes(serialization.Encoding.PEM)
    two = make.csr(other_ec_key).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(BadCSR, match="more than one PEM object"):
        load_csr(one + two)


@pytest.mark.parametrize(
    "data",
    [b"", b"junk", b"\x30\x82\x01\x00", b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"],
    ids=["empty", "text", "der-truncated", "pem-truncated"],
)
def test_load_csr_garbage_refused(data: bytes) -> None:
    with pytest.raises(BadCSR, match="The CSR could not be read") as info:
        load_csr(data)
    assert info.value.hint and "BEGIN and END lines" in info.value.hint


def test_load_csr_truncated_refused(make: Maker, ec_key: ec.EllipticCurvePrivateKey) -> None:
    pem = make.csr(ec_key).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(BadCSR):
        load_csr(pem[: len(pem) // 2])


def test_subject_fields_defaults_empty() -> None:
    assert csrlib.SubjectFields() == SubjectFields(None, None, None, None, None, None, None)


def test_load_csr_der_ending_in_whitespace_byte(ec_key: ec.EllipticCurvePrivateKey) -> None:
    """DER is binary: a signature whose last byte is 0x20 or 0x0a must not be stripped."""
    for _ in range(2000):
        der = build_csr(ec_key, SubjectFields(common_name="a.example.com"), []).public_bytes(
            serialization.Encoding.DER
        )
        if der[-1:].isspace():
            break
    else:  # pragma: no cover - 2000 tries without a whitespace byte: p < 1e-50
        pytest.fail("no CSR ended in a whitespace byte")
    assert load_csr(der).public_bytes(serialization.Encoding.DER) == der
