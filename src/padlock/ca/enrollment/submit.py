"""Submitting a request: the CSR and the applicant's details checked, a test certificate
issued at once, dv/ov requests recorded with their challenges (or issued when every name
is proven already in an earlier request of the same lineage)."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import replace

from cryptography.hazmat.primitives.serialization import Encoding

from padlock.ca.enrollment.checks import (
    check_contact,
    check_organization,
    new_request_id,
    new_token,
    parse_kind,
)
from padlock.ca.enrollment.issuing import EnrollmentIssuing
from padlock.ca.enrollment.model import (
    CHALLENGE_LIFETIME,
    MAX_CSR_BYTES,
    CertificateStatus,
    Challenge,
    ChallengeState,
    EnrollmentRequest,
    Event,
    Kind,
    RequestState,
    TimelineEntry,
    ValidationRecord,
)
from padlock.ca.enrollment.steps import (
    REVIEW_NOTE,
)
from padlock.ca.issuance import (
    IssueRequest,
)
from padlock.ca.ports.certificates import StoreWrite
from padlock.ca.records import CertificateRecord
from padlock.errors import (
    BadCSR,
    Malformed,
    PayloadTooLarge,
    RejectedIdentifier,
)
from padlock.pki.certs import Organization
from padlock.pki.csr import load_csr
from padlock.pki.profiles import reuse_days, still_reusable


class EnrollmentSubmission(EnrollmentIssuing):
    """``submit``."""

    def submit(
        self,
        csr: bytes | str,
        kind: str,
        contact: str,
        organization: Organization | None = None,
        *,
        previous_request: str | None = None,
        actor: str = "applicant",
    ) -> EnrollmentRequest:
        """Record a request; a test request comes back issued, dv/ov with challenges."""
        data = csr.encode("utf-8", "replace") if isinstance(csr, str) else csr
        if len(data) > MAX_CSR_BYTES:
            raise PayloadTooLarge(f"A CSR is a few kilobytes; this is {len(data)} bytes.")
        if b"PRIVATE KEY" in data:
            # Refused before anything is parsed, stored or logged.
            raise BadCSR(
                "This is a private key, not a CSR. Never send your private key to anyone;"
                " it was not stored.",
                hint="Make a CSR from the key (padlock csr new --key KEY --out FILE, or openssl"
                " req -new -key KEY) and paste the CSR. If this key was sent anywhere else,"
                " make a new key.",
            )
        the_kind = parse_kind(kind)
        the_contact = check_contact(contact)
        if the_kind is Kind.OV:
            organization = check_organization(organization)
        elif organization is not None:
            raise Malformed(
                "Organization details belong to ov requests only.",
                hint="Leave organization out, or ask for kind ov.",
            )
        parsed = load_csr(data)
        csr_pem = parsed.public_bytes(Encoding.PEM)
        request_id = new_request_id()
        now = self._clock()
        if the_kind is Kind.TEST:
            return self._submit_test(request_id, csr_pem, the_contact, actor, now)

        # dv/ov: every check that can refuse, before anything is stored.
        checked = self._issuer.checked(
            IssueRequest(
                csr_pem, the_kind.profile, domain_control_shown=True, organization=organization
            )
        )
        facts, dns, ips = checked.facts, checked.dns, checked.ips
        if ips:
            raise RejectedIdentifier(
                f"The CSR names the IP address {ips[0]}; trusted certificates here are for DNS"
                " names only.",
                hint="Make the CSR with host names only (a test certificate may name an IP).",
            )
        from padlock.pki.keys import fingerprint

        challenges = [Challenge(name, new_token(), now + CHALLENGE_LIFETIME) for name in dns]
        validations: list[ValidationRecord] = []
        events = [Event("submitted", actor, RequestState.SUBMITTED, self._names_note(dns))]
        if previous_request is not None:
            challenges, validations = self._reuse(previous_request, challenges, now)
        request = EnrollmentRequest(
            id=request_id,
            kind=the_kind,
            state=RequestState.SUBMITTED,
            contact=the_contact,
            names=tuple(dns),
            csr_pem=csr_pem.decode(),
            key_fingerprint=fingerprint(facts.public_key),
            created_at=now,
            updated_at=now,
            organization=organization,
            previous_request=previous_request,
            challenges=tuple(challenges),
            validations=tuple(validations),
        )
        if not request.all_validated:
            self._store.create_request(request, events, now)
            self._notify(request.id, request.contact, RequestState.SUBMITTED)
            return self.get(request_id)
        # Every name is covered by a reused validation.
        events.append(Event("checked", "system", RequestState.VALIDATING, "every name proven"))
        if the_kind is Kind.OV:
            events.append(Event("in_review", "system", RequestState.IN_REVIEW, REVIEW_NOTE))
            request = replace(request, state=RequestState.IN_REVIEW)
            self._store.create_request(request, events, now)
            self._notify(request.id, request.contact, RequestState.IN_REVIEW)
            return self.get(request_id)
        # dv, every name proven: CAA first; then the request is recorded with the
        # certificate's reservation and marked issued with the certificate (two commits).
        claim = secrets.token_hex(16)
        request = replace(request, state=RequestState.VALIDATING)
        caa = self._caa(request)
        if not all(r.ok for r in caa):
            self._store.create_request(request, events, now, claim=claim)
            return self._issue(request, claim, actor=actor, caa=caa)
        return self._issue(
            request, claim, actor=actor, caa=caa, create=tuple(events), checked=checked
        )

    def _submit_test(
        self, request_id: str, csr_pem: bytes, contact: str, actor: str, now: dt.datetime
    ) -> EnrollmentRequest:
        # The certificate is reserved (committed), linted, signed, and stored in one
        # transaction with the request, recorded as issued: two commits per test
        # certificate. A crash in between leaves the reservation, and no request.
        made: list[tuple[EnrollmentRequest, tuple[Event, ...]]] = []

        def record_request(record: CertificateRecord) -> StoreWrite:
            request = EnrollmentRequest(
                id=request_id,
                kind=Kind.TEST,
                state=RequestState.ISSUED,
                contact=contact,
                names=record.names,
                csr_pem=csr_pem.decode(),
                key_fingerprint=record.key_fingerprint,
                created_at=now,
                updated_at=now,
                certificate_serial=record.serial_hex,
            )
            events = (
                Event("submitted", actor, RequestState.SUBMITTED, self._names_note(record.names)),
                Event(
                    "issued",
                    "system",
                    RequestState.ISSUED,
                    f"test certificate {record.serial_hex}",
                    {"serial": record.serial_hex, "profile": record.profile},
                ),
            )
            made.append((request, events))
            return self._store.request_writes(request, events, now)

        issued = self._issuer.issue(
            IssueRequest(csr_pem, Kind.TEST.profile, actor=actor, request_id=request_id),
            also=record_request,
        )
        request, events = made[-1]
        self._notify(request_id, contact, RequestState.ISSUED)
        return replace(
            request,
            timeline=tuple(
                TimelineEntry(now, e.action, e.actor, e.state or request.state, e.note)
                for e in events
            ),
            certificate=CertificateStatus.of(issued.record),
        )

    @staticmethod
    def _names_note(names: Sequence[str]) -> str:
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        return f"for {shown}"

    def _reuse(
        self, previous: str, challenges: list[Challenge], now: dt.datetime
    ) -> tuple[list[Challenge], list[ValidationRecord]]:
        """Names proven in an earlier request of the same lineage, within the BR window."""
        parent = self._load(previous)
        proven = {
            c.name: c
            for c in parent.challenges
            if c.state is ChallengeState.VALID
            and c.validated_at is not None
            and still_reusable(c.validated_at, now)
        }
        # The method that first proved each name, through a lineage of reuses (RFC 8657).
        origin = {
            v.name: v.evidence.get("method") for v in parent.validations if v.method == "reused"
        }
        out: list[Challenge] = []
        records: list[ValidationRecord] = []
        for ch in challenges:
            old = proven.get(ch.name)
            if old is None or old.validated_at is None:
                out.append(ch)
                continue
            out.append(
                replace(
                    ch, state=ChallengeState.VALID, method="reused", validated_at=old.validated_at
                )
            )
            records.append(
                ValidationRecord(
                    ch.name,
                    "reused",
                    True,
                    now,
                    f"proven by {old.method} on {old.validated_at:%Y-%m-%d %H:%M} UTC in an"
                    f" earlier request of this applicant; reuse allowed for"
                    f" {reuse_days(now.date())} days (BR 4.2.1)",
                    evidence={
                        "earlier_request": previous[:8] + "…",
                        "method": origin.get(ch.name, old.method)
                        if old.method == "reused"
                        else old.method,
                        "validated_at": old.validated_at.isoformat(),
                    },
                )
            )
        return out, records
