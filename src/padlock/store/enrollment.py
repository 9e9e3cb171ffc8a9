"""The enrollment repository: :class:`padlock.ca.ports.enrollment.EnrollmentStore` on
the database's own connections (:mod:`padlock.store.statements`).

Every method is one transaction: a step of a request, its timeline
rows and the audit events that record them commit together or not at all. State changes
are compare-and-set (the row is read ``FOR UPDATE`` on PostgreSQL; SQLite's
``BEGIN IMMEDIATE`` holds the one write lock), so two workers acting on one request at
once cannot both move it, and only the holder of a fresh issuing claim may finish
issuance.

``padlock.wiring.open_enrollment`` builds the service over it.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import ClauseElement, Table, bindparam, func, insert, select, update

from padlock.ca.enrollment.model import (
    CLAIM_STALE_AFTER,
    Challenge,
    ChallengeState,
    Document,
    EnrollmentRequest,
    EnrollmentStats,
    Event,
    Kind,
    RequestState,
    RequestSummary,
    RequestUpdate,
    Reviewer,
    TimelineEntry,
    ValidationRecord,
)
from padlock.ca.ports import AuditEntry, GuardedWrite, StoreWrite
from padlock.errors import Conflict, NotFound, PadlockError
from padlock.pki.certs import Organization
from padlock.store.statements import (
    Compiled,
    Row,
    Statements,
    Tx,
    bound,
    from_json,
    to_json,
)
from padlock.store.tables import certificates
from padlock.store.tables_enrollment import enrollment_challenges as challenges_t
from padlock.store.tables_enrollment import enrollment_documents as documents_t
from padlock.store.tables_enrollment import enrollment_events as events_t
from padlock.store.tables_enrollment import enrollment_requests as requests_t
from padlock.store.tables_enrollment import enrollment_validations as validations_t

if TYPE_CHECKING:
    from padlock.store.certificates import SqlStore

_r = requests_t.c
_ch = challenges_t.c
_v = validations_t.c
_d = documents_t.c
_ev = events_t.c
_c = certificates.c


def _org_json(org: Organization | None) -> str | None:
    if org is None:
        return None
    return to_json(
        {
            "organization": org.organization,
            "locality": org.locality,
            "state": org.state,
            "country": org.country,
        }
    )


def _org(text: str | None) -> Organization | None:
    data = from_json(text)
    if not data:
        return None
    return Organization(
        data["organization"], data.get("locality"), data.get("state"), data["country"]
    )


def _reviewer(name: str | None, display_name: str | None, email: str | None) -> Reviewer | None:
    if name is None:
        return None
    return Reviewer(name, display_name or name, email)


def _challenge_row(request_id: str, ch: Challenge) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "name": ch.name,
        "token": ch.token,
        "state": ch.state.value,
        "method": ch.method,
        "expires_at": ch.expires_at,
        "validated_at": ch.validated_at,
        "error": ch.error,
    }


def _validation_row(request_id: str, v: ValidationRecord) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "name": v.name,
        "method": v.method,
        "ok": v.ok,
        "at": v.at,
        "problem": v.problem,
        "detail": v.detail,
        "evidence": to_json(v.evidence),
    }


def _audit_entry(request_id: str, event: Event, state: RequestState) -> AuditEntry:
    after = event.state or state
    details: dict[str, Any] = {"state": after.value}
    if event.note:
        details["note"] = event.note
    details.update(event.details)
    return AuditEntry(f"request.{event.action}", event.actor, "request", request_id, details)


def _event_row(
    request_id: str, event: Event, state: RequestState, at: Any, seq: int
) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "at": at,
        "action": event.action,
        "actor": event.actor[:128],
        "state": (event.state or state).value,
        "note": event.note,
        "audit_seq": seq,
    }


@functools.cache
def _update_statement(columns: tuple[str, ...]) -> Any:
    """UPDATE of these columns of one request, built once per column set."""
    return (
        update(requests_t)
        .where(_r.id == bindparam("p_id"))
        .values({c: bindparam(c) for c in columns})
    )


def _refusal(
    update_: RequestUpdate,
    state: RequestState,
    claim_token: str | None,
    claimed_at: dt.datetime | None,
    at: dt.datetime,
) -> Conflict | None:
    """Why ``update_`` may not apply to a request in ``state`` with that claim, if it may not."""
    if state not in update_.expect:
        return Conflict(
            f"The request is {state.value.replace('_', ' ')}; it cannot be {update_.doing} now."
        )
    if update_.holder is not None:
        if claim_token != update_.holder:
            return Conflict("This step no longer holds the request's issuing claim.")
        return None
    fresh_claim = claim_token is not None and (
        claimed_at is None or claimed_at > at - CLAIM_STALE_AFTER
    )
    if fresh_claim:
        return Conflict(
            "The request is being issued right now.",
            hint="Look at its status again in a moment.",
        )
    return None


def _values(update_: RequestUpdate, at: dt.datetime) -> dict[str, Any]:
    """The request's columns that ``update_`` sets (datetimes as datetimes)."""
    values: dict[str, Any] = {"updated_at": at}
    if update_.state is not None:
        values["state"] = update_.state.value
    if update_.take_claim is not None:
        values["claim_token"] = update_.take_claim
        values["claimed_at"] = at
    elif update_.holder is not None:
        values["claim_token"] = None
        values["claimed_at"] = None
    if update_.reviewer is not None:
        values["reviewer"] = update_.reviewer.name
        values["reviewer_name"] = update_.reviewer.display_name
        values["reviewer_email"] = update_.reviewer.email
    if update_.verified_organization is not None:
        values["verified_organization"] = _org_json(update_.verified_organization)
    if update_.certificate_serial is not None:
        values["certificate_serial"] = update_.certificate_serial
    if update_.rejection_reason is not None:
        values["rejection_reason"] = update_.rejection_reason
    if update_.problem is not None:
        values["problem"] = update_.problem
    elif update_.clear_problem:
        values["problem"] = None
    return values


# The columns get_request reads, in the order its row mappers take them.
_REQUEST_COLUMNS = (
    _r.id,
    _r.kind,
    _r.state,
    _r.contact,
    _r.names,
    _r.csr_pem,
    _r.key_fingerprint,
    _r.created_at,
    _r.updated_at,
    _r.organization,
    _r.verified_organization,
    _r.previous_request,
    _r.reviewer,
    _r.reviewer_name,
    _r.reviewer_email,
    _r.certificate_serial,
    _r.rejection_reason,
    _r.problem,
)
_CHALLENGE_COLUMNS = (
    _ch.name,
    _ch.token,
    _ch.expires_at,
    _ch.state,
    _ch.method,
    _ch.validated_at,
    _ch.error,
)
_DOCUMENT_COLUMNS = (_d.id, _d.filename, _d.content_type, _d.size, _d.sha256, _d.uploaded_at)
_VALIDATION_COLUMNS = (_v.name, _v.method, _v.ok, _v.at, _v.detail, _v.problem, _v.evidence)
_EVENT_COLUMNS = (_ev.at, _ev.action, _ev.actor, _ev.state, _ev.note)


def _insert_keys(table: Table) -> list[str]:
    """Every column but an autoincrement key, which the database numbers."""
    return [c.name for c in table.c if not (c.primary_key and c.autoincrement is True)]


_ID: Any = bindparam("p_id")
_DOCUMENTS = (
    select(func.count()).select_from(documents_t).where(_d.request_id == _r.id).scalar_subquery()
)

_STATEMENTS: dict[str, ClauseElement] = {
    "select_request": select(*_REQUEST_COLUMNS).where(_r.id == _ID),
    "select_challenges": select(*_CHALLENGE_COLUMNS)
    .where(_ch.request_id == _ID)
    .order_by(_ch.name),
    "select_documents": select(*_DOCUMENT_COLUMNS)
    .where(_d.request_id == _ID)
    .order_by(_d.uploaded_at, _d.id),
    "select_validations": select(*_VALIDATION_COLUMNS).where(_v.request_id == _ID).order_by(_v.id),
    "select_events": select(*_EVENT_COLUMNS).where(_ev.request_id == _ID).order_by(_ev.id),
    "lock_request": select(_r.state, _r.claim_token, _r.claimed_at)
    .where(_r.id == _ID)
    .with_for_update(),
    "issued_serial": select(_c.serial)
    .where(_c.request_id == _ID, _c.der.is_not(None))
    .order_by(_c.issued_at, _c.serial)
    .limit(1),
    "stored_challenges": select(_ch.name, _ch.token, _ch.state).where(_ch.request_id == _ID),
    "update_challenge": update(challenges_t)
    .where(_ch.request_id == _ID, _ch.name == bindparam("p_name"))
    .values(bound("token", "state", "method", "expires_at", "validated_at", "error")),
    "count_documents": select(func.count().label("documents"))
    .select_from(documents_t)
    .where(_d.request_id == _ID),
    "insert_document": insert(documents_t),
    "touch_request": update(requests_t).where(_r.id == _ID).values(updated_at=bindparam("p_at")),
    "document": select(documents_t).where(_d.request_id == _ID, _d.id == bindparam("p_document")),
    "list_requests": select(
        _r.id,
        _r.kind,
        _r.state,
        _r.contact,
        _r.names,
        _r.organization,
        _r.reviewer,
        _r.reviewer_name,
        _r.reviewer_email,
        _r.created_at,
        _r.updated_at,
        _DOCUMENTS.label("documents"),
    )
    .where(_r.state.in_(bindparam("p_states", expanding=True)))
    .order_by(_r.created_at, _r.id)
    .limit(bindparam("p_limit"))
    .offset(bindparam("p_offset")),
    "request_counts": select(_r.kind, _r.state, func.count().label("n")).group_by(
        _r.kind, _r.state
    ),
    "validation_counts": select(_v.method, _v.ok, func.count().label("n")).group_by(
        _v.method, _v.ok
    ),
}


class SqlEnrollmentStore:
    """Requests, challenges, validations, documents and timelines in the CA's database."""

    def __init__(self, store: SqlStore) -> None:
        self._s = store
        sql = self._sql = Statements(store, _STATEMENTS)
        # The hot paths (every test certificate, every dv request issued on submission)
        # run these texts on the cursor themselves, their values converted by hand.
        self._insert_request = sql.insert(requests_t, _insert_keys(requests_t)).sql
        self._insert_challenge = sql.insert(challenges_t, _insert_keys(challenges_t)).sql
        self._insert_validation = sql.insert(validations_t, _insert_keys(validations_t)).sql
        self._insert_event = sql.insert(events_t, _insert_keys(events_t)).sql

    # -- writing ------------------------------------------------------------------------

    def _append_events(
        self,
        cursor: Any,
        request_id: str,
        events: Sequence[Event],
        state: RequestState,
        at: dt.datetime,
    ) -> None:
        """Each event on the audit chain and in the request's timeline, on ``cursor``."""
        if not events:
            return
        s = self._s
        at_db = s.times.out(at, "at")
        rows = []
        for event in events:
            seq = s.append(cursor, _audit_entry(request_id, event, state), at, at_db)[0]
            rows.append(_event_row(request_id, event, state, at_db, seq))
        cursor.executemany(self._insert_event, rows)

    def _insert_validations(
        self, cursor: Any, request_id: str, validations: Sequence[ValidationRecord]
    ) -> None:
        if validations:
            out = self._s.times.out
            cursor.executemany(
                self._insert_validation,
                [{**_validation_row(request_id, v), "at": out(v.at, "at")} for v in validations],
            )

    def create_request(
        self,
        request: EnrollmentRequest,
        events: Sequence[Event],
        at: dt.datetime,
        *,
        claim: str | None = None,
    ) -> None:
        # One write transaction on the store's own thread-held connection and raw cursor,
        # with the store's audit append, like the certificate store's reserve/complete.
        self._s.write(self._writes(request, events, at, claim), "recording a certificate request")

    def request_writes(
        self,
        request: EnrollmentRequest,
        events: Sequence[Event],
        at: dt.datetime,
        *,
        claim: str | None = None,
    ) -> StoreWrite:
        # The hot path (every test certificate comes through here, and every dv request
        # issued on submission): inside the certificate store's transaction that reserves
        # or completes the certificate, on the same cursor.
        return self._writes(request, events, at, claim)

    def _writes(
        self,
        request: EnrollmentRequest,
        events: Sequence[Event],
        at: dt.datetime,
        claim: str | None,
    ) -> StoreWrite:
        s = self._s
        out = s.times.out
        reviewer = request.reviewer

        def work(cursor: Any) -> None:
            cursor.execute(
                self._insert_request,
                {
                    "id": request.id,
                    "kind": request.kind.value,
                    "state": request.state.value,
                    "contact": request.contact,
                    "names": to_json(list(request.names)),
                    "csr_pem": request.csr_pem,
                    "key_fingerprint": request.key_fingerprint,
                    "organization": _org_json(request.organization),
                    "verified_organization": _org_json(request.verified_organization),
                    "previous_request": request.previous_request,
                    "reviewer": reviewer.name if reviewer else None,
                    "reviewer_name": reviewer.display_name if reviewer else None,
                    "reviewer_email": reviewer.email if reviewer else None,
                    "certificate_serial": request.certificate_serial,
                    "rejection_reason": request.rejection_reason,
                    "problem": request.problem,
                    "claim_token": claim,
                    "claimed_at": out(at, "claimed_at") if claim else None,
                    "created_at": out(request.created_at, "created_at"),
                    "updated_at": out(request.updated_at, "updated_at"),
                },
            )
            if request.challenges:
                cursor.executemany(
                    self._insert_challenge,
                    [
                        {
                            **_challenge_row(request.id, c),
                            "expires_at": out(c.expires_at, "expires_at"),
                            "validated_at": (
                                out(c.validated_at, "validated_at") if c.validated_at else None
                            ),
                        }
                        for c in request.challenges
                    ],
                )
            self._insert_validations(cursor, request.id, request.validations)
            self._append_events(cursor, request.id, events, request.state, at)

        return work

    def _update(self, columns: tuple[str, ...]) -> Compiled:
        """UPDATE of these columns of one request, compiled once per column set."""
        return self._sql.shaped(("update_request", columns), lambda: _update_statement(columns))

    @staticmethod
    def _lock(tx: Tx, request_id: str) -> Row:
        row = tx.one("lock_request", {"p_id": request_id})
        if row is None:
            raise NotFound("There is no request with that id.")
        return row

    def update_request(self, request_id: str, update_: RequestUpdate, at: dt.datetime) -> bool:
        with self._sql.write(f"recording that a request was {update_.doing}") as tx:
            row = self._lock(tx, request_id)
            state = RequestState(row["state"])
            refusal = _refusal(update_, state, row["claim_token"], row["claimed_at"], at)
            if refusal is not None:
                raise refusal
            values = _values(update_, at)
            tx.run(self._update(tuple(sorted(values))), {"p_id": request_id, **values})
            self._upsert_challenges(tx, request_id, update_.challenges)
            self._insert_validations(tx.cursor, request_id, update_.validations)
            self._append_events(tx.cursor, request_id, update_.events, update_.state or state, at)
        # A claim still set when another is taken was left by a step that never finished.
        return update_.take_claim is not None and row["claim_token"] is not None

    def issued_serial(self, request_id: str) -> int | None:
        row = self._sql.one(
            "issued_serial", {"p_id": request_id}, "reading a request's certificate"
        )
        return None if row is None else int(row["serial"], 16)

    def update_writes(
        self, request_id: str, update_: RequestUpdate, at: dt.datetime
    ) -> GuardedWrite:
        # The hot path of a dv request issued on submission: the step that records the
        # certificate, inside the certificate store's transaction that completes it, on
        # the same cursor. When the step is refused (the claim went stale and another
        # process took the request), nothing of it is written, the certificate still is.
        if update_.challenges:
            raise ValueError("update_writes does not upsert challenges; use update_request")
        s = self._s
        out = s.times.out
        lock_sql = self._sql["lock_request"].sql

        def work(cursor: Any) -> PadlockError | None:
            cursor.execute(lock_sql, {"p_id": request_id})
            row = cursor.fetchone()
            if row is None:
                return NotFound("There is no request with that id.")
            state = RequestState(row[0])
            claimed_at = None if row[2] is None else s.times.back(row[2])
            refusal = _refusal(update_, state, row[1], claimed_at, at)
            if refusal is not None:
                return refusal
            values = _values(update_, at)
            for key in ("updated_at", "claimed_at"):
                if values.get(key) is not None:
                    values[key] = out(values[key], key)
            cursor.execute(self._update(tuple(sorted(values))).sql, {"p_id": request_id, **values})
            self._insert_validations(cursor, request_id, update_.validations)
            self._append_events(cursor, request_id, update_.events, update_.state or state, at)
            return None

        return GuardedWrite(work)

    def _upsert_challenges(self, tx: Tx, request_id: str, challenges: Sequence[Challenge]) -> None:
        if not challenges:
            return
        stored = {r["name"]: r for r in tx.all("stored_challenges", {"p_id": request_id})}
        for ch in challenges:
            old = stored.get(ch.name)
            row = _challenge_row(request_id, ch)
            if old is None:
                tx.run(self._sql.insert(challenges_t, _insert_keys(challenges_t)), row)
                continue
            # A concurrent check that failed never undoes one that succeeded.
            if (
                old["state"] == ChallengeState.VALID.value
                and ch.state is not ChallengeState.VALID
                and old["token"] == ch.token
            ):
                continue
            tx.run(
                "update_challenge",
                {"p_id": request_id, **{f"p_{k}": v for k, v in row.items() if k != "request_id"}},
            )

    def add_document(
        self,
        request_id: str,
        document: Document,
        stored_as: str,
        event: Event,
        at: dt.datetime,
        *,
        expect: Collection[RequestState],
        max_documents: int,
    ) -> None:
        with self._sql.write("recording a document") as tx:
            state = RequestState(self._lock(tx, request_id)["state"])
            if state not in expect:
                raise Conflict(
                    f"The request is {state.value.replace('_', ' ')}; documents can no longer"
                    " be added."
                )
            counted = tx.one("count_documents", {"p_id": request_id})
            count = int(counted["documents"]) if counted else 0
            if count >= max_documents:
                raise Conflict(
                    f"The request has {count} documents already; at most {max_documents}.",
                    hint="Combine pages into one PDF.",
                )
            tx.run(
                "insert_document",
                {
                    "id": document.id,
                    "request_id": request_id,
                    "filename": document.filename,
                    "content_type": document.content_type,
                    "size": document.size,
                    "sha256": document.sha256,
                    "stored_as": stored_as,
                    "uploaded_at": document.uploaded_at,
                },
            )
            tx.run("touch_request", {"p_id": request_id, "p_at": at})
            self._append_events(tx.cursor, request_id, [event], state, at)

    # -- reading ------------------------------------------------------------------------

    def get_request(self, request_id: str) -> EnrollmentRequest | None:
        # Read on every submission, status page and API call: five SELECTs compiled once,
        # on the thread's own connection, in one read snapshot; values converted by hand.
        sql = self._sql
        params = {"p_id": request_id}

        def work(cursor: Any) -> tuple[Any, ...] | None:
            cursor.execute(sql["select_request"].sql, params)
            row = cursor.fetchone()
            if row is None:
                return None
            found = [row]
            for query in (
                "select_challenges",
                "select_documents",
                "select_validations",
                "select_events",
            ):
                cursor.execute(sql[query].sql, params)
                found.append(cursor.fetchall())
            return tuple(found)

        rows = self._s.snapshot(work, "reading a certificate request")
        if rows is None:
            return None
        row, challenge_rows, document_rows, validation_rows, event_rows = rows
        back = self._s.times.back

        def when(value: Any) -> dt.datetime | None:
            return None if value is None else back(value)

        # Names keep the CSR's order, challenges follow it.
        names = tuple(from_json(row[4]))
        order = {n: i for i, n in enumerate(names)}
        challenges = tuple(
            sorted(
                (
                    Challenge(c[0], c[1], back(c[2]), ChallengeState(c[3]), c[4], when(c[5]), c[6])
                    for c in challenge_rows
                ),
                key=lambda c: order.get(c.name, len(order)),
            )
        )
        return EnrollmentRequest(
            id=row[0],
            kind=Kind(row[1]),
            state=RequestState(row[2]),
            contact=row[3],
            names=names,
            csr_pem=row[5],
            key_fingerprint=row[6],
            created_at=back(row[7]),
            updated_at=back(row[8]),
            organization=_org(row[9]),
            verified_organization=_org(row[10]),
            previous_request=row[11],
            reviewer=_reviewer(row[12], row[13], row[14]),
            certificate_serial=row[15],
            rejection_reason=row[16],
            problem=row[17],
            challenges=challenges,
            documents=tuple(
                Document(d[0], d[1], d[2], int(d[3]), d[4], back(d[5])) for d in document_rows
            ),
            validations=tuple(
                ValidationRecord(
                    v[0], v[1], bool(v[2]), back(v[3]), v[4], v[5], from_json(v[6]) or {}
                )
                for v in validation_rows
            ),
            timeline=tuple(
                TimelineEntry(back(e[0]), e[1], e[2], RequestState(e[3]), e[4]) for e in event_rows
            ),
        )

    def get_document(self, request_id: str, document_id: str) -> tuple[Document, str] | None:
        d = self._sql.one(
            "document", {"p_id": request_id, "p_document": document_id}, "reading a document"
        )
        if d is None:
            return None
        return (
            Document(
                d["id"], d["filename"], d["content_type"], d["size"], d["sha256"], d["uploaded_at"]
            ),
            d["stored_as"],
        )

    def list_requests(
        self, states: Collection[RequestState], limit: int, offset: int
    ) -> list[RequestSummary]:
        params = {
            "p_states": [s.value for s in states],
            "p_limit": limit,
            "p_offset": offset,
        }
        rows = self._sql.all("list_requests", params, "listing certificate requests")
        return [
            RequestSummary(
                id=r["id"],
                kind=Kind(r["kind"]),
                state=RequestState(r["state"]),
                contact=r["contact"],
                names=tuple(from_json(r["names"])),
                organization=_org(r["organization"]),
                reviewer=_reviewer(r["reviewer"], r["reviewer_name"], r["reviewer_email"]),
                documents=int(r["documents"]),
                created_at=r["created_at"],
                updated_at=r["updated_at"],
            )
            for r in rows
        ]

    def enrollment_stats(self) -> EnrollmentStats:
        with self._sql.reading("counting certificate requests") as tx:
            requests = {(r["kind"], r["state"]): int(r["n"]) for r in tx.all("request_counts")}
            validations = {
                (r["method"], "ok" if r["ok"] else "failed"): int(r["n"])
                for r in tx.all("validation_counts")
            }
        return EnrollmentStats(requests, validations)
