"""Issuance: every profile's output verifies with openssl and passes pkilint; refusals leave
no reservation; lint failures leave an abandoned reservation and nothing signed."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from padlock.ca import issuance
from padlock.ca.issuance import Issuer, IssueRequest
from padlock.ca.ports import CertState, Store
from padlock.errors import (
    BadCSR,
    LintFailed,
    PadlockError,
    PolicyError,
    RejectedIdentifier,
    UnsupportedKey,
    WeakKey,
)
from padlock.pki.certs import Organization
from padlock.pki.profiles import PROFILES, counted_days, load_profiles, shipped_texts
from tests.ca.conftest import BASE_URL, CSRMaker, build_csr
from tests.pki import weak_keys

ORG = Organization("Widgets Inc.", "Dallas", "Texas", "US")
LINT_CLI = Path(sys.executable).parent / "lint_cabf_serverauth_cert"


def _issue(issuer: Issuer, csr: bytes, profile: str) -> issuance.IssuedCertificate:
    return issuer.issue(
        IssueRequest(
            csr=csr,
            profile=profile,
            domain_control_shown=profile != "test",
            organization=ORG if profile == "ov" else None,
        )
    )


def _all_records(store: Store) -> list[object]:
    return [r for state in CertState for r in store.list_certificates(state, limit=1000)]


@pytest.mark.parametrize("key", ["ec", "rsa"])
@pytest.mark.parametrize("profile", [*PROFILES, *PROFILES.aliases])
def test_issue_profile_verifies_with_openssl_and_passes_pkilint(
    issuer: Issuer, make_csr: CSRMaker, tmp_path: Path, profile: str, key: str
) -> None:
    """Every shipped profile (and old name), with an EC and an RSA key: openssl verifies the
    chain for a TLS server, and pkilint finds no ERROR."""
    private = rsa.generate_private_key(65537, 2048) if key == "rsa" else None
    issued = _issue(issuer, make_csr(["www.example.com", "example.com"], key=private), profile)
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(issued.certificate_pem)
    (tmp_path / "chain.pem").write_bytes(issued.chain_pem)
    (tmp_path / "root.pem").write_bytes(issued.root_pem)
    verify = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            tmp_path / "root.pem",
            "-untrusted",
            tmp_path / "chain.pem",
            "-purpose",
            "sslserver",
            leaf,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    lint = subprocess.run(
        [LINT_CLI, "lint", "-d", "-f", "JSON", "-s", "ERROR", leaf],
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert json.loads(lint.stdout)["results"] == [], lint.stdout


def test_issue_test_profile_valid_21_days_from_test_root(
    issuer: Issuer, make_csr: CSRMaker
) -> None:
    issued = _issue(issuer, make_csr(), "test")
    cert = x509.load_pem_x509_certificate(issued.certificate_pem)
    assert counted_days(cert.not_valid_before_utc, cert.not_valid_after_utc) == 21
    assert "Test Issuing CA" in cert.issuer.rfc4514_string()
    assert issued.record.state is CertState.ISSUED
    assert issued.record.hierarchy == "test"


def test_issue_dv_default_90_days_cn_only(issuer: Issuer, make_csr: CSRMaker) -> None:
    issued = _issue(issuer, make_csr(["www.example.com"]), "dv")
    cert = x509.load_pem_x509_certificate(issued.certificate_pem)
    assert counted_days(cert.not_valid_before_utc, cert.not_valid_after_utc) == 90
    assert [a.oid for a in cert.subject] == [NameOID.COMMON_NAME]
    assert "Trusted Issuing CA" in cert.issuer.rfc4514_string()


def test_issue_ov_uses_verified_org_not_csr_fields(issuer: Issuer) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Evil Corp (unverified)"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "www.example.com"),
                ]
            )
        )
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("www.example.com")]), False)
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    issued = _issue(issuer, csr, "ov")
    cert = x509.load_pem_x509_certificate(issued.certificate_pem)
    orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert orgs == ["Widgets Inc."]
    assert cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "US"


def test_issue_extensions_per_br(issuer: Issuer, make_csr: CSRMaker) -> None:
    rsa_key = rsa.generate_private_key(65537, 2048)
    issued = _issue(issuer, make_csr(["www.example.com"], key=rsa_key), "dv")
    cert = x509.load_pem_x509_certificate(issued.certificate_pem)
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and ku.value.key_encipherment
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert any(d.access_location.value.endswith("/ca/trusted-issuing.der") for d in aia)
    dp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert dp[0].full_name[0].value.endswith("/crl/trusted-issuing.crl")
    policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier.dotted_string for p in policies] == ["2.23.140.1.2.1"]
    assert cert.serial_number.bit_length() > 64
    ec_issued = _issue(issuer, make_csr(["www.example.com"]), "dv")
    ec_cert = x509.load_pem_x509_certificate(ec_issued.certificate_pem)
    assert not ec_cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_encipherment


def test_issue_ignores_csr_extensions(issuer: Issuer) -> None:
    csr = build_csr(
        ["www.example.com"],
        extensions=[(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)],
    )
    cert = x509.load_pem_x509_certificate(_issue(issuer, csr, "test").certificate_pem)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_issue_fullchain_is_leaf_then_intermediate(issuer: Issuer, make_csr: CSRMaker) -> None:
    issued = _issue(issuer, make_csr(), "test")
    certs = x509.load_pem_x509_certificates(issued.fullchain_pem)
    assert len(certs) == 2
    certs[0].verify_directly_issued_by(certs[1])


def test_issue_records_audit_events(issuer: Issuer, store: Store, make_csr: CSRMaker) -> None:
    issued = _issue(issuer, make_csr(), "test")
    actions = [(e.action, e.object_id) for e in store.iter_events()]
    assert ("certificate.reserved", issued.record.serial_hex) in actions
    assert ("certificate.issued", issued.record.serial_hex) in actions


# --- refusals: each with a clear reason, and no reservation left behind -------------------------


def _csr_with_key(key: object, names: tuple[str, ...] = ("www.example.com",)) -> bytes:
    return build_csr(list(names), key=key)  # type: ignore[arg-type]


def _spki_csr(n: int, e: int) -> bytes:
    der = weak_keys.csr_der_with_spki(
        weak_keys.rsa_spki_der(n, e), ec.generate_private_key(ec.SECP256R1())
    )
    return der


def _bad_cases() -> list[tuple[str, object, type[PadlockError], str]]:
    other = ec.generate_private_key(ec.SECP256R1())
    good = build_csr(["www.example.com"])
    forged = x509.load_pem_x509_csr(good)
    # Proof of possession: swap in a signature from another key by re-signing info with it.
    tampered = bytearray(forged.public_bytes(serialization.Encoding.DER))
    tampered[-5] ^= 0x55
    return [
        ("bad_signature", bytes(tampered), BadCSR, "signature"),
        (
            "garbage",
            b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
            BadCSR,
            "CSR",
        ),
        (
            "private_key_pasted",
            other.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            BadCSR,
            "private key",
        ),
        (
            "rsa_1024",
            lambda: _csr_with_key(rsa.generate_private_key(65537, 1024)),  # noqa: S505
            WeakKey,
            "1024",
        ),
        ("exponent_3", lambda: _csr_with_key(weak_keys.exponent3_key()), WeakKey, "exponent"),
        (
            "even_exponent",
            lambda: _spki_csr(
                rsa.generate_private_key(65537, 2048).public_key().public_numbers().n, 65538
            ),
            WeakKey,
            "exponent",
        ),
        ("rsa_2049", lambda: _csr_with_key(weak_keys.rsa_2049_key()), UnsupportedKey, "2049"),
        (
            "p224",
            lambda: _csr_with_key(ec.generate_private_key(ec.SECP224R1())),
            UnsupportedKey,
            "P-224",
        ),
        (
            "secp256k1",
            lambda: _csr_with_key(ec.generate_private_key(ec.SECP256K1())),
            UnsupportedKey,
            "secp256k1",
        ),
        ("fermat", lambda: _csr_with_key(weak_keys.fermat_key()), WeakKey, "Fermat"),
        ("roca", lambda: _csr_with_key(weak_keys.roca_key()), WeakKey, "ROCA"),
        (
            "rfc9500",
            lambda: _csr_with_key(weak_keys.rfc9500_key("testRSA2048")),
            WeakKey,
            "RFC 9500",
        ),
        (
            "ca_true",
            lambda: build_csr(
                ["www.example.com"],
                extensions=[(x509.BasicConstraints(ca=True, path_length=None), True)],
            ),
            BadCSR,
            "CA:TRUE",
        ),
        (
            "unknown_critical",
            lambda: build_csr(
                ["www.example.com"],
                extensions=[
                    (
                        x509.UnrecognizedExtension(
                            x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00"
                        ),
                        True,
                    )
                ],
            ),
            BadCSR,
            "critical",
        ),
        (
            "thousand_sans",
            lambda: build_csr([f"h{i}.example.com" for i in range(1000)]),
            RejectedIdentifier,
            "at most 100",
        ),
        (
            "cn_not_in_sans",
            lambda: build_csr(["www.example.com"], cn="other.example.com"),
            BadCSR,
            "not among",
        ),
        (
            "url_in_san",
            lambda: build_csr(["http://secure.example.com/checkout"], cn=None),
            RejectedIdentifier,
            "secure.example.com",
        ),
        (
            "underscore",
            lambda: build_csr(["bad_name.example.com"]),
            RejectedIdentifier,
            "underscore",
        ),
        ("wildcard_psl", lambda: build_csr(["*.co.uk"]), RejectedIdentifier, "public suffix"),
        (
            "bad_wildcard",
            lambda: build_csr(["www.*.example.com"], cn=None),
            RejectedIdentifier,
            "wildcard",
        ),
        ("internal_name", lambda: build_csr(["intranet.local"]), RejectedIdentifier, "internal"),
        ("single_label", lambda: build_csr(["intranet"]), RejectedIdentifier, "internal"),
        (
            "ip_in_dv",
            lambda: build_csr(["10.1.2.3"]),
            RejectedIdentifier,
            "not accepted in the classic",
        ),
        (
            "upper_case",
            lambda: build_csr(["WWW.Example.com"], cn=None),
            RejectedIdentifier,
            "www.example.com",
        ),
    ]


@pytest.mark.parametrize(
    ("case", "csr", "error", "words"),
    _bad_cases(),
    ids=lambda v: v if isinstance(v, str) and v.isidentifier() else "",
)
def test_issue_refuses_bad_input_without_reservation(
    issuer: Issuer, store: Store, case: str, csr: object, error: type[PadlockError], words: str
) -> None:
    data = csr() if callable(csr) else csr
    with pytest.raises(error) as info:
        issuer.issue(IssueRequest(csr=data, profile="dv", domain_control_shown=True))  # type: ignore[arg-type]
    assert (
        words.lower()
        in (info.value.message + " " + " ".join(s.detail for s in info.value.subproblems)).lower()
    )
    assert _all_records(store) == []


def test_issue_duplicate_san_extension_refused(issuer: Issuer, store: Store) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    good = x509.load_pem_x509_csr(build_csr(["www.example.com"], key=key))
    der = good.public_bytes(serialization.Encoding.DER)
    # Duplicate the SAN extension inside the attribute by building the DER by hand.
    san = x509.SubjectAlternativeName([x509.DNSName("www.example.com")]).public_bytes()
    ext = weak_keys._der(
        0x30, weak_keys._der(0x06, bytes.fromhex("551d11")) + weak_keys._der(0x04, san)
    )
    exts = weak_keys._der(0x30, ext + ext)
    ext_req_oid = weak_keys._der(0x06, bytes.fromhex("2a864886f70d01090e"))
    attr = weak_keys._der(0x30, ext_req_oid + weak_keys._der(0x31, exts))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.example.com")]).public_bytes()
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    info = weak_keys._der(
        0x30, weak_keys._der_integer(0) + subject + spki + weak_keys._der(0xA0, attr)
    )
    sig = key.sign(info, ec.ECDSA(hashes.SHA256()))
    alg = weak_keys._der(0x30, weak_keys._der(0x06, bytes.fromhex("2a8648ce3d040302")))
    csr = weak_keys._der(0x30, info + alg + weak_keys._der(0x03, b"\x00" + sig))
    assert der  # the well-formed twin parses; the duplicated one must be refused
    with pytest.raises(BadCSR, match="twice"):
        issuer.issue(IssueRequest(csr=csr, profile="test"))
    assert _all_records(store) == []


def test_issue_dv_without_validation_refused(
    issuer: Issuer, store: Store, make_csr: CSRMaker
) -> None:
    with pytest.raises(PolicyError, match="domain control"):
        issuer.issue(IssueRequest(csr=make_csr(), profile="dv"))
    assert _all_records(store) == []


def test_issue_ov_without_org_refused(issuer: Issuer, store: Store, make_csr: CSRMaker) -> None:
    with pytest.raises(PolicyError, match="organization"):
        issuer.issue(IssueRequest(csr=make_csr(), profile="ov", domain_control_shown=True))
    assert _all_records(store) == []


def test_issue_days_above_profile_maximum_refused(
    issuer: Issuer, store: Store, make_csr: CSRMaker
) -> None:
    with pytest.raises(PolicyError, match="at most 21 days"):
        issuer.issue(IssueRequest(csr=make_csr(), profile="test", days=30))
    assert _all_records(store) == []


def test_issue_internal_names_allowed_in_test_when_operator_turns_it_on(
    store: Store,
    signers: dict,
    make_csr: CSRMaker,  # type: ignore[type-arg]
) -> None:
    from padlock.ca.issuance import IssuancePolicy

    lenient = Issuer(
        store, signers, IssuancePolicy(base_url="http://x", allow_internal_in_test=True)
    )
    issued = lenient.issue(
        IssueRequest(csr=make_csr(["intranet.local", "10.1.2.3"]), profile="test")
    )
    assert issued.record.names == ("intranet.local", "10.1.2.3")
    with pytest.raises(RejectedIdentifier):
        lenient.issue(
            IssueRequest(csr=make_csr(["intranet.local"]), profile="dv", domain_control_shown=True)
        )


def test_issue_lint_failure_abandons_reservation_and_signs_nothing(
    issuer: Issuer, store: Store, make_csr: CSRMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        issuance.certcheck, "leaf_problems", lambda cert, profile, tbs=None: ["forced problem"]
    )
    with pytest.raises(LintFailed, match="forced problem"):
        issuer.issue(IssueRequest(csr=make_csr(), profile="test"))
    records = _all_records(store)
    assert len(records) == 1
    assert records[0].state is CertState.ABANDONED  # type: ignore[attr-defined]
    assert records[0].der is None  # type: ignore[attr-defined]


def test_issue_profile_file_without_an_extension_padlock_adds_refuses_and_signs_nothing(
    store: Store,
    signers: dict,
    make_csr: CSRMaker,  # type: ignore[type-arg]
) -> None:
    """The "no unlisted field" gate: a classic.toml that leaves out cRLDistributionPoints
    cannot make padlock sign a certificate that carries it; the reservation is abandoned
    and the audit log says why."""
    from padlock.ca.issuance import IssuancePolicy

    texts = {name: (text, name) for name, text in shipped_texts().items()}
    classic = texts["classic"][0].replace("cRLDistributionPoints = { critical = false }\n", "")
    texts["classic"] = (classic, "classic.toml")
    policy = IssuancePolicy(base_url=BASE_URL)
    issuer = Issuer(store, signers, policy, profiles=load_profiles(texts))
    with pytest.raises(LintFailed) as caught:
        issuer.issue(IssueRequest(csr=make_csr(), profile="classic", domain_control_shown=True))
    reason = "profile classic: extension cRLDistributionPoints: not listed in the classic profile"
    assert reason in caught.value.message
    (record,) = _all_records(store)
    assert record.state is CertState.ABANDONED and record.der is None  # type: ignore[attr-defined]
    (event,) = [e for e in store.iter_events() if e.action == "certificate.abandoned"]
    assert event.details == {"lint": [reason]}


def test_issue_pkilint_error_abandons(
    issuer: Issuer, store: Store, make_csr: CSRMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    from padlock.pki import lint

    real = lint.lint_serverauth

    def broken(der: bytes, *args: object, **kwargs: object) -> object:
        cert = x509.load_der_x509_certificate(der)
        assert cert.serial_number > 0
        report = real(der, *args, **kwargs)  # type: ignore[arg-type]
        forced = lint.Finding(lint.Severity.ERROR, "forced.error", "forced")
        return dataclasses.replace(report, findings=(*report.findings, forced))

    monkeypatch.setattr(lint, "lint_serverauth", broken)
    with pytest.raises(LintFailed, match=r"forced\.error"):
        issuer.issue(IssueRequest(csr=make_csr(), profile="dv", domain_control_shown=True))
    assert [r.state for r in _all_records(store)] == [CertState.ABANDONED]  # type: ignore[attr-defined]


def test_issue_uses_injected_clock_for_br_schedule(
    store: Store, signers: dict, make_csr: CSRMaker
) -> None:  # type: ignore[type-arg]
    from padlock.ca.issuance import IssuancePolicy

    when = dt.datetime(2029, 6, 1, tzinfo=dt.UTC)
    issuer = Issuer(store, signers, IssuancePolicy(base_url="http://x"), clock=lambda: when)
    with pytest.raises(PolicyError, match="at most 47 days"):
        issuer.issue(IssueRequest(csr=make_csr(), profile="dv", days=48, domain_control_shown=True))


def test_issue_dv_on_loopback_base_url_tolerates_only_that_finding(
    store: Store,
    signers: dict,
    make_csr: CSRMaker,  # type: ignore[type-arg]
) -> None:
    """A laptop CA (base URL 127.0.0.1) still issues dv; its certificates name that host."""
    from padlock.ca.issuance import IssuancePolicy

    issuer = Issuer(store, signers, IssuancePolicy(base_url="http://127.0.0.1:8080"))
    issued = issuer.issue(IssueRequest(csr=make_csr(), profile="dv", domain_control_shown=True))
    cert = x509.load_pem_x509_certificate(issued.certificate_pem)
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert "127.0.0.1" in aia[0].access_location.value
