"""The ACME server's HTTP front end (RFC 8555 sections 6-7, RFC 9773).

Two directories: ``/acme/directory`` (the trusted hierarchy: dv by default, ov and
short-lived as profiles) and ``/acme/test/directory`` (the test profile). Each has
its own accounts; the paths below the prefix are the same:

    directory, new-nonce, new-account, new-order, revoke-cert, key-change,
    renewal-info/{certID}, acct/{id}, acct/{id}/orders, order/{id},
    order/{id}/finalize, authz/{id}, chall/{id}, cert/{serial}[/{n}], terms

One bare ASGI endpoint serves them all: the envelope (method, media type, size,
flattened JWS) is checked here, everything else in
:class:`padlock.ca.acmeserver.service.AcmeService`.
Every response carries a fresh ``Replay-Nonce`` and ``Link: <directory>;rel="index"``,
errors included; problem documents use the ACME error types.

Blocking work (database, signatures) runs inline on the event loop for SQLite, whose
statements take microseconds, and in a thread for PostgreSQL. Challenge validation
runs in the service's validation threads; the challenge POST waits for it a short
while (``PADLOCK_ACME_VALIDATION_WAIT``, default 5 s) so that the answer is usually
final, and otherwise answers ``processing`` with an honest ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import os
import threading
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Mapping,
    MutableMapping,
    Sequence,
)
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from fastapi import APIRouter
from starlette.routing import Route

from padlock import bodies
from padlock.acme import jws as jwslib
from padlock.acme import messages as m
from padlock.acme import persist
from padlock.ca.acmeserver.model import AcmeSettings, Directory
from padlock.ca.acmeserver.service import AcmeService
from padlock.ca.ports.acme_server import Revoke
from padlock.errors import (
    BadNonce,
    BadSignatureAlgorithm,
    ConfigError,
    Malformed,
    NotFound,
    PadlockError,
)
from padlock.web import fast_path
from padlock.web.services import Services

log = logging.getLogger("padlock.acme")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JOSE = b"application/jose+json"
PROBLEM = b"application/problem+json"
JSON = b"application/json"
PEM_CHAIN = b"application/pem-certificate-chain"
MAX_BODY = 256 * 1024

INSECURE_ENV = "PADLOCK_INSECURE_VA_ALWAYS_VALID"
INSECURE_TRUSTED_ENV = "PADLOCK_INSECURE_VA_ALWAYS_VALID_TRUSTED"

TERMS = (
    "padlock ACME service: terms of service\n\n"
    "Certificates are issued to applicants who prove control of every name they ask for.\n"
    "Keep your private keys private; revoke a certificate as soon as its key is exposed.\n"
    "The operator of this CA may revoke certificates issued against its policy.\n"
)

_json = json.JSONEncoder(separators=(",", ":")).encode
_build_lock = threading.Lock()


@contextlib.asynccontextmanager
async def _lifespan(app: Any) -> AsyncIterator[None]:
    """Build the ACME front as the worker starts (the insecure banner is logged then, and
    pkilint is warmed up in the background), and stop its validation threads at the end."""
    front: AcmeFront | None = None
    try:
        front = acme_front(app)
        threading.Thread(target=_warm_up, name="padlock-acme-warmup", daemon=True).start()
    except PadlockError as exc:  # the endpoint reports it on every request
        log.error("the ACME server could not start: %s", exc)
    _install_fast_path(app)
    try:
        yield
    finally:
        if front is not None:
            front.service.close()


def _install_fast_path(app: Any) -> None:
    """``/acme/...`` goes straight to the endpoint (``web/fast_path.py``): it answers every
    error itself, with a nonce. Without the lifespan (a bare test client) the route in
    ``router`` serves ACME the ordinary way."""
    fast_path.install(app, lambda scope: _endpoint if scope["path"].startswith("/acme/") else None)


def _warm_up() -> None:
    """pkilint takes about half a second to load: not on a client's first dv finalize."""
    try:
        from padlock.pki import lint

        lint.warm_up()
    except Exception:  # only a warm-up; the first issuance loads it otherwise
        log.debug("pkilint warm-up failed", exc_info=True)


router = APIRouter(include_in_schema=False, lifespan=_lifespan)


# --- settings ----------------------------------------------------------------------------------


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _eab_keys(text: str) -> dict[str, bytes]:
    """``kid:base64url-key,kid2:key2`` -> {kid: key}."""
    keys: dict[str, bytes] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        kid, _, key = item.strip().partition(":")
        try:
            keys[kid] = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
        except (binascii.Error, ValueError):
            raise PadlockError(
                f"PADLOCK_ACME_EAB_KEYS: the key of {kid!r} is not base64url."
            ) from None
    return keys


def settings_from_env(env: Mapping[str, str], services: Services) -> AcmeSettings:
    """ACME settings from ``PADLOCK_ACME_*`` (and the insecure test switches)."""
    return AcmeSettings(
        terms_of_service=env.get("PADLOCK_ACME_TOS"),
        website=env.get("PADLOCK_ACME_WEBSITE"),
        caa_identities=tuple(services.va.caa_identities),
        issuer_domain_names=issuer_domain_names(
            services.settings.issuer_domain_names, services.va.caa_identities
        ),
        eab_required=_flag(env, "PADLOCK_ACME_EAB_REQUIRED"),
        eab_keys=_eab_keys(env.get("PADLOCK_ACME_EAB_KEYS", "")),
        orders_per_hour=int(env.get("PADLOCK_ACME_ORDERS_PER_HOUR", "300")),
        failed_validations_per_hour=int(env.get("PADLOCK_ACME_FAILED_PER_HOUR", "60")),
        validation_wait=float(env.get("PADLOCK_ACME_VALIDATION_WAIT", "0")),
        allow_internal_in_test=services.settings.allow_internal_names_in_test,
        test_clock_offset=services.settings.test_clock_offset,
        insecure_always_valid=_flag(env, INSECURE_ENV),
        insecure_always_valid_trusted=_flag(env, INSECURE_TRUSTED_ENV),
    )


def issuer_domain_names(configured: Sequence[str], caa: Sequence[str]) -> tuple[str, ...]:
    """dns-persist-01's Issuer Domain Names: the configured ones, else the CAA identities
    that are domain names (not IP addresses). Each must be a CAA identity as well
    (draft-ietf-acme-dns-persist-02 section 3.2: every challenge's name is in caaIdentities)."""
    ours = persist.issuer_names(caa)
    names = persist.issuer_names(configured) if configured else ours
    stray = [n for n in names if n not in ours]
    if configured and (stray or not names):
        raise ConfigError(
            f"PADLOCK_ISSUER_DOMAIN_NAMES names {', '.join(stray or configured)}, which is not"
            " a CAA identity of this CA (draft-ietf-acme-dns-persist section 3.2).",
            hint="Add it to PADLOCK_CAA_IDENTITIES too, or leave it out.",
        )
    return names


def insecure_banner(settings: AcmeSettings) -> str | None:
    """The loud warning logged at start when challenges are not checked."""
    if not settings.insecure_always_valid:
        return None
    where = (
        "BOTH directories, the trusted one included"
        if settings.insecure_always_valid_trusted
        else "the TEST directory (/acme/test); the trusted directory still validates"
        f" (set {INSECURE_TRUSTED_ENV}=1 as well to skip it there too)"
    )
    line = "!" * 78
    return (
        f"\n{line}\n!! {INSECURE_ENV}=1: EVERY ACME CHALLENGE IS VALID WITHOUT ANY CHECK in"
        f" {where}.\n!! For tests and benchmarks only. Never run a real CA like this.\n{line}"
    )


@dataclass
class AcmeFront:
    service: AcmeService
    settings: AcmeSettings
    by_prefix: dict[str, Directory]
    inline: bool  # run the service on the event loop (SQLite) or in a thread (PostgreSQL)


def _revoke_via(app: Any) -> Revoke:
    def revoke(serial: int, reason: int, actor: str, now: Any) -> object:
        from padlock.web.revocation_api import revocation_for

        return revocation_for(app).revoker.revoke(serial, reason, actor, now, subscriber=True)

    return revoke


def acme_front(app: Any) -> AcmeFront:
    """This worker's ACME front (made on first use; ``app.state.acme_settings`` overrides env)."""
    found: AcmeFront | None = getattr(app.state, "acme", None)
    if found is not None:
        return found
    with _build_lock:
        again: AcmeFront | None = getattr(app.state, "acme", None)
        if again is not None:
            return again
        from padlock import wiring

        services: Services = app.state.services
        settings: AcmeSettings = getattr(app.state, "acme_settings", None) or settings_from_env(
            os.environ, services
        )
        service = wiring.acme_service(
            services.authority,
            settings,
            services.base_url,
            services.va,
            getattr(app.state, "acme_revoke", None) or _revoke_via(app),
            probes=getattr(app.state, "acme_probes", None),
        )
        banner = insecure_banner(settings)
        if banner:
            log.warning(banner)
        found = AcmeFront(
            service=service,
            settings=settings,
            by_prefix={d.urls.prefix: d for d in service.directories.values()},
            inline=wiring.runs_on_sqlite(services.authority.store),
        )
        app.state.acme = found
        return found


def acme_service(app: Any) -> AcmeService:
    """The ACME use cases of this worker: the review console completes ov orders with
    ``acme_service(request.app).complete_reviewed_order(order_id, organization, reviewer)``."""
    return acme_front(app).service


# --- responses ---------------------------------------------------------------------------------


class Reply:
    __slots__ = ("body", "ctype", "headers", "status")

    def __init__(
        self,
        status: int,
        body: bytes = b"",
        ctype: bytes | None = JSON,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.ctype = ctype
        self.headers = headers or []


def _doc(status: int, doc: Any, headers: list[tuple[bytes, bytes]] | None = None) -> Reply:
    return Reply(status, _json(doc).encode(), JSON, headers)


def _link(url: str, rel: str) -> tuple[bytes, bytes]:
    return (b"link", f'<{url}>;rel="{rel}"'.encode())


def _location(url: str) -> tuple[bytes, bytes]:
    return (b"location", url.encode())


def problem_reply(exc: PadlockError) -> Reply:
    doc = exc.to_problem()
    status = int(doc["status"])
    if isinstance(exc, WrongMediaType):
        status = doc["status"] = 415  # RFC 8555 6.2: malformed, with 415
    if isinstance(exc, MethodNotAllowed):
        status = doc["status"] = 405
    if isinstance(exc, BadSignatureAlgorithm):
        doc["algorithms"] = list(jwslib.ALGORITHMS)  # RFC 8555 6.2
    headers: list[tuple[bytes, bytes]] = []
    retry = getattr(exc, "retry_after", None)
    if retry:
        headers.append((b"retry-after", str(int(retry)).encode()))
    location = getattr(exc, "location", None)
    if location:
        headers.append(_location(location))
    allow = getattr(exc, "allow", None)
    if allow:
        headers.append((b"allow", allow.encode()))
    return Reply(status, _json(doc).encode(), PROBLEM, headers)


class WrongMediaType(Malformed):
    """RFC 8555 6.2: a POST whose Content-Type is not application/jose+json (malformed, 415)."""


class MethodNotAllowed(Malformed):
    """A method the resource does not take: malformed with HTTP 405 and ``Allow`` (RFC 9110
    section 15.5.6); ACME resources other than the directory and newNonce take POST only
    (RFC 8555 section 6.3)."""

    def __init__(self, message: str, allow: str = "POST") -> None:
        super().__init__(message)
        self.allow = allow


# --- the endpoint ------------------------------------------------------------------------------


def _query_value(url: str, name: str) -> str | None:
    from urllib.parse import parse_qs, urlsplit

    values = parse_qs(urlsplit(url).query).get(name)
    return values[0] if values else None


class AcmeEndpoint:
    """Every ``/acme/...`` path; never a response without a nonce, never a bare 500."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = scope["app"]
        front: AcmeFront | None = None
        try:
            front = acme_front(app)
            reply = await self._handle(front, scope, receive)
        except PadlockError as exc:
            reply = problem_reply(exc)
        except Exception:
            log.exception("ACME: unexpected error on %s %s", scope["method"], scope["path"])
            reply = problem_reply(
                PadlockError("The ACME server failed unexpectedly; it is logged.")
            )
        await self._send(front, scope, send, reply)

    async def _send(self, front: AcmeFront | None, scope: Scope, send: Send, reply: Reply) -> None:
        headers = reply.headers
        if reply.ctype is not None:
            headers.append((b"content-type", reply.ctype))
        headers.append((b"content-length", str(len(reply.body)).encode()))
        headers.append((b"cache-control", b"no-store"))
        if front is not None:
            headers.append((b"replay-nonce", front.service.new_nonce().encode()))
            d = self._directory(front, scope["path"])[0]
            if d is not None:
                headers.append(_link(d.urls.directory, "index"))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        body = b"" if scope["method"] == "HEAD" else reply.body
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _directory(front: AcmeFront, path: str) -> tuple[Directory | None, list[str]]:
        rest = path[len("/acme") :].strip("/")
        parts = rest.split("/") if rest else []
        if parts and parts[0] == "test":
            return front.by_prefix.get("/acme/test"), parts[1:]
        return front.by_prefix.get("/acme"), parts

    async def _call(self, front: AcmeFront, fn: Callable[[], Any]) -> Any:
        if front.inline:
            return fn()
        return await anyio.to_thread.run_sync(fn)

    async def _handle(self, front: AcmeFront, scope: Scope, receive: Receive) -> Reply:
        method = scope["method"]
        d, parts = self._directory(front, scope["path"])
        if d is None or not parts:
            raise NotFound("There is no such ACME resource.")
        head = parts[0]
        service = front.service
        # --- unauthenticated GETs ---
        # The directory and newNonce take POST-as-GET as well (RFC 8555 section 6.3): the
        # answer is public, so the JWS is neither read nor checked.
        if head == "directory" and len(parts) == 1:
            if method not in ("GET", "HEAD", "POST"):
                raise MethodNotAllowed("The directory is read with GET.", _READ)
            return _doc(200, m.render_directory(d.urls, front.settings.meta(d)))
        if head == "new-nonce" and len(parts) == 1:
            if method in ("HEAD", "POST"):
                return Reply(200, ctype=None)
            if method == "GET":
                return Reply(204, ctype=None)
            raise MethodNotAllowed("Get a nonce with HEAD or GET.", _READ)
        if head == "terms" and len(parts) == 1:
            return Reply(200, TERMS.encode(), b"text/plain; charset=utf-8")
        if head == "renewal-info" and len(parts) == 2:
            if method not in ("GET", "HEAD"):
                raise MethodNotAllowed(
                    "Renewal information is read with GET (RFC 9773).", "GET, HEAD"
                )
            start, end, retry = service.renewal_info(parts[1])
            return _doc(
                200,
                m.render_renewal_info(start, end),
                [(b"retry-after", str(retry).encode())],
            )
        # --- everything else is a JWS POST ---
        if head not in _POST_RESOURCES:
            raise NotFound("There is no such ACME resource.")
        if method != "POST":
            raise MethodNotAllowed(
                f"ACME resources are read with POST-as-GET (RFC 8555 section 6.3), not {method}."
            )
        ctype = (bodies.header(scope, b"content-type") or b"").split(b";")[0].strip().lower()
        if ctype != JOSE:
            raise WrongMediaType(
                "ACME requests must have Content-Type application/jose+json (RFC 8555 6.2)."
            )
        body = await bodies.read_body(
            receive, MAX_BODY, f"ACME requests are at most {MAX_BODY // 1024} KiB."
        )
        jws = jwslib.parse(body)
        url = d.urls.base + scope["path"]
        query = scope.get("query_string", b"")
        if query:
            url += "?" + query.decode("latin-1")
        try:
            return await self._post(front, d, parts, jws, url)
        except BadNonce:
            raise
        except PadlockError:
            await self._call(front, lambda: service.spend_nonce(jws))
            raise

    async def _post(
        self, front: AcmeFront, d: Directory, parts: list[str], jws: jwslib.JWS, url: str
    ) -> Reply:
        service = front.service
        urls = d.urls
        head, n = parts[0], len(parts)
        call = self._call
        if head == "new-account" and n == 1:
            res = await call(front, lambda: service.new_account(d, jws, url))
            return _doc(
                201 if res.created else 200,
                m.render_account(urls, res.account),
                [_location(urls.account(res.account.id))],
            )
        if head == "new-order" and n == 1:
            order = await call(front, lambda: service.new_order(d, jws, url))
            return _doc(
                201,
                m.render_order(urls, order, service.clock()),
                [_location(urls.order(order.id))],
            )
        if head == "acct" and n == 2:
            account = await call(front, lambda: service.account(d, jws, url, parts[1]))
            return _doc(200, m.render_account(urls, account), [_location(urls.account(account.id))])
        if head == "acct" and n == 3 and parts[2] == "orders":
            cursor = _query_value(url, "after")
            ids, nxt = await call(front, lambda: service.orders_of(d, jws, url, parts[1], cursor))
            headers = [_link(f"{urls.orders(parts[1])}?after={nxt}", "next")] if nxt else []
            return _doc(200, {"orders": [urls.order(i) for i in ids]}, headers)
        if head == "order" and n == 2:
            order = await call(front, lambda: service.order(d, jws, url, parts[1]))
            return self._order_reply(front, urls, order)
        if head == "order" and n == 3 and parts[2] == "finalize":
            order = await call(front, lambda: service.finalize(d, jws, url, parts[1]))
            return self._order_reply(front, urls, order)
        if head == "authz" and n == 2:
            authz = await call(front, lambda: service.authorization(d, jws, url, parts[1]))
            names = front.settings.issuer_domain_names
            return _doc(200, m.render_authz(urls, authz, service.clock(), names))
        if head == "chall" and n == 2:
            return await self._challenge(front, d, jws, url, parts[1])
        if head == "cert" and n in (2, 3):
            alternate = 0
            if n == 3:
                if not parts[2].isdigit():
                    raise NotFound("There is no such certificate chain.")
                alternate = int(parts[2])
            serial_hex = parts[1].lower()
            if not serial_hex or any(c not in "0123456789abcdef" for c in serial_hex):
                raise NotFound("There is no such certificate.")
            res = await call(front, lambda: service.certificate(d, jws, url, serial_hex, alternate))
            headers = [_link(urls.certificate(serial_hex, i), "alternate") for i in res.alternates]
            return Reply(200, res.issued.fullchain_pem, PEM_CHAIN, headers)
        if head == "revoke-cert" and n == 1:
            await call(front, lambda: service.revoke(d, jws, url))
            return Reply(200, ctype=None)
        if head == "key-change" and n == 1:
            account = await call(front, lambda: service.key_change(d, jws, url))
            return _doc(200, m.render_account(urls, account), [_location(urls.account(account.id))])
        raise NotFound("There is no such ACME resource.")

    @staticmethod
    def _order_reply(front: AcmeFront, urls: m.Urls, order: m.Order) -> Reply:
        headers = [_location(urls.order(order.id))]
        if order.status == m.PROCESSING:
            headers.append((b"retry-after", str(front.settings.review_retry_after).encode()))
        return _doc(200, m.render_order(urls, order, front.service.clock()), headers)

    async def _challenge(
        self, front: AcmeFront, d: Directory, jws: jwslib.JWS, url: str, challenge_id: str
    ) -> Reply:
        service = front.service
        res = await self._call(front, lambda: service.challenge(d, jws, url, challenge_id))
        challenge = res.challenge
        if res.started is not None and front.settings.validation_wait > 0:
            try:
                # shield: a timeout must not cancel a validation that has not started yet
                challenge = await asyncio.wait_for(
                    asyncio.shield(asyncio.wrap_future(res.started)),
                    timeout=front.settings.validation_wait,
                )
            except TimeoutError:
                pass  # still running: the client polls the authorization
            except PadlockError as exc:  # pragma: no cover - validate() stores its failures
                log.warning("validation of %s failed: %s", challenge_id, exc)
        headers = [_link(d.urls.authz(res.authz.id), "up")]
        if challenge.status == m.PROCESSING:
            headers.append((b"retry-after", b"1"))
        doc = m.render_challenge(d.urls, challenge, front.settings.issuer_domain_names)
        return _doc(200, doc, headers)


_READ = "GET, HEAD, POST"
_POST_RESOURCES = frozenset(
    {
        "new-account",
        "new-order",
        "revoke-cert",
        "key-change",
        "acct",
        "order",
        "authz",
        "chall",
        "cert",
    }
)
_endpoint = AcmeEndpoint()
_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"]
router.routes.append(Route("/acme/{rest:path}", endpoint=_endpoint, methods=_METHODS))
