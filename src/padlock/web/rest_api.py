"""The REST API of enrollment, ``/api/v1`` (OpenAPI at ``/api/v1/openapi.json``).

    POST /api/v1/requests                          {csr, kind, contact, organization?,
                                                   previous_request?} -> 201 request
    GET  /api/v1/requests/{id}                     state, timeline, challenges, contact person,
                                                   certificate (serial, revocation state)
    POST /api/v1/requests/{id}/validate            run the domain checks now
    POST /api/v1/requests/{id}/documents           multipart ``file`` (ov): PDF, PNG or JPEG
    GET  /api/v1/requests/{id}/certificate?format=pem|der|chain|pkcs7   works forever

A request's id is its capability: 192 random bits, never listed anywhere public; an unknown
id is a 404 like any other. Errors are RFC 7807 problem documents. Bodies are limited
before they are parsed (64 KiB of JSON, 10 MiB of upload): more is a 413 problem.

Handlers are thin: they translate HTTP to the use cases of
:class:`padlock.ca.enrollment.service.EnrollmentService` (run in a thread pool: they block on the
database, DNS, HTTP and SMTP) and their values back to JSON. :func:`enrollment_service`
gives the portal and the console the same service object.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import anyio
import anyio.to_thread
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from fastapi import APIRouter, File, Query, Request, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from padlock import bodies
from padlock.ca.enrollment.model import (
    MAX_CSR_BYTES,
    MAX_DOCUMENT_BYTES,
    Challenge,
    Document,
    EnrollmentRequest,
    ValidationRecord,
)
from padlock.ca.enrollment.service import EnrollmentService
from padlock.errors import PadlockError
from padlock.pki.certs import Organization
from padlock.web import fast_path
from padlock.web.limits import JSON_LIMIT, LimitedRoute, check_media_type, read_limited
from padlock.web.problems import (
    problem_response,
    unexpected_problem,
    validation_problem,
)
from padlock.web.services import Services

PROBLEM_JSON = "application/problem+json"
PEM_CERT = "application/x-pem-file"
DER_CERT = "application/pkix-cert"
PKCS7 = "application/pkcs7-mime"


@contextlib.asynccontextmanager
async def _lifespan(app: Any) -> AsyncIterator[None]:
    install_fast_path(app)
    yield


router = APIRouter(
    prefix="/api/v1", tags=["enrollment"], route_class=LimitedRoute, lifespan=_lifespan
)


# --------------------------------------------------------------------------- models


class Problem(BaseModel):
    """An RFC 7807 problem document."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    subproblems: list[dict[str, Any]] | None = None


def _problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {
        code: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": "A problem."}
        for code in codes
    }


class OrganizationIn(BaseModel):
    """The organization as the applicant states it (ov); a reviewer verifies it."""

    model_config = ConfigDict(extra="forbid")

    organization: str = Field(max_length=64, description="Legal name")
    locality: str | None = Field(None, max_length=128, description="City")
    state: str | None = Field(None, max_length=128, description="State or province")
    country: str = Field(max_length=2, description="ISO 3166 two-letter code")


# A real CSR (public data: www.example.com and example.com, P-256): the OpenAPI example.
EXAMPLE_CSR = (
    "-----BEGIN CERTIFICATE REQUEST-----\n"
    "MIIBDzCBtgIBADAaMRgwFgYDVQQDDA93d3cuZXhhbXBsZS5jb20wWTATBgcqhkjO\n"
    "PQIBBggqhkjOPQMBBwNCAASB6LqhPEFmrmC3jmhTrqDSevR0tFAYxaatj6WB2Gij\n"
    "g3x9+2Xl2ABHAIybtq6tjDOnIOq17hfMLbFTsRkjaKBdoDowOAYJKoZIhvcNAQkO\n"
    "MSswKTAnBgNVHREEIDAegg93d3cuZXhhbXBsZS5jb22CC2V4YW1wbGUuY29tMAoG\n"
    "CCqGSM49BAMCA0gAMEUCIQDNld5sHuGIEILp2uu7FcdLuEJ2xQnMOt+1E35/n9lk\n"
    "igIgfRBPnYl6sHBm3YYrxGi6AJyPUXL/ZHWhS6sZn5+jDJA=\n"
    "-----END CERTIFICATE REQUEST-----\n"
)


class SubmitIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"csr": EXAMPLE_CSR, "kind": "test", "contact": "admin@example.com"}]
        },
    )

    csr: str = Field(
        max_length=MAX_CSR_BYTES,
        description="The CSR in PEM, BEGIN and END lines included (never the private key).",
    )
    kind: Literal["test", "dv", "ov"] = Field(
        description="test: instant 21-day test certificate; dv: after domain checks;"
        " ov: after domain checks and a reviewer's organization check."
    )
    contact: str = Field(max_length=254, description="Email address for status mail.")
    organization: OrganizationIn | None = Field(None, description="Required for ov.")
    previous_request: str | None = Field(
        None,
        max_length=64,
        description="The id of an earlier request of yours whose proven names may be reused"
        " (BR 4.2.1 window).",
    )


class OrganizationOut(BaseModel):
    organization: str
    locality: str | None
    state: str | None
    country: str


class ChallengeOut(BaseModel):
    name: str
    state: Literal["pending", "valid", "expired"]
    methods: list[str]
    token: str
    expires_at: dt.datetime
    http_url: str | None = Field(description="Serve the token at this URL (not for wildcards).")
    http_content: str
    dns_record: str = Field(description="Or publish the token as TXT at this name.")
    dns_value: str
    instructions: dict[str, str]
    method: str | None
    validated_at: dt.datetime | None
    error: str | None


class ContactPersonOut(BaseModel):
    name: str
    email: str | None


class CertificateOut(BaseModel):
    serial: str
    state: str
    not_before: dt.datetime
    not_after: dt.datetime
    revoked_at: dt.datetime | None
    revocation_reason: str | None
    download: dict[str, str]


class DocumentOut(BaseModel):
    id: str
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_at: dt.datetime


class ValidationOut(BaseModel):
    name: str
    method: str
    ok: bool
    at: dt.datetime
    detail: str
    problem: str | None
    evidence: dict[str, Any]


class TimelineOut(BaseModel):
    at: dt.datetime
    action: str
    actor: str
    state: str
    note: str


class RequestOut(BaseModel):
    id: str
    kind: Literal["test", "dv", "ov"]
    state: Literal["submitted", "validating", "in_review", "issued", "rejected"]
    status_url: str
    names: list[str]
    contact: str
    created_at: dt.datetime
    updated_at: dt.datetime
    organization: OrganizationOut | None
    verified_organization: OrganizationOut | None
    contact_person: ContactPersonOut | None = Field(
        description="The reviewer handling the request."
    )
    problem: str | None
    rejection_reason: str | None
    challenges: list[ChallengeOut]
    documents: list[DocumentOut]
    validations: list[ValidationOut]
    timeline: list[TimelineOut]
    certificate: CertificateOut | None
    links: dict[str, str]


# --------------------------------------------------------------------------- helpers


_CPU_LIMITER: anyio.CapacityLimiter | None = None


def _cpu_limiter() -> anyio.CapacityLimiter:
    global _CPU_LIMITER  # one per worker process (made inside its event loop)
    if _CPU_LIMITER is None:
        _CPU_LIMITER = anyio.CapacityLimiter(1)
    return _CPU_LIMITER


def enrollment_service(request: Request) -> EnrollmentService:
    """The app's enrollment service, built once per worker (portal and console use it too)."""
    state = request.app.state
    svc: EnrollmentService | None = getattr(state, "enrollment", None)
    if svc is None:
        from padlock import wiring

        services: Services = state.services
        svc = wiring.open_enrollment(services.authority, services.va)
        state.enrollment = svc
    return svc


def _base(request: Request) -> str:
    services: Services = request.app.state.services
    return services.base_url


def _org(org: Organization | None) -> OrganizationOut | None:
    if org is None:
        return None
    return OrganizationOut(
        organization=org.organization,
        locality=org.locality,
        state=org.state,
        country=org.country,
    )


def _challenge(ch: Challenge) -> ChallengeOut:
    return ChallengeOut(
        name=ch.name,
        state=ch.state.value,
        methods=list(ch.methods),
        token=ch.token,
        expires_at=ch.expires_at,
        http_url=ch.http_url,
        http_content=ch.token,
        dns_record=ch.dns_record,
        dns_value=ch.token,
        instructions=ch.instructions(),
        method=ch.method,
        validated_at=ch.validated_at,
        error=ch.error,
    )


def _document(doc: Document) -> DocumentOut:
    return DocumentOut(
        id=doc.id,
        filename=doc.filename,
        content_type=doc.content_type,
        size=doc.size,
        sha256=doc.sha256,
        uploaded_at=doc.uploaded_at,
    )


def _validation(v: ValidationRecord) -> ValidationOut:
    return ValidationOut(
        name=v.name,
        method=v.method,
        ok=v.ok,
        at=v.at,
        detail=v.detail,
        problem=v.problem,
        evidence=v.evidence,
    )


FORMATS = ("pem", "der", "chain", "pkcs7")


def _request_out(req: EnrollmentRequest, svc: EnrollmentService, base: str) -> RequestOut:
    api = f"{base}/api/v1/requests/{req.id}"
    certificate = None
    if req.certificate is not None:
        c = req.certificate
        certificate = CertificateOut(
            serial=c.serial,
            state=c.state,
            not_before=c.not_before,
            not_after=c.not_after,
            revoked_at=c.revoked_at,
            revocation_reason=c.revocation_reason,
            download={f: f"{api}/certificate?format={f}" for f in FORMATS},
        )
    links = {"self": api, "status": svc.status_url(req.id)}
    if req.state.value in ("submitted", "validating"):
        links["validate"] = f"{api}/validate"
    if req.kind.value == "ov" and req.state.value in ("submitted", "validating", "in_review"):
        links["documents"] = f"{api}/documents"
    if req.certificate_serial:
        links["certificate"] = f"{api}/certificate"
    return RequestOut(
        id=req.id,
        kind=req.kind.value,
        state=req.state.value,
        status_url=svc.status_url(req.id),
        names=list(req.names),
        contact=req.contact,
        created_at=req.created_at,
        updated_at=req.updated_at,
        organization=_org(req.organization),
        verified_organization=_org(req.verified_organization),
        contact_person=(
            ContactPersonOut(name=req.reviewer.display_name, email=req.reviewer.email)
            if req.reviewer
            else None
        ),
        problem=req.problem,
        rejection_reason=req.rejection_reason,
        challenges=[_challenge(c) for c in req.challenges],
        documents=[_document(d) for d in req.documents],
        validations=[_validation(v) for v in req.validations],
        timeline=[
            TimelineOut(at=t.at, action=t.action, actor=t.actor, state=t.state.value, note=t.note)
            for t in req.timeline
        ],
        certificate=certificate,
        links=links,
    )


def _json(model: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """The model as JSON, serialised once (FastAPI would validate it again first)."""
    return Response(
        model.model_dump_json(), status_code=status, media_type="application/json", headers=headers
    )


_SAFE_NAME = re.compile(r"[^A-Za-z0-9.-]")


def _download_name(req_names: tuple[str, ...], suffix: str) -> str:
    first = req_names[0] if req_names else "certificate"
    return _SAFE_NAME.sub("_", first.replace("*", "wildcard"))[:100] + suffix


# --------------------------------------------------------------------------- routes

# OpenAPI links: what a client (or schemathesis) may do with the id a submission returns.
_LINKS = {
    op: {"operationId": op, "parameters": {"request_id": "$response.body#/id"}}
    for op in ("getRequest", "validateRequest", "uploadDocument", "getCertificate")
}

RequestId = Annotated[str, "the request's id"]


@router.post(
    "/requests",
    status_code=201,
    operation_id="submitRequest",
    response_model=RequestOut,
    responses={
        201: {"description": "The request", "links": _LINKS},
        **_problems(400, 403, 409, 413, 415),
    },
    openapi_extra={"x-padlock-body": "json"},
    summary="Submit a CSR for a test, dv or ov certificate",
)
async def submit_request(body: SubmitIn, request: Request) -> Response:
    return await _submit(body, request)


async def _submit(body: SubmitIn, request: Request) -> Response:
    svc = enrollment_service(request)
    org = (
        Organization(
            body.organization.organization,
            body.organization.locality,
            body.organization.state,
            body.organization.country,
        )
        if body.organization
        else None
    )
    work = functools.partial(
        svc.submit,
        body.csr,
        body.kind,
        body.contact,
        org,
        previous_request=body.previous_request,
        actor="api",
    )
    if body.kind == "test" and _inline(request):
        # A test certificate is CPU and SQLite only (statements of microseconds): issued on
        # the event loop, as the ACME server does, without a hand-over to a thread.
        created = work()
    else:
        # Otherwise in a thread. One thread per worker issues test certificates (on
        # PostgreSQL), so they never queue for the GIL behind each other; everything that
        # waits on the network (DNS, CAA, SMTP) keeps the shared pool.
        limiter = _cpu_limiter() if body.kind == "test" else None
        created = await anyio.to_thread.run_sync(work, limiter=limiter)
    base = _base(request)
    return _json(
        _request_out(created, svc, base),
        201,
        {"Location": f"{base}/api/v1/requests/{created.id}"},
    )


def _inline(request: Request) -> bool:
    services: Services = request.app.state.services
    engine = getattr(services.authority.store, "engine", None)
    return engine is not None and engine.dialect.name == "sqlite"


async def _submit_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    """``POST /api/v1/requests`` ahead of the framework (``web/fast_path.py``): the same
    checks, answers and problem documents as the route above, which serves it when the
    app runs without its lifespan (tests/web/test_rest_api.py compares the two)."""
    request = Request(scope, receive)
    response: Response
    try:
        check_media_type(request, "json")
        await read_limited(request, JSON_LIMIT)
        response = await _submit_raw(request, request._body)
    except PadlockError as exc:
        response = problem_response(exc, scope["path"])
    except Exception:
        response = unexpected_problem(scope["method"], scope["path"])
    await response(scope, receive, send)


async def _submit_raw(request: Request, raw: bytes) -> Response:
    """Parse and validate the body as FastAPI does for ``body: SubmitIn``, then submit."""
    if not raw:
        return validation_problem([{"loc": ("body",), "msg": "Field required"}])
    doc = bodies.loads(raw)  # bounded, as web/limits.py's route class parses it
    try:
        body = SubmitIn.model_validate(doc, from_attributes=True)  # as FastAPI validates
    except ValidationError as exc:
        return validation_problem(exc.errors())
    return await _submit(body, request)


def install_fast_path(app: Any) -> None:
    """Submissions skip the framework; everything else of the API goes through it."""

    def pick(scope: Scope) -> ASGIApp | None:
        if scope["method"] == "POST" and scope["path"] == "/api/v1/requests":
            return _submit_endpoint
        return None

    fast_path.install(app, pick)


@router.get(
    "/requests/{request_id}",
    response_model=RequestOut,
    operation_id="getRequest",
    responses=_problems(404),
    summary="The state of a request: timeline, challenges, contact person, certificate",
)
async def get_request(request_id: RequestId, request: Request) -> Response:
    svc = enrollment_service(request)
    found = await run_in_threadpool(svc.get, request_id)
    return _json(_request_out(found, svc, _base(request)))


@router.post(
    "/requests/{request_id}/validate",
    operation_id="validateRequest",
    response_model=RequestOut,
    responses=_problems(404, 409, 413),
    openapi_extra={"x-padlock-body": "none"},
    summary="Run the domain checks now (HTTP file or DNS TXT per name); issue dv when all pass",
)
async def validate_request(request_id: RequestId, request: Request) -> Response:
    svc = enrollment_service(request)
    checked = await run_in_threadpool(svc.validate, request_id, "api")
    return _json(_request_out(checked, svc, _base(request)))


@router.post(
    "/requests/{request_id}/documents",
    operation_id="uploadDocument",
    status_code=201,
    response_model=DocumentOut,
    responses=_problems(400, 404, 409, 413, 415),
    openapi_extra={"x-padlock-body": "multipart"},
    summary="Upload an organization document (ov): PDF, PNG or JPEG, at most 10 MiB",
)
async def upload_document(
    request_id: RequestId,
    request: Request,
    file: Annotated[UploadFile, File(description="The document: PDF, PNG or JPEG.")],
) -> DocumentOut:
    svc = enrollment_service(request)
    content = await file.read(MAX_DOCUMENT_BYTES + 1)
    doc = await run_in_threadpool(svc.add_document, request_id, file.filename or "", content, "api")
    return _document(doc)


@router.get(
    "/requests/{request_id}/certificate",
    operation_id="getCertificate",
    responses={
        200: {
            "description": "The certificate",
            "content": {
                PEM_CERT: {"schema": {"type": "string"}},
                DER_CERT: {"schema": {"type": "string", "format": "binary"}},
                PKCS7: {"schema": {"type": "string", "format": "binary"}},
            },
        },
        **_problems(400, 404, 409),
    },
    response_class=Response,
    summary="Fetch the certificate: pem (leaf), der, chain (leaf + issuing CA) or pkcs7",
)
async def get_certificate(
    request_id: RequestId,
    request: Request,
    format: Annotated[Literal["pem", "der", "chain", "pkcs7"], Query()] = "pem",
) -> Response:
    svc = enrollment_service(request)
    issued = await run_in_threadpool(svc.certificate, request_id)
    names = issued.record.names
    headers = {"Cache-Control": "private, max-age=3600"}
    if format == "pem":
        body, media, suffix = issued.certificate_pem, PEM_CERT, ".crt"
    elif format == "chain":
        body, media, suffix = issued.fullchain_pem, PEM_CERT, ".fullchain.pem"
    elif format == "der":
        body = x509.load_pem_x509_certificate(issued.certificate_pem).public_bytes(Encoding.DER)
        media, suffix = DER_CERT, ".der"
    else:
        certs = x509.load_pem_x509_certificates(issued.fullchain_pem)
        body = pkcs7.serialize_certificates(certs, Encoding.DER)
        media, suffix = PKCS7, ".p7b"
    headers["Content-Disposition"] = f'attachment; filename="{_download_name(names, suffix)}"'
    return Response(body, media_type=media, headers=headers)


# --------------------------------------------------------------------------- metrics


def metrics_lines(services: Services, app_state: Any) -> list[str]:
    """Prometheus lines: requests by kind and state, review queue, validation outcomes."""
    svc: EnrollmentService | None = getattr(app_state, "enrollment", None)
    if svc is None:
        from padlock import wiring

        svc = wiring.open_enrollment(services.authority, services.va)
        app_state.enrollment = svc
    stats = svc.stats()
    queue = sum(n for (_kind, state), n in stats.requests.items() if state == "in_review")
    lines = [
        "# HELP padlock_enrollment_requests Enrollment requests by kind and state.",
        "# TYPE padlock_enrollment_requests gauge",
    ]
    for (kind, state), count in sorted(stats.requests.items()):
        lines.append(f'padlock_enrollment_requests{{kind="{kind}",state="{state}"}} {count}')
    lines += [
        "# HELP padlock_review_queue_length Requests waiting for a reviewer (in_review).",
        "# TYPE padlock_review_queue_length gauge",
        f"padlock_review_queue_length {queue}",
        "# HELP padlock_validations_total Domain and CAA checks by method and outcome.",
        "# TYPE padlock_validations_total counter",
    ]
    for (method, outcome), count in sorted(stats.validations.items()):
        lines.append(f'padlock_validations_total{{method="{method}",outcome="{outcome}"}} {count}')
    return lines
