"""pki/resign.py: a certificate, CRL or OCSP response signed by a throwaway key gets the real
key's signature in its place, and cryptography reads and verifies the result."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from padlock.pki import resign

DER = serialization.Encoding.DER
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "resign test")])


def _cert(key: ec.EllipticCurvePrivateKey, signer: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(NAME)
        .issuer_name(NAME)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=1))
        .sign(signer, hashes.SHA256())
    )


def _sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


def test_resign_certificate_and_crl_verify_with_the_real_key() -> None:
    real, throwaway = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    first = _cert(real, throwaway)
    signed = resign.with_signature(
        first.public_bytes(DER), _sign(real, first.tbs_certificate_bytes)
    )
    cert = x509.load_der_x509_certificate(signed)
    cert.verify_directly_issued_by(cert)  # self-signed by the real key now
    assert cert.tbs_certificate_bytes == first.tbs_certificate_bytes

    crl_first = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(NAME)
        .last_update(NOW)
        .next_update(NOW + dt.timedelta(days=1))
        .sign(throwaway, hashes.SHA256())
    )
    crl_der = resign.with_signature(
        crl_first.public_bytes(DER), _sign(real, crl_first.tbs_certlist_bytes)
    )
    assert x509.load_der_x509_crl(crl_der).is_signature_valid(real.public_key())


def test_resign_ocsp_response_names_and_carries_the_real_responder() -> None:
    real, throwaway = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    responder, stand_in = _cert(real, real), _cert(throwaway, throwaway)
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=responder,
            issuer=responder,
            algorithm=hashes.SHA1(),  # noqa: S303 - RFC 5019 2.1.1's CertID hash
            cert_status=ocsp.OCSPCertStatus.GOOD,
            this_update=NOW,
            next_update=NOW + dt.timedelta(days=1),
            revocation_time=None,
            revocation_reason=None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, stand_in)
        .certificates([stand_in])
        .add_extension(x509.OCSPNonce(b"0123456789abcdef"), critical=False)
    )
    first = builder.sign(throwaway, hashes.SHA256()).public_bytes(DER)
    key_hash = x509.SubjectKeyIdentifier.from_public_key(real.public_key()).digest
    der = resign.ocsp_as_responder(
        first, key_hash, responder.public_bytes(DER), lambda tbs: _sign(real, tbs)
    )
    response = ocsp.load_der_ocsp_response(der)
    assert response.responder_key_hash == key_hash
    assert response.certificates == [responder]
    assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == (
        b"0123456789abcdef"
    )
    real.public_key().verify(
        response.signature, response.tbs_response_bytes, ec.ECDSA(hashes.SHA256())
    )


def test_resign_refuses_what_is_not_signed() -> None:
    with pytest.raises(ValueError):
        resign.with_signature(b"\x30\x03\x02\x01\x01", b"sig")
    with pytest.raises(ValueError):  # an unsuccessful OCSP response has no signature
        resign.ocsp_as_responder(b"\x30\x03\x0a\x01\x01", b"k", b"c", lambda t: b"")
