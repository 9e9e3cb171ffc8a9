"""The enrollment repository on SQLite and PostgreSQL: round trips, compare-and-set steps,
issuing claims, challenge merging, documents, the queue, counts, and the audit trail."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from collections.abc import Iterator

import pytest
from store_helpers import NOW, issue, reserve

from padlock.ca.enrollment.checks import new_request_id, new_token
from padlock.ca.enrollment.model import (
    CLAIM_STALE_AFTER,
    Challenge,
    ChallengeState,
    Document,
    EnrollmentRequest,
    Event,
    Kind,
    RequestState,
    RequestUpdate,
    Reviewer,
    ValidationRecord,
)
from padlock.ca.ports import CertState
from padlock.errors import Conflict, NotFound
from padlock.pki.certs import Organization
from padlock.store import SqlStore
from padlock.store.enrollment import SqlEnrollmentStore

OPEN = frozenset({RequestState.SUBMITTED, RequestState.VALIDATING, RequestState.IN_REVIEW})


@pytest.fixture
def repo(store: SqlStore) -> Iterator[SqlEnrollmentStore]:
    yield SqlEnrollmentStore(store)


def _request(
    kind: Kind = Kind.DV,
    names: tuple[str, ...] = ("www.example.com", "example.com"),
    state: RequestState = RequestState.SUBMITTED,
    **changes: object,
) -> EnrollmentRequest:
    fields: dict[str, object] = {
        "id": new_request_id(),
        "kind": kind,
        "state": state,
        "contact": "owner@example.com",
        "names": names,
        "csr_pem": "-----BEGIN CERTIFICATE REQUEST-----\n...\n",
        "key_fingerprint": secrets.token_hex(32),
        "created_at": NOW,
        "updated_at": NOW,
        "challenges": tuple(Challenge(n, new_token(), NOW + dt.timedelta(days=7)) for n in names),
    }
    fields.update(changes)
    return EnrollmentRequest(**fields)  # type: ignore[arg-type]


def _submitted(repo: SqlEnrollmentStore, **changes: object) -> EnrollmentRequest:
    req = _request(**changes)  # type: ignore[arg-type]
    repo.create_request(req, [Event("submitted", "test", RequestState.SUBMITTED, "hello")], NOW)
    return req


def test_store_enrollment_round_trip(repo: SqlEnrollmentStore, store: SqlStore) -> None:
    org = Organization("Widgets Ltd", "Leeds", None, "GB")
    req = _request(
        Kind.OV,
        names=("zeta.example.com", "alpha.example.com"),
        organization=org,
        validations=(
            ValidationRecord(
                "zeta.example.com", "reused", True, NOW, "from before", None, {"k": [1, "2"]}
            ),
        ),
    )
    repo.create_request(
        req,
        [
            Event("submitted", "api", RequestState.SUBMITTED, "for two names"),
            Event("checked", "system", RequestState.VALIDATING, "", {"extra": 1}),
        ],
        NOW,
    )
    got = repo.get_request(req.id)
    assert got is not None
    assert got.kind is Kind.OV and got.state is RequestState.SUBMITTED
    assert got.names == ("zeta.example.com", "alpha.example.com")
    assert [c.name for c in got.challenges] == ["zeta.example.com", "alpha.example.com"]
    assert got.challenges[0].token == req.challenges[0].token
    assert got.challenges[0].expires_at == NOW + dt.timedelta(days=7)
    assert got.organization == org and got.verified_organization is None
    assert got.validations[0].evidence == {"k": [1, "2"]}
    assert got.created_at == NOW and got.created_at.tzinfo is not None
    assert [(t.action, t.state) for t in got.timeline] == [
        ("submitted", RequestState.SUBMITTED),
        ("checked", RequestState.VALIDATING),
    ]
    events = [e for e in store.iter_events() if e.object_type == "request"]
    assert [e.action for e in events] == ["request.submitted", "request.checked"]
    assert events[0].object_id == req.id and events[0].details["note"] == "for two names"
    assert events[1].details == {"state": "validating", "extra": 1}
    assert store.verify_audit().ok
    assert repo.get_request(new_request_id()) is None


def test_store_enrollment_update_is_compare_and_set(
    repo: SqlEnrollmentStore, store: SqlStore
) -> None:
    req = _submitted(repo)
    alice = Reviewer("alice", "Alice A", "alice@ca.example")
    repo.update_request(
        req.id,
        RequestUpdate(
            OPEN,
            "rejected",
            state=RequestState.REJECTED,
            rejection_reason="no",
            reviewer=alice,
            events=(Event("rejected", alice.actor, RequestState.REJECTED, "no"),),
        ),
        NOW + dt.timedelta(minutes=1),
    )
    got = repo.get_request(req.id)
    assert got is not None and got.state is RequestState.REJECTED
    assert got.reviewer == alice and got.rejection_reason == "no"
    assert got.updated_at == NOW + dt.timedelta(minutes=1)
    with pytest.raises(Conflict, match="is rejected; it cannot be validated now"):
        repo.update_request(req.id, RequestUpdate(OPEN, "validated"), NOW)
    with pytest.raises(NotFound):
        repo.update_request(new_request_id(), RequestUpdate(OPEN, "validated"), NOW)
    before = store.audit_head()
    # A refused step writes nothing, not even its audit event.
    with pytest.raises(Conflict):
        repo.update_request(
            req.id,
            RequestUpdate(OPEN, "validated", events=(Event("checked", "x"),)),
            NOW,
        )
    assert store.audit_head() == before


def test_store_enrollment_claims(repo: SqlEnrollmentStore) -> None:
    req = _submitted(repo)
    validating = frozenset({RequestState.SUBMITTED})
    # Taking a free claim is no take-over.
    assert not repo.update_request(
        req.id, RequestUpdate(validating, "issued", take_claim="one"), NOW
    )
    with pytest.raises(Conflict, match="being issued"):
        repo.update_request(req.id, RequestUpdate(validating, "issued", take_claim="two"), NOW)
    with pytest.raises(Conflict, match="being issued"):
        repo.update_request(req.id, RequestUpdate(OPEN, "rejected"), NOW)
    with pytest.raises(Conflict, match="no longer holds"):
        repo.update_request(req.id, RequestUpdate(validating, "issued", holder="two"), NOW)
    # A claim left by a crash goes stale and can be taken over; then the old holder is out.
    later = NOW + CLAIM_STALE_AFTER + dt.timedelta(seconds=1)
    assert repo.update_request(
        req.id, RequestUpdate(validating, "issued", take_claim="three"), later
    )  # a take-over: the caller looks for a certificate the old holder stored
    with pytest.raises(Conflict):
        repo.update_request(req.id, RequestUpdate(validating, "issued", holder="one"), later)
    repo.update_request(
        req.id,
        RequestUpdate(
            validating,
            "issued",
            holder="three",
            state=RequestState.ISSUED,
            certificate_serial="abc123",
            verified_organization=Organization("W", None, "Kent", "GB"),
        ),
        later,
    )
    got = repo.get_request(req.id)
    assert got is not None and got.state is RequestState.ISSUED
    assert got.certificate_serial == "abc123"
    assert got.verified_organization == Organization("W", None, "Kent", "GB")


def test_store_enrollment_issued_serial_of_a_request(
    repo: SqlEnrollmentStore, store: SqlStore
) -> None:
    req = _submitted(repo)
    assert repo.issued_serial(req.id) is None
    reserved = reserve(store, request_id=req.id)  # reserved only: no certificate yet
    assert repo.issued_serial(req.id) is None
    issued = issue(store, request_id=req.id)
    issue(store, request_id=new_request_id())  # another request's
    assert repo.issued_serial(req.id) == issued.serial
    assert store.get_certificate(reserved.serial).state is CertState.RESERVED  # type: ignore[union-attr]


def test_store_enrollment_one_claim_among_threads(repo: SqlEnrollmentStore) -> None:
    req = _submitted(repo)
    won: list[str] = []
    barrier = threading.Barrier(6)

    def contend(token: str) -> None:
        barrier.wait()
        try:
            repo.update_request(
                req.id,
                RequestUpdate(frozenset({RequestState.SUBMITTED}), "issued", take_claim=token),
                NOW,
            )
        except Conflict:
            return
        won.append(token)

    threads = [threading.Thread(target=contend, args=(f"t{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(won) == 1


def test_store_enrollment_problem_set_and_cleared(repo: SqlEnrollmentStore) -> None:
    req = _submitted(repo)
    repo.update_request(req.id, RequestUpdate(OPEN, "validated", problem="CAA says no"), NOW)
    assert (got := repo.get_request(req.id)) is not None and got.problem == "CAA says no"
    repo.update_request(req.id, RequestUpdate(OPEN, "validated"), NOW)
    assert (got := repo.get_request(req.id)) is not None and got.problem == "CAA says no"
    repo.update_request(req.id, RequestUpdate(OPEN, "validated", clear_problem=True), NOW)
    assert (got := repo.get_request(req.id)) is not None and got.problem is None


def test_store_enrollment_valid_challenge_is_never_undone(repo: SqlEnrollmentStore) -> None:
    req = _submitted(repo)
    first = req.challenges[0]
    valid = Challenge(
        first.name, first.token, first.expires_at, ChallengeState.VALID, "dns", NOW, None
    )
    failed = Challenge(first.name, first.token, first.expires_at, error="404")
    repo.update_request(req.id, RequestUpdate(OPEN, "validated", challenges=(valid,)), NOW)
    repo.update_request(req.id, RequestUpdate(OPEN, "validated", challenges=(failed,)), NOW)
    got = repo.get_request(req.id)
    assert got is not None and got.challenges[0] == valid
    # A new token (validation renewed after the reuse window) does replace it.
    renewed = Challenge(first.name, new_token(), NOW + dt.timedelta(days=7))
    repo.update_request(req.id, RequestUpdate(OPEN, "validated", challenges=(renewed,)), NOW)
    got = repo.get_request(req.id)
    assert got is not None and got.challenges[0] == renewed
    # The other name's failure is recorded with its message.
    second = req.challenges[1]
    repo.update_request(
        req.id,
        RequestUpdate(
            OPEN,
            "validated",
            challenges=(Challenge(second.name, second.token, second.expires_at, error="HTTP 404"),),
        ),
        NOW,
    )
    got = repo.get_request(req.id)
    assert got is not None and got.challenges[1].error == "HTTP 404"


def _doc(n: int = 0) -> Document:
    return Document(
        secrets.token_urlsafe(16),
        f"doc{n}.pdf",
        "application/pdf",
        10 + n,
        "0" * 64,
        NOW + dt.timedelta(seconds=n),
    )


def test_store_enrollment_documents(repo: SqlEnrollmentStore, store: SqlStore) -> None:
    req = _submitted(repo, kind=Kind.OV)
    docs = [_doc(i) for i in range(3)]
    for i, d in enumerate(docs):
        repo.add_document(
            req.id,
            d,
            f"stored{i}",
            Event("document", "api", None, d.filename),
            NOW,
            expect=OPEN,
            max_documents=3,
        )
    with pytest.raises(Conflict, match="at most 3"):
        repo.add_document(
            req.id, _doc(9), "x", Event("document", "api"), NOW, expect=OPEN, max_documents=3
        )
    got = repo.get_request(req.id)
    assert got is not None and got.documents == tuple(docs)
    assert [t.action for t in got.timeline] == ["submitted"] + ["document"] * 3
    assert got.timeline[-1].state is RequestState.SUBMITTED
    assert repo.get_document(req.id, docs[1].id) == (docs[1], "stored1")
    assert repo.get_document(req.id, "nope") is None
    other = _submitted(repo, kind=Kind.OV)
    assert repo.get_document(other.id, docs[1].id) is None  # scoped by the request
    with pytest.raises(Conflict, match="no longer"):
        repo.add_document(
            req.id,
            _doc(5),
            "y",
            Event("document", "api"),
            NOW,
            expect={RequestState.IN_REVIEW},
            max_documents=10,
        )
    with pytest.raises(NotFound):
        repo.add_document(
            new_request_id(),
            _doc(6),
            "z",
            Event("document", "api"),
            NOW,
            expect=OPEN,
            max_documents=10,
        )
    assert store.verify_audit().ok


def test_store_enrollment_queue_and_stats(repo: SqlEnrollmentStore) -> None:
    first = _submitted(
        repo, kind=Kind.OV, state=RequestState.IN_REVIEW, created_at=NOW - dt.timedelta(hours=2)
    )
    second = _submitted(
        repo, kind=Kind.OV, state=RequestState.IN_REVIEW, created_at=NOW - dt.timedelta(hours=1)
    )
    _submitted(repo, kind=Kind.DV)
    repo.add_document(
        second.id, _doc(), "s", Event("document", "api"), NOW, expect=OPEN, max_documents=5
    )
    queue = repo.list_requests({RequestState.IN_REVIEW}, 10, 0)
    assert [q.id for q in queue] == [first.id, second.id]
    assert [q.documents for q in queue] == [0, 1]
    assert repo.list_requests({RequestState.IN_REVIEW}, 1, 1)[0].id == second.id
    assert len(repo.list_requests(OPEN, 100, 0)) == 3
    repo.update_request(
        first.id,
        RequestUpdate(
            OPEN,
            "validated",
            validations=(
                ValidationRecord("www.example.com", "http", False, NOW, "404", "incorrectResponse"),
                ValidationRecord("www.example.com", "dns", True, NOW, "ok"),
                ValidationRecord("example.com", "dns", True, NOW, "ok"),
            ),
        ),
        NOW,
    )
    stats = repo.enrollment_stats()
    assert stats.requests == {("ov", "in_review"): 2, ("dv", "submitted"): 1}
    assert stats.validations == {("http", "failed"): 1, ("dns", "ok"): 2}


def _issued_step(holder: str, serial: str) -> RequestUpdate:
    return RequestUpdate(
        frozenset({RequestState.VALIDATING}),
        "issued",
        holder=holder,
        state=RequestState.ISSUED,
        certificate_serial=serial,
        verified_organization=Organization("W", None, "Kent", "GB"),
        reviewer=Reviewer("alice", "Alice A", "alice@ca.example"),
        validations=(ValidationRecord("www.example.com", "caa", True, NOW, "no CAA", None, {}),),
        clear_problem=True,
        events=(Event("issued", "system", RequestState.ISSUED, "dv certificate", {"s": 1}),),
    )


def test_store_enrollment_update_writes_as_update_request(
    repo: SqlEnrollmentStore, store: SqlStore
) -> None:
    # The step written inside another transaction (the certificate's) leaves the request
    # exactly as update_request does, audit events included.
    later = NOW + dt.timedelta(minutes=2)
    got = []
    for inside in (False, True):
        req = _submitted(repo, state=RequestState.VALIDATING, problem="earlier")
        repo.update_request(
            req.id, RequestUpdate(frozenset({RequestState.VALIDATING}), "x", take_claim="c"), NOW
        )
        if inside:
            write = repo.update_writes(req.id, _issued_step("c", "abc"), later)
            store.write(write, "completing a test step")
            assert write.missed is None
        else:
            repo.update_request(req.id, _issued_step("c", "abc"), later)
        row = repo.get_request(req.id)
        assert row is not None
        got.append(row)
    a, b = got
    assert b.state is RequestState.ISSUED and b.certificate_serial == "abc"
    assert b.problem is None and b.updated_at == later
    assert b.verified_organization == Organization("W", None, "Kent", "GB")
    assert (a.reviewer, a.validations, a.timeline) == (b.reviewer, b.validations, b.timeline)
    assert store.verify_audit().ok
    # The claim was released: a new step may take it.
    repo.update_request(
        b.id, RequestUpdate(frozenset({RequestState.ISSUED}), "y", take_claim="d"), later
    )


def test_store_enrollment_update_writes_refused_writes_nothing_of_it(
    repo: SqlEnrollmentStore, store: SqlStore
) -> None:
    req = _submitted(repo, state=RequestState.VALIDATING)
    repo.update_request(
        req.id, RequestUpdate(frozenset({RequestState.VALIDATING}), "x", take_claim="c"), NOW
    )
    before = store.audit_head()
    cases = [
        (req.id, _issued_step("someone else", "abc"), Conflict, "no longer holds"),
        (req.id, RequestUpdate(frozenset({RequestState.VALIDATING}), "y"), Conflict, "being"),
        (req.id, RequestUpdate(frozenset({RequestState.ISSUED}), "y"), Conflict, "validating"),
        (new_request_id(), _issued_step("c", "abc"), NotFound, "no request"),
    ]
    for request_id, step, error, words in cases:
        write = repo.update_writes(request_id, step, NOW)
        store.write(write, "a step that is refused")  # the transaction itself commits
        assert isinstance(write.missed, error) and words in write.missed.message
    assert store.audit_head() == before
    got = repo.get_request(req.id)
    assert got is not None and got.state is RequestState.VALIDATING
    assert got.certificate_serial is None and got.validations == ()
    with pytest.raises(ValueError, match="challenges"):
        repo.update_writes(req.id, RequestUpdate(OPEN, "z", challenges=req.challenges), NOW)
