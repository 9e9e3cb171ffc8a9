"""RFC 7807 problem documents for the HTTP front ends, made in one place.

The app's exception handlers (``web/app.py``) and the endpoints that answer ahead of
them (``web/fast_path.py``) render the same errors the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi.responses import JSONResponse

from padlock.errors import PROBLEMS, PadlockError, StorageError

PROBLEM_JSON = "application/problem+json"

log = logging.getLogger("padlock")


def problem_response(exc: PadlockError, instance: str | None = None) -> JSONResponse:
    if isinstance(exc, StorageError):  # the database's own words are in the log, not the answer
        log.warning("%s answered 503: storage failure, incident %s", instance, exc.incident)
    doc = exc.to_problem(**({"instance": instance} if instance else {}))
    headers = {}
    retry = getattr(exc, "retry_after", None)
    if retry:
        headers["Retry-After"] = str(int(retry))
    return JSONResponse(doc, status_code=doc["status"], media_type=PROBLEM_JSON, headers=headers)


def http_problem(
    status: int, detail: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The framework's own refusals (no route, wrong method, an unreadable body)."""
    code = {404: "notFound", 405: "malformed", 413: "payloadTooLarge"}.get(status, "malformed")
    doc = {
        "type": PROBLEMS[code].urn,
        "title": PROBLEMS[code].title,
        "status": status,
        "detail": detail,
    }
    return JSONResponse(doc, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def validation_problem(errors: Iterable[Mapping[str, Any]]) -> JSONResponse:
    """A 400 naming (up to five of) pydantic's errors, where each is in the body."""
    parts = []
    for err in list(errors)[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
    doc = {
        "type": PROBLEMS["malformed"].urn,
        "title": PROBLEMS["malformed"].title,
        "status": 400,
        "detail": "The request is not valid: " + "; ".join(parts),
    }
    return JSONResponse(doc, status_code=400, media_type=PROBLEM_JSON)


def unexpected_problem(method: str, path: str) -> JSONResponse:
    """A 500 for a failure nothing translated; the traceback goes to the log (call from
    inside the ``except`` block)."""
    log.exception("unexpected error on %s %s", method, path)
    doc = {
        "type": PROBLEMS["serverInternal"].urn,
        "title": PROBLEMS["serverInternal"].title,
        "status": 500,
        "detail": "The server failed unexpectedly; the error was logged.",
    }
    return JSONResponse(doc, status_code=500, media_type=PROBLEM_JSON)
