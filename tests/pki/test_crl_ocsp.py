"""The pure revocation vocabulary: reasons, OCSP request parsing, CRL and response builders."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from padlock.errors import BadRevocationReason, Malformed, Unauthorized
from padlock.pki import crl_ocsp

DER = serialization.Encoding.DER
SHA1 = hashes.SHA1  # RFC 5019: CertIDs by SHA-1
NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def _ca() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "XX"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Tests Issuing CA"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(12345)
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


CA, CA_KEY = _ca()


def _request(
    serial: int, alg: hashes.HashAlgorithm | None = None, nonce: bytes | None = None
) -> bytes:
    name_hash, key_hash = crl_ocsp.issuer_hashes(CA)[(alg or SHA1()).name]
    builder = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        name_hash, key_hash, serial, alg or SHA1()
    )
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(DER)


# --- reasons ----------------------------------------------------------------------------------


def test_reasons_are_the_br_subset() -> None:
    assert {r.code for r in crl_ocsp.REASONS.values()} == {0, 1, 3, 4, 5, 9}
    assert not crl_ocsp.REASONS["unspecified"].in_crl_entry
    assert not crl_ocsp.REASONS["privilegeWithdrawn"].subscriber_may


@pytest.mark.parametrize("bad", [2, 6, 7, 8, 10, -1, "certificateHold", "cACompromise", "", True])
def test_reason_invalid(bad: object) -> None:
    with pytest.raises(BadRevocationReason):
        crl_ocsp.parse_reason(bad)  # type: ignore[arg-type]


def test_reason_by_flag_round_trip() -> None:
    for reason in crl_ocsp.REASONS.values():
        assert crl_ocsp.reason_by_flag(reason.flag) is reason
    assert crl_ocsp.reason_by_flag(None).name == "unspecified"


# --- OCSP requests ----------------------------------------------------------------------------


@pytest.mark.parametrize("alg", [SHA1(), hashes.SHA256(), hashes.SHA384(), hashes.SHA512()])
@pytest.mark.parametrize("serial", [1, 127, 128, 255, 256, (1 << 127) + 5, (1 << 159) - 1])
def test_parse_matches_cryptography(alg: hashes.HashAlgorithm, serial: int) -> None:
    der = _request(serial, alg)
    fast = crl_ocsp._parse_fast(der)
    slow = crl_ocsp._parse_slow(der)
    assert fast == slow
    assert fast.serial == serial and fast.hash_alg == alg.name


@pytest.mark.parametrize("size", [1, 16, 32])
def test_parse_nonce(size: int) -> None:
    query = crl_ocsp.parse_ocsp_request(_request(5, nonce=b"\xab" * size))
    assert query.nonce == b"\xab" * size and not query.nonce_refused


@pytest.mark.parametrize("size", [33, 64])
def test_parse_nonce_too_long_is_not_echoed(size: int) -> None:
    query = crl_ocsp.parse_ocsp_request(_request(5, nonce=b"\xab" * size))
    assert query.nonce is None and query.nonce_refused


def test_parse_openssl_style_request(tmp_path: object) -> None:
    """A request as ``openssl ocsp -reqout`` writes it: nonce as OCTET STRING in OCTET STRING."""
    import subprocess
    from pathlib import Path

    work = Path(str(tmp_path))
    (work / "ca.pem").write_bytes(CA.public_bytes(serialization.Encoding.PEM))
    subprocess.run(
        ["/usr/bin/openssl", "ocsp", "-issuer", "ca.pem", "-serial", "0x1234", "-reqout", "r.der"],
        cwd=work,
        check=True,
        capture_output=True,
        timeout=60,
    )
    query = crl_ocsp.parse_ocsp_request((work / "r.der").read_bytes())
    assert query.serial == 0x1234
    assert query.nonce is not None and len(query.nonce) == 16
    assert (query.issuer_name_hash, query.issuer_key_hash) == crl_ocsp.issuer_hashes(CA)["sha1"]


@pytest.mark.parametrize(
    "der",
    [
        b"",
        b"\x30",
        b"\x30\x00",
        b"\x30\x80\x00\x00",  # indefinite length (BER)
        b"\x30\x03\x02\x01\x01",
        b"\x04\x00",
        b"\x30\x84\xff\xff\xff\xff",
    ],
)
def test_parse_malformed(der: bytes) -> None:
    with pytest.raises(Malformed):
        crl_ocsp.parse_ocsp_request(der)


def test_parse_two_requests_refused() -> None:
    name_hash, key_hash = crl_ocsp.issuer_hashes(CA)["sha1"]
    one = crl_ocsp._Der(_request(5)).sub(0x30).sub(0x30).sub(0x30)  # requestList
    single = one.buf[one.pos : one.end]
    doubled = single + single
    body = bytes([0x30, len(doubled)]) + doubled
    tbs = bytes([0x30, len(body)]) + body
    der = bytes([0x30, len(tbs)]) + tbs
    with pytest.raises(Malformed):
        crl_ocsp.parse_ocsp_request(der)
    del name_hash, key_hash


def test_parse_too_large() -> None:
    with pytest.raises(Malformed, match="larger than"):
        crl_ocsp.parse_ocsp_request(b"\x30" * (crl_ocsp.MAX_REQUEST_BYTES + 1))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_parse_never_raises_anything_else(data: bytes) -> None:
    with contextlib.suppress(Malformed):
        crl_ocsp.parse_ocsp_request(data)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=200), st.integers(min_value=0, max_value=255))
def test_parse_survives_flipped_bytes(position: int, value: int) -> None:
    der = bytearray(_request(0xDEADBEEF, nonce=b"n" * 16))
    der[position % len(der)] = value
    try:
        query = crl_ocsp.parse_ocsp_request(bytes(der))
    except Malformed:
        return
    assert isinstance(query.serial, int)


def test_decode_get_path() -> None:
    der = _request(99)
    text = base64.b64encode(der).decode()
    assert crl_ocsp.decode_get_path(text) == der
    assert crl_ocsp.decode_get_path(text.replace("+", "-").replace("/", "_").rstrip("=")) == der
    for bad in ["", "***", "a" * (crl_ocsp.MAX_REQUEST_BYTES * 3)]:
        with pytest.raises(Malformed):
            crl_ocsp.decode_get_path(bad)


def test_decode_get_path_keeps_a_final_slash_of_the_base64() -> None:
    """base64 may end with "/" (its 63rd digit): that is the request's, not the URL's."""
    found = 0
    for serial in range(1, 5000):
        der = _request(serial)
        text = base64.b64encode(der).decode()
        if not text.endswith("/"):
            continue
        found += 1
        assert crl_ocsp.decode_get_path(text) == der
        assert crl_ocsp.decode_get_path("/" + text) == der
        assert crl_ocsp.decode_get_path(text.replace("/", "_")) == der  # URL-safe alphabet
        if found == 3:
            break
    assert found == 3


def test_decode_get_path_drops_a_slash_added_after_the_request() -> None:
    for serial in range(1, 200):
        der = _request(serial)
        text = base64.b64encode(der).decode()
        if text.endswith("/"):
            continue  # there the slash is base64's own
        assert crl_ocsp.decode_get_path(text + "/") == der
        assert crl_ocsp.decode_get_path(text.rstrip("=") + "/") == der


# --- builders ---------------------------------------------------------------------------------


def test_crl_builder_many_entries_and_reasons() -> None:
    entries = [
        crl_ocsp.RevokedEntry(n, NOW, name)
        for n, name in zip(range(1000, 1600), list(crl_ocsp.REASONS) * 100, strict=True)
    ]
    this_update, next_update = crl_ocsp.crl_times(NOW, crl_ocsp.CRL_DAYS)
    builder = crl_ocsp.crl_builder(CA, 42, this_update, next_update, entries)
    crl = builder.sign(CA_KEY, hashes.SHA256())
    assert len(crl) == 600
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 42
    unspecified = crl.get_revoked_certificate_by_serial_number(1000)
    assert unspecified is not None and not unspecified.extensions
    compromised = crl.get_revoked_certificate_by_serial_number(1001)
    assert compromised is not None
    assert compromised.extensions.get_extension_for_class(x509.CRLReason).value.reason is (
        x509.ReasonFlags.key_compromise
    )


def test_ocsp_responder_builder_profile() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = crl_ocsp.ocsp_responder_builder(CA, key.public_key(), 77, NOW).sign(
        CA_KEY, hashes.SHA256()
    )
    assert cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "XX"
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).critical
    assert not crl_ocsp.responder_needs_renewal(cert, NOW)
    assert crl_ocsp.responder_needs_renewal(cert, NOW + dt.timedelta(days=61))


@pytest.mark.parametrize(
    "make",
    [
        lambda: ec.generate_private_key(ec.SECP256R1()),
        lambda: ec.generate_private_key(ec.SECP384R1()),
        lambda: rsa.generate_private_key(65537, 2048),
        ed25519.Ed25519PrivateKey.generate,
    ],
)
def test_statement_sign_and_verify(make: object) -> None:
    key = make()  # type: ignore[operator]
    statement = crl_ocsp.revocation_statement(
        "AB" * 32, "keyCompromise", "2026-11-27T12:00:00Z", "http://ca/"
    )
    assert statement.endswith(b"\nhttp://ca")
    signature = crl_ocsp.sign_statement(key, statement)
    crl_ocsp.verify_statement(key.public_key(), statement, signature)
    with pytest.raises(Unauthorized):
        crl_ocsp.verify_statement(key.public_key(), statement + b"x", signature)


def test_parse_timestamp() -> None:
    assert crl_ocsp.parse_timestamp("2026-11-27T12:00:00Z") == NOW
    for bad in ["yesterday", "2026-11-27T12:00:00"]:
        with pytest.raises(Malformed):
            crl_ocsp.parse_timestamp(bad)


def test_parse_raw_nonce_falls_back_to_the_der_reader() -> None:
    """A pre-RFC 8954 client puts the nonce's octets straight into extnValue."""
    name_hash, key_hash = crl_ocsp.issuer_hashes(CA)["sha1"]
    raw = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.5.5.7.48.1.2"), b"r" * 16)
    der = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(name_hash, key_hash, 5, SHA1())
        .add_extension(raw, critical=False)
        .build()
        .public_bytes(DER)
    )
    assert crl_ocsp.parse_ocsp_request(der).nonce == b"r" * 16
