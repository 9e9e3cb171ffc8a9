"""The CA's keys and hierarchies: the Signer keeps its key to itself, keys are encrypted and
0600, the trusted root's key lives apart, and the CA certificates pass openssl and pkilint."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import pickle
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from padlock.ca.signer import (
    Signer,
    ca_urls,
    create_authority,
    hierarchy_files,
    load_issuing_signers,
    load_root,
    offline_dir_for,
)
from padlock.errors import BadPassphrase, ConfigError, OutputExists
from padlock.pki import der, keys, lint, pkcs8
from padlock.pki.certs import (
    ca_name,
    certificate_pem,
    intermediate_builder,
    root_builder,
    tbs_fields,
    tbs_subject,
)
from padlock.pki.lint import CertKind
from padlock.pki.profiles import Hierarchy
from tests.ca.conftest import BASE_URL, CA_PASSPHRASE

PRIVATE_KEY_TYPES = (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)
DER = serialization.Encoding.DER

# DER of the OIDs an scrypt-encrypted PKCS#8 file carries (RFC 8018, RFC 7914).
SCRYPT_OID = bytes.fromhex("06092b06010401da47040b")  # 1.3.6.1.4.1.11591.4.11
AES256_CBC_OID = bytes.fromhex("060960864801650304012a")  # 2.16.840.1.101.3.4.1.42


def _files(ca_dir: Path, hierarchy: Hierarchy) -> tuple[Path, Path, Path, Path]:
    f = hierarchy_files(ca_dir, hierarchy, offline_dir_for(ca_dir))
    return f.root_cert, f.root_key, f.issuing_cert, f.issuing_key


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _pem_der(pem: bytes) -> bytes:
    body = b"".join(line for line in pem.splitlines() if line and not line.startswith(b"-----"))
    return base64.b64decode(body)


# --- the Signer holds its key and never lets it out --------------------------------------------


def test_signer_refuses_pickling(signers: dict[Hierarchy, Signer]) -> None:
    for signer in signers.values():
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(signer)


def test_signer_refuses_copying(signers: dict[Hierarchy, Signer]) -> None:
    signer = signers[Hierarchy.TEST]
    with pytest.raises(TypeError):
        copy.copy(signer)
    with pytest.raises(TypeError):
        copy.deepcopy(signer)


def _reachable_keys(value: object, depth: int = 0) -> list[PrivateKeyTypes]:
    if isinstance(value, PRIVATE_KEY_TYPES):
        return [value]
    if depth < 2 and isinstance(value, tuple | list | set | frozenset):
        return [k for item in value for k in _reachable_keys(item, depth + 1)]
    if depth < 2 and isinstance(value, dict):
        return [k for item in value.values() for k in _reachable_keys(item, depth + 1)]
    return []


def test_signer_exposes_no_key_by_a_plain_name(signers: dict[Hierarchy, Signer]) -> None:
    for signer in signers.values():
        found = []
        for name in dir(signer):
            if name.startswith("_Signer__"):  # name-mangled private: not a plain name
                continue
            if name == "__dict__":  # introspection; what it holds is checked below
                continue
            try:
                value = getattr(signer, name)
            except Exception:  # noqa: S112 - an attribute that cannot be read exposes nothing
                continue
            if _reachable_keys(value):
                found.append(name)
        assert found == [], f"a private key is reachable as {found}"
        # The one key in the instance is under its mangled name only.
        holding = [name for name, value in vars(signer).items() if _reachable_keys(value)]
        assert holding == ["_Signer__key"]


def test_signer_repr_shows_no_key(signers: dict[Hierarchy, Signer]) -> None:
    text = repr(signers[Hierarchy.TRUSTED]) + str(signers[Hierarchy.TRUSTED])
    assert "Trusted Issuing CA" in text
    assert "PRIVATE" not in text and "Key" not in text


def test_signer_signs_with_the_issuing_key(signers: dict[Hierarchy, Signer]) -> None:
    signer = signers[Hierarchy.TEST]
    assert signer.public_key_matches()
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.example.com")]))
        .issuer_name(signer.certificate.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
    )
    cert = signer.sign_certificate(builder)
    cert.verify_directly_issued_by(signer.certificate)
    # The rehearsal is the same to-be-signed data under a throwaway key.
    rehearsal = x509.load_der_x509_certificate(signer.rehearse(cert.tbs_certificate_bytes))
    assert rehearsal.tbs_certificate_bytes == cert.tbs_certificate_bytes
    assert rehearsal.signature_algorithm_oid == cert.signature_algorithm_oid
    with pytest.raises(InvalidSignature):
        rehearsal.verify_directly_issued_by(signer.certificate)


def _leaf_builder(signer: Signer) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.example.com")]))
        .issuer_name(signer.certificate.subject)
        .public_key(ec.generate_private_key(ec.SECP256R1()).public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
    )


def _leaf_tbs(signer: Signer) -> bytes:
    """A tbsCertificate of this CA's, as cryptography's builder writes it."""
    return signer.sign_certificate(_leaf_builder(signer)).tbs_certificate_bytes


@pytest.mark.parametrize("hierarchy", list(Hierarchy))
def test_sign_tbs_signs_exactly_the_given_bytes(
    signers: dict[Hierarchy, Signer], hierarchy: Hierarchy
) -> None:
    signer = signers[hierarchy]
    tbs = _leaf_tbs(signer)
    der = signer.sign_tbs(tbs)
    cert = x509.load_der_x509_certificate(der)
    assert cert.tbs_certificate_bytes == tbs
    cert.verify_directly_issued_by(signer.certificate)
    # Well-formed DER: it reads back and re-encodes to the same bytes.
    assert cert.public_bytes(DER) == der
    # And its PEM is what cryptography writes.
    assert certificate_pem(der) == cert.public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize("hierarchy", list(Hierarchy))
def test_signature_algorithm_is_what_the_builder_writes(
    signers: dict[Hierarchy, Signer], hierarchy: Hierarchy
) -> None:
    signer = signers[hierarchy]
    signed = signer.sign_certificate(_leaf_builder(signer)).public_bytes(DER)
    assert der.children(signed)[1] == signer.signature_algorithm
    assert signer.signature_algorithm in signed[: len(signed) // 2]  # inside the TBS too


@pytest.mark.parametrize("size", [0, 1, 47, 48, 49, 95, 96, 1000])
def test_certificate_pem_wraps_like_cryptography(size: int) -> None:
    # The same base64 line breaks whatever the length (certificate_pem does not parse).
    blob = bytes(range(256)) * 4
    der = blob[:size]
    pem = certificate_pem(der)
    lines = pem.splitlines()
    assert lines[0] == b"-----BEGIN CERTIFICATE-----" and lines[-1] == b"-----END CERTIFICATE-----"
    assert all(len(line) == 64 for line in lines[1:-2])
    assert base64.b64decode(b"".join(lines[1:-1])) == der
    assert pem.endswith(b"-----\n")


def test_sign_tbs_refuses_another_cas_tbs(signers: dict[Hierarchy, Signer]) -> None:
    test, trusted = signers[Hierarchy.TEST], signers[Hierarchy.TRUSTED]
    tbs = _leaf_tbs(test)
    for method in (trusted.sign_tbs, trusted.rehearse):
        with pytest.raises(ValueError, match="not one trusted-issuing issues"):
            method(tbs)


def test_sign_tbs_refuses_another_signature_algorithm(
    signers: dict[Hierarchy, Signer],
) -> None:
    signer = signers[Hierarchy.TEST]
    other = _leaf_builder(signer).sign(ec.generate_private_key(ec.SECP384R1()), hashes.SHA384())
    for method in (signer.sign_tbs, signer.rehearse):
        with pytest.raises(ValueError, match="signature algorithm"):
            method(other.tbs_certificate_bytes)


def test_sign_tbs_refuses_what_is_no_tbs(signers: dict[Hierarchy, Signer]) -> None:
    signer = signers[Hierarchy.TEST]
    for junk in (b"", b"\x30\x00", b"\x30\x05\x02\x01\x01", b"\x30\x82\xff\xff" + b"\x00" * 10):
        with pytest.raises(ValueError):
            signer.sign_tbs(junk)


# --- making the authority ------------------------------------------------------------------------


def test_create_authority_refuses_a_second_time(ca_dir: Path) -> None:
    before = {p: p.read_bytes() for p in ca_dir.rglob("*") if p.is_file()}
    with pytest.raises(OutputExists, match="exists already"):
        create_authority(
            ca_dir,
            name="again",
            passphrase=CA_PASSPHRASE,
            now=dt.datetime.now(dt.UTC),
            base_url=BASE_URL,
        )
    after = {p: p.read_bytes() for p in ca_dir.rglob("*") if p.is_file()}
    assert after == before


def test_create_authority_refuses_a_short_passphrase(tmp_path: Path) -> None:
    with pytest.raises(BadPassphrase, match="shorter"):
        create_authority(
            tmp_path / "ca",
            name="x",
            passphrase=b"short",
            now=dt.datetime.now(dt.UTC),
            base_url=BASE_URL,
        )
    assert not (tmp_path / "ca" / "ca.json").exists()


def test_wrong_passphrase_is_bad_passphrase(ca_dir: Path) -> None:
    with pytest.raises(BadPassphrase):
        load_issuing_signers(ca_dir, b"not the pass phrase at all")


def test_wrong_passphrase_that_passes_the_padding_check_is_bad_passphrase() -> None:
    # One wrong pass phrase in 256 decrypts to garbage with valid CBC padding; that must
    # still read as a wrong pass phrase, not as a damaged file. Made deterministic here by
    # encrypting garbage with the right one.
    garbage = pkcs8.der_to_pem(
        pkcs8.encrypt_pkcs8_der(b"\x30\x03\x02\x01\x00", CA_PASSPHRASE), "ENCRYPTED PRIVATE KEY"
    )
    with pytest.raises(BadPassphrase, match="pass phrase is wrong"):
        keys.load_private_key(garbage, CA_PASSPHRASE)


def test_no_ca_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no CA"):
        load_issuing_signers(tmp_path / "ca", CA_PASSPHRASE)


@pytest.mark.parametrize("hierarchy", list(Hierarchy))
def test_key_files_are_0600_and_encrypted_with_scrypt(ca_dir: Path, hierarchy: Hierarchy) -> None:
    _, root_key, _, issuing_key = _files(ca_dir, hierarchy)
    for path in (root_key, issuing_key):
        assert path.stat().st_mode & 0o777 == 0o600, path
        pem = path.read_bytes()
        assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----"), path
        der = _pem_der(pem)
        assert SCRYPT_OID in der and AES256_CBC_OID in der, path
        with pytest.raises(BadPassphrase):
            keys.load_private_key(pem, None)
        with pytest.raises(BadPassphrase):
            keys.load_private_key(pem, b"a wrong pass phrase")
        assert isinstance(keys.load_private_key(pem, CA_PASSPHRASE), PRIVATE_KEY_TYPES)
    for directory in {root_key.parent, issuing_key.parent}:
        assert directory.stat().st_mode & 0o077 == 0, directory


def test_trusted_root_key_is_written_under_offline(ca_dir: Path) -> None:
    offline = offline_dir_for(ca_dir)
    assert offline == ca_dir.parent / "offline"
    assert (offline / "trusted-root.key").exists()
    assert _files(ca_dir, Hierarchy.TRUSTED)[1] == offline / "trusted-root.key"
    assert not (ca_dir / "trusted" / "root.key").exists()
    assert "offline storage" in (offline / "README.txt").read_text()
    # The test root's key stays online, beside its certificate.
    assert (ca_dir / "test" / "root.key").exists()


def test_issuing_does_not_need_the_trusted_root_key(ca_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(ca_dir.parent, data)
    (data / "offline" / "trusted-root.key").unlink()
    signers = load_issuing_signers(data / "ca", CA_PASSPHRASE)
    assert set(signers) == set(Hierarchy)
    assert signers[Hierarchy.TRUSTED].public_key_matches()


def test_a_key_that_does_not_match_its_certificate_is_refused(ca_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(ca_dir.parent, data)
    test_key = data / "ca" / "test" / "issuing.key"
    test_key.write_bytes((data / "ca" / "trusted" / "issuing.key").read_bytes())
    with pytest.raises(ConfigError, match="does not match"):
        load_issuing_signers(data / "ca", CA_PASSPHRASE)


# --- the CA certificates ---------------------------------------------------------------------


@pytest.mark.parametrize("hierarchy", list(Hierarchy))
def test_root_is_p384_self_signed_ca(ca_dir: Path, hierarchy: Hierarchy) -> None:
    root = _cert(_files(ca_dir, hierarchy)[0])
    assert root == load_root(ca_dir, hierarchy)
    key = root.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp384r1"
    assert root.subject == root.issuer
    root.verify_directly_issued_by(root)
    bc = root.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length is None
    ku = root.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
    ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = root.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ski.digest and aki.authority_cert_issuer is None
    label = "Test" if hierarchy is Hierarchy.TEST else "Trusted"
    assert root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        f"padlock tests {label} Root CA"
    )
    assert root.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)  # BR 7.1.2.10.2


@pytest.mark.parametrize("hierarchy", list(Hierarchy))
def test_intermediate_has_path_len_0_and_server_auth_only(
    ca_dir: Path, hierarchy: Hierarchy
) -> None:
    root_path, _, issuing_path, _ = _files(ca_dir, hierarchy)
    root, issuing = _cert(root_path), _cert(issuing_path)
    key = issuing.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    issuing.verify_directly_issued_by(root)
    bc = issuing.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    eku = issuing.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    # Chrome Root Program policy 1.8: a serverAuth-dedicated issuing CA, no clientAuth.
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    ku = issuing.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
    aki = issuing.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    root_ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == root_ski.digest
    aia = issuing.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [d.access_location.value for d in aia] == [f"{BASE_URL}/ca/{hierarchy.value}-root.der"]
    crl_dp = issuing.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert crl_dp[0].full_name is not None
    assert crl_dp[0].full_name[0].value == f"{BASE_URL}/crl/{hierarchy.value}-root.crl"


@pytest.mark.parametrize("hierarchy", list(Hierarchy))
def test_intermediate_verifies_against_root_with_openssl(
    ca_dir: Path, hierarchy: Hierarchy
) -> None:
    root_path, _, issuing_path, _ = _files(ca_dir, hierarchy)
    proc = subprocess.run(
        ["openssl", "verify", "-x509_strict", "-CAfile", root_path, issuing_path],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith(": OK")


def test_intermediate_does_not_verify_against_the_other_root(ca_dir: Path) -> None:
    proc = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            _files(ca_dir, Hierarchy.TRUSTED)[0],
            _files(ca_dir, Hierarchy.TEST)[2],
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0


@pytest.mark.parametrize("hierarchy", list(Hierarchy))
def test_root_and_intermediate_pass_pkilint(ca_dir: Path, hierarchy: Hierarchy) -> None:
    root_path, _, issuing_path, _ = _files(ca_dir, hierarchy)
    root_report = lint.lint_serverauth(_cert(root_path).public_bytes(DER), CertKind.ROOT)
    assert root_report.errors == (), root_report.findings
    assert root_report.warnings == (), root_report.findings
    issuing_report = lint.lint_serverauth(
        _cert(issuing_path).public_bytes(DER), CertKind.INTERMEDIATE
    )
    assert issuing_report.errors == (), issuing_report.findings
    assert issuing_report.warnings == (), issuing_report.findings


def test_rsa_hierarchy_on_request_passes_pkilint(tmp_path: Path) -> None:
    create_authority(
        tmp_path / "ca",
        name="rsa tests",
        passphrase=CA_PASSPHRASE,
        now=dt.datetime.now(dt.UTC),
        base_url=BASE_URL,
        root_key_type="rsa-3072",
        issuing_key_type="rsa-2048",
    )
    root_path, _, issuing_path, _ = _files(tmp_path / "ca", Hierarchy.TEST)
    root, issuing = _cert(root_path), _cert(issuing_path)
    assert isinstance(root.public_key(), rsa.RSAPublicKey)
    assert isinstance(issuing.public_key(), rsa.RSAPublicKey)
    issuing.verify_directly_issued_by(root)
    assert lint.lint_serverauth(root.public_bytes(DER), CertKind.ROOT).ok
    assert lint.lint_serverauth(issuing.public_bytes(DER), CertKind.INTERMEDIATE).ok
    signers = load_issuing_signers(tmp_path / "ca", CA_PASSPHRASE)
    signer = signers[Hierarchy.TEST]
    assert signer.public_key_matches()
    leaf = x509.load_der_x509_certificate(signer.sign_tbs(_leaf_tbs(signer)))
    assert leaf.signature_algorithm_oid == x509.SignatureAlgorithmOID.RSA_WITH_SHA256
    assert der.children(signer.rehearse(_leaf_tbs(signer)))[1] == signer.signature_algorithm
    leaf.verify_directly_issued_by(issuing)


def test_ca_subject_without_country_is_refused_by_the_builders() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    bare = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Widgets"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Widgets Root"),
        ]
    )
    with pytest.raises(ValueError, match="countryName"):
        root_builder(bare, key.public_key(), now, 10)
    root = root_builder(ca_name("Widgets Root", "Widgets", "DE"), key.public_key(), now, 10).sign(
        key, hashes.SHA256()
    )
    assert root.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "DE"
    with pytest.raises(ValueError, match="countryName"):
        intermediate_builder(bare, key.public_key(), root, now, 10, ca_urls(BASE_URL, "test-root"))


def test_ca_name_without_country_says_not_stated() -> None:
    name = ca_name("Widgets Root", "Widgets")
    assert name.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "XX"


@pytest.mark.parametrize("hierarchy", list(Hierarchy))
def test_tbs_issuer_and_subject_are_the_names_der(ca_dir: Path, hierarchy: Hierarchy) -> None:
    root_path, _, issuing_path, _ = _files(ca_dir, hierarchy)
    for cert in (_cert(root_path), _cert(issuing_path)):
        tbs = cert.tbs_certificate_bytes
        assert tbs_fields(tbs)[2] == cert.issuer.public_bytes()
        assert tbs_subject(tbs) == cert.subject.public_bytes()
