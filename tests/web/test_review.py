"""The review console over HTTP against a real ``padlock serve``: login everywhere, passwords,
throttling, CSRF, cookies, roles; approve issues OV with the verified fields, reject records
the reason, documents only behind login, revocation; every action an audit event; the CLI."""

from __future__ import annotations

import html
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from fastapi.routing import APIRoute

from padlock.ca.reviewers import LoginPolicy
from padlock.pki import serials
from padlock.store import open_store
from padlock.web import review
from tests.conftest import PADLOCK_BIN
from tests.support.httpfiles import FileServer
from tests.web.conftest import PadlockServer, make_csr, server_enrollment, start_padlock_server

PASSWORD = "correct horse battery staple"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
ID_SHAPE = "A" * 32


def _text(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "no CSRF field in the page"
    return found.group(1)


def padlock_cli(server: PadlockServer, *args: str, input_text: str | None = None) -> str:
    done = subprocess.run(
        [str(PADLOCK_BIN), *args, "--data-dir", str(server.data_dir)],
        env=server.env,
        capture_output=True,
        text=True,
        input=input_text,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def accounts(padlock_server: PadlockServer, tmp_path_factory: pytest.TempPathFactory) -> None:
    secret = tmp_path_factory.mktemp("pw") / "password"
    secret.write_text(PASSWORD + "\n")
    for name, role, display in (
        ("alice", "reviewer", "Alice Liddell"),
        ("bob", "reviewer", "Bob Builder"),
        ("root", "admin", "Root Admin"),
        ("throttled", "reviewer", "Throttle Test"),
    ):
        out = padlock_cli(
            padlock_server,
            "review",
            "add-user",
            name,
            "--role",
            role,
            "--display-name",
            display,
            "--email",
            f"{name}@ca.padlock.example",
            "--password-file",
            str(secret),
        )
        assert f"Added {role} {name!r}" in out


@dataclass
class Console:
    client: httpx.Client
    name: str = ""

    def login(self, name: str, password: str = PASSWORD) -> httpx.Response:
        page = self.client.get("/review/login")
        response = self.client.post(
            "/review/login",
            data={"csrf": _csrf(page.text), "name": name, "password": password, "next": "/review"},
        )
        if response.status_code == 303:
            self.name = name
        return response

    def csrf(self) -> str:
        return _csrf(self.client.get("/review").text)

    def post(self, path: str, data: dict[str, str] | None = None) -> httpx.Response:
        return self.client.post(path, data={"csrf": self.csrf(), **(data or {})})


@pytest.fixture
def console(padlock_server: PadlockServer, accounts: None) -> Iterator[Console]:
    with padlock_server.client(follow_redirects=False) as client:
        yield Console(client)


def _logged_in(server: PadlockServer, name: str) -> Console:
    c = Console(server.client(follow_redirects=False))
    assert c.login(name).status_code == 303
    return c


def _ov_in_review(server: PadlockServer, web: FileServer, name: str) -> str:
    """An ov request sent through the portal, its name proven, one document: in review."""
    _key, csr = make_csr((name,))
    with server.client(follow_redirects=False) as client:
        sent = client.post(
            "/trusted",
            data={
                "csr": csr,
                "contact": "owner@example.com",
                "kind": "ov",
                "organization": "Widgets",
                "locality": "Dallas",
                "state": "Texas",
                "country": "US",
                "action": "submit",
            },
        )
        assert sent.status_code == 303, sent.text
        request_id = sent.headers["location"].rsplit("/", 1)[1]
        with server_enrollment(server) as svc:
            challenge = svc.get(request_id).challenges[0]
        web.files[challenge.http_path] = challenge.token.encode()
        try:
            assert client.post(f"/status/{request_id}/check").status_code == 303
        finally:
            del web.files[challenge.http_path]
        uploaded = client.post(
            f"/status/{request_id}/documents",
            files={"document": ("registration.pdf", PDF, "application/pdf")},
        )
        assert uploaded.status_code == 303
    with server_enrollment(server) as svc:
        assert svc.get(request_id).state.value == "in_review"
    return request_id


def _audit(server: PadlockServer) -> list[tuple[str, str, str]]:
    store = open_store(f"sqlite:///{server.data_dir / 'padlock.db'}")
    try:
        return [(e.action, e.actor, e.object_id) for e in store.iter_events()]
    finally:
        store.close()


# --------------------------------------------------------------------------- login everywhere


def _console_routes() -> list[tuple[str, str]]:
    fill = {
        "request_id": ID_SHAPE,
        "document_id": "doc",
        "serial": "abcdef",
        "name": "alice",
    }
    out = []
    for route in review.router.routes:
        assert isinstance(route, APIRoute)
        if route.path.startswith("/review/login"):
            continue  # the one public page
        path = re.sub(r"\{(\w+)\}", lambda m: fill[m.group(1)], route.path)
        out += [(method, path) for method in sorted(route.methods)]
    return out


CONSOLE_ROUTES = _console_routes()


def test_console_routes_are_all_covered() -> None:
    paths = {p for _m, p in CONSOLE_ROUTES}
    assert f"/review/requests/{ID_SHAPE}/documents/doc" in paths
    assert "/review/certificates/abcdef/revoke" in paths
    assert ("POST", f"/review/requests/{ID_SHAPE}/approve") in CONSOLE_ROUTES


@pytest.mark.parametrize(("method", "path"), CONSOLE_ROUTES)
def test_console_refuses_without_login(
    padlock_server: PadlockServer, method: str, path: str
) -> None:
    with padlock_server.client(follow_redirects=False) as client:
        response = client.request(method, path, data={"csrf": "x"} if method == "POST" else None)
    if method == "GET":
        assert response.status_code == 303
        assert response.headers["location"].startswith("/review/login?next=")
    else:
        assert response.status_code == 401
        assert "not logged in" in _text(response.text)
    assert "set-cookie" not in response.headers or "padlock_review=" not in response.headers.get(
        "set-cookie", ""
    )


@pytest.mark.parametrize(
    "path", [p for m, p in CONSOLE_ROUTES if m == "POST"], ids=lambda p: p.split("/", 2)[2]
)
def test_console_post_refuses_without_csrf_token(
    padlock_server: PadlockServer, accounts: None, path: str
) -> None:
    admin = _logged_in(padlock_server, "root")  # an admin: no route refuses for the role
    try:
        for data in ({}, {"csrf": ""}, {"csrf": "A" * 43}):
            response = admin.client.post(path, data=data)
            assert response.status_code == 403, (path, data)
            assert "security token" in _text(response.text)
        assert admin.client.get("/review").status_code == 200  # still logged in
    finally:
        admin.client.close()


def test_console_refuses_a_forged_session_cookie(padlock_server: PadlockServer) -> None:
    with padlock_server.client(
        follow_redirects=False, cookies={review.SESSION_COOKIE: "A" * 43}
    ) as client:
        assert client.get("/review").status_code == 303
        assert client.post(f"/review/requests/{ID_SHAPE}/reject", data={}).status_code == 401


# --------------------------------------------------------------------------- passwords


def test_login_wrong_password_refused(console: Console) -> None:
    response = console.login("alice", "not the password")
    assert response.status_code == 401
    assert "The login name or the password is wrong." in _text(response.text)
    assert review.SESSION_COOKIE not in response.cookies
    unknown = console.login("nobody-here", "not the password")
    assert unknown.status_code == 401
    assert "The login name or the password is wrong." in _text(unknown.text)


def test_login_throttled_after_failures(console: Console, padlock_server: PadlockServer) -> None:
    codes = [console.login("throttled", "wrong wrong wrong").status_code for _ in range(5)]
    assert codes == [401] * 5
    locked = console.login("throttled", PASSWORD)  # even the right password, while locked
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0
    assert "logins are paused" in _text(locked.text)
    # Another account is not affected.
    assert console.login("alice").status_code == 303


def test_login_throttled_per_address_across_names(tmp_path: Path) -> None:
    """Many names from one address: the address is paused, even for a right password."""
    server = start_padlock_server(tmp_path)
    try:
        secret = tmp_path / "password"
        secret.write_text(PASSWORD + "\n")
        padlock_cli(server, "review", "add-user", "carol", "--password-file", str(secret))
        with server.client(follow_redirects=False) as client:
            console = Console(client)
            limit = LoginPolicy().max_failures_per_address
            # A different name each time: no name reaches its own limit of five.
            codes = {
                console.login(f"guess{i}", "wrong wrong wrong").status_code for i in range(limit)
            }
            assert codes == {401}
            paused = console.login("carol", PASSWORD)
            assert paused.status_code == 429
            assert int(paused.headers["retry-after"]) > 0
            assert "from your address" in _text(paused.text)
        events = [e for e in _audit(server) if e[0] == "reviewer.login_failures_counted"]
        assert len(events) == limit and {e[2] for e in events} == {"@127.0.0.1"}
    finally:
        server.stop()


def test_login_sets_safe_cookie_and_logout_ends_it(console: Console) -> None:
    response = console.login("alice")
    assert response.status_code == 303 and response.headers["location"] == "/review"
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("padlock_review=")
    )
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags and "samesite=strict" in flags and "path=/review" in flags
    assert "secure" not in flags  # served over plain http here
    token = cookie.split(";")[0].split("=", 1)[1]
    assert len(token) >= 43
    assert console.client.get("/review").status_code == 200
    out = console.post("/review/logout")
    assert out.status_code == 303
    # The old token no longer opens anything, even if a copy was kept.
    with httpx.Client(
        base_url=str(console.client.base_url), cookies={review.SESSION_COOKIE: token}
    ) as stale:
        assert stale.get("/review", follow_redirects=False).status_code == 303


def test_login_needs_its_form_token(padlock_server: PadlockServer, accounts: None) -> None:
    with padlock_server.client(follow_redirects=False) as client:
        response = client.post(
            "/review/login", data={"name": "alice", "password": PASSWORD, "csrf": "made-up"}
        )
    assert response.status_code == 403
    assert review.SESSION_COOKIE not in response.cookies


def test_login_next_is_never_another_site(console: Console) -> None:
    page = console.client.get("/review/login", params={"next": "https://evil.example/x"})
    assert 'name="next" value="/review"' in page.text
    response = console.client.post(
        "/review/login",
        data={
            "csrf": _csrf(page.text),
            "name": "alice",
            "password": PASSWORD,
            "next": "//evil.example/review",
        },
    )
    assert response.headers["location"] == "/review"


def test_secure_cookie_when_served_over_https(
    tmp_path: Path, padlock_server: PadlockServer, accounts: None
) -> None:
    server = start_padlock_server(tmp_path, extra_env={"PADLOCK_BASE_URL": "https://ca.example"})
    try:
        secret = tmp_path / "pw"
        secret.write_text(PASSWORD)
        padlock_cli(server, "review", "add-user", "carol", "--password-file", str(secret))
        with server.client(follow_redirects=False) as client:
            page = client.get("/review/login")
            assert "secure" in page.headers["set-cookie"].lower()
            # A client keeps a Secure cookie for https only; hand it over as the proxy would.
            login_cookie = page.headers["set-cookie"].split(";")[0]
            client.cookies.clear()
            response = client.post(
                "/review/login",
                data={"csrf": _csrf(page.text), "name": "carol", "password": PASSWORD},
                headers={"Origin": "https://ca.example", "Cookie": login_cookie},
            )
        assert response.status_code == 303
        cookie = next(
            c for c in response.headers.get_list("set-cookie") if c.startswith("padlock_review=")
        )
        assert "secure" in [p.strip().lower() for p in cookie.split(";")]
    finally:
        server.stop()


# --------------------------------------------------------------------------- CSRF and origin


def test_csrf_missing_token_refused(
    console: Console, padlock_server: PadlockServer, va_web: FileServer
) -> None:
    request_id = _ov_in_review(padlock_server, va_web, "csrf-missing.example.com")
    console.login("alice")
    response = console.client.post(f"/review/requests/{request_id}/assign", data={})
    assert response.status_code == 403
    assert "security token" in _text(response.text)
    with server_enrollment(padlock_server) as svc:
        assert svc.get(request_id).reviewer is None


def test_csrf_token_of_another_session_refused(
    console: Console, padlock_server: PadlockServer, va_web: FileServer
) -> None:
    request_id = _ov_in_review(padlock_server, va_web, "csrf-other.example.com")
    other = _logged_in(padlock_server, "bob")
    foreign_token = other.csrf()
    console.login("alice")
    assert console.csrf() != foreign_token
    response = console.client.post(
        f"/review/requests/{request_id}/reject", data={"csrf": foreign_token, "reason": "no"}
    )
    assert response.status_code == 403
    with server_enrollment(padlock_server) as svc:
        assert svc.get(request_id).state.value == "in_review"
    other.client.close()


def test_post_from_another_origin_refused(
    console: Console, padlock_server: PadlockServer, va_web: FileServer
) -> None:
    request_id = _ov_in_review(padlock_server, va_web, "csrf-origin.example.com")
    console.login("alice")
    token = console.csrf()
    for header in ({"Origin": "http://evil.example"}, {"Referer": "http://evil.example/page"}):
        response = console.client.post(
            f"/review/requests/{request_id}/assign", data={"csrf": token}, headers=header
        )
        assert response.status_code == 403, header
    ok = console.client.post(
        f"/review/requests/{request_id}/assign",
        data={"csrf": token},
        headers={"Origin": padlock_server.url},
    )
    assert ok.status_code == 303


# --------------------------------------------------------------------------- roles


def test_reviewer_cannot_use_admin_pages(console: Console) -> None:
    console.login("alice")
    assert console.client.get("/review/reviewers").status_code == 403
    assert console.client.get("/review/certificates").status_code == 403
    response = console.post(
        "/review/reviewers", {"name": "mallory", "password": PASSWORD, "role": "admin"}
    )
    assert response.status_code == 403
    assert console.post("/review/certificates/abcdef/revoke", {"confirm": "yes"}).status_code == 403


# --------------------------------------------------------------------------- the work


def test_queue_request_page_documents_assign_approve(
    console: Console, padlock_server: PadlockServer, va_web: FileServer
) -> None:
    request_id = _ov_in_review(padlock_server, va_web, "www.widgets.example.com")
    console.login("alice")
    queue = console.client.get("/review")
    assert queue.status_code == 200
    assert f'href="/review/requests/{request_id}"' in queue.text
    assert queue.headers["cache-control"] == "no-store"

    page = console.client.get(f"/review/requests/{request_id}")
    text = _text(page.text)
    assert "www.widgets.example.com" in text and "ECDSA P-256" in text
    assert "Claims to be Widgets, Dallas, Texas, US" in text
    assert "HTTP" in text and "ok" in text  # the domain evidence
    # with the DNSSEC verdict of the address lookup (the loopback DNS server signs nothing)
    assert "dnssec insecure" in text
    doc_link = re.search(rf'href="(/review/requests/{request_id}/documents/[^"]+)"', page.text)
    assert doc_link is not None

    # Documents: only through the console, only with a session.
    with padlock_server.client(follow_redirects=False) as anonymous:
        assert anonymous.get(doc_link.group(1)).status_code == 303
    download = console.client.get(doc_link.group(1))
    assert download.status_code == 200 and download.content == PDF
    assert download.headers["content-disposition"].startswith("attachment")
    assert "sandbox" in download.headers["content-security-policy"]

    assert console.post(f"/review/requests/{request_id}/assign").status_code == 303
    status = _text(padlock_server.client().get(f"/status/{request_id}").text)
    assert "Contact person Alice Liddell alice@ca.padlock.example" in status

    # The form is prefilled with the claim; the reviewer enters what was verified.
    page = console.client.get(f"/review/requests/{request_id}").text
    assert 'name="organization" value="Widgets"' in page
    unticked = console.post(
        f"/review/requests/{request_id}/approve",
        {"organization": "Widgets Inc.", "locality": "Dallas", "state": "Texas", "country": "US"},
    )
    assert unticked.status_code == 400  # "I checked these details" is required
    approved = console.post(
        f"/review/requests/{request_id}/approve",
        {
            "organization": "Widgets Inc.",
            "locality": "Dallas",
            "state": "Texas",
            "country": "US",
            "verified": "yes",
        },
    )
    assert approved.status_code == 303
    assert "Approved." in _text(console.client.get(approved.headers["location"]).text)

    pem = padlock_server.client().get(f"/status/{request_id}/certificate.pem")
    assert pem.status_code == 200
    subject = x509.load_pem_x509_certificate(pem.content).subject
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Widgets Inc."
    assert subject.get_attributes_for_oid(NameOID.LOCALITY_NAME)[0].value == "Dallas"
    assert subject.get_attributes_for_oid(NameOID.STATE_OR_PROVINCE_NAME)[0].value == "Texas"
    assert subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "US"
    assert "Your certificate is issued." in _text(
        padlock_server.client().get(f"/status/{request_id}").text
    )

    events = _audit(padlock_server)
    mine = [(a, who) for a, who, obj in events if obj == request_id]
    assert ("request.document_viewed", "reviewer:alice") in mine
    assert any(a.endswith("assigned") and who == "reviewer:alice" for a, who in mine)
    assert any(a.endswith("approved") and who == "reviewer:alice" for a, who in mine)
    assert ("reviewer.login", "reviewer:alice", "alice") in events


def test_reject_records_reason(
    console: Console, padlock_server: PadlockServer, va_web: FileServer
) -> None:
    request_id = _ov_in_review(padlock_server, va_web, "rejected.example.com")
    console.login("bob")
    empty = console.post(f"/review/requests/{request_id}/reject", {"reason": "   "})
    assert empty.status_code == 400
    reason = "The registration certificate names another company."
    assert (
        console.post(f"/review/requests/{request_id}/reject", {"reason": reason}).status_code == 303
    )
    status = _text(padlock_server.client().get(f"/status/{request_id}").text)
    assert "The request was rejected." in status and f"Reason: {reason}" in status
    assert "Bob Builder" in status  # the reviewer who rejected became the contact person
    with server_enrollment(padlock_server) as svc:
        req = svc.get(request_id)
    assert req.state.value == "rejected" and req.rejection_reason == reason
    assert any(
        obj == request_id and a.endswith("rejected") and who == "reviewer:bob"
        for a, who, obj in _audit(padlock_server)
    )


def test_admin_adds_reviewer_and_revokes(console: Console, padlock_server: PadlockServer) -> None:
    console.login("root")
    added = console.post(
        "/review/reviewers",
        {
            "name": "dora",
            "password": PASSWORD,
            "role": "reviewer",
            "display_name": "Dora Explorer",
            "email": "dora@ca.padlock.example",
        },
    )
    assert added.status_code == 303
    assert "Dora Explorer" in console.client.get("/review/reviewers").text
    short = console.post("/review/reviewers", {"name": "eve", "password": "short"})
    assert short.status_code == 400 and "too short" in _text(short.text)
    assert console.post("/review/reviewers/dora", {"action": "disable"}).status_code == 303
    dora = Console(padlock_server.client(follow_redirects=False))
    assert dora.login("dora").status_code == 401
    self_demote = console.post("/review/reviewers/root", {"action": "role", "role": "reviewer"})
    assert self_demote.status_code == 400

    # Revoke a test certificate from the certificates page; the status page shows it.
    _key, csr = make_csr(("revoke-me.example.com",))
    with padlock_server.client(follow_redirects=False) as web:
        sent = web.post("/test", data={"csr": csr, "contact": "a@example.com", "action": "submit"})
        request_id = sent.headers["location"].split("/")[2]
        serial = format(
            x509.load_pem_x509_certificate(
                web.get(f"/status/{request_id}/certificate.pem").content
            ).serial_number,
            "x",
        )
    found = console.client.get("/review/certificates", params={"serial": serial})
    assert "revoke-me.example.com" in found.text and 'id="revoke-button"' in found.text
    shown = serials.display(int(serial, 16))
    assert f'<span class="mono">{shown}</span>' in found.text  # as openssl x509 -serial shows it
    colons = ":".join(shown[i : i + 2] for i in range(0, len(shown), 2)).lower()  # -text's form
    by_colons = console.client.get("/review/certificates", params={"serial": colons})
    assert "revoke-me.example.com" in by_colons.text
    unconfirmed = console.post(f"/review/certificates/{serial}/revoke", {"reason": "superseded"})
    assert unconfirmed.status_code == 400
    revoked = console.post(
        f"/review/certificates/{serial}/revoke", {"reason": "superseded", "confirm": "yes"}
    )
    assert revoked.status_code == 303
    status = _text(padlock_server.client().get(f"/status/{request_id}").text)
    assert "The certificate was revoked on" in status and "(superseded)" in status
    events = _audit(padlock_server)
    assert ("certificate.revoked", "reviewer:root", serial) in events
    assert ("reviewer.added", "reviewer:root", "dora") in events
    assert ("reviewer.changed", "reviewer:root", "dora") in events
    assert any(a == "reviewer.login_failed" and obj == "dora" for a, _w, obj in events)


# --------------------------------------------------------------------------- the CLI


def test_cli_list_approve_reject(
    padlock_server: PadlockServer, va_web: FileServer, accounts: None
) -> None:
    import json

    first = _ov_in_review(padlock_server, va_web, "cli-approve.example.com")
    second = _ov_in_review(padlock_server, va_web, "cli-reject.example.com")
    listed = json.loads(_stdout(padlock_server, "review", "list", "--json"))
    ids = {row["id"] for row in listed}
    assert {first, second} <= ids
    row = next(r for r in listed if r["id"] == first)
    assert row["organization"]["organization"] == "Widgets" and row["documents"] == 1

    approved = json.loads(
        _stdout(
            padlock_server,
            "review",
            "approve",
            first,
            "--org",
            "Widgets Inc.",
            "--country",
            "US",
            "--locality",
            "Dallas",
            "--reviewer",
            "alice",
            "--json",
        )
    )
    assert approved["state"] == "issued" and approved["certificate_serial"]
    rejected = json.loads(
        _stdout(padlock_server, "review", "reject", second, "--reason", "No documents.", "--json")
    )
    assert rejected["state"] == "rejected" and rejected["rejection_reason"] == "No documents."
    events = _audit(padlock_server)
    assert any(
        o == first and a.endswith("approved") and w == "reviewer:alice" for a, w, o in events
    )
    assert any(o == second and a.endswith("rejected") and w == "reviewer:cli" for a, w, o in events)
    table = padlock_cli(padlock_server, "review", "list")
    assert first not in table and second not in table


def _stdout(server: PadlockServer, *args: str) -> str:
    done = subprocess.run(
        [str(PADLOCK_BIN), *args, "--data-dir", str(server.data_dir)],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_cli_add_user_refuses_without_password(padlock_server: PadlockServer) -> None:
    done = subprocess.run(
        [str(PADLOCK_BIN), "review", "add-user", "zed", "--data-dir", str(padlock_server.data_dir)],
        env=padlock_server.env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "--password-file" in done.stderr
