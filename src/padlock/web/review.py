"""The review console under ``/review``: the CA's staff check OV requests and approve them.

Nothing here is reachable without logging in: a GET without a valid session redirects
to the login page, a POST answers 401. Every POST also needs the session's CSRF token
(a hidden field of every form) and, when the browser says where the form came from
(Origin, else Referer), this site as its origin. The login form has its own token
(a cookie of its own, compared with the form's field), so a foreign page cannot log a
browser in either.

The session cookie holds a random 256-bit token (only its hash is stored); it is
HttpOnly, SameSite=Strict, limited to ``/review``, and Secure when the console is
served over https. Pages are ``Cache-Control: no-store``.

- ``/review``: the queue (in review, validating, all open);
- ``/review/requests/{id}``: the CSR's contents, the domain evidence, the documents
  (downloaded through the console only), assign to self, approve with the organization
  fields the reviewer verified, reject with a reason;
- ``/review/certificates`` (admin): find a certificate by serial or request, revoke it;
- ``/review/reviewers`` (admin): add reviewers and admins, change role, disable, reset.

Every action is an audit event (the use cases write them; a document download is
recorded here).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

from cryptography import x509
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from padlock import wiring
from padlock.ca.issuance import utcnow
from padlock.ca.ports import AuditEntry
from padlock.ca.ports.reviewers import Reviewer
from padlock.ca.reviewers import (
    CSRFRefused,
    LoginFailed,
    LoginThrottled,
    Reviewers,
    Session,
)
from padlock.errors import Malformed, PadlockError, Unauthorized
from padlock.pki import certs, serials
from padlock.pki.csr import load_csr
from padlock.pki.describe import describe_csr
from padlock.web import pages
from padlock.web.pages import field, render, services
from padlock.web.portal import enrollment, same_origin


class NotLoggedIn(Unauthorized):
    """A console POST without a valid session (answered 401)."""


def error_renderer(request: Request, exc: PadlockError) -> Response:
    """The console's error page; 401 for a missing session, else the problem's status."""
    return pages.error_page(request, exc, 401 if isinstance(exc, NotLoggedIn) else None)


def _use_console_errors(request: Request) -> None:
    request.state.error_renderer = error_renderer


router = APIRouter(
    prefix="/review",
    include_in_schema=False,
    dependencies=[Depends(_use_console_errors)],
    tags=["review"],
)

SESSION_COOKIE = "padlock_review"
LOGIN_COOKIE = "padlock_login"
COOKIE_PATH = "/review"
QUEUES = {
    "review": (("in_review",), "Waiting for review"),
    "validating": (("submitted", "validating"), "Proving domain control"),
    "mine": (("submitted", "validating", "in_review"), "Assigned to me"),
}
REVOCATION_REASONS = (
    ("unspecified", "Unspecified"),
    ("keyCompromise", "Key compromise (also blocks the key)"),
    ("affiliationChanged", "Affiliation changed"),
    ("superseded", "Superseded"),
    ("cessationOfOperation", "Cessation of operation"),
    ("privilegeWithdrawn", "Privilege withdrawn (CA's decision)"),
)


# --------------------------------------------------------------------------- plumbing


def reviewers(request: Request) -> Reviewers:
    return wiring.reviewers(services(request).authority.store)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or services(request).base_url.startswith("https://")


def _set_cookie(
    request: Request, response: Response, name: str, value: str, max_age: int, path: str
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        secure=_secure(request),
        httponly=True,
        samesite="strict",
    )


def _as_enrollment_reviewer(reviewer: Reviewer) -> Any:
    from padlock.ca.enrollment.model import Reviewer as EnrollmentReviewer

    return EnrollmentReviewer(reviewer.name, reviewer.display_name, reviewer.email)


async def _session(request: Request) -> Session | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    found = await run_in_threadpool(reviewers(request).session, token)
    request.state.review_session = found
    return found


def _login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/review/login?next={quote(target, safe='')}", status_code=303)


async def _page(request: Request, *, admin: bool = False) -> Session | Response:
    """The session of a GET page, or the redirect to the login page."""
    session = await _session(request)
    if session is None:
        return _login_redirect(request)
    if admin:
        Reviewers.require_admin(session)
    return session


async def _post(request: Request, *, admin: bool = False) -> tuple[Session, FormData]:
    """The session and form of a POST: logged in, same origin, this session's CSRF token."""
    session = await _session(request)
    if session is None:
        raise NotLoggedIn(
            "You are not logged in (or your session ended).",
            hint="Log in to the review console and try again.",
        )
    same_origin(request)
    form = await request.form(max_files=0, max_fields=30)
    Reviewers.check_csrf(session, field(form, "csrf", 200))
    if admin:
        Reviewers.require_admin(session)
    return session, form


def _ctx(session: Session, **values: Any) -> dict[str, Any]:
    return {"session": session, "csrf": session.csrf_token, "me": session.reviewer, **values}


def _safe_next(target: str | None) -> str:
    """Only a console path of this site: never another host (no open redirect)."""
    if not target:
        return "/review"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/review") or "\\" in target:
        return "/review"
    if target.startswith("/review/login") or target.startswith("/review/logout"):
        return "/review"
    return target


async def _call(work: Callable[[], Any]) -> Any:
    return await run_in_threadpool(work)


# --------------------------------------------------------------------------- login / logout


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)
    response = render(
        request,
        "review_login.html",
        {"login_csrf": token, "next": _safe_next(next), "error": None, "name": ""},
        no_store=True,
    )
    _set_cookie(request, response, LOGIN_COOKIE, token, 3600, "/review/login")
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    same_origin(request)
    form = await request.form(max_files=0, max_fields=10)
    expected = request.cookies.get(LOGIN_COOKIE)
    presented = field(form, "csrf", 200)
    if not expected or not presented or not secrets.compare_digest(expected, presented):
        raise CSRFRefused(
            "The login form's security token is missing or stale.",
            hint="Open the login page again and log in from there.",
        )
    name = field(form, "name", 200)
    password = field(form, "password", 2048)
    target = _safe_next(field(form, "next", 2000))
    client = pages.client_address(request)
    people = reviewers(request)
    try:
        new = await run_in_threadpool(lambda: people.login(name, password, client))
    except (LoginFailed, LoginThrottled) as exc:
        status = 429 if isinstance(exc, LoginThrottled) else 401
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, LoginThrottled) else {}
        return render(
            request,
            "review_login.html",
            {"login_csrf": expected, "next": target, "error": exc, "name": name},
            status,
            no_store=True,
            headers=headers,
        )
    response = RedirectResponse(target, status_code=303)
    lifetime = int(people.policy.session_lifetime.total_seconds())
    _set_cookie(request, response, SESSION_COOKIE, new.token, lifetime, COOKIE_PATH)
    response.delete_cookie(LOGIN_COOKIE, path="/review/login")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    session, _form = await _post(request)
    await run_in_threadpool(reviewers(request).logout, session)
    response = RedirectResponse("/review/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response


# --------------------------------------------------------------------------- the queue


@router.get("")
@router.get("/")
async def queue(request: Request, show: str = "review") -> Response:
    found = await _page(request)
    if isinstance(found, Response):
        return found
    session = found
    if show not in QUEUES:
        show = "review"
    states, _title = QUEUES[show]
    svc = enrollment(request)

    def load() -> list[Any]:
        from padlock.ca.enrollment.model import RequestState

        rows = svc.queue([RequestState(s) for s in states], limit=500)
        if show == "mine":
            rows = [r for r in rows if r.reviewer and r.reviewer.name == session.reviewer.name]
        return list(rows)

    rows = await _call(load)
    return render(
        request,
        "review_queue.html",
        _ctx(session, rows=rows, show=show, queues=QUEUES),
        no_store=True,
    )


@router.get("/find")
async def find_request(request: Request, id: str = "") -> Response:
    found = await _page(request)
    if isinstance(found, Response):
        return found
    return RedirectResponse(f"/review/requests/{quote(id.strip(), safe='')}", status_code=303)


# --------------------------------------------------------------------------- a request


def _csr_facts(csr_pem: str) -> dict[str, Any]:
    try:
        info = describe_csr(load_csr(csr_pem.encode()))
    except PadlockError as exc:
        return {"error": exc.message}
    return info


@router.get("/requests/{request_id}")
async def request_page(request: Request, request_id: str) -> Response:
    found = await _page(request)
    if isinstance(found, Response):
        return found
    session = found
    svc = enrollment(request)
    req = await _call(lambda: svc.get(request_id))
    claimed = req.verified_organization or req.organization
    return render(
        request,
        "review_request.html",
        _ctx(
            session,
            req=req,
            csr=_csr_facts(req.csr_pem),
            org=claimed,
            can_approve=req.kind.value == "ov" and req.state.value == "in_review",
            is_open=req.state.value in ("submitted", "validating", "in_review"),
            done=request.query_params.get("done"),
        ),
        no_store=True,
    )


@router.get("/requests/{request_id}/documents/{document_id}")
async def document_download(request: Request, request_id: str, document_id: str) -> Response:
    found = await _page(request)
    if isinstance(found, Response):
        return found
    session = found
    svc = enrollment(request)
    doc, content = await _call(lambda: svc.document(request_id, document_id))
    store = services(request).authority.store
    await _call(
        lambda: store.append_event(
            AuditEntry(
                "request.document_viewed",
                session.reviewer.actor,
                "request",
                request_id,
                {"document": doc.id, "sha256": doc.sha256},
            ),
            utcnow(),
        )
    )
    safe_name = "".join(c if c.isalnum() or c in "._-" else "_" for c in doc.filename)
    return Response(
        content,
        media_type=doc.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{safe_name or "document"}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
        },
    )


@router.post("/requests/{request_id}/assign")
async def assign(request: Request, request_id: str) -> Response:
    session, _form = await _post(request)
    svc = enrollment(request)
    who = _as_enrollment_reviewer(session.reviewer)
    await _call(lambda: svc.assign(request_id, who))
    return RedirectResponse(f"/review/requests/{request_id}?done=assigned", status_code=303)


@router.post("/requests/{request_id}/approve")
async def approve(request: Request, request_id: str) -> Response:
    session, form = await _post(request)
    if field(form, "verified") != "yes":
        raise Malformed(
            "Confirm that you checked the organization's details against its documents.",
            hint="Tick the box under the fields, then approve.",
        )
    organization = certs.Organization(
        organization=field(form, "organization", 200),
        locality=field(form, "locality", 200) or None,
        state=field(form, "state", 200) or None,
        country=field(form, "country", 10),
    )
    svc = enrollment(request)
    who = _as_enrollment_reviewer(session.reviewer)
    await _call(lambda: svc.approve(request_id, who, organization))
    return RedirectResponse(f"/review/requests/{request_id}?done=approved", status_code=303)


@router.post("/requests/{request_id}/reject")
async def reject(request: Request, request_id: str) -> Response:
    session, form = await _post(request)
    reason = field(form, "reason", 4000)
    svc = enrollment(request)
    who = _as_enrollment_reviewer(session.reviewer)
    await _call(lambda: svc.reject(request_id, who, reason))
    return RedirectResponse(f"/review/requests/{request_id}?done=rejected", status_code=303)


# --------------------------------------------------------------------------- certificates


def _revoker(request: Request) -> Any:
    """This worker's Revoker (``padlock.ca.revocation``), which re-signs the CRL and the
    OCSP response at once (the same one ACME and the REST API use)."""
    from padlock.web.revocation_api import revocation_for

    return revocation_for(request.app).revoker


def _parse_serial(text: str) -> int:
    """Any form people paste (pki.serials.parse), and a serial this CA could have issued."""
    value = serials.parse(text[:200])
    if value <= 0 or value.bit_length() > 160:
        raise Malformed(f"{text[:60]!r} is not a serial number of this CA.")
    return value


@router.get("/certificates")
async def certificates_page(request: Request, serial: str = "") -> Response:
    found = await _page(request, admin=True)
    if isinstance(found, Response):
        return found
    session = found
    record = None
    error = None
    if serial.strip():
        try:
            number = _parse_serial(serial)
            store = services(request).authority.store
            record = await _call(lambda: store.get_certificate(number))
            if record is None:
                error = f"There is no certificate with serial {serials.display(number)}."
        except PadlockError as exc:
            error = exc.message
    cert_info = None
    if record is not None and record.der:
        cert = x509.load_der_x509_certificate(record.der)
        cert_info = {"subject": cert.subject.rfc4514_string()}
    return render(
        request,
        "review_certificates.html",
        _ctx(
            session,
            serial=serial,
            record=record,
            cert_info=cert_info,
            error=error,
            reasons=REVOCATION_REASONS,
            done=request.query_params.get("done"),
        ),
        no_store=True,
    )


@router.post("/certificates/{serial}/revoke")
async def revoke(request: Request, serial: str) -> Response:
    session, form = await _post(request, admin=True)
    number = _parse_serial(serial)
    reason = field(form, "reason", 64) or "unspecified"
    if field(form, "confirm") != "yes":
        raise Malformed("Tick the box to confirm the revocation; it cannot be undone.")
    revoker = _revoker(request)
    await _call(lambda: revoker.revoke(number, reason, session.reviewer.actor))
    return RedirectResponse(f"/review/certificates?serial={number:x}&done=revoked", status_code=303)


# --------------------------------------------------------------------------- reviewers


@router.get("/reviewers")
async def reviewers_page(request: Request) -> Response:
    found = await _page(request, admin=True)
    if isinstance(found, Response):
        return found
    session = found
    people = await _call(reviewers(request).accounts)
    return render(
        request,
        "review_reviewers.html",
        _ctx(session, people=people, done=request.query_params.get("done")),
        no_store=True,
    )


@router.post("/reviewers")
async def add_reviewer(request: Request) -> Response:
    session, form = await _post(request, admin=True)
    people = reviewers(request)
    await _call(
        lambda: people.add(
            field(form, "name", 200),
            field(form, "password", 2048),
            field(form, "role", 20) or "reviewer",
            display_name=field(form, "display_name", 400) or None,
            email=field(form, "email", 400) or None,
            actor=session.reviewer.actor,
        )
    )
    return RedirectResponse("/review/reviewers?done=added", status_code=303)


@router.post("/reviewers/{name}")
async def change_reviewer(request: Request, name: str) -> Response:
    session, form = await _post(request, admin=True)
    people = reviewers(request)
    action = field(form, "action", 20)
    changes: dict[str, Any] = {}
    if action == "disable":
        changes["active"] = False
    elif action == "enable":
        changes["active"] = True
    elif action == "role":
        changes["role"] = field(form, "role", 20)
    elif action == "password":
        changes["password"] = field(form, "password", 2048)
    else:
        raise Malformed("Choose what to change: disable, enable, role or password.")
    await _call(lambda: people.change(name, actor=session.reviewer.actor, **changes))
    return RedirectResponse("/review/reviewers?done=changed", status_code=303)
