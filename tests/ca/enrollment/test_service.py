"""Enrollment use cases in process, with real loopback DNS and HTTP servers answering the
domain checks: the state machine, reuse within the BR window and the request lineage only,
CAA before issuance, expiry, one issuance under concurrency, documents, reviewer actions,
mail, and the audit trail."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from padlock.ca.enrollment import submit as enrollment_submit
from padlock.ca.enrollment.checks import (
    check_contact,
    check_organization,
    parse_kind,
    safe_filename,
    sniff_document,
)
from padlock.ca.enrollment.mail import render_message
from padlock.ca.enrollment.model import (
    MAX_DOCUMENT_BYTES,
    MAX_DOCUMENTS,
    ChallengeState,
    EnrollmentRequest,
    Kind,
    RequestState,
    RequestUpdate,
    Reviewer,
)
from padlock.ca.enrollment.service import EnrollmentService
from padlock.ca.issuance import IssuancePolicy, Issuer
from padlock.ca.notify import SmtpConfig, SmtpMailer, deliver
from padlock.ca.ports import CertState, GuardedWrite, Store
from padlock.ca.signer import Signer
from padlock.ca.validation import VAConfig
from padlock.errors import (
    BadCSR,
    CAAForbidden,
    Conflict,
    LintFailed,
    Malformed,
    NotFound,
    PadlockError,
    PayloadTooLarge,
    PolicyError,
    RejectedIdentifier,
    StorageError,
    UnsupportedMediaType,
)
from padlock.pki.certs import Organization
from padlock.pki.keypolicy import builtin_blocklist
from padlock.pki.profiles import Hierarchy, reuse_days, still_reusable
from padlock.store.certificates import SqlStore
from padlock.store.enrollment import SqlEnrollmentStore
from tests.ca.conftest import BASE_URL, CSRMaker
from tests.support.dnsserver import TestDNS
from tests.support.httpfiles import FileServer
from tests.support.smtpserver import TestSMTP
from tests.web.conftest import start_dns

CAA_ID = "ca.example.com"
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n%%EOF\n"
ALICE = Reviewer("alice", "Alice Example", "alice@ca.example.com")
ORG = Organization("Widgets Ltd", "Leeds", None, "GB")


@dataclass
class Clock:
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@dataclass
class Outbox:
    sent: list[tuple[str, str, str]] = field(default_factory=list)
    fail: bool = False

    def send(self, to: str, subject: str, body: str) -> None:
        if self.fail:
            raise OSError("the relay is down")
        self.sent.append((to, subject, body))


@pytest.fixture(scope="module")
def dns_server() -> Iterator[TestDNS]:
    server = start_dns()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def web_server() -> Iterator[FileServer]:
    server = FileServer().start()
    yield server
    server.stop()


@pytest.fixture
def dns(dns_server: TestDNS) -> TestDNS:
    """The module's DNS server with an empty zone (every name is 127.0.0.1)."""
    zone = dns_server.zone
    with zone.lock:
        for table in (zone.a, zone.aaaa, zone.txt, zone.caa, zone.servfail, zone.nxdomain):
            table.clear()
        zone.queries.clear()
    return dns_server


@pytest.fixture
def web(web_server: FileServer) -> FileServer:
    web_server.files.clear()
    web_server.redirects.clear()
    return web_server


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


@pytest.fixture
def svc(
    store: Store,
    issuer: Issuer,
    dns: TestDNS,
    web: FileServer,
    tmp_path: Path,
    clock: Clock,
    outbox: Outbox,
) -> EnrollmentService:
    return _service(store, issuer, dns, web, tmp_path, clock, outbox)


def _service(
    store: Store,
    issuer: Issuer,
    dns: TestDNS,
    web: FileServer,
    tmp_path: Path,
    clock: Clock,
    outbox: Outbox,
) -> EnrollmentService:
    assert isinstance(store, SqlStore)
    cfg = VAConfig(resolver=dns.address, http_port=web.port, timeout=2, caa_identities=(CAA_ID,))
    return EnrollmentService(
        SqlEnrollmentStore(store),
        store,
        issuer,
        cfg,
        documents_dir=tmp_path / "documents",
        base_url="https://ca.example.com/",
        notifier=outbox,
        clock=clock,
    )


def _serve_file(web: FileServer, req: EnrollmentRequest, index: int = 0) -> None:
    ch = req.challenges[index]
    web.files[ch.http_path] = ch.token.encode() + b"\n"


def _txt(dns: TestDNS, req: EnrollmentRequest, index: int = 0) -> None:
    ch = req.challenges[index]
    dns.zone.add_txt(ch.dns_record, ch.token)


def _certs_for(store: Store, request_id: str) -> list[str]:
    return [
        r.serial_hex
        for r in store.list_certificates(limit=1000)
        if r.request_id == request_id and r.state is CertState.ISSUED
    ]


# --------------------------------------------------------------------------- rules


def test_enrollment_input_checks() -> None:
    assert parse_kind("ov") is Kind.OV
    with pytest.raises(Malformed, match="no request kind 'ev'"):
        parse_kind("ev")
    assert check_contact("  admin@example.com ") == "admin@example.com"
    for bad in ("", "admin", "a@b", "a b@example.com", "a@example.com\nBcc: x@y.z", "<a@b.c>"):
        with pytest.raises(Malformed):
            check_contact(bad)
    assert check_organization(Organization(" Widgets  Ltd ", "Leeds", "", "gb")) == Organization(
        "Widgets Ltd", "Leeds", None, "GB"
    )
    with pytest.raises(Malformed, match="locality or a state"):
        check_organization(Organization("W", None, None, "GB"))
    with pytest.raises(Malformed):
        check_organization(Organization("W" * 65, "Leeds", None, "GB"))
    with pytest.raises(Malformed):
        check_organization(Organization("W", "Leeds", None, "Britain"))
    with pytest.raises(Malformed):
        check_organization(None)


@pytest.mark.parametrize(
    "name",
    [
        "../x.pdf",
        "a/b.pdf",
        "a\\b.pdf",
        "..",
        ".",
        ".hidden",
        "C:x.pdf",
        "%2e%2e%2fx",
        "x\x00.pdf",
        "x\u202e.pdf",
        "x\n.pdf",
        "",
        "a" * 256,
    ],
)
def test_enrollment_filename_tricks_refused(name: str) -> None:
    with pytest.raises(Malformed):
        safe_filename(name)


def test_enrollment_filename_kept_as_metadata() -> None:
    assert safe_filename("Company Registration (2024).pdf") == "Company Registration (2024).pdf"
    assert safe_filename("reçu*<>.png") == "reçu___.png"
    assert len(safe_filename("a" * 200 + ".pdf")) == 100


def test_enrollment_documents_sniffed_by_content() -> None:
    assert sniff_document(PDF) == "application/pdf"
    assert sniff_document(b"\x89PNG\r\n\x1a\nrest") == "image/png"
    assert sniff_document(b"\xff\xd8\xff\xe0JFIF") == "image/jpeg"
    for bad in (b"GIF89a", b"<svg/>", b"PK\x03\x04", b"%PD", b"MZ"):
        with pytest.raises(UnsupportedMediaType):
            sniff_document(bad)


# --------------------------------------------------------------------------- test and dv


def test_enrollment_test_request_is_issued_at_once(
    svc: EnrollmentService, store: Store, make_csr: CSRMaker, outbox: Outbox
) -> None:
    req = svc.submit(make_csr(["www.example.com"]), "test", "owner@example.com")
    assert req.state is RequestState.ISSUED and req.kind is Kind.TEST
    assert req.certificate is not None and req.certificate.state == "issued"
    assert _certs_for(store, req.id) == [req.certificate_serial]
    again = svc.get(req.id)
    assert again.certificate == req.certificate
    assert [t.action for t in again.timeline] == ["submitted", "issued"]
    issued = svc.certificate(req.id)
    assert issued.record.profile == "test"
    assert svc.status_url(req.id) == f"https://ca.example.com/status/{req.id}"
    ((to, subject, body),) = outbox.sent
    assert to == "owner@example.com" and "issued" in subject and svc.status_url(req.id) in body
    assert store.verify_audit().ok


def test_enrollment_test_request_and_certificate_commit_together(
    svc: EnrollmentService,
    store: Store,
    make_csr: CSRMaker,
    outbox: Outbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The request is recorded in the transaction that stores its certificate: when that
    # record cannot be written (here: its id is taken), the certificate is not issued
    # either; the reservation stays, visible, and the audit chain holds.
    first = svc.submit(make_csr(["one.example.com"]), "test", "owner@example.com")
    monkeypatch.setattr(enrollment_submit, "new_request_id", lambda: first.id)
    with pytest.raises(PadlockError):
        svc.submit(make_csr(["two.example.com"]), "test", "owner@example.com")
    assert svc.get(first.id).names == ("one.example.com",)
    by_state = {r.state for r in store.list_certificates(limit=10)}
    assert by_state == {CertState.ISSUED, CertState.RESERVED}
    assert _certs_for(store, first.id) == [first.certificate_serial]
    assert len(outbox.sent) == 1  # no mail for what was not issued
    assert store.verify_audit().ok


def test_enrollment_private_key_is_refused_before_anything_is_stored(
    svc: EnrollmentService, store: Store, make_csr: CSRMaker
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    for data in (pem, make_csr(["www.example.com"], key=key) + pem, pem.decode()):
        with pytest.raises(BadCSR, match="private key"):
            svc.submit(data, "dv", "owner@example.com")
    assert store.audit_head()[0] == 0
    assert svc.stats().requests == {}


def test_enrollment_dv_by_http_file_and_dns_txt(
    svc: EnrollmentService, store: Store, web: FileServer, dns: TestDNS, make_csr: CSRMaker
) -> None:
    req = svc.submit(make_csr(["www.example.com", "example.com"]), "dv", "owner@example.com")
    assert req.state is RequestState.SUBMITTED
    assert [c.name for c in req.challenges] == ["www.example.com", "example.com"]
    assert req.challenges[0].token != req.challenges[1].token
    _serve_file(web, req, 0)
    half = svc.validate(req.id)
    assert half.state is RequestState.VALIDATING and half.certificate_serial is None
    assert half.challenges[0].state is ChallengeState.VALID
    assert half.challenges[0].method == "http"
    assert half.challenges[1].state is ChallengeState.PENDING
    assert "HTTP 404" in (half.challenges[1].error or "")
    assert "No TXT record" in (half.challenges[1].error or "")
    _txt(dns, req, 1)
    done = svc.validate(req.id)
    assert done.state is RequestState.ISSUED
    assert done.challenges[1].method == "dns"
    assert [v.ok for v in done.validations if v.method == "caa"] == [True, True]
    http = next(v for v in done.validations if v.method == "http" and v.ok)
    assert http.evidence["target"] == f"http://www.example.com{req.challenges[0].http_path}"
    assert http.evidence["addresses"] == ["127.0.0.1"]
    assert http.evidence["resolver"] == f"{dns.address[0]}:{dns.address[1]}"
    assert ("www.example.com", "CAA") in dns.zone.queries
    cert = x509.load_pem_x509_certificate(svc.certificate(req.id).certificate_pem)
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME) == []
    assert _certs_for(store, req.id) == [done.certificate_serial]
    # Validating an issued request changes nothing.
    assert svc.validate(req.id).certificate_serial == done.certificate_serial


def test_enrollment_dv_refuses_ip_addresses_and_internal_names(
    svc: EnrollmentService, make_csr: CSRMaker
) -> None:
    with pytest.raises(RejectedIdentifier, match="IP address"):
        svc.submit(make_csr(["www.example.com", "8.8.8.8"]), "dv", "owner@example.com")
    with pytest.raises(RejectedIdentifier):
        svc.submit(make_csr(["printer.local"]), "dv", "owner@example.com")
    with pytest.raises(Malformed, match="ov requests only"):
        svc.submit(make_csr(["www.example.com"]), "dv", "owner@example.com", ORG)


def test_enrollment_failed_checks_never_issue(
    svc: EnrollmentService, store: Store, web: FileServer, dns: TestDNS, make_csr: CSRMaker
) -> None:
    req = svc.submit(make_csr(["www.example.com"]), "dv", "owner@example.com")
    ch = req.challenges[0]
    web.files[ch.http_path] = b"wrong"
    dns.zone.add_txt(ch.dns_record, "wrong")
    got = svc.validate(req.id)
    assert got.state is RequestState.VALIDATING and got.certificate_serial is None
    assert [v.ok for v in got.validations] == [False, False]
    dns.zone.nxdomain.add("www.example.com")
    got = svc.validate(req.id)
    assert got.certificate_serial is None
    assert _certs_for(store, req.id) == []
    with pytest.raises(Conflict, match="no certificate yet"):
        svc.certificate(req.id)


def test_enrollment_caa_naming_another_ca_stops_issuance(
    svc: EnrollmentService, store: Store, web: FileServer, dns: TestDNS, make_csr: CSRMaker
) -> None:
    dns.zone.add_caa("example.com", "issue", "letsencrypt.org")
    req = svc.submit(make_csr(["www.example.com"]), "dv", "owner@example.com")
    _serve_file(web, req)
    got = svc.validate(req.id)
    assert got.state is RequestState.VALIDATING and got.all_validated
    assert got.problem is not None and "letsencrypt.org" in got.problem
    assert _certs_for(store, req.id) == []
    assert got.timeline[-1].action == "blocked"
    # Checking again re-runs CAA only (the names are proven) and is still refused.
    again = svc.validate(req.id)
    assert again.certificate_serial is None and again.problem
    dns.zone.caa.clear()
    dns.zone.add_caa("example.com", "issue", CAA_ID)
    done = svc.validate(req.id)
    assert done.state is RequestState.ISSUED and done.problem is None


def test_enrollment_caa_rfc8657_methods_and_no_account(
    svc: EnrollmentService, store: Store, web: FileServer, dns: TestDNS, make_csr: CSRMaker
) -> None:
    """REST/portal methods go by ca-website-change (file) and ca-dns-change (TXT) in
    validationmethods; a property with accounturi never allows a request without an ACME
    account (RFC 8657 sections 3 and 4)."""
    dns.zone.add_caa("example.com", "issue", f"{CAA_ID}; validationmethods=ca-dns-change")
    req = svc.submit(make_csr(["www.example.com"]), "dv", "owner@example.com")
    _serve_file(web, req)
    got = svc.validate(req.id)
    assert got.certificate_serial is None
    assert "validationmethods=ca-dns-change" in (got.problem or "")
    assert "ca-website-change" in (got.problem or "")
    req = svc.submit(make_csr(["www.example.com"]), "dv", "owner@example.com")
    _txt(dns, req)
    assert svc.validate(req.id).state is RequestState.ISSUED
    dns.zone.txt.clear()
    dns.zone.add_caa("example.net", "issue", f"{CAA_ID}; accounturi=https://ca/acct/1")
    req = svc.submit(make_csr(["www.example.net"]), "dv", "owner@example.com")
    _serve_file(web, req)
    got = svc.validate(req.id)
    assert got.certificate_serial is None and "not made by an ACME account" in (got.problem or "")


def test_enrollment_caa_issuewild_and_lookup_failure(
    svc: EnrollmentService, store: Store, web: FileServer, dns: TestDNS, make_csr: CSRMaker
) -> None:
    dns.zone.add_caa("example.org", "issue", CAA_ID)
    dns.zone.add_caa("example.org", "issuewild", "other.example")
    req = svc.submit(make_csr(["*.example.org"]), "dv", "owner@example.com")
    assert req.challenges[0].methods == ("dns",)
    _txt(dns, req)
    got = svc.validate(req.id)
    assert got.certificate_serial is None and "other.example" in (got.problem or "")

    dns.zone.servfail.add("example.net")
    req = svc.submit(make_csr(["www.example.net"]), "dv", "owner@example.com")
    _serve_file(web, req)
    got = svc.validate(req.id)
    assert got.certificate_serial is None and "failed" in (got.problem or "")
    assert _certs_for(store, req.id) == []


def test_enrollment_reuse_only_in_lineage_and_window(
    svc: EnrollmentService, store: Store, dns: TestDNS, clock: Clock, make_csr: CSRMaker
) -> None:
    first = svc.submit(make_csr(["www.example.com"]), "dv", "owner@example.com")
    _txt(dns, first)
    assert svc.validate(first.id).state is RequestState.ISSUED
    dns.zone.txt.clear()

    # Same lineage, inside the window: proven at once, CAA checked, issued.
    clock.advance(days=30)
    assert still_reusable(clock.now - dt.timedelta(days=30), clock.now)
    second = svc.submit(
        make_csr(["www.example.com", "example.com"]),
        "dv",
        "o@example.com",
        previous_request=first.id,
    )
    assert second.state is RequestState.SUBMITTED  # example.com is new: not covered
    assert second.challenges[0].method == "reused"
    assert second.challenges[1].state is ChallengeState.PENDING
    third = svc.submit(
        make_csr(["www.example.com"]), "dv", "o@example.com", previous_request=first.id
    )
    assert third.state is RequestState.ISSUED
    reused = next(v for v in third.validations if v.method == "reused")
    assert first.id not in str(reused.evidence)  # the earlier id is not shown in full
    # A lineage passes the original validation time along, never a fresh one.
    assert third.challenges[0].validated_at == svc.get(first.id).challenges[0].validated_at

    # Without the lineage, nothing is reused.
    stranger = svc.submit(make_csr(["www.example.com"]), "dv", "x@example.com")
    assert stranger.state is RequestState.SUBMITTED

    # Past the window (the window of the day of use), nothing is reused either.
    proven_at = svc.get(first.id).challenges[0].validated_at
    assert proven_at is not None
    clock.now = proven_at + dt.timedelta(days=reuse_days(proven_at.date()) + 1)
    assert not still_reusable(proven_at, clock.now)
    late = svc.submit(
        make_csr(["www.example.com"]), "dv", "o@example.com", previous_request=third.id
    )
    assert late.state is RequestState.SUBMITTED
    assert late.challenges[0].state is ChallengeState.PENDING

    with pytest.raises(NotFound):
        svc.submit(make_csr(["www.example.com"]), "dv", "o@example.com", previous_request="A" * 32)


def _proven(svc: EnrollmentService, dns: TestDNS, make_csr: CSRMaker) -> EnrollmentRequest:
    first = svc.submit(make_csr(["www.example.com"]), "dv", "owner@example.com")
    _txt(dns, first)
    assert svc.validate(first.id).state is RequestState.ISSUED
    dns.zone.txt.clear()
    return first


def _reserved_or_abandoned(store: Store) -> list[CertState]:
    return sorted(
        r.state
        for r in store.list_certificates(limit=1000)
        if r.state in (CertState.RESERVED, CertState.ABANDONED)
    )


def test_enrollment_dv_on_submission_commits_with_its_certificate(
    svc: EnrollmentService,
    store: Store,
    dns: TestDNS,
    make_csr: CSRMaker,
    outbox: Outbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every name proven before: the request is recorded with the certificate's
    # reservation and marked issued with the certificate itself.
    first = _proven(svc, dns, make_csr)
    sent = len(outbox.sent)
    again = svc.submit(
        make_csr(["www.example.com"]), "dv", "o@example.com", previous_request=first.id
    )
    assert again.state is RequestState.ISSUED and again.problem is None
    assert again == svc.get(again.id)  # the answer, made from what was written, is what is stored
    assert [t.action for t in again.timeline] == ["submitted", "checked", "issued"]
    assert [v.method for v in again.validations] == ["reused", "caa"]
    assert _certs_for(store, again.id) == [again.certificate_serial]
    assert again.certificate is not None and again.certificate.state == "issued"
    assert len(outbox.sent) == sent + 1 and "issued" in outbox.sent[-1][1]
    assert svc.validate(again.id).state is RequestState.ISSUED  # nothing left to do
    # When the request cannot be recorded (here its id is taken), nothing is reserved:
    # the two commit together, and nothing is half-written.
    certificates = len(store.list_certificates(limit=1000))
    head = store.audit_head()
    monkeypatch.setattr(enrollment_submit, "new_request_id", lambda: first.id)
    with pytest.raises(StorageError):  # the storage's own error, not one about the other
        svc.submit(make_csr(["www.example.com"]), "dv", "o@example.com", previous_request=first.id)
    assert len(store.list_certificates(limit=1000)) == certificates
    assert store.audit_head() == head
    assert svc.get(first.id).names == ("www.example.com",)
    assert store.verify_audit().ok


def test_enrollment_dv_on_submission_caa_refusal_is_recorded(
    svc: EnrollmentService, store: Store, dns: TestDNS, make_csr: CSRMaker
) -> None:
    first = _proven(svc, dns, make_csr)
    dns.zone.add_caa("example.com", "issue", "letsencrypt.org")
    got = svc.submit(
        make_csr(["www.example.com"]), "dv", "o@example.com", previous_request=first.id
    )
    assert got.state is RequestState.VALIDATING and got.all_validated
    assert got.problem is not None and "letsencrypt.org" in got.problem
    assert got.timeline[-1].action == "blocked"
    assert _certs_for(store, got.id) == [] and _reserved_or_abandoned(store) == []
    # The claim was let go: checking again, once CAA allows it, issues.
    dns.zone.caa.clear()
    assert svc.validate(got.id).state is RequestState.ISSUED


def test_enrollment_dv_on_submission_lint_refusal_is_recorded(
    svc: EnrollmentService,
    store: Store,
    dns: TestDNS,
    make_csr: CSRMaker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from padlock.ca import issuance

    first = _proven(svc, dns, make_csr)
    monkeypatch.setattr(
        issuance.certcheck, "leaf_problems", lambda cert, profile, tbs=None: ["forced problem"]
    )
    with pytest.raises(LintFailed, match="forced problem"):
        svc.submit(make_csr(["www.example.com"]), "dv", "o@example.com", previous_request=first.id)
    # The request was stored with the reservation, and says why nothing was issued.
    (row,) = [r for r in store.list_certificates(limit=1000) if r.state is CertState.ABANDONED]
    assert row.request_id is not None
    got = svc.get(row.request_id)
    assert got.state is RequestState.VALIDATING and got.certificate_serial is None
    assert got.problem is not None and "forced problem" in got.problem
    assert got.timeline[-1].action == "blocked"
    monkeypatch.undo()
    assert svc.validate(got.id).state is RequestState.ISSUED  # the claim was let go
    assert store.verify_audit().ok


def test_enrollment_dv_on_submission_keeps_the_certificate_when_the_claim_is_lost(
    svc: EnrollmentService,
    store: Store,
    dns: TestDNS,
    make_csr: CSRMaker,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Another process took the request over (its claim had gone stale) while this one
    # signed: the request's step is refused, and the signed certificate is stored anyway.
    first = _proven(svc, dns, make_csr)
    assert isinstance(store, SqlStore)
    repo = svc._store
    assert isinstance(repo, SqlEnrollmentStore)
    real = repo.update_writes
    taken: list[str] = []

    def meanwhile(request_id: str, update: RequestUpdate, at: dt.datetime) -> object:
        with store.engine.begin() as conn:
            conn.exec_driver_sql(
                "UPDATE enrollment_requests SET claim_token = 'other' WHERE id = :id",
                {"id": request_id},
            )
        taken.append(request_id)
        return real(request_id, update, at)

    monkeypatch.setattr(repo, "update_writes", meanwhile)
    with pytest.raises(Conflict, match="no longer holds"):
        svc.submit(make_csr(["www.example.com"]), "dv", "o@example.com", previous_request=first.id)
    (request_id,) = taken
    (serial,) = _certs_for(store, request_id)
    got = svc.get(request_id)
    assert got.state is RequestState.VALIDATING and got.certificate_serial is None
    assert _reserved_or_abandoned(store) == []
    # The other claim goes stale: the next check records the certificate, issues none.
    clock.advance(minutes=11)
    done = svc.validate(request_id)
    assert done.state is RequestState.ISSUED and done.certificate_serial == serial
    assert _certs_for(store, request_id) == [serial]
    assert store.verify_audit().ok


@pytest.fixture
def any_svc(
    any_store: Store,
    signers: dict[Hierarchy, Signer],
    dns: TestDNS,
    web: FileServer,
    tmp_path: Path,
    clock: Clock,
    outbox: Outbox,
) -> tuple[EnrollmentService, Store]:
    """The service on SQLite, then on PostgreSQL."""
    issuer = Issuer(any_store, signers, IssuancePolicy(base_url=BASE_URL), builtin_blocklist())
    return _service(any_store, issuer, dns, web, tmp_path, clock, outbox), any_store


def _last_step_fails(svc: EnrollmentService, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The request's last step (recorded with its certificate) fails: the certificate is
    stored, the request is not marked issued and its claim is left behind."""
    failed: list[str] = []

    def failing(request_id: str, update: RequestUpdate, at: dt.datetime) -> GuardedWrite:
        failed.append(request_id)
        return GuardedWrite(lambda _cursor: Conflict("injected: the last step failed"))

    monkeypatch.setattr(svc._store, "update_writes", failing)
    return failed


def test_enrollment_failed_last_step_never_issues_twice(
    any_svc: tuple[EnrollmentService, Store],
    web: FileServer,
    clock: Clock,
    make_csr: CSRMaker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One request, at most one certificate: once the left claim goes stale, a later check
    completes the request with the certificate already issued for it."""
    svc, store = any_svc
    req = svc.submit(make_csr(["www.example.com"]), "dv", "owner@example.com")
    _serve_file(web, req)
    failed = _last_step_fails(svc, monkeypatch)
    with pytest.raises(Conflict, match="injected"):
        svc.validate(req.id)
    monkeypatch.undo()
    assert failed == [req.id]
    (serial,) = _certs_for(store, req.id)
    assert svc.get(req.id).state is RequestState.VALIDATING
    assert svc.validate(req.id).state is RequestState.VALIDATING  # the claim is still fresh
    clock.advance(minutes=11)
    done = svc.validate(req.id)
    assert done.state is RequestState.ISSUED and done.certificate_serial == serial
    assert _certs_for(store, req.id) == [serial]  # not issued again
    assert done.timeline[-1].action == "issued" and "earlier step" in done.timeline[-1].note
    assert svc.certificate(req.id).record.serial_hex == serial
    clock.advance(minutes=11)
    assert svc.validate(req.id).state is RequestState.ISSUED
    assert _certs_for(store, req.id) == [serial]
    assert store.verify_audit().ok


def test_enrollment_failed_last_step_of_an_approval_never_issues_twice(
    svc: EnrollmentService,
    store: Store,
    dns: TestDNS,
    clock: Clock,
    make_csr: CSRMaker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    req = _ov_in_review(svc, dns, make_csr)
    _last_step_fails(svc, monkeypatch)
    with pytest.raises(Conflict, match="injected"):
        svc.approve(req.id, ALICE, ORG)
    monkeypatch.undo()
    (serial,) = _certs_for(store, req.id)
    with pytest.raises(Conflict, match="being issued"):
        svc.approve(req.id, ALICE, ORG)  # the left claim is still fresh
    clock.advance(minutes=11)
    done = svc.approve(req.id, ALICE, ORG)
    assert done.state is RequestState.ISSUED and done.certificate_serial == serial
    assert _certs_for(store, req.id) == [serial]
    assert store.verify_audit().ok


def test_enrollment_challenges_expire(
    svc: EnrollmentService, web: FileServer, clock: Clock, make_csr: CSRMaker, outbox: Outbox
) -> None:
    req = svc.submit(make_csr(["www.example.com"]), "dv", "owner@example.com")
    _serve_file(web, req)
    clock.advance(days=7, seconds=1)
    got = svc.validate(req.id)
    assert got.state is RequestState.REJECTED
    assert got.challenges[0].state is ChallengeState.EXPIRED
    assert "not completed" in (got.rejection_reason or "")
    assert "rejected" in outbox.sent[-1][1]
    with pytest.raises(Conflict, match="rejected"):
        svc.validate(req.id)


def test_enrollment_concurrent_checks_issue_once(
    svc: EnrollmentService, store: Store, web: FileServer, make_csr: CSRMaker
) -> None:
    req = svc.submit(make_csr(["www.example.com"]), "dv", "owner@example.com")
    _serve_file(web, req)
    barrier = threading.Barrier(6)
    outcomes: list[object] = []

    def check() -> None:
        barrier.wait()
        try:
            outcomes.append(svc.validate(req.id).state)
        except Conflict as exc:  # pragma: no cover - validate absorbs the races it loses
            outcomes.append(exc)

    threads = [threading.Thread(target=check) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(outcomes) == 6
    assert len(_certs_for(store, req.id)) == 1
    assert svc.get(req.id).state is RequestState.ISSUED
    assert store.verify_audit().ok


# --------------------------------------------------------------------------- ov and review


def _ov_in_review(svc: EnrollmentService, dns: TestDNS, make_csr: CSRMaker) -> EnrollmentRequest:
    req = svc.submit(make_csr(["shop.example.com"]), "ov", "owner@example.com", ORG)
    svc.add_document(req.id, "registration.pdf", PDF)
    _txt(dns, req)
    got = svc.validate(req.id)
    assert got.state is RequestState.IN_REVIEW
    return got


def test_enrollment_ov_review_and_approval(
    svc: EnrollmentService, store: Store, dns: TestDNS, make_csr: CSRMaker, outbox: Outbox
) -> None:
    with pytest.raises(Malformed, match="organization"):
        svc.submit(make_csr(["shop.example.com"]), "ov", "owner@example.com")
    req = _ov_in_review(svc, dns, make_csr)
    assert req.organization == ORG and req.certificate_serial is None
    assert [s.id for s in svc.queue()] == [req.id]
    assert svc.queue()[0].documents == 1
    svc.assign(req.id, ALICE)
    assert svc.get(req.id).reviewer == ALICE
    verified = Organization("Widgets Limited", "Leeds", "West Yorkshire", "GB")
    done = svc.approve(req.id, ALICE, verified)
    assert done.state is RequestState.ISSUED and done.verified_organization == verified
    assert svc.queue() == []
    cert = x509.load_pem_x509_certificate(svc.certificate(req.id).certificate_pem)
    subject = {a.oid: a.value for a in cert.subject}
    assert subject[NameOID.ORGANIZATION_NAME] == "Widgets Limited"
    assert subject[NameOID.STATE_OR_PROVINCE_NAME] == "West Yorkshire"
    actions = [t.action for t in done.timeline]
    assert actions == [
        "submitted",
        "document",
        "checked",
        "in_review",
        "assigned",
        "approved",
        "issued",
    ]
    assert done.timeline[-2].actor == "reviewer:alice"
    with pytest.raises(Conflict):
        svc.approve(req.id, ALICE, verified)
    subjects = [s for _to, s, _b in outbox.sent]
    assert any("Alice Example handles" in s for s in subjects)
    assert subjects[-1].endswith("issued")
    # Every timeline step is an audit event about this request.
    events = [e for e in store.iter_events() if e.object_id == req.id]
    assert [e.action for e in events] == [f"request.{a}" for a in actions]
    assert store.verify_audit().ok


def test_enrollment_approve_is_only_for_ov_in_review(
    svc: EnrollmentService, dns: TestDNS, make_csr: CSRMaker
) -> None:
    dv = svc.submit(make_csr(["www.example.com"]), "dv", "owner@example.com")
    with pytest.raises(PolicyError, match="Only ov"):
        svc.approve(dv.id, ALICE, ORG)
    ov = svc.submit(make_csr(["shop.example.com"]), "ov", "owner@example.com", ORG)
    with pytest.raises(Conflict, match="not in review"):
        svc.approve(ov.id, ALICE, ORG)
    with pytest.raises(Malformed):
        svc.approve(ov.id, ALICE, Organization("", "x", None, "GB"))


def test_enrollment_approve_checks_caa(
    svc: EnrollmentService, store: Store, dns: TestDNS, make_csr: CSRMaker
) -> None:
    req = _ov_in_review(svc, dns, make_csr)
    dns.zone.add_caa("example.com", "issue", "someone-else.example")
    with pytest.raises(CAAForbidden, match=r"someone-else\.example"):
        svc.approve(req.id, ALICE, ORG)
    got = svc.get(req.id)
    assert got.state is RequestState.IN_REVIEW and got.problem
    assert _certs_for(store, req.id) == []
    dns.zone.caa.clear()
    assert svc.approve(req.id, ALICE, ORG).state is RequestState.ISSUED


def test_enrollment_approve_after_the_window_asks_for_new_proof(
    svc: EnrollmentService, dns: TestDNS, clock: Clock, make_csr: CSRMaker
) -> None:
    req = _ov_in_review(svc, dns, make_csr)
    clock.advance(days=reuse_days(clock.now.date()) + 1)
    with pytest.raises(Conflict, match="older than"):
        svc.approve(req.id, ALICE, ORG)
    got = svc.get(req.id)
    assert got.state is RequestState.VALIDATING
    assert got.challenges[0].state is ChallengeState.PENDING
    assert got.challenges[0].token != req.challenges[0].token
    dns.zone.txt.clear()
    _txt(dns, got)
    # The new proof happens now (the probes' time is real): back in review, then issued.
    clock.now = dt.datetime.now(dt.UTC)
    assert svc.validate(req.id).state is RequestState.IN_REVIEW
    assert svc.approve(req.id, ALICE, ORG).state is RequestState.ISSUED


def test_enrollment_reject(
    svc: EnrollmentService, dns: TestDNS, make_csr: CSRMaker, outbox: Outbox
) -> None:
    req = _ov_in_review(svc, dns, make_csr)
    with pytest.raises(Malformed, match="why"):
        svc.reject(req.id, ALICE, "   ")
    got = svc.reject(req.id, ALICE, "The company\nis not registered.")
    assert got.state is RequestState.REJECTED
    assert got.rejection_reason == "The company is not registered."
    assert got.reviewer == ALICE  # who decided is the contact person
    assert "not registered" in outbox.sent[-1][2]
    with pytest.raises(Conflict):
        svc.reject(req.id, ALICE, "again")
    with pytest.raises(Conflict):
        svc.assign(req.id, ALICE)
    with pytest.raises(NotFound):
        svc.reject("B" * 32, ALICE, "no such request")


# --------------------------------------------------------------------------- documents


def test_enrollment_documents_stored_outside_web_root(
    svc: EnrollmentService, tmp_path: Path, make_csr: CSRMaker
) -> None:
    req = svc.submit(make_csr(["shop.example.com"]), "ov", "owner@example.com", ORG)
    doc = svc.add_document(req.id, "K-bis 2024.pdf", PDF)
    assert doc.filename == "K-bis 2024.pdf" and doc.content_type == "application/pdf"
    (stored,) = (tmp_path / "documents" / req.id).iterdir()
    assert stored.name != doc.filename and len(stored.name) == 32
    assert stored.stat().st_mode & 0o777 == 0o600
    assert svc.document(req.id, doc.id) == (doc, PDF)
    with pytest.raises(NotFound):
        svc.document(req.id, "nope")
    other = svc.submit(make_csr(["other.example.com"]), "ov", "x@example.com", ORG)
    with pytest.raises(NotFound):
        svc.document(other.id, doc.id)


def test_enrollment_documents_refused(
    svc: EnrollmentService, tmp_path: Path, make_csr: CSRMaker
) -> None:
    req = svc.submit(make_csr(["shop.example.com"]), "ov", "owner@example.com", ORG)
    with pytest.raises(UnsupportedMediaType):
        svc.add_document(req.id, "x.pdf", b"#!/bin/sh\nrm -rf /\n")
    with pytest.raises(PayloadTooLarge):
        svc.add_document(req.id, "x.pdf", PDF + b"\0" * MAX_DOCUMENT_BYTES)
    with pytest.raises(Malformed, match="empty"):
        svc.add_document(req.id, "x.pdf", b"")
    with pytest.raises(Malformed):
        svc.add_document(req.id, "../../x.pdf", PDF)
    dv = svc.submit(make_csr(["www.example.com"]), "dv", "owner@example.com")
    with pytest.raises(PolicyError, match="ov requests"):
        svc.add_document(dv.id, "x.pdf", PDF)
    for i in range(MAX_DOCUMENTS):
        svc.add_document(req.id, f"page{i}.pdf", PDF)
    with pytest.raises(Conflict, match="at most"):
        svc.add_document(req.id, "one-more.pdf", PDF)
    # Refused uploads leave no file behind.
    assert len(list((tmp_path / "documents" / req.id).iterdir())) == MAX_DOCUMENTS


# --------------------------------------------------------------------------- mail


def test_enrollment_mail_failure_is_logged_not_fatal(
    svc: EnrollmentService, outbox: Outbox, make_csr: CSRMaker, caplog: pytest.LogCaptureFixture
) -> None:
    outbox.fail = True
    with caplog.at_level(logging.WARNING, logger="padlock.notify"):
        req = svc.submit(make_csr(["www.example.com"]), "test", "owner@example.com")
    assert req.state is RequestState.ISSUED
    assert "could not mail" in caplog.text and "relay is down" in caplog.text


def test_enrollment_mail_through_real_smtp(make_csr: CSRMaker) -> None:
    smtp = TestSMTP().start()
    try:
        mailer = SmtpMailer(SmtpConfig("127.0.0.1", smtp.port, "ca@example.com"))
        assert deliver(mailer, "owner@example.com", "[padlock] hi", "body text\n")
        (got,) = smtp.wait_for("owner@example.com")
        assert got.mail_from == "ca@example.com" and got.subject == "[padlock] hi"
        assert got.message["Auto-Submitted"] == "auto-generated"
        assert got.body.strip() == "body text"
    finally:
        smtp.stop()
    refused = SmtpMailer(SmtpConfig("127.0.0.1", smtp.port, "ca@example.com", timeout=2))
    assert deliver(refused, "owner@example.com", "s", "b") is False  # server gone: logged
    assert SmtpConfig.from_env({}, "x@y") is None
    assert SmtpConfig.from_env({"PADLOCK_SMTP_HOST": "mail"}, "ca@h") == SmtpConfig(
        "mail", 25, "ca@h"
    )


def test_enrollment_message_says_what_to_do(svc: EnrollmentService, make_csr: CSRMaker) -> None:
    req = svc.submit(make_csr(["*.example.com", "example.com"]), "dv", "owner@example.com")
    subject, body = render_message(req, "https://ca/status/x")
    assert "submitted" in subject and "https://ca/status/x" in body
    assert "_pki-validation.example.com" in body
    assert req.challenges[1].http_path in body  # the apex may use the file
    assert "Keep this link private" in body
