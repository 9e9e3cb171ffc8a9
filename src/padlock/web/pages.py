"""What the server-rendered pages share: the Jinja2 environment, security headers, the
HTML error page, and the small form helpers of the portal and the review console.

Templates live in ``web/templates`` (autoescaped); the stylesheet and the optional
script in ``web/static`` are served from ``/static/`` by the portal's router. No page
loads anything from another origin (the Content-Security-Policy says so to browsers).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData, UploadFile

from padlock.errors import PadlockError
from padlock.pki import serials
from padlock.web.services import Services

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
MAX_FIELD = 256 * 1024  # a CSR is a few KiB; nothing a form sends here is bigger


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["size"] = _size
    env.filters["org"] = _org
    env.filters["serial"] = _serial
    return env


def _serial(value: str | int) -> str:
    """A serial as ``openssl x509 -serial`` prints it, so a search of openssl's output finds
    it; stored serials are lower-case hex."""
    return serials.display(value if isinstance(value, int) else int(value, 16))


def _size(value: int) -> str:
    if value < 1024:
        return f"{value} bytes"
    if value < 1024 * 1024:
        return f"{value / 1024:.1f} KiB"
    return f"{value / (1024 * 1024):.1f} MiB"


def _org(org: Any) -> str:
    """Organization fields in one line: Widgets Inc., Dallas, Texas, US."""
    if org is None:
        return ""
    parts = [org.organization, org.locality, org.state, org.country]
    return ", ".join(str(p) for p in parts if p)


def _when(value: Any) -> str:
    """A time as the pages show it: 2026-11-27 14:03 UTC."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return str(value.strftime("%Y-%m-%d %H:%M UTC"))


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
    *,
    no_store: bool = False,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    values: dict[str, Any] = {
        "request": request,
        "path": request.url.path,
        "ca_name": services(request).settings.ca_name,
        "session": None,
        "csrf": None,
        "flash": None,
    }
    values.update(context or {})
    html = environment().get_template(template).render(values)
    all_headers = dict(SECURITY_HEADERS)
    if no_store:
        all_headers["Cache-Control"] = "no-store"
    all_headers.update(headers or {})
    return HTMLResponse(html, status_code=status_code, headers=all_headers)


def error_page(request: Request, exc: PadlockError, status_code: int | None = None) -> Response:
    """A friendly HTML page for a PadlockError: what went wrong and what to do."""
    ptype = exc.problem_type
    code = status_code or ptype.status
    headers = {}
    retry = getattr(exc, "retry_after", None)
    if retry:
        headers["Retry-After"] = str(int(retry))
    return render(
        request,
        "error.html",
        {
            "title": ptype.title,
            "message": exc.message,
            "hint": exc.hint,
            "status": code,
            "session": getattr(request.state, "review_session", None),
            "csrf": None,
        },
        code,
        no_store=True,
        headers=headers,
    )


def use_html_errors(request: Request) -> None:
    """Router dependency: PadlockErrors raised by this router's pages render as HTML."""
    request.state.error_renderer = error_page


def field(form: FormData, name: str, limit: int = MAX_FIELD) -> str:
    """A text field of a submitted form ('' when absent); files and huge values refused."""
    value = form.get(name)
    if value is None or isinstance(value, UploadFile):
        return ""
    if len(value) > limit:
        from padlock.errors import PayloadTooLarge

        raise PayloadTooLarge(f"The field {name!r} is longer than {limit} characters.")
    return value


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None
