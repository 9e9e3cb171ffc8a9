"""Human and JSON views: what ``openssl req -text`` / ``x509 -text`` show, but readable."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from padlock.pki import describe, keys, serials
from padlock.pki.csr import SubjectFields, build_csr
from padlock.pki.objects import Kind, load_any
from tests.conftest import PASSPHRASE, Maker, OpensslKeys, pem_of

OpenSSL = Callable[..., subprocess.CompletedProcess[str]]


def _info(data: bytes, now: dt.datetime | None = None, pw: bytes | None = None) -> describe.Info:
    info = describe.describe(load_any(data, pw), now=now)
    json.dumps(info)  # every view is JSON as it stands
    return info


# ----------------------------------------------------------------- keys


def test_describe_private_key(ec_key: ec.EllipticCurvePrivateKey) -> None:
    info = _info(pem_of(ec_key))
    assert info == {
        "kind": "private key",
        "encoding": "PEM",
        "encrypted": False,
        "key": {
            "type": "ECDSA P-256",
            "algorithm": "ECDSA",
            "bits": 256,
            "fingerprint": keys.fingerprint(ec_key.public_key()),
        },
    }


def test_describe_encrypted_key_without_passphrase(ec_key: ec.EllipticCurvePrivateKey) -> None:
    info = _info(keys.private_key_pem(ec_key, PASSPHRASE.encode()))
    assert info == {"kind": "encrypted private key", "encoding": "PEM", "encrypted": True}


def test_describe_encrypted_key_with_passphrase(rsa_key: rsa.RSAPrivateKey) -> None:
    info = _info(keys.private_key_pem(rsa_key, PASSPHRASE.encode()), pw=PASSPHRASE.encode())
    assert info["encrypted"] is True
    assert info["key"]["type"] == "RSA 2048"


def test_describe_public_key(openssl_keys: OpensslKeys) -> None:
    info = _info(openssl_keys["ec-public.pem"].read_bytes())
    assert info["kind"] == "public key"
    assert info["key"]["type"] == "ECDSA P-256"


def test_describe_ed25519_key(ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    assert _info(pem_of(ed25519_key))["key"]["type"] == "Ed25519"


# ----------------------------------------------------------------- CSRs


def test_describe_csr(ec_key: ec.EllipticCurvePrivateKey) -> None:
    fields = SubjectFields(
        country="US", organization="Widgets Inc.", common_name="www.mydomain.com"
    )
    req = build_csr(ec_key, fields, ["mydomain.com", "192.0.2.1"])
    info = describe.describe_csr(req)
    assert info["kind"] == "certificate signing request"
    assert info["subject"] == "C=US, O=Widgets Inc., CN=www.mydomain.com"
    assert info["names"] == ["DNS:www.mydomain.com", "DNS:mydomain.com", "IP:192.0.2.1"]
    assert info["key"]["fingerprint"] == keys.fingerprint(ec_key.public_key())
    assert info["signature_algorithm"] == "ecdsa-with-SHA256"
    assert info["signature_valid"] is True
    assert info["extensions"] == [
        {
            "name": "subjectAltName",
            "oid": "2.5.29.17",
            "critical": False,
            "value": "DNS:www.mydomain.com, DNS:mydomain.com, IP:192.0.2.1",
        }
    ]


def test_describe_csr_bad_signature(make: Maker, ec_key: ec.EllipticCurvePrivateKey) -> None:
    der = bytearray(make.csr(ec_key).public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01  # the last byte of the signature
    info = _info(bytes(der))
    assert info["signature_valid"] is False
    assert "Self-signature valid NO" in " ".join(describe.render_text(info).split())


def test_describe_csr_subject_order_like_openssl(
    openssl_pki: OpensslKeys, openssl: OpenSSL
) -> None:
    info = _info(openssl_pki["leaf.csr"].read_bytes())
    subject = openssl("req", "-in", openssl_pki["leaf.csr"], "-noout", "-subject").stdout
    # openssl: "subject=C = US, O = Widgets Inc., CN = www.mydomain.com"
    assert subject.strip().removeprefix("subject=").replace(" = ", "=") == info["subject"]


def test_describe_csr_without_subject_renders_empty(ec_key: ec.EllipticCurvePrivateKey) -> None:
    req = build_csr(ec_key, SubjectFields(common_name="a" * 60 + ".example.com"), [])
    text = describe.render_text(describe.describe_csr(req))
    assert "Subject               (empty)" in text


# ----------------------------------------------------------------- certificates


def test_describe_certificate(make: Maker, ec_key: ec.EllipticCurvePrivateKey) -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cert = make.cert(ec_key, ["www.example.com", "example.com"], days=21, not_before=start)
    now = start + dt.timedelta(days=1)
    info = _info(cert.public_bytes(serialization.Encoding.PEM), now=now)
    assert info["kind"] == "certificate"
    assert info["subject"] == info["issuer"] == "CN=www.example.com"
    assert info["serial"] == serials.display(cert.serial_number)
    assert info["not_before"] == "2026-01-01T00:00:00Z"
    assert info["not_after"] == "2026-01-22T00:00:00Z"
    assert info["names"] == ["DNS:www.example.com", "DNS:example.com"]
    assert info["days_left"] == 20
    assert info["expired"] is False
    assert info["self_signed"] is True
    assert info["sha256_fingerprint"] == cert.fingerprint(hashes.SHA256()).hex(":").upper()


def test_describe_certificate_expired(make: Maker, ec_key: ec.EllipticCurvePrivateKey) -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cert = make.cert(ec_key, days=21, not_before=start)
    info = describe.describe_certificate(cert, now=start + dt.timedelta(days=30))
    assert info["expired"] is True
    assert info["days_left"] < 0
    assert "Expired               YES" in describe.render_text(info)


def test_describe_certificate_without_now_has_no_days(
    make: Maker, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    info = describe.describe_certificate(make.cert(ec_key))
    assert "days_left" not in info and "expired" not in info


def test_describe_certificate_fingerprint_like_openssl(
    openssl_pki: OpensslKeys, openssl: OpenSSL
) -> None:
    info = _info(openssl_pki["leaf.pem"].read_bytes())
    out = openssl("x509", "-in", openssl_pki["leaf.pem"], "-noout", "-fingerprint", "-sha256")
    assert out.stdout.strip() == f"sha256 Fingerprint={info['sha256_fingerprint']}"
    serial = openssl("x509", "-in", openssl_pki["leaf.pem"], "-noout", "-serial").stdout
    assert serial.strip() == f"serial={info['serial']}"  # openssl's own form


def test_describe_certificate_extensions(ec_key: ec.EllipticCurvePrivateKey) -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.example.com")])
    ski = x509.SubjectKeyIdentifier.from_public_key(ec_key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ec_key.public_key())
        .serial_number(0x1234)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP,
                        x509.UniformResourceIdentifier("http://ocsp.example.com"),
                    )
                ]
            ),
            critical=False,
        )
        .add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        [x509.UniformResourceIdentifier("http://crl.example.com/root.crl")],
                        None,
                        None,
                        None,
                    )
                ]
            ),
            critical=False,
        )
        .add_extension(
            x509.CertificatePolicies(
                [x509.PolicyInformation(x509.ObjectIdentifier("2.23.140.1.2.1"), None)]
            ),
            critical=False,
        )
        .sign(ec_key, hashes.SHA256())
    )
    values = {
        e["name"]: (e["critical"], e["value"])
        for e in describe.describe_certificate(cert)["extensions"]
    }
    assert values["basicConstraints"] == (True, "CA:TRUE, pathlen:0")
    assert values["keyUsage"] == (True, "digital_signature, key_cert_sign, crl_sign")
    assert values["extendedKeyUsage"] == (False, "serverAuth")
    assert values["subjectKeyIdentifier"] == (False, ski.digest.hex(":"))
    assert values["authorityKeyIdentifier"] == (False, ski.digest.hex(":"))
    assert values["authorityInfoAccess"] == (False, "OCSP: http://ocsp.example.com")
    assert values["cRLDistributionPoints"] == (False, "http://crl.example.com/root.crl")
    assert values["certificatePolicies"] == (False, "2.23.140.1.2.1")


# ----------------------------------------------------------------- chains, CRLs, PKCS#12


def test_describe_chain_in_order(make: Maker, ec_key: ec.EllipticCurvePrivateKey) -> None:
    leaf, ca, _ = make.chain(ec_key)
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (leaf, ca))
    info = _info(pem)
    assert info["kind"] == "certificate chain"
    assert info["in_order"] is True
    assert [c["subject"] for c in info["certificates"]] == ["CN=www.example.com", "CN=Test Root"]


def test_describe_chain_out_of_order(make: Maker, ec_key: ec.EllipticCurvePrivateKey) -> None:
    leaf, ca, _ = make.chain(ec_key)
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (ca, leaf))
    info = _info(pem)
    assert info["in_order"] is False
    assert "Chain in order        NO" in describe.render_text(info)


def test_describe_chain_wrong_signer(
    make: Maker, ec_key: ec.EllipticCurvePrivateKey, other_ec_key: ec.EllipticCurvePrivateKey
) -> None:
    leaf, _, _ = make.chain(ec_key)
    impostor = make.cert(other_ec_key, ["Test Root"], ca=True)  # same name, other key
    assert describe.chain_in_order((leaf, impostor)) is False


def test_describe_crl(make: Maker) -> None:
    info = _info(make.crl(revoked=[1, 2, 3], number=42).public_bytes(serialization.Encoding.DER))
    assert info["kind"] == "certificate revocation list"
    assert info["encoding"] == "DER"
    assert info["issuer"] == "CN=Test Root"
    assert info["crl_number"] == 42
    assert info["revoked"] == 3
    assert info["next_update"] is not None


def test_describe_crl_from_openssl(openssl_pki: OpensslKeys) -> None:
    info = _info(openssl_pki["crl.pem"].read_bytes())
    assert info["issuer"] == "CN=Test CA"
    assert info["crl_number"] == 1
    assert info["revoked"] == 0


def test_describe_pkcs12(openssl_pki: OpensslKeys) -> None:
    info = _info(openssl_pki["pw.p12"].read_bytes(), pw=openssl_pki.passphrase.encode())
    assert info["kind"] == "PKCS#12 bundle"
    assert info["key"]["type"] == "ECDSA P-256"
    assert [c["subject"] for c in info["certificates"]] == [
        "C=US, O=Widgets Inc., CN=www.mydomain.com",
        "CN=Test CA",
    ]
    text = describe.render_text(info)
    assert text.startswith("PKCS#12 bundle\n")


# ----------------------------------------------------------------- text


def test_render_text_layout(ec_key: ec.EllipticCurvePrivateKey) -> None:
    text = describe.render_text(_info(pem_of(ec_key)))
    assert text.splitlines() == [
        "Private key",
        "  Encoding              PEM",
        "  Encrypted             NO",
        "  Key                   ECDSA P-256",
        f"  Key fingerprint       {keys.fingerprint(ec_key.public_key())}",
    ]


def test_render_text_csr_shows_names_and_signature(ec_key: ec.EllipticCurvePrivateKey) -> None:
    req = build_csr(ec_key, SubjectFields(common_name="www.mydomain.com"), [])
    text = describe.render_text(describe.describe_csr(req))
    assert "Names (SAN)           DNS:www.mydomain.com" in text
    assert "Self-signature valid  yes" in text
    assert "Extension             subjectAltName: DNS:www.mydomain.com" in text


def test_render_text_no_names(make: Maker, ec_key: ec.EllipticCurvePrivateKey) -> None:
    ca = make.cert(ec_key, ["Test Root"], ca=True)
    assert "Names (SAN)           (none)" in describe.render_text(describe.describe_certificate(ca))


def test_render_text_self_signed_is_not_alarming(
    make: Maker, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    leaf, _, _ = make.chain(ec_key)
    text = describe.render_text(describe.describe_certificate(leaf, now=dt.datetime.now(dt.UTC)))
    assert "Self-signed           no" in text
    assert "Expired               no" in text


def test_describe_public_key_rsa(rsa_key: rsa.RSAPrivateKey) -> None:
    assert describe.describe_public_key(rsa_key.public_key())["bits"] == 2048


def test_describe_kind_values_cover_every_kind() -> None:
    assert {k.value for k in Kind} == {
        "private key",
        "encrypted private key",
        "public key",
        "certificate signing request",
        "certificate",
        "certificate chain",
        "certificate revocation list",
        "PKCS#12 bundle",
    }


def test_describe_openssl_text_agrees(
    openssl_pki: OpensslKeys, openssl: OpenSSL, tmp_path: Path
) -> None:
    """What openssl x509 -text says about the names and key, padlock says too."""
    text = openssl("x509", "-in", openssl_pki["leaf.pem"], "-noout", "-text").stdout
    info = _info(openssl_pki["leaf.pem"].read_bytes())
    assert "DNS:www.mydomain.com, DNS:mydomain.com" in text
    assert info["names"] == ["DNS:www.mydomain.com", "DNS:mydomain.com"]
    assert "Public-Key: (256 bit)" in text and "NIST CURVE: P-256" in text
    assert info["key"]["type"] == "ECDSA P-256"


def test_describe_pkcs12_without_key(
    openssl_pki: OpensslKeys, openssl: OpenSSL, tmp_path: Path
) -> None:
    openssl(
        "pkcs12",
        "-export",
        "-nokeys",
        "-in",
        openssl_pki["leaf.pem"],
        "-passout",
        "pass:",
        "-out",
        "certs.p12",
    )
    info = _info((tmp_path / "certs.p12").read_bytes())
    assert info["kind"] == "PKCS#12 bundle"
    assert info["key"] is None
    assert "  Key                   (none: certificates only)" in describe.render_text(info)
