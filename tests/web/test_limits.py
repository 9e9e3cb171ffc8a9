"""Hostile bodies on every POST/PUT/PATCH endpoint: a clear 4xx, never a 500.

The endpoints are enumerated from the app's own routes (plus the ACME and OCSP paths the
fast path serves), so a new endpoint is covered without this file changing. The app runs
with its lifespan, as ``padlock serve`` runs it: the fast path is installed.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Route

from padlock import bodies
from padlock.ca.reviewers import Reviewers
from padlock.config import Settings
from padlock.store.review import SqlReviewerStore
from padlock.web.app import FRONT_ENDS, create_app, ensure_authority
from tests.web.conftest import make_csr

PASSPHRASE = "hostile bodies pass phrase"
BASE = "http://ca.example.com"
REVIEWER_PASSWORD = "correct horse battery staple"
DEEP = 30_000

# ACME's JWS resources (the catch-all route /acme/{rest:path} serves them), both directories.
ACME_POSTS = tuple(
    f"{prefix}/{resource}"
    for prefix in ("/acme", "/acme/test")
    for resource in ("new-account", "new-order", "revoke-cert", "key-change", "acct/x", "order/x")
)


@dataclass(frozen=True)
class Hostile:
    name: str
    body: bytes
    ctype: str | None  # None: the endpoint's own kind of body (JSON, JOSE, form, OCSP)


def _hostile() -> list[Hostile]:
    return [
        Hostile("deep-arrays", b"[" * DEEP, None),
        Hostile("deep-objects", b'{"a":' * DEEP, None),
        Hostile("deep-closed", b"[" * DEEP + b"]" * DEEP, None),
        Hostile("deep-in-member", b'{"payload":' + b"[" * DEEP + b"]" * DEEP + b"}", None),
        Hostile("huge", b'{"csr":"' + b"A" * (bodies.MAX_BODY + 10) + b'"}', None),
        Hostile("invalid-utf8", b'{"csr":"\xff\xfe\xc3","kind":"test"}', None),
        Hostile("utf16", '{"kind":"test"}'.encode("utf-16"), None),
        Hostile("nan", b'{"reason":NaN,"kind":Infinity}', None),
        Hostile("duplicate-keys", b'{"kind":"test","kind":"dv","reason":1,"reason":2}', None),
        Hostile("truncated", b'{"csr":"abc', None),
        Hostile("empty", b"", None),
        Hostile("nul", b"\x00\x00\x00", None),
        Hostile("big-number", b'{"reason":' + b"9" * 5000 + b"}", None),
        Hostile("wrong-type", b'{"kind":"test"}', "text/plain"),
        Hostile(
            "form-bad-utf8",
            b"csrf=%ff%fe&name=\xff\xfe&password=x",
            "application/x-www-form-urlencoded",
        ),
        Hostile("multipart-garbage", b"--x\r\nnot a part\r\n", "multipart/form-data; boundary=x"),
        Hostile("multipart-no-boundary", b"--x--\r\n", "multipart/form-data"),
    ]


def _own_type(path: str) -> str:
    if path.startswith("/acme/"):
        return "application/jose+json"
    if path.startswith("/ocsp/"):
        return "application/ocsp-request"
    if path.startswith("/api/"):
        return "application/json"
    return "application/x-www-form-urlencoded"


@dataclass
class Harness:
    client: TestClient
    posts: list[str]


def _routes(app: FastAPI) -> list[BaseRoute]:
    """The app's own routes and every front end's (FastAPI keeps included routers apart)."""
    found = [r for r in app.router.routes if isinstance(r, APIRoute | Route)]
    for name in FRONT_ENDS:
        found += importlib.import_module(name).router.routes
    return found


def _post_paths(app: FastAPI, values: dict[str, str]) -> list[str]:
    """Every POST/PUT/PATCH path the app routes, its parameters filled with real values."""
    paths: list[str] = []
    for route in _routes(app):
        assert isinstance(route, APIRoute | Route), route
        if "{rest:path}" in route.path:
            continue
        for method in sorted((route.methods or set()) & {"POST", "PUT", "PATCH"}):
            assert method == "POST", f"{method} {route.path}: add it to the requests below"
            paths.append(re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values[m.group(1)], route.path))
    return sorted(set(paths)) + list(ACME_POSTS)


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    data_dir = tmp_path_factory.mktemp("hostile")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PADLOCK_CA_PASSPHRASE", PASSPHRASE)
        settings = Settings(data_dir=data_dir, base_url=BASE)
        ensure_authority(settings)
        app = create_app(settings, PASSPHRASE.encode())
        with TestClient(app, base_url=BASE, follow_redirects=False) as client:
            _key, csr = make_csr(["hostile.example.com"])
            made = client.post(
                "/api/v1/requests", json={"csr": csr, "kind": "test", "contact": "a@example.com"}
            )
            assert made.status_code == 201, made.text
            doc = made.json()
            store = app.state.services.authority.store
            Reviewers(SqlReviewerStore(store)).add("hostile", REVIEWER_PASSWORD, "admin")
            page = client.get("/review/login")
            token = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert token is not None
            login = client.post(
                "/review/login",
                data={"csrf": token.group(1), "name": "hostile", "password": REVIEWER_PASSWORD},
            )
            assert login.status_code == 303, login.text
            values = {
                "request_id": doc["id"],
                "serial": doc["certificate"]["serial"],
                "name": "hostile",
                "issuer": "test-issuing",
            }
            yield Harness(client, _post_paths(app, values))


def test_limits_cover_every_post_route(harness: Harness) -> None:
    """The enumeration finds the endpoints people know of (and so every other one)."""
    for known in ("/api/v1/requests", "/api/v1/revoke", "/test", "/review/login", "/csr/preview"):
        assert known in harness.posts
    assert any(p.startswith("/ocsp/") for p in harness.posts)
    assert any(p.startswith("/review/reviewers/") for p in harness.posts)


@pytest.mark.parametrize("hostile", _hostile(), ids=lambda h: h.name)
def test_limits_hostile_body_is_a_clear_refusal(harness: Harness, hostile: Hostile) -> None:
    failures = []
    for path in harness.posts:
        ctype = hostile.ctype or _own_type(path)
        reply = harness.client.post(path, content=hostile.body, headers={"content-type": ctype})
        got = reply.headers.get("content-type", "")
        if reply.status_code >= 500:
            failures.append(f"{path}: {reply.status_code} {reply.text[:200]}")
        elif path.startswith(("/api/", "/acme/")) and reply.status_code >= 400:
            doc = reply.json()
            if got != "application/problem+json" or doc.get("status") != reply.status_code:
                failures.append(f"{path}: not a problem document: {got} {reply.text[:200]}")
        elif path.startswith("/ocsp/") and got != "application/ocsp-response":
            failures.append(f"{path}: not an OCSP answer: {got}")
    assert not failures, "\n".join(failures)


def test_limits_huge_chunked_body_refused_while_read(harness: Harness) -> None:
    """No Content-Length (chunked): the body is refused once it passes the limit."""

    def chunks() -> Iterator[bytes]:
        yield b'{"csr":"'
        for _ in range(bodies.MAX_BODY // 4096 + 2):
            yield b"A" * 4096

    for path in ("/api/v1/requests", "/acme/new-order", "/csr/preview", "/review/login"):
        reply = harness.client.post(
            path, content=chunks(), headers={"content-type": _own_type(path)}
        )
        assert reply.status_code in (413, 415), (path, reply.status_code, reply.text[:200])


def test_limits_deep_json_names_the_limit(harness: Harness) -> None:
    reply = harness.client.post(
        "/api/v1/requests", content=b"[" * DEEP, headers={"content-type": "application/json"}
    )
    assert reply.status_code == 400
    assert f"deeper than {bodies.MAX_DEPTH}" in reply.json()["detail"]
