"""The portal: server-rendered pages for the site owner (the seed's sections 5, 6 and 8).

- ``/``: test certificate, trusted certificate, check status, download roots;
- ``/test`` and ``/trusted``: paste a CSR. Before it is sent, the page shows what the CSR
  contains and what is wrong with it in plain words (``Check CSR`` re-renders the form
  with the analysis; with JavaScript, ``/csr/preview`` updates it while typing). The
  form works without JavaScript;
- ``/status/{id}``: the status page (timeline, the domain checks with copy-paste
  instructions, the "contact person", "Check again", documents for OV, revocation);
- ``/status/{id}/certificate``: the fetch page (downloads per format and the Apache lines),
  which works for as long as the CA keeps the certificate: forever;
- ``/roots``: the roots and how to trust the test root in Firefox, Chrome, Debian, macOS.

The request id is the applicant's capability: whoever knows it may see and act on
the request; nothing lists requests publicly. Errors render as HTML pages.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from padlock import bodies
from padlock.ca.signer import load_root
from padlock.errors import Malformed, NotFound, PadlockError, PayloadTooLarge
from padlock.pki import certs
from padlock.pki.profiles import Hierarchy
from padlock.web import csr_preview, pages
from padlock.web.pages import field, render, services

router = APIRouter(
    include_in_schema=False, dependencies=[Depends(pages.use_html_errors)], tags=["portal"]
)

STATIC_FILES = {
    "padlock.css": "text/css; charset=utf-8",
    "padlock.js": "text/javascript; charset=utf-8",
}
KINDS = {"test": ("test",), "trusted": ("dv", "ov")}
FORMATS = {
    # format: (file suffix, media type, label, what it is)
    "pem": (".crt", "application/x-pem-file", "Certificate (PEM)", "your certificate alone"),
    "chain": (
        ".fullchain.pem",
        "application/x-pem-file",
        "Full chain (PEM)",
        "certificate + issuing CA: for SSLCertificateFile",
    ),
    "der": (".der", "application/pkix-cert", "Certificate (DER)", "binary, for Windows and Java"),
    "pkcs7": (".p7b", "application/pkcs7-mime", "PKCS#7 (.p7b)", "chain for IIS and Tomcat"),
}
MAX_PREVIEW_BODY = 128 * 1024
MAX_UPLOAD = bodies.MAX_UPLOAD


# --------------------------------------------------------------------------- helpers


def enrollment(request: Request) -> Any:
    """The enrollment use cases (``padlock.ca.enrollment.service.EnrollmentService``), one per
    worker."""
    svc = getattr(request.app.state, "enrollment", None)
    if svc is None:
        svc = getattr(services(request), "enrollment", None)
    if svc is None:
        from padlock import wiring

        found = services(request)
        svc = wiring.open_enrollment(found.authority, found.va)
        request.app.state.enrollment = svc
    return svc


def same_origin(request: Request) -> None:
    """Refuse a form POST whose Origin (or, lacking it, Referer) is another site."""
    origin = request.headers.get("origin")
    source = origin if origin and origin != "null" else request.headers.get("referer")
    if origin == "null":
        raise pages_forbidden("The form was sent from an opaque origin.")
    if not source:
        return  # not a browser, or a browser that sends neither: the other checks apply
    parts = urlsplit(source)
    got = f"{parts.scheme}://{parts.netloc}".lower()
    allowed = {
        f"{request.url.scheme}://{request.url.netloc}".lower(),
        services(request).base_url.lower(),
    }
    host = request.headers.get("host")
    if host:
        allowed.add(f"{request.url.scheme}://{host}".lower())
    if got not in allowed:
        raise pages_forbidden(f"The form was sent from another site ({got}).")


def pages_forbidden(message: str) -> PadlockError:
    from padlock.ca.reviewers import CSRFRefused

    return CSRFRefused(message, hint="Open the page on this site and send the form from there.")


def _file_stem(names: tuple[str, ...] | list[str]) -> str:
    first = names[0] if names else "certificate"
    return first.replace("*", "wildcard").replace("/", "_").replace(":", "_")


def _fingerprint(cert_pem: bytes) -> str:
    cert = x509.load_pem_x509_certificate(cert_pem)
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


# --------------------------------------------------------------------------- static files


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    if name not in STATIC_FILES:
        raise NotFound(f"There is no file {name!r} here.")
    body = (pages.STATIC / name).read_bytes()
    return Response(
        body,
        media_type=STATIC_FILES[name],
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )


# --------------------------------------------------------------------------- home and roots


@router.get("/")
def home(request: Request) -> Response:
    return render(request, "home.html")


@router.get("/roots")
def roots_page(request: Request) -> Response:
    found = services(request)
    purposes = {
        Hierarchy.TEST: (
            "Test root",
            "Test certificates, issued at once, valid 21 days. Trust it only on machines"
            " where you test.",
        ),
        Hierarchy.TRUSTED: (
            "Trusted root",
            "DV and OV certificates, issued after domain control (and, for OV, a reviewer's"
            " checks).",
        ),
    }
    roots = []
    slug = found.settings.ca_name.lower().replace(" ", "-")
    for hierarchy in (Hierarchy.TEST, Hierarchy.TRUSTED):
        root = load_root(found.settings.ca_dir, hierarchy)
        label, purpose = purposes[hierarchy]
        roots.append(
            {
                "name": hierarchy.value,
                "label": label,
                "purpose": purpose,
                "subject": root.subject.rfc4514_string(),
                "not_after": root.not_valid_after_utc.strftime("%Y-%m-%d"),
                "fingerprint": root.fingerprint(hashes.SHA256()).hex(":").upper(),
                "filename": f"{slug}-{hierarchy.value}-root",
            }
        )
    return render(request, "roots.html", {"roots": roots, "base_url": found.base_url})


# --------------------------------------------------------------------------- request forms


def _form_context(
    request: Request,
    page: str,
    values: dict[str, str] | None = None,
    preview: csr_preview.Preview | None = None,
    error: PadlockError | None = None,
) -> dict[str, Any]:
    defaults = {"csr": "", "kind": KINDS[page][0], "contact": ""}
    defaults.update({k: "" for k in ("organization", "locality", "state", "country")})
    defaults.update(values or {})
    if preview is not None and preview.secret:
        defaults["csr"] = ""  # a private key is never shown again
    return {
        "page": page,
        "values": defaults,
        "preview": preview,
        "error": error,
        "private_key_message": csr_preview.PRIVATE_KEY_MESSAGE,
        "private_key_hint": csr_preview.PRIVATE_KEY_HINT,
    }


def _profile_for(page: str, kind: str) -> str:
    if kind not in KINDS[page]:
        raise Malformed(
            f"There is no {kind!r} certificate here; choose one of {', '.join(KINDS[page])}."
        )
    return kind


@router.get("/test")
def test_form(request: Request) -> Response:
    return render(request, "request_form.html", _form_context(request, "test"))


@router.get("/trusted")
def trusted_form(request: Request) -> Response:
    return render(request, "request_form.html", _form_context(request, "trusted"))


@router.post("/test")
async def test_submit(request: Request) -> Response:
    return await _submit(request, "test")


@router.post("/trusted")
async def trusted_submit(request: Request) -> Response:
    return await _submit(request, "trusted")


async def _submit(request: Request, page: str) -> Response:
    same_origin(request)
    form = await request.form(max_files=0, max_fields=20)
    values = {
        name: field(form, name)
        for name in ("csr", "kind", "contact", "organization", "locality", "state", "country")
    }
    values["kind"] = values["kind"] or KINDS[page][0]
    profile = _profile_for(page, values["kind"])
    issuer = services(request).authority.issuer
    preview = await run_in_threadpool(csr_preview.analyse, values["csr"], issuer, profile)
    if field(form, "action") != "submit" or not preview.ok:
        status = 200 if field(form, "action") != "submit" else 400
        return render(
            request,
            "request_form.html",
            _form_context(request, page, values, preview),
            status,
            no_store=True,
        )
    organization = None
    if profile == "ov":
        organization = certs.Organization(
            organization=values["organization"].strip(),
            locality=values["locality"].strip() or None,
            state=values["state"].strip() or None,
            country=values["country"].strip(),
        )
    svc = enrollment(request)
    try:
        created = await run_in_threadpool(
            lambda: svc.submit(
                (preview.pem or "").encode(),
                profile,
                values["contact"].strip(),
                organization,
                actor="applicant",
            )
        )
    except PadlockError as exc:
        return render(
            request,
            "request_form.html",
            _form_context(request, page, values, preview, exc),
            exc.problem_type.status if exc.problem_type.status < 500 else 400,
            no_store=True,
        )
    target = f"/status/{created.id}"
    if created.state.value == "issued":
        target += "/certificate"
    return RedirectResponse(target, status_code=303)


@router.post("/csr/preview")
async def preview_json(request: Request) -> Response:
    """The live preview: ``{"csr": "...", "kind": "test|dv|ov"}`` → analysis + HTML."""
    same_origin(request)
    body = await request.body()
    if len(body) > MAX_PREVIEW_BODY:
        raise PayloadTooLarge("The preview takes a CSR of at most 64 KiB.")
    doc = bodies.loads(body or b"{}", "The preview's body")
    if not isinstance(doc, dict) or not isinstance(doc.get("csr", ""), str):
        raise Malformed('The preview takes {"csr": "...", "kind": "test|dv|ov"}.')
    kind = doc.get("kind") or "test"
    if kind not in ("test", "dv", "ov"):
        raise Malformed("kind is one of test, dv, ov.")
    issuer = services(request).authority.issuer
    preview = await run_in_threadpool(csr_preview.analyse, doc.get("csr", ""), issuer, kind)
    html = pages.environment().get_template("_csr_analysis.html").render(preview=preview)
    return JSONResponse(
        {"analysis": preview.as_dict(), "html": html},
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


# --------------------------------------------------------------------------- status page


@router.get("/status")
def status_lookup(request: Request, id: str | None = None) -> Response:
    if id and id.strip():
        from urllib.parse import quote

        return RedirectResponse(f"/status/{quote(id.strip(), safe='')}", status_code=303)
    return render(request, "status_lookup.html")


def _load(request: Request, request_id: str) -> Any:
    return enrollment(request).get(request_id)


@router.get("/status/{request_id}")
async def status_page(request: Request, request_id: str) -> Response:
    req = await run_in_threadpool(_load, request, request_id)
    return render(
        request,
        "status.html",
        {"req": req, "checked": request.query_params.get("checked"), **_status_extras(req)},
        no_store=True,
    )


def _status_extras(req: Any) -> dict[str, Any]:
    challenges = []
    for ch in req.challenges:
        challenges.append({"ch": ch, "steps": ch.instructions()})
    failed = [v for v in req.validations if not v.ok]
    return {
        "challenges": challenges,
        "last_failures": failed[-5:],
        "now": dt.datetime.now(dt.UTC),
        "can_check": req.state.value in ("submitted", "validating"),
        "can_upload": req.kind.value == "ov"
        and req.state.value in ("submitted", "validating", "in_review"),
    }


@router.post("/status/{request_id}/check")
async def status_check(request: Request, request_id: str) -> Response:
    same_origin(request)
    svc = enrollment(request)
    await run_in_threadpool(lambda: svc.validate(request_id, actor="applicant"))
    return RedirectResponse(f"/status/{request_id}?checked=1", status_code=303)


@router.post("/status/{request_id}/documents")
async def status_upload(request: Request, request_id: str) -> Response:
    same_origin(request)
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_UPLOAD:
        raise PayloadTooLarge("A document may be at most 10 MiB.")
    form = await request.form(max_files=1, max_fields=5)
    upload = form.get("document")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise Malformed("Choose a file to send (PDF, PNG or JPEG).")
    content = await upload.read(MAX_UPLOAD)
    svc = enrollment(request)
    filename = upload.filename
    await run_in_threadpool(
        lambda: svc.add_document(request_id, filename, content, actor="applicant")
    )
    return RedirectResponse(f"/status/{request_id}?uploaded=1", status_code=303)


# --------------------------------------------------------------------------- fetch


@router.get("/status/{request_id}/certificate")
async def fetch_page(request: Request, request_id: str) -> Response:
    svc = enrollment(request)
    req = await run_in_threadpool(svc.get, request_id)
    issued = await run_in_threadpool(svc.certificate, request_id)
    stem = _file_stem(req.names)
    downloads = [
        {
            "format": fmt,
            "href": f"/status/{request_id}/certificate.{fmt}",
            "filename": stem + suffix,
            "label": label,
            "what": what,
        }
        for fmt, (suffix, _media, label, what) in FORMATS.items()
    ]
    return render(
        request,
        "fetch.html",
        {
            "req": req,
            "downloads": downloads,
            "stem": stem,
            "cert_pem": issued.certificate_pem.decode(),
            "fingerprint": _fingerprint(issued.certificate_pem),
            "test": req.kind.value == "test",
            "just_issued": request.query_params.get("new"),
        },
    )


@router.get("/status/{request_id}/certificate.{fmt}")
async def fetch_file(request: Request, request_id: str, fmt: str) -> Response:
    if fmt not in FORMATS:
        raise NotFound(f"There is no format {fmt!r}; there are {', '.join(FORMATS)}.")
    svc = enrollment(request)
    req = await run_in_threadpool(svc.get, request_id)
    issued = await run_in_threadpool(svc.certificate, request_id)
    suffix, media, _label, _what = FORMATS[fmt]
    body = certificate_bytes(issued, fmt)
    filename = _file_stem(req.names) + suffix
    return Response(
        body,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def certificate_bytes(issued: Any, fmt: str) -> bytes:
    """The issued certificate in one of FORMATS."""
    if fmt == "pem":
        return bytes(issued.certificate_pem)
    if fmt == "chain":
        return bytes(issued.fullchain_pem)
    leaf = x509.load_pem_x509_certificate(issued.certificate_pem)
    if fmt == "der":
        return leaf.public_bytes(Encoding.DER)
    chain = x509.load_pem_x509_certificates(issued.chain_pem) if issued.chain_pem else []
    return pkcs7.serialize_certificates([leaf, *chain], Encoding.DER)
