"""Revocation over HTTP: CRLs, the OCSP responder, and the REST revocation endpoints.

- ``GET /crl/{issuer}/{shard}.crl`` — one shard of the CA's partitioned CRL (DER,
  ``application/pkix-crl``), the URL a certificate's CRL DP names when its CA has shards;
  ``GET /crl/{issuer}.crl`` — the CA's full CRL, which certificates issued before shards
  name. Both are static bytes with validators (``web/crl_serving.py``).
- ``POST /ocsp/{issuer}`` (``application/ocsp-request``) and ``GET /ocsp/{issuer}/{base64}``
  (RFC 6960 A.1, RFC 5019) — the responder the certificates' AIA names. It is a
  plain ASGI endpoint (no request model, no JSON): the answer is usually a
  pre-signed DER found with one small database read.
- ``POST /api/v1/requests/{id}/revoke`` — revoke the request's certificate; the
  request's unguessable id is the capability.
- ``POST /api/v1/revoke`` — revoke a certificate on a statement signed by its own
  key (``padlock revoke --key --cert --ca``); the key never leaves the client.

A background thread per worker keeps CRLs fresh (regenerated when missing,
after a revocation anywhere, and when half their validity is gone), renews the
delegated OCSP responders, and pre-signs OCSP responses. Workers coordinate
through the database only (compare-and-set on the CRL number).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from starlette.routing import Route
from starlette.types import ASGIApp

from padlock import bodies, wiring
from padlock.ca.ports import CertificateRecord
from padlock.ca.revocation import (
    INTERNAL_ERROR,
    MALFORMED,
    UNAUTHORIZED,
    KeyProof,
    OcspAnswer,
    Revocation,
    decode_signature,
)
from padlock.ca.signer import read_meta
from padlock.errors import BadPassphrase, NotFound, PadlockError, PayloadTooLarge
from padlock.filelock import FileLock
from padlock.pki import crl_ocsp
from padlock.web import crl_serving, fast_path
from padlock.web.limits import LimitedRoute
from padlock.web.pki_files import DER_CERT, issuer_certificate_der
from padlock.web.services import Services

log = logging.getLogger("padlock.revocation")

CRL_TYPE = crl_serving.CRL_TYPE
OCSP_REQUEST = "application/ocsp-request"
OCSP_RESPONSE = "application/ocsp-response"
TICK_ENV = "PADLOCK_REVOCATION_TICK"  # seconds between upkeep rounds (default 30)
DEFAULT_TICK = 30.0

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_build_lock = threading.Lock()


def revocation_for(app: Any) -> Revocation:
    """This worker's :class:`Revocation` (made on first use): what ACME's revokeCert and the
    review console call too, as ``revocation_for(request.app).revoker.revoke(...)``."""
    found: Revocation | None = getattr(app.state, "revocation", None)
    if found is not None:
        _follow_issuers(app, found)
        return found
    with _build_lock:
        found = getattr(app.state, "revocation", None)
        if found is None:
            services: Services = app.state.services
            passphrase = wiring.ca_passphrase(services.settings)
            if passphrase is None:
                raise BadPassphrase(
                    "The CA keys' pass phrase is not available to the server.",
                    hint=f"Set {wiring.CA_PASSPHRASE_ENV}.",
                )
            app.state.revocation_follows = services.authority.issuer.generation
            found = wiring.open_revocation(services.authority, passphrase)
            app.state.revocation = found
    return found


def _follow_issuers(app: Any, revocation: Revocation) -> None:
    """After this worker's Issuer took up a new issuing CA (``ca new-issuer``), its
    responder and CRL signer join at once, not at the next upkeep round."""
    generation = app.state.services.authority.issuer.generation
    if getattr(app.state, "revocation_follows", generation) == generation:
        return
    with _build_lock:
        if app.state.revocation_follows != generation:
            revocation.tick(dt.datetime.now(dt.UTC), shared=False)
            app.state.revocation_follows = generation


# --- upkeep --------------------------------------------------------------------------------


class _Turn:
    """Whose turn it is at the upkeep the workers of one data dir share (CRLs, pre-signed
    OCSP responses): a non-blocking ``flock`` on DATA/run/upkeep.lock. Two workers that
    both pre-signed the same new certificates signed everything twice and fought over
    the writer lock while issuing. Without a usable lock file every worker takes its turn:
    the work repeats, nothing goes wrong."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = FileLock(path, make_parent=True)

    @contextlib.contextmanager
    def taken(self) -> Iterator[bool]:
        try:
            mine = self._lock.acquire(0.0)
        except OSError as err:
            log.debug("upkeep lock %s unusable: %s", self._path, err)
            yield True
            return
        if not mine:
            yield False  # another worker is at it
            return
        try:
            yield True
        finally:
            self._lock.release()


def _upkeep(app: Any, stop: threading.Event, interval: float) -> None:
    services: Services = app.state.services
    turn = _Turn(services.settings.data_dir / "run" / "upkeep.lock")
    while True:
        try:
            with turn.taken() as mine:
                revocation_for(app).tick(dt.datetime.now(dt.UTC), shared=mine)
        except PadlockError as exc:
            log.warning("revocation upkeep failed (will retry): %s", exc)
        except Exception:  # keep the thread alive whatever happens; the log says what
            log.exception("revocation upkeep failed unexpectedly (will retry)")
        if stop.wait(interval):
            return


@contextlib.asynccontextmanager
async def _lifespan(app: Any) -> AsyncIterator[None]:
    interval = float(os.environ.get(TICK_ENV, DEFAULT_TICK))
    stop = threading.Event()
    thread = threading.Thread(
        target=_upkeep, args=(app, stop, interval), name="padlock-revocation", daemon=True
    )
    thread.start()
    if getattr(app, "middleware_stack", None) is not None or hasattr(app, "build_middleware_stack"):
        _install_fast_path(app)
    try:
        yield
    finally:
        stop.set()
        await anyio.to_thread.run_sync(thread.join, 30)


def _install_fast_path(app: Any) -> None:
    """``/ocsp/...`` goes straight to the responder (``web/fast_path.py``), which answers
    every error itself (measured: 260 µs of server CPU per response through the framework,
    100 µs without), with an ``X-Response-Time-Ms`` header. Without the lifespan (a bare
    test client) the routes below serve OCSP the ordinary way."""

    def pick(scope: Scope) -> ASGIApp | None:
        if not scope["path"].startswith("/ocsp/"):
            return None
        issuer, _, rest = scope["path"][len("/ocsp/") :].partition("/")
        if scope["method"] not in ("GET", "POST") or (rest and scope["method"] == "POST"):
            return None  # the router's 405, as before
        scope["path_params"] = {"issuer": issuer, "request": rest}
        return _ocsp

    fast_path.install(app, pick, timed=True)


router = APIRouter(tags=["revocation"], lifespan=_lifespan, route_class=LimitedRoute)


# --- CRLs ----------------------------------------------------------------------------------


@router.get(
    "/crl/{issuer}.crl",
    response_class=Response,
    responses={
        200: {"content": {CRL_TYPE: {}}, "description": "The CRL (DER)."},
        304: {"description": "Not modified (If-None-Match / If-Modified-Since)."},
    },
)
def crl(issuer: str, request: Request) -> Response:
    """The current full CRL of an issuing CA or a root (DER)."""
    answer = _full_crl(revocation_for(request.app), issuer, _conditions(request.headers.get))
    return _response(answer)


@router.get(
    "/crl/{issuer}/{shard}.crl",
    response_class=Response,
    responses={
        200: {"content": {CRL_TYPE: {}}, "description": "One shard's CRL (DER)."},
        304: {"description": "Not modified (If-None-Match / If-Modified-Since)."},
    },
)
def crl_shard(issuer: str, shard: str, request: Request) -> Response:
    """One shard of an issuing CA's partitioned CRL (DER): the CRL its certificates name."""
    answer = _shard_crl(
        revocation_for(request.app), issuer, shard, _conditions(request.headers.get)
    )
    return _response(answer)


Conditions = tuple[str | None, str | None]


def _conditions(get: Callable[[str], str | None]) -> Conditions:
    return get("if-none-match"), get("if-modified-since")


def _response(answer: crl_serving.CrlAnswer) -> Response:
    return Response(answer.body, status_code=answer.status, headers=dict(answer.headers))


def _full_crl(revocation: Revocation, issuer: str, conditions: Conditions) -> crl_serving.CrlAnswer:
    known = set(revocation.crls.issuers) | {"trusted-root"}
    if issuer not in known:
        raise NotFound(f"There is no CRL {issuer!r}; there are {', '.join(sorted(known))}.")
    now = dt.datetime.now(dt.UTC)
    current = revocation.crls.current(issuer, now)
    meta = crl_serving.CrlMeta(
        f'"{current.issuer}-{current.number}"', current.this_update, current.next_update
    )
    return crl_serving.crl_answer(meta, lambda: current.der, now, *conditions)


_shard_bytes = crl_serving.ShardBytes()


def _shard_crl(
    revocation: Revocation, issuer: str, shard_text: str, conditions: Conditions
) -> crl_serving.CrlAnswer:
    shards = revocation.shards
    shard = crl_serving.parse_shard(shard_text)
    if shards is None or shard is None:
        raise NotFound(f"There is no CRL shard {shard_text!r} of {issuer!r}.")
    now = dt.datetime.now(dt.UTC)
    head = shards.head(issuer, shard, now)
    return crl_serving.crl_answer(
        crl_serving.shard_meta(head),
        lambda: _shard_bytes.der(shards, head, now),
        now,
        *conditions,
    )


# --- OCSP ----------------------------------------------------------------------------------


def _ocsp_headers(answer: OcspAnswer) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"content-type", OCSP_RESPONSE.encode()),
        (b"content-length", str(len(answer.der)).encode()),
    ]
    if answer.cacheable and answer.this_update and answer.next_update:
        headers += [
            (
                b"cache-control",
                f"max-age={answer.max_age}, public, no-transform, must-revalidate".encode(),
            ),
            (b"last-modified", crl_serving.http_date(answer.this_update).encode()),
            (b"expires", crl_serving.http_date(answer.next_update).encode()),
            (b"etag", f'"{hashlib.sha1(answer.der).hexdigest()}"'.encode()),  # noqa: S324
        ]
    else:
        headers.append((b"cache-control", b"no-cache, no-store, max-age=0"))
    return headers


async def _send(send: Send, answer: OcspAnswer, status: int = 200) -> None:
    await send({"type": "http.response.start", "status": status, "headers": _ocsp_headers(answer)})
    await send({"type": "http.response.body", "body": answer.der})


class OcspEndpoint:
    """The responder as a bare ASGI endpoint: POST and GET forms, never a 500."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._handle(scope, receive, send)
        except Exception:  # the responder answers with an OCSP status, always
            log.exception("OCSP: unexpected error")
            await _send(send, INTERNAL_ERROR)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = crl_ocsp.MAX_REQUEST_BYTES
        params = scope.get("path_params", {})
        if scope["method"] == "POST":
            ctype = (bodies.header(scope, b"content-type") or b"").split(b";")[0].strip().lower()
            if ctype != OCSP_REQUEST.encode():
                await _send(send, MALFORMED, 415)
                return
            length = bodies.header(scope, b"content-length")
            if length is not None and (not length.isdigit() or int(length) > limit):
                await _send(send, MALFORMED, 413)
                return
            try:
                der = await bodies.read_body(receive, limit)
            except PayloadTooLarge:  # the rest is never read
                await _send(send, MALFORMED, 413)
                return
        else:
            try:
                der = crl_ocsp.decode_get_path(str(params.get("request", "")))
            except PadlockError:
                await _send(send, MALFORMED)
                return
        if not der:
            await _send(send, MALFORMED)
            return
        app = scope["app"]
        revocation = revocation_for(app)
        if not revocation.ocsp.serves(str(params.get("issuer", ""))):
            await _send(send, UNAUTHORIZED)
            return
        answer = revocation.ocsp.cached(der)
        if answer is None:
            answer = await anyio.to_thread.run_sync(revocation.ocsp.answer, der)
        await _send(send, answer)


_ocsp = OcspEndpoint()
router.routes.append(Route("/ocsp/{issuer}", endpoint=_ocsp, methods=["POST", "GET"]))
router.routes.append(Route("/ocsp/{issuer}/{request:path}", endpoint=_ocsp, methods=["GET"]))


# --- REST ----------------------------------------------------------------------------------


class RevokeBody(BaseModel):
    reason: str | int | None = Field(
        None, description="An RFC 5280 reason name or code; default unspecified."
    )


class KeyRevokeBody(BaseModel):
    certificate: str = Field(..., max_length=64 * 1024, description="The certificate (PEM).")
    reason: str = Field("unspecified", max_length=64)
    timestamp: str = Field(..., max_length=64, description="RFC 3339, UTC; within 5 minutes.")
    signature: str = Field(
        ...,
        max_length=4096,
        description="base64url signature by the certificate's key over the statement"
        " 'padlock-revoke-v1\\n<cert sha256 hex>\\n<reason>\\n<timestamp>\\n<CA base URL>'.",
    )


class Revoked(BaseModel):
    serial: str
    state: str
    revoked_at: str | None
    reason: str | None


def _revoked(record: CertificateRecord) -> Revoked:
    return Revoked(
        serial=record.serial_hex,
        state=record.state.value,
        revoked_at=record.revoked_at.isoformat() if record.revoked_at else None,
        reason=record.revocation_reason,
    )


@router.post(
    "/api/v1/requests/{request_id}/revoke",
    response_model=list[Revoked],
    openapi_extra={"x-padlock-body": "json"},
)
def revoke_request(request_id: str, body: RevokeBody, request: Request) -> list[Revoked]:
    """Revoke the certificate of an enrollment request (the request's id is the capability)."""
    revoker = revocation_for(request.app).revoker
    records = revoker.revoke_request(request_id, body.reason, f"rest:{request_id[:8]}")
    return [_revoked(r) for r in records]


@router.post("/api/v1/revoke", response_model=Revoked, openapi_extra={"x-padlock-body": "json"})
def revoke_with_key(body: KeyRevokeBody, request: Request) -> Revoked:
    """Revoke a certificate on a request signed by the certificate's own private key."""
    services: Services = request.app.state.services
    revoker = revocation_for(request.app).revoker
    proof = KeyProof(
        body.certificate.encode(), body.reason, body.timestamp, decode_signature(body.signature)
    )
    audiences = [services.base_url]
    with contextlib.suppress(PadlockError):
        audiences.append(read_meta(services.settings.ca_dir).get("base_url", "").rstrip("/"))
    last: PadlockError | None = None
    for audience in dict.fromkeys(a for a in audiences if a):
        try:
            return _revoked(revoker.revoke_with_key_proof(proof, audience, "key-holder"))
        except PadlockError as exc:
            if exc.problem != "unauthorized":
                raise
            last = exc
    assert last is not None
    raise last


# --- a dedicated responder -----------------------------------------------------------------


class ResponderApp:
    """OCSP, CRLs and the issuers' certificates (AIA) only, as a bare ASGI application:
    ``padlock ocsp-responder``, and the plain-HTTP PKI listener of ``padlock serve --tls``.

    The full app runs every request through FastAPI's middleware stack, which costs
    far more than the responder itself (about 12 µs for a cached answer); large CAs
    run their responders apart from the CA for that reason, and so can padlock.
    It shares the database (and so the pre-signed responses and CRLs) with
    ``padlock serve``.
    """

    def __init__(self, settings: Any, passphrase: bytes) -> None:
        from types import SimpleNamespace

        from padlock.web.services import va_config

        authority = wiring.open_authority(settings, passphrase)
        services = Services(settings, authority, va_config(settings), started_pid=os.getpid())
        self.state = SimpleNamespace(services=services, revocation=None)
        self._lifespan: contextlib.AbstractAsyncContextManager[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan_events(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        scope["app"] = self
        if path.startswith("/ocsp/"):
            issuer, _, rest = path[len("/ocsp/") :].partition("/")
            scope["path_params"] = {"issuer": issuer, "request": rest}
            if scope["method"] not in ("GET", "POST") or (rest and scope["method"] == "POST"):
                await _plain(send, 405, b"method not allowed")
                return
            await _ocsp(scope, receive, send)
        elif path.startswith("/crl/") and path.endswith(".crl") and scope["method"] == "GET":
            await self._crl(path[len("/crl/") : -len(".crl")], scope, send)
        elif path.startswith("/ca/") and path.endswith(".der") and scope["method"] == "GET":
            await self._issuer(path[len("/ca/") : -len(".der")], send)
        elif path == "/healthz":
            await _plain(send, 200, b'{"status":"ok"}', b"application/json")
        else:
            await _plain(send, 404, b"not found")

    async def _crl(self, path: str, scope: Scope, send: Send) -> None:
        """A full CRL (``/crl/ISSUER.crl``) or a shard (``/crl/ISSUER/N.crl``)."""
        revocation = revocation_for(self)
        issuer, _, shard = path.partition("/")
        conditions = (
            _text(bodies.header(scope, b"if-none-match")),
            _text(bodies.header(scope, b"if-modified-since")),
        )
        try:
            if shard:
                answer = await anyio.to_thread.run_sync(
                    _shard_crl, revocation, issuer, shard, conditions
                )
            else:
                answer = await anyio.to_thread.run_sync(_full_crl, revocation, issuer, conditions)
        except PadlockError as exc:
            await _plain(send, exc.problem_type.status, exc.message.encode())
            return
        headers = [(k.encode(), v.encode()) for k, v in answer.headers]
        headers.append((b"content-length", str(len(answer.body)).encode()))
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})

    async def _issuer(self, issuer: str, send: Send) -> None:
        """AIA caIssuers (RFC 5280 4.2.2.1), which relying parties fetch over plain HTTP."""
        try:
            body = issuer_certificate_der(self.state.services, issuer)
        except PadlockError as exc:
            await _plain(send, exc.problem_type.status, exc.message.encode())
            return
        headers = [
            (b"content-type", DER_CERT.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"public, max-age=3600"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _lifespan_events(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._lifespan = _lifespan(self)
                await self._lifespan.__aenter__()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._lifespan is not None:
                    await self._lifespan.__aexit__(None, None, None)
                self.state.services.authority.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


async def _plain(send: Send, status: int, body: bytes, ctype: bytes = b"text/plain") -> None:
    headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def responder_from_env() -> ResponderApp:
    """uvicorn's factory for ``padlock ocsp-responder`` (settings from ``PADLOCK_*``)."""
    from padlock import config

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = config.from_env()
    passphrase = wiring.ca_passphrase(settings)
    if passphrase is None:
        raise BadPassphrase(
            "The CA keys' pass phrase is not available.", hint=f"Set {wiring.CA_PASSPHRASE_ENV}."
        )
    return ResponderApp(settings, passphrase)
