"""Enrollment: a site owner's request for a certificate, from pasted CSR to issued (seed 5, 6, 8).

The state machine (``RequestState``)::

    submitted ──validate──> validating ──(dv: CAA, issue)──────────────> issued
        │                       │   └──(ov: every name proven)──> in_review ──approve──> issued
        └───────────── reject / challenges expired ─────────────────┴──reject──> rejected

- **test**: issued in the same call as ``submit`` (the seed's instant test certificate).
- **dv**: one challenge per DNS name, either method proves it: an HTTP file at
  ``http://NAME/.well-known/pki-validation/TOKEN.txt`` holding TOKEN (BR 3.2.2.4.18; not for
  wildcards) or a TXT record TOKEN at ``_pki-validation.NAME`` (BR 3.2.2.4.7; for ``*.NAME``
  the record is at ``_pki-validation.NAME``). Tokens are 256-bit random values that expire
  after 7 days. When every name is proven, CAA is checked for every name (RFC 8659; a record
  naming another CA or a failed lookup stops issuance) and the certificate is issued.
- **ov**: the same domain checks, plus documents (PDF/PNG/JPEG); then a reviewer approves with
  the organization fields they verified (those, never the CSR's, go into the certificate).

A validation is reused only within the same request lineage (this request, or an earlier
request named by its id as ``previous_request`` — knowing an id is what makes one the
applicant of that request) and only within the BR 4.2.1 reuse window for the day of use
(:func:`reuse_days`).

Use-case API (stable; the REST API, the portal, the review console and the CLI call these;
every method is synchronous and may block on DNS/HTTP/SMTP — call it from a thread pool)::

    svc = EnrollmentService(store, certificates, issuer, va_config,   # enrollment.service
                            documents_dir=data_dir / "documents", base_url=..., notifier=...)
    # (``padlock.store.enrollment.open_enrollment(authority, va_config)`` builds one.)

    svc.submit(csr, kind, contact, organization=None, *, previous_request=None,
               actor="applicant") -> EnrollmentRequest    # test: already ISSUED
    svc.get(request_id) -> EnrollmentRequest                # NotFound for unknown ids
    svc.validate(request_id, actor="applicant") -> EnrollmentRequest
    svc.add_document(request_id, filename, content, actor="applicant") -> Document   # ov
    svc.document(request_id, document_id) -> tuple[Document, bytes]               # console
    svc.certificate(request_id) -> IssuedCertificate        # Conflict until issued; forever after
    svc.status_url(request_id) -> str                       # BASE/status/ID (the portal's page)
    svc.queue(states=(RequestState.IN_REVIEW,), limit=100, offset=0) -> list[RequestSummary]
    svc.assign(request_id, reviewer: Reviewer) -> EnrollmentRequest
    svc.approve(request_id, reviewer: Reviewer, organization: Organization) -> EnrollmentRequest
    svc.reject(request_id, reviewer: Reviewer, reason: str) -> EnrollmentRequest
    svc.stats() -> EnrollmentStats                          # for /metrics

Errors are :class:`~padlock.errors.PadlockError` subclasses with a plain-words message:
BadCSR (a private key pasted instead of a CSR is refused before anything is stored),
Malformed (wrong kind, bad contact, missing fields), PolicyError/RejectedIdentifier,
NotFound, Conflict (wrong state), PayloadTooLarge, UnsupportedMediaType, CAAForbidden.
A failed domain check or a CAA refusal during ``validate`` is *not* raised: it is recorded
(challenge ``error``, request ``problem``, ``validations`` with the evidence) and the request
is returned; ``approve`` raises CAAForbidden after recording it.

Every state change is written with its timeline entry and its audit event in one
transaction (``EnrollmentStore``); mail goes out after the commit. Issuance is guarded by a
claim (compare-and-set on the request row), so two workers validating the same request at
once issue one certificate.

The rooms: ``model`` (the request and its parts, the states, BR 4.2.1's reuse window),
``checks`` (what an applicant types, checked), ``steps`` (the recorded steps a request
goes through), ``mail``; the use cases ``core`` (reading, shared by all), ``issuing``
(CAA, then the certificate, under a claim), ``submit``, ``validate``, ``documents`` and
``review``; ``service`` joins them in :class:`~padlock.ca.enrollment.service.EnrollmentService`.
The storage port is :class:`padlock.ca.ports.enrollment.EnrollmentStore`.
"""
