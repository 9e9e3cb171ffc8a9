"""The ASGI application factory: one app serves the portal, the REST API, ACME and PKI files.

Front-end modules each export ``router`` (a FastAPI ``APIRouter``); this factory
includes those that exist, installs the error handlers (RFC 7807 problem
documents for APIs, an HTML page for the portal) and the health and metrics
endpoints. ``app_from_env`` is the factory uvicorn calls in every worker.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from padlock import config, hosts, wiring
from padlock.ca import signer as signer_mod
from padlock.ca.issuance import utcnow
from padlock.config import Settings
from padlock.errors import PadlockError
from padlock.web import balance
from padlock.web.hsts import StrictTransport
from padlock.web.limits import LimitBodies
from padlock.web.problems import (
    http_problem,
    problem_response,
    unexpected_problem,
    validation_problem,
)
from padlock.web.services import Services, va_config

log = logging.getLogger("padlock")

# Front ends, each a module with ``router``; optional ones may not exist yet in a checkout.
FRONT_ENDS = (
    "padlock.web.pki_files",
    "padlock.web.rest_api",
    "padlock.web.portal",
    "padlock.web.review",
    "padlock.web.acme_api",
    "padlock.web.revocation_api",
)


def ensure_authority(settings: Settings) -> bytes:
    """Make the CA on first start (saying so); return the CA keys' pass phrase."""
    passphrase = wiring.ca_passphrase(settings)
    if (settings.ca_dir / "ca.json").exists():
        if passphrase is None:
            raise wiring.missing_secret(settings)
        hosts.record_ca(settings, "serve")  # refuses another CA than the database's
        return passphrase
    hosts.refuse_new_ca(settings)  # never a second CA in a database that has one
    if passphrase is None:
        passphrase, path = wiring.generate_ca_passphrase(settings)
        log.warning("generated the CA keys' pass phrase into %s (mode 0600)", path)
    info = signer_mod.create_authority(
        settings.ca_dir,
        name=settings.ca_name,
        passphrase=passphrase,
        now=utcnow(),
        base_url=settings.base_url,
        pki_base_url=settings.effective_pki_base_url,
    )
    log.warning(
        "made a new CA %r in %s (certificates point at %s): test root %s, trusted root %s;"
        " the trusted root's key is in %s (take it offline)",
        info.name,
        settings.data_dir,
        info.pki_base_url,
        info.roots["test"],
        info.roots["trusted"],
        info.offline_root_key,
    )
    hosts.record_ca(settings, "serve")
    return passphrase


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PadlockError)
    async def _padlock_error(request: Request, exc: PadlockError) -> Response:
        handler = getattr(request.state, "error_renderer", None)
        if handler is not None:
            rendered: Response = handler(request, exc)
            return rendered
        return problem_response(exc, str(request.url.path))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return validation_problem(exc.errors())

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        return http_problem(exc.status_code, str(exc.detail), exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        return unexpected_problem(request.method, request.url.path)


def _metrics_text(services: Services) -> str:
    lines = [
        "# HELP padlock_http_requests_total HTTP requests served by this worker.",
        "# TYPE padlock_http_requests_total counter",
    ]
    pid = os.getpid()
    for key, value in sorted(services.counters.items()):
        method, status = key.split(" ", 1)
        lines.append(
            f'padlock_http_requests_total{{worker="{pid}",method="{method}",status="{status}"}}'
            f" {value}"
        )
    stats = services.authority.store.certificate_counts()
    lines += [
        "# HELP padlock_certificates Certificates by profile and state (from the database).",
        "# TYPE padlock_certificates gauge",
    ]
    for (profile, state), count in sorted(stats.items()):
        lines.append(f'padlock_certificates{{profile="{profile}",state="{state}"}} {count}')
    extra: Callable[[], list[str]] | None = getattr(services, "extra_metrics", None)
    if extra is not None:
        lines += extra()
    return "\n".join(lines) + "\n"


class _CountRequests:
    """Counts responses by method and status for /metrics, as a bare ASGI middleware.

    Starlette's ``@app.middleware("http")`` wraps every call in a request/response pair
    and a task; that cost about 0.5 ms a request, a fifth of a test issuance.
    """

    def __init__(self, app: ASGIApp, counters: dict[str, int]) -> None:
        self.app = app
        self.counters = counters

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                key = f"{method} {message['status']}"
                self.counters[key] = self.counters.get(key, 0) + 1
            await send(message)

        await self.app(scope, receive, counting_send)


def create_app(settings: Settings, passphrase: bytes | None = None) -> FastAPI:
    passphrase = passphrase if passphrase is not None else ensure_authority(settings)
    authority = wiring.open_authority(settings, passphrase)
    services = Services(settings, authority, va_config(settings), started_pid=os.getpid())

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:  # the server is stopping: the store's connections and threads go too
            authority.close()

    app = FastAPI(
        lifespan=lifespan,
        title="padlock",
        version="0.1.0",
        description="A certificate authority: enrollment, review, ACME, revocation.",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
    )
    app.state.services = services
    _install_error_handlers(app)

    app.add_middleware(_CountRequests, counters=services.counters)
    app.add_middleware(LimitBodies)  # outermost: every body is bounded (web/limits.py)
    app.add_middleware(StrictTransport)  # HSTS on answers over TLS (web/hsts.py)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        services.authority.store.certificate_counts()  # touches the database
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(_metrics_text(services), media_type="text/plain; version=0.0.4")

    hooks: list[Callable[[Services, object], list[str]]] = []
    for name in FRONT_ENDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        app.include_router(module.router)
        if hasattr(module, "metrics_lines"):  # a front end's own Prometheus lines
            hooks.append(module.metrics_lines)
    services.extra_metrics = lambda: [  # type: ignore[attr-defined]
        line for hook in hooks for line in hook(services, app.state)
    ]

    return app


def app_from_env() -> FastAPI:
    """uvicorn's factory (``--factory``): settings from ``PADLOCK_*`` in every worker."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # A worker counts in the connection share from its start, not from its first
    # connection: the others must see it to know they hold more than their share.
    balance.worker_share()
    return create_app(config.from_env())
