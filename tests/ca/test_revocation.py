"""The revocation use case, CRLs and the OCSP responder, in-process on a real store."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from padlock.ca.issuance import IssuancePolicy, Issuer, IssueRequest
from padlock.ca.ports import AuditEntry, CertState, Reservation, Store
from padlock.ca.revocation import CrlService, KeyProof, OcspResponder, Revoker
from padlock.ca.signer import (
    Signer,
    ensure_ocsp_signers,
    load_root_signer,
    ocsp_files,
)
from padlock.errors import (
    AlreadyRevoked,
    BadRevocationReason,
    Malformed,
    NotFound,
    Unauthorized,
    WeakKey,
)
from padlock.pki import crl_ocsp, lint
from padlock.pki.keypolicy import builtin_blocklist
from padlock.pki.profiles import Hierarchy
from padlock.store.revocation import RevocationRepository

from .conftest import BASE_URL, CA_PASSPHRASE, build_csr

DER = serialization.Encoding.DER
SHA1 = hashes.SHA1  # RFC 5019: CertIDs by SHA-1


class World:
    def __init__(self, store: Store, signers: dict[Hierarchy, Signer], ca_dir: Path) -> None:
        self.repo = RevocationRepository(store)  # type: ignore[arg-type]
        self.issuer = Issuer(
            store,
            signers,
            IssuancePolicy(base_url=BASE_URL),
            builtin_blocklist(),
            blocked_keys=self.repo,
        )
        now = dt.datetime.now(dt.UTC)
        self.responders = ensure_ocsp_signers(ca_dir, CA_PASSPHRASE, now, signers)
        root = load_root_signer(ca_dir, Hierarchy.TEST, CA_PASSPHRASE)
        self.crls = CrlService(self.repo, [*signers.values(), root])
        self.ocsp = OcspResponder(self.repo, self.responders.values())
        self.revoker = Revoker(self.repo, self.crls, self.ocsp)
        self.signers = signers
        self.store = store

    def issue(
        self, key: ec.EllipticCurvePrivateKey | None = None, **kw: object
    ) -> x509.Certificate:
        issued = self.issuer.issue(IssueRequest(build_csr(key=key), "test", **kw))  # type: ignore[arg-type]
        return x509.load_pem_x509_certificate(issued.certificate_pem)

    def ask(self, serial_or_cert: int | x509.Certificate, nonce: bytes | None = None) -> bytes:
        issuer = self.signers[Hierarchy.TEST].certificate
        builder = ocsp.OCSPRequestBuilder()
        if isinstance(serial_or_cert, int):
            name_hash, key_hash = crl_ocsp.issuer_hashes(issuer)["sha1"]
            builder = builder.add_certificate_by_hash(name_hash, key_hash, serial_or_cert, SHA1())
        else:
            builder = builder.add_certificate(serial_or_cert, issuer, SHA1())
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        return builder.build().public_bytes(DER)

    def status(self, what: int | x509.Certificate) -> ocsp.OCSPResponse:
        answer = self.ocsp.answer(self.ask(what))
        return ocsp.load_der_ocsp_response(answer.der)


@pytest.fixture
def world(store: Store, signers: dict[Hierarchy, Signer], ca_dir: Path) -> World:
    return World(store, signers, ca_dir)


def test_revoke_marks_revoked_and_audits(world: World) -> None:
    cert = world.issue()
    now = dt.datetime.now(dt.UTC)
    record = world.revoker.revoke(cert.serial_number, "superseded", "reviewer:alice", now)
    assert record.state is CertState.REVOKED
    assert record.revocation_reason == "superseded"
    assert record.revoked_at is not None and abs(record.revoked_at - now) < dt.timedelta(seconds=1)
    events = [e for e in world.store.iter_events() if e.action == "certificate.revoked"]
    assert [(e.actor, e.details["reason"], e.details["reason_code"]) for e in events] == [
        ("reviewer:alice", "superseded", 4)
    ]
    assert world.store.verify_audit().ok


@pytest.mark.parametrize(
    ("given", "name"),
    [
        (None, "unspecified"),
        ("keyCompromise", "keyCompromise"),
        ("key-compromise", "keyCompromise"),
        ("CESSATION_OF_OPERATION", "cessationOfOperation"),
        (3, "affiliationChanged"),
        ("9", "privilegeWithdrawn"),
    ],
)
def test_reason_names_and_codes(world: World, given: str | int | None, name: str) -> None:
    cert = world.issue()
    assert world.revoker.revoke(cert.serial_number, given, "cli").revocation_reason == name


@pytest.mark.parametrize("bad", ["certificateHold", 6, 2, "removeFromCRL", 7, "nonsense", 99])
def test_reason_invalid(world: World, bad: str | int) -> None:
    cert = world.issue()
    with pytest.raises(BadRevocationReason):
        world.revoker.revoke(cert.serial_number, bad, "cli")
    assert world.store.get_certificate(cert.serial_number).state is CertState.ISSUED  # type: ignore[union-attr]


def test_privilege_withdrawn_is_the_cas_reason(world: World) -> None:
    cert = world.issue()
    with pytest.raises(BadRevocationReason, match="Only the CA"):
        world.revoker.revoke(cert.serial_number, "privilegeWithdrawn", "acme:1", subscriber=True)


def test_revoke_twice_already_revoked(world: World) -> None:
    cert = world.issue()
    world.revoker.revoke(cert.serial_number, None, "cli")
    with pytest.raises(AlreadyRevoked, match="already revoked"):
        world.revoker.revoke(cert.serial_number, "keyCompromise", "cli")


def test_revoke_unknown_and_reserved(world: World) -> None:
    with pytest.raises(NotFound):
        world.revoker.revoke(0xABCDEF, None, "cli")
    serial = _reserve(world.store)
    with pytest.raises(NotFound, match="never issued"):
        world.revoker.revoke(serial, None, "cli")


def test_key_compromise_blocks_the_key_and_only_that_key(world: World) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    first = world.issue(key)
    world.revoker.revoke(first.serial_number, "keyCompromise", "cli")
    with pytest.raises(WeakKey, match="revoked as compromised"):
        world.issue(key)
    # Another reason does not block.
    other = ec.generate_private_key(ec.SECP256R1())
    cert = world.issue(other)
    world.revoker.revoke(cert.serial_number, "superseded", "cli")
    world.issue(other)


@pytest.fixture
def any_world(any_store: Store, signers: dict[Hierarchy, Signer], ca_dir: Path) -> World:
    """A World on SQLite, then on PostgreSQL."""
    return World(any_store, signers, ca_dir)


def _revoke_as(
    world: World, who: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> None:
    now = dt.datetime.now(dt.UTC)
    if who == "operator":
        world.revoker.revoke(cert.serial_number, "keyCompromise", "cli")
    elif who == "acme":  # what web/acme_api.py's revokeCert calls
        world.revoker.revoke(cert.serial_number, 1, "acme:acct-1", now, subscriber=True)
    elif who == "certificate file":
        world.revoker.revoke_certificate(cert.public_bytes(DER), "keyCompromise", "cli")
    else:  # the site owner's padlock revoke --key --cert --ca
        proof = _proof(cert, key, "keyCompromise", now)
        world.revoker.revoke_with_key_proof(proof, BASE_URL, "key-holder", now)


@pytest.mark.parametrize("who", ["operator", "acme", "certificate file", "key holder"])
def test_key_compromise_revokes_every_certificate_of_the_key(any_world: World, who: str) -> None:
    """BR 4.9.1.1: every unexpired certificate of a compromised key is revoked with it, in
    the same transaction, each audited; other keys' certificates stay valid."""
    world = any_world
    key = ec.generate_private_key(ec.SECP256R1())
    named, second, third = world.issue(key), world.issue(key), world.issue(key)
    bystander = world.issue()
    _revoke_as(world, who, named, key)
    same_key = [named, second, third]
    for cert in same_key:
        record = world.store.get_certificate(cert.serial_number)
        assert record is not None and record.state is CertState.REVOKED
        assert record.revocation_reason == "keyCompromise"
        answer = world.status(cert)
        assert answer.certificate_status is ocsp.OCSPCertStatus.REVOKED
        assert answer.revocation_reason is x509.ReasonFlags.key_compromise
    assert world.status(bystander).certificate_status is ocsp.OCSPCertStatus.GOOD
    events = {
        int(e.object_id, 16): e.details
        for e in world.store.iter_events()
        if e.action == "certificate.revoked"
    }
    assert set(events) == {c.serial_number for c in same_key}
    assert "same_key_as" not in events[named.serial_number]
    for cert in (second, third):
        assert events[cert.serial_number]["same_key_as"] == format(named.serial_number, "x")
        assert events[cert.serial_number]["reason"] == "keyCompromise"
    crl = x509.load_der_x509_crl(world.repo.get_crl("test-issuing").der)  # type: ignore[union-attr]
    assert {r.serial_number for r in crl} == {c.serial_number for c in same_key}
    assert world.store.verify_audit().ok


def test_key_compromise_leaves_expired_and_revoked_certificates(any_world: World) -> None:
    world = any_world
    key = ec.generate_private_key(ec.SECP256R1())
    short = world.issue(key, days=1)
    earlier = world.issue(key)
    world.revoker.revoke(earlier.serial_number, "superseded", "cli")
    named = world.issue(key)
    # Two days on, ``short`` has expired: it is not revoked again, nor is ``earlier``.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    world.revoker.revoke(named.serial_number, "keyCompromise", "cli", later)
    assert world.store.get_certificate(short.serial_number).state is CertState.ISSUED  # type: ignore[union-attr]
    again = world.store.get_certificate(earlier.serial_number)
    assert again is not None and again.revocation_reason == "superseded"


def test_key_compromise_refused_at_completion(
    any_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A certificate reserved before its key was revoked as compromised and completed after
    is refused at completion: nothing stored, the reservation abandoned and audited, OCSP
    answers revoked for its serial."""
    world = any_world
    key = ec.generate_private_key(ec.SECP256R1())
    first = world.issue(key)
    complete = world.store.complete_certificate
    meanwhile: list[int] = []

    def revoked_meanwhile(serial: int, *args: Any, **kwargs: Any) -> Any:
        # Between the reservation (the key not yet blocked) and the completion.
        world.revoker.revoke(first.serial_number, "keyCompromise", "cli")
        meanwhile.append(serial)
        return complete(serial, *args, **kwargs)

    monkeypatch.setattr(world.store, "complete_certificate", revoked_meanwhile)
    with pytest.raises(WeakKey, match="revoked as compromised"):
        world.issue(key)
    monkeypatch.undo()
    (serial,) = meanwhile
    record = world.store.get_certificate(serial)
    assert record is not None and record.state is CertState.ABANDONED and record.der is None
    (event,) = [
        e
        for e in world.store.iter_events()
        if e.action == "certificate.abandoned" and e.object_id == format(serial, "x")
    ]
    assert "compromised" in event.details["refused"] and len(event.details["signed_sha256"]) == 64
    assert world.status(serial).certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert world.store.verify_audit().ok


def test_blocked_key_refused_inside_the_reservation_leaving_nothing(world: World) -> None:
    """issue() asks about the key in the reservation's own transaction: a refusal there
    rolls the reservation and its audit event back."""
    key = ec.generate_private_key(ec.SECP256R1())
    first = world.issue(key)
    world.revoker.revoke(first.serial_number, "keyCompromise", "cli")
    records = world.store.list_certificates(None, limit=1000)
    head = world.store.audit_head()
    with pytest.raises(WeakKey, match="revoked as compromised"):
        world.issue(key)
    assert world.store.list_certificates(None, limit=1000) == records
    assert world.store.audit_head() == head
    assert world.store.verify_audit().ok


def test_key_blocked_after_the_checks_is_still_refused(world: World) -> None:
    """A revocation for keyCompromise committed between the checks (Issuer.checked, as a
    validated request has them) and the issuance cannot slip through."""
    key = ec.generate_private_key(ec.SECP256R1())
    first = world.issue(key)
    request = IssueRequest(build_csr(key=key), "test")
    checked = world.issuer.checked(request)  # the key is not blocked yet
    world.revoker.revoke(first.serial_number, "keyCompromise", "cli")
    head = world.store.audit_head()
    with pytest.raises(WeakKey, match="revoked as compromised"):
        world.issuer.issue(request, checked=checked)
    assert world.store.audit_head() == head
    assert not world.store.list_certificates(CertState.RESERVED, limit=10)


def test_revoke_certificate_by_der_only_our_own(
    world: World, signers: dict[Hierarchy, Signer]
) -> None:
    cert = world.issue()
    record = world.revoker.revoke_certificate(
        cert.public_bytes(serialization.Encoding.PEM), 1, "cli"
    )
    assert record.revocation_reason == "keyCompromise"
    stranger = ec.generate_private_key(ec.SECP256R1())
    foreign = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(cert.issuer)
        .public_key(stranger.public_key())
        .serial_number(cert.serial_number + 1)
        .not_valid_before(cert.not_valid_before_utc)
        .not_valid_after(cert.not_valid_after_utc)
        .sign(stranger, hashes.SHA256())
    )
    with pytest.raises(NotFound, match="did not issue"):
        world.revoker.revoke_certificate(foreign.public_bytes(DER), None, "cli")
    with pytest.raises(Malformed):
        world.revoker.revoke_certificate(b"not a certificate", None, "cli")


def test_revoke_request_by_id(world: World) -> None:
    cert = world.issue(request_id="req-abc")
    records = world.revoker.revoke_request("req-abc", "cessationOfOperation", "rest")
    assert [r.serial for r in records] == [cert.serial_number]
    with pytest.raises(AlreadyRevoked):
        world.revoker.revoke_request("req-abc", None, "rest")
    with pytest.raises(NotFound):
        world.revoker.revoke_request("no-such-request", None, "rest")


def _proof(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey, reason: str, when: dt.datetime,
           audience: str = BASE_URL) -> KeyProof:  # fmt: skip
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    statement = crl_ocsp.revocation_statement(
        hashlib.sha256(cert.public_bytes(DER)).hexdigest(), reason, stamp, audience
    )
    return KeyProof(cert.public_bytes(DER), reason, stamp, crl_ocsp.sign_statement(key, statement))


def test_key_proof_revokes(world: World) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = world.issue(key)
    now = dt.datetime.now(dt.UTC)
    record = world.revoker.revoke_with_key_proof(
        _proof(cert, key, "keyCompromise", now), BASE_URL, "owner"
    )
    assert record.revocation_reason == "keyCompromise"


@pytest.mark.parametrize("fault", ["other key", "stale", "other CA", "tampered reason"])
def test_key_proof_invalid(world: World, fault: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = world.issue(key)
    now = dt.datetime.now(dt.UTC)
    if fault == "other key":
        proof = _proof(cert, ec.generate_private_key(ec.SECP256R1()), "superseded", now)
    elif fault == "stale":
        proof = _proof(cert, key, "superseded", now - dt.timedelta(minutes=30))
    elif fault == "other CA":
        proof = _proof(cert, key, "superseded", now, audience="https://other-ca.example")
    else:
        good = _proof(cert, key, "superseded", now)
        proof = KeyProof(good.certificate, "keyCompromise", good.timestamp, good.signature)
    with pytest.raises(Unauthorized):
        world.revoker.revoke_with_key_proof(proof, BASE_URL, "owner", now)
    assert world.store.get_certificate(cert.serial_number).state is CertState.ISSUED  # type: ignore[union-attr]


# --- OCSP -------------------------------------------------------------------------------------


def test_ocsp_good_revoked_unknown(world: World) -> None:
    cert = world.issue()
    good = world.status(cert)
    assert good.certificate_status is ocsp.OCSPCertStatus.GOOD
    world.revoker.revoke(cert.serial_number, "keyCompromise", "cli")
    revoked = world.status(cert)
    assert revoked.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert revoked.revocation_reason is x509.ReasonFlags.key_compromise
    assert world.status(0x77777777777777777777).certificate_status is ocsp.OCSPCertStatus.UNKNOWN


def test_ocsp_response_is_delegated_and_lints(world: World) -> None:
    cert = world.issue()
    der = world.ocsp.answer(world.ask(cert)).der
    assert not lint.lint_ocsp_response(der).errors
    response = ocsp.load_der_ocsp_response(der)
    responder = response.certificates[0]
    issuer = world.signers[Hierarchy.TEST].certificate
    responder.verify_directly_issued_by(issuer)
    eku = responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [x509.oid.ExtendedKeyUsageOID.OCSP_SIGNING]
    responder.extensions.get_extension_for_class(x509.OCSPNoCheck)
    assert (responder.not_valid_after_utc - responder.not_valid_before_utc).days <= 90
    assert not lint.lint_serverauth(
        responder.public_bytes(DER), lint.CertKind.OCSP_RESPONDER
    ).errors
    public = responder.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(hashes.SHA256()))
    assert response.next_update_utc - response.this_update_utc == dt.timedelta(days=4)


def test_ocsp_reserved_and_abandoned_answer_revoked(world: World) -> None:
    reserved = _reserve(world.store)
    answer = world.status(reserved)
    assert answer.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert answer.revocation_reason is None
    assert not world.ocsp.answer(world.ask(reserved)).cacheable  # may be issued any moment
    abandoned = _reserve(world.store)
    world.store.abandon_certificate(
        abandoned, AuditEntry("certificate.abandoned", "t", "certificate", "x")
    )
    assert world.status(abandoned).certificate_status is ocsp.OCSPCertStatus.REVOKED


def test_ocsp_nonce_echoed_and_not_cached(world: World) -> None:
    cert = world.issue()
    nonce = b"\x01" * 16
    answer = world.ocsp.answer(world.ask(cert, nonce))
    response = ocsp.load_der_ocsp_response(answer.der)
    assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
    assert not answer.cacheable
    assert world.ocsp.cached(world.ask(cert, nonce)) is None
    # A nonce longer than 32 octets is not echoed (RFC 8954 2.1): the cached answer serves.
    long = world.ocsp.answer(world.ask(cert, b"\x02" * 40))
    assert not ocsp.load_der_ocsp_response(long.der).extensions


def test_ocsp_cache_follows_the_generation(world: World, ca_dir: Path) -> None:
    cert = world.issue()
    request = world.ask(cert)
    first = world.ocsp.answer(request)
    assert world.ocsp.cached(request) is not None  # one small read, no signature
    # Another worker: its own responder object and LRU, the same database.
    other = OcspResponder(world.repo, world.responders.values())
    assert other.answer(request).der == first.der  # the stored pre-signed response
    # A revocation made without a responder at hand (say, by another process):
    Revoker(world.repo).revoke(cert.serial_number, "superseded", "cli")
    assert world.ocsp.cached(request) is None  # generation moved: the LRU entry is not used
    for responder in (world.ocsp, other):
        status = ocsp.load_der_ocsp_response(responder.answer(request).der)
        assert status.certificate_status is ocsp.OCSPCertStatus.REVOKED


def test_ocsp_presign_and_refresh_at_half_life(world: World) -> None:
    certs = [world.issue() for _ in range(3)]
    assert world.ocsp.presign(limit=100) >= 3
    assert world.ocsp.presign(limit=100) == 0
    for cert in certs:
        assert world.repo.get_ocsp(cert.serial_number, "sha1") is not None
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2, hours=2)
    assert world.ocsp.presign(later, limit=100) >= 3  # past half-life: signed again


def test_ocsp_bad_requests(world: World) -> None:
    assert world.ocsp.answer(b"").status == "malformedRequest"
    assert world.ocsp.answer(b"\x30\x03\x02\x01\x01").status == "malformedRequest"
    other = ec.generate_private_key(ec.SECP256R1())
    req = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(b"\x00" * 20, b"\x11" * 20, 5, SHA1())
        .build()
        .public_bytes(DER)
    )
    assert world.ocsp.answer(req).status == "unauthorized"
    del other


def test_responder_made_lazily_and_renewed(
    tmp_path: Path, signers: dict[Hierarchy, Signer], ca_dir: Path
) -> None:
    import shutil

    ca_dir = Path(shutil.copytree(ca_dir, tmp_path / "ca"))  # this test changes the files
    now = dt.datetime.now(dt.UTC)
    made = ensure_ocsp_signers(ca_dir, CA_PASSPHRASE, now, signers)
    again = ensure_ocsp_signers(ca_dir, CA_PASSPHRASE, now, signers)
    assert made[Hierarchy.TEST].certificate == again[Hierarchy.TEST].certificate
    cert_path, key_path = ocsp_files(ca_dir, Hierarchy.TEST)
    assert key_path.stat().st_mode & 0o777 == 0o600
    assert b"ENCRYPTED" in key_path.read_bytes()
    later = now + dt.timedelta(days=70)  # fewer than 30 days left: a new one
    renewed = ensure_ocsp_signers(ca_dir, CA_PASSPHRASE, later, signers)
    assert renewed[Hierarchy.TEST].certificate != made[Hierarchy.TEST].certificate
    cert_path.unlink()  # a CA made before responders existed
    remade = ensure_ocsp_signers(ca_dir, CA_PASSPHRASE, now, signers)
    assert cert_path.exists() and remade[Hierarchy.TEST].public_key_matches()


# --- CRLs -------------------------------------------------------------------------------------


def test_crl_entries_numbers_and_lint(world: World, signers: dict[Hierarchy, Signer]) -> None:
    now = dt.datetime.now(dt.UTC)
    first = world.crls.regenerate("test-issuing", now)
    assert (first.number, first.entries) == (1, 0)
    a, b = world.issue(), world.issue()
    world.revoker.revoke(a.serial_number, "keyCompromise", "cli", now)
    world.revoker.revoke(b.serial_number, None, "cli", now)
    current = world.crls.current("test-issuing", now)
    assert current.number > first.number
    crl = x509.load_der_x509_crl(current.der)
    assert crl.is_signature_valid(signers[Hierarchy.TEST].certificate.public_key())  # type: ignore[arg-type]
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == current.number
    crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    assert crl.next_update_utc - crl.last_update_utc == dt.timedelta(days=7)
    entry_a = crl.get_revoked_certificate_by_serial_number(a.serial_number)
    entry_b = crl.get_revoked_certificate_by_serial_number(b.serial_number)
    assert entry_a is not None and entry_b is not None
    assert entry_a.extensions.get_extension_for_class(x509.CRLReason).value.reason is (
        x509.ReasonFlags.key_compromise
    )
    assert not entry_b.extensions  # unspecified: no reasonCode (RFC 5280 5.3.1)
    assert not lint.lint_crl(current.der).errors


def test_crl_refresh_rules(world: World) -> None:
    now = dt.datetime.now(dt.UTC)
    world.crls.refresh_due(now)
    assert not world.crls.needs_refresh("test-issuing", now)
    cert = world.issue()
    Revoker(world.repo).revoke(cert.serial_number, None, "cli", now)  # no CRL service at hand
    assert world.crls.needs_refresh("test-issuing", now)  # the generation moved
    world.crls.refresh_due(now)
    assert not world.crls.needs_refresh("test-issuing", now)
    assert world.crls.needs_refresh("test-issuing", now + dt.timedelta(days=3, hours=13))


def test_crl_compare_and_set(world: World) -> None:
    now = dt.datetime.now(dt.UTC)
    crl = world.crls.regenerate("test-issuing", now)
    # A second writer that read number 1 before the first stored 2 loses the race.
    newer = world.crls.regenerate("test-issuing", now)
    assert newer.number == crl.number + 1
    from padlock.ca.ports.revocation import StoredCrl

    late = StoredCrl("test-issuing", crl.number + 1, 0, now, now, 0, b"late")
    assert world.repo.save_crl(late, replaces=crl.number) is False
    assert world.repo.get_crl("test-issuing").der == newer.der  # type: ignore[union-attr]


def test_crl_offline_root(world: World, ca_dir: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    with pytest.raises(NotFound, match="no CRL for trusted-root"):
        world.crls.current("trusted-root", now)
    root = load_root_signer(
        ca_dir, Hierarchy.TRUSTED, CA_PASSPHRASE, ca_dir.parent / "offline" / "trusted-root.key"
    )
    arl = world.crls.regenerate("trusted-root", now, signer=root, days=365)
    assert not lint.lint_crl(arl.der, authority=True).errors
    assert world.crls.current("trusted-root", now).der == arl.der


def test_revocation_tick(world: World) -> None:
    from padlock.ca.revocation import Revocation

    world.issue()
    done = Revocation(world.revoker, world.crls, world.ocsp).tick(dt.datetime.now(dt.UTC))
    assert done["crls"] == 3 and done["ocsp"] >= 1


def test_revocation_tick_not_its_turn_leaves_the_shared_work(world: World) -> None:
    from padlock.ca.revocation import Revocation

    serial = world.issue().serial_number
    upkeep = Revocation(world.revoker, world.crls, world.ocsp)
    done = upkeep.tick(dt.datetime.now(dt.UTC), shared=False)
    assert done == {"responders": 0, "crls": 0, "shards": 0, "ocsp": 0}
    assert (
        world.repo.get_ocsp(serial, "sha1") is None and world.repo.get_crl("test-issuing") is None
    )


def test_revocation_presign_stores_in_batches(world: World) -> None:
    from padlock.ca import revocation

    serials = [world.issue().serial_number for _ in range(revocation.PRESIGN_BATCH + 3)]
    world.revoker.revoke(serials[0], "superseded", "t")  # a revoked one is pre-signed too
    before = world.repo.get_ocsp(serials[0], "sha1")  # signed by the revocation itself
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=4)  # past half-life: all due again
    assert world.ocsp.presign(later, limit=len(serials) + 10) == len(serials)
    stored = [world.repo.get_ocsp(s, "sha1") for s in serials]
    assert all(c is not None and c.this_update > later - dt.timedelta(hours=2) for c in stored)
    assert stored[0] is not None and before is not None and stored[0].der != before.der
    assert stored[0].cert_state == "revoked"
    assert {c.cert_state for c in stored[1:] if c is not None} == {"issued"}
    assert world.ocsp.presign(later, limit=1000) == 0  # nothing left to do


def _reserve(store: Store) -> int:
    import secrets

    serial = secrets.randbits(127) | (1 << 126)
    now = dt.datetime.now(dt.UTC)
    store.reserve_certificate(
        Reservation(
            serial, "test", "test-issuing", "test", None, "CN=x.example.com", ("x.example.com",),
            now, now + dt.timedelta(days=21), b"tbs", now, "sha256:" + "1" * 64,
        ),
        AuditEntry("certificate.reserved", "t", "certificate", format(serial, "x")),
    )  # fmt: skip
    return serial


def test_signature_decoding() -> None:
    from padlock.ca.revocation import decode_signature

    raw = bytes(range(40))
    assert decode_signature(base64.urlsafe_b64encode(raw).decode().rstrip("=")) == raw
    assert decode_signature(base64.b64encode(raw).decode()) == raw
    with pytest.raises(Malformed):
        decode_signature("***")
