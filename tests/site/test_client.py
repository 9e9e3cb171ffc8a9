"""``padlock.site.client``: the REST and ACME clients against a real ``padlock serve``, the
translation of every library's errors at this border, Retry-After, and the two ways of
answering the HTTP check."""

from __future__ import annotations

import datetime as dt
import email.utils
import ipaddress
import json
import os
import socket
import ssl
import stat
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.support.dnsserver import TestDNS
from tests.support.ports import free_port
from tests.web.conftest import PadlockServer, make_csr, start_padlock_server

from padlock.errors import (
    BadCSR,
    CAError,
    CAUnreachable,
    ConfigError,
    Malformed,
    NotFound,
    PolicyError,
    RejectedIdentifier,
)
from padlock.site import client
from padlock.site.client import (
    ACME_CHALLENGE_PATH,
    ACME_DIRECTORY_HINT,
    CA_URL_HINT,
    REQUEST_ID_HINT,
    AcmeClient,
    RestClient,
    Standalone,
    Trust,
    Webroot,
)

# --------------------------------------------------------------------------- a CA


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PadlockServer, int]]:
    """A padlock serve whose validation fetches HTTP checks from a free port (our listener)."""
    dns = TestDNS().start()
    va_port = free_port()
    server = start_padlock_server(
        tmp_path_factory.mktemp("client-ca"),
        dns=dns,
        extra_env={"PADLOCK_VA_HTTP_PORT": str(va_port)},
    )
    try:
        yield server, va_port
    finally:
        server.stop()
        dns.stop()


# --------------------------------------------------------------------------- small parts


@pytest.mark.parametrize("url", ["ftp://ca.example.com", "ca.example.com", "", "https://"])
def test_ca_url_invalid(url: str) -> None:
    with pytest.raises(ConfigError, match="is not an http:// or https:// URL"):
        client.check_ca_url(url)


def test_ca_url_trailing_slash_dropped() -> None:
    assert client.check_ca_url(" https://ca.example.com/ ") == "https://ca.example.com"


def test_retry_after_forms() -> None:
    now = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)
    later = email.utils.format_datetime(now + dt.timedelta(seconds=42), usegmt=True)
    assert client.retry_after_seconds("7", 1.0) == 7.0
    assert client.retry_after_seconds(later, 1.0, now=now) == 42.0
    assert client.retry_after_seconds(None, 3.0) == 3.0
    assert client.retry_after_seconds("soon", 3.0) == 3.0
    assert client.retry_after_seconds("86400", 1.0) == client.MAX_RETRY_AFTER
    assert client.retry_after_seconds("86400", 1.0, cap=float("inf")) == 86400.0
    past = email.utils.format_datetime(now - dt.timedelta(hours=1), usegmt=True)
    assert client.retry_after_seconds(past, 5.0, now=now) == 0.0


def test_problem_types_become_our_errors() -> None:
    doc = {
        "type": "urn:ietf:params:acme:error:rejectedIdentifier",
        "detail": "intranet.corp is an internal name",
    }
    err = client.error_from_problem(doc, 400, "the request", "http://ca")
    assert isinstance(err, RejectedIdentifier)
    assert err.message == "The CA refused the request: intranet.corp is an internal name."
    found = client.error_from_problem(
        {"type": "urn:padlock:error:notFound", "detail": "No such request."}, 404, "x", "u"
    )
    assert isinstance(found, NotFound)
    # The CA's own failures are the CA's, whatever type they carry.
    inner = client.error_from_problem(
        {"type": "urn:ietf:params:acme:error:serverInternal", "detail": "boom"}, 500, "x", "u"
    )
    assert type(inner) is CAError
    odd = client.error_from_problem(
        {"type": "urn:ietf:params:acme:error:malformed", "detail": "boom"}, 502, "x", "u"
    )
    assert type(odd) is CAError
    none = client.error_from_problem(None, 404, "the request", "http://ca/api")
    assert type(none) is CAError and "HTTP 404 and no problem document" in none.message


def test_subproblems_named_once() -> None:
    doc = {
        "type": "urn:ietf:params:acme:error:rejectedIdentifier",
        "detail": "Some names are refused",
        "subproblems": [
            {"detail": "internal name", "identifier": {"type": "dns", "value": "a.corp"}},
            {"detail": "Some names are refused"},
        ],
    }
    err = client.error_from_problem(doc, 400, "the order", "u")
    assert (
        err.message == "The CA refused the order: Some names are refused (a.corp: internal name)."
    )


def test_cert_id_rfc9773_example() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])
    aki = bytes.fromhex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(0x87654321)
        .not_valid_before(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2026, 2, 1, tzinfo=dt.UTC))
        .add_extension(x509.AuthorityKeyIdentifier(aki, None, None), critical=False)
        .sign(key, hashes.SHA256())
    )
    assert client.cert_id(cert) == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"


# --------------------------------------------------------------------------- REST


def test_rest_test_certificate(ca: tuple[PadlockServer, int]) -> None:
    server, _ = ca
    _key, csr = make_csr(["rest.example.com"])
    with RestClient(server.url) as api:
        req = api.submit(csr, "test", "admin@example.com")
        assert req.state == "issued" and req.kind == "test"
        assert req.names == ("rest.example.com",)
        assert req.status_url == f"{server.url}/status/{req.id}"
        assert req.certificate is not None and req.certificate.state == "issued"
        again = api.get(req.id)
        assert again.certificate == req.certificate
        chain = x509.load_pem_x509_certificates(api.certificate_chain(req.id))
    assert len(chain) == 2
    assert format(chain[0].serial_number, "x") == req.certificate.serial
    assert chain[0].issuer == chain[1].subject


def test_rest_dv_challenges(ca: tuple[PadlockServer, int]) -> None:
    server, _ = ca
    _key, csr = make_csr(["a.example.com", "*.example.com"])
    with RestClient(server.url) as api:
        req = api.submit(csr, "dv", "admin@example.com")
    assert req.state == "submitted"
    by_name = {c.name: c for c in req.challenges}
    plain, wild = by_name["a.example.com"], by_name["*.example.com"]
    assert plain.http_path == f"/.well-known/pki-validation/{plain.token}.txt"
    assert wild.http_path is None and wild.dns_record == "_pki-validation.example.com"


def test_rest_unknown_request(ca: tuple[PadlockServer, int]) -> None:
    server, _ = ca
    with RestClient(server.url) as api, pytest.raises(NotFound) as info:
        api.get("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    assert info.value.message.startswith("The CA refused to show request AAAA")
    assert info.value.hint == REQUEST_ID_HINT


def test_rest_not_found_hint_fits_the_cause(ca: tuple[PadlockServer, int]) -> None:
    """The same "not found" with a wrong --ca: the hint is about the URL, not the id."""
    server, _ = ca
    with RestClient(server.url + "/api/v2") as api:
        with pytest.raises(NotFound) as on_submit:
            api.submit(make_csr(["hint.example.com"])[1], "test", "admin@example.com")
        with pytest.raises(NotFound) as on_get:
            api.get("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    assert on_submit.value.hint == CA_URL_HINT
    assert on_get.value.hint == CA_URL_HINT


def test_rest_refusal_is_the_cas_words(ca: tuple[PadlockServer, int]) -> None:
    server, _ = ca
    with RestClient(server.url) as api, pytest.raises(BadCSR) as info:
        api.submit("not a csr", "test", "admin@example.com")
    assert info.value.message.startswith("The CA refused the request: ")
    with RestClient(server.url) as api, pytest.raises(Malformed) as bad:
        api.submit(make_csr(["x.example.com"])[1], "gold", "admin@example.com")
    assert bad.value.message.startswith("The CA refused the request: ")


def test_rest_connection_refused() -> None:
    port = free_port()
    with RestClient(f"http://127.0.0.1:{port}") as api, pytest.raises(CAUnreachable) as info:
        api.get("x")
    assert (
        info.value.message == f"Cannot reach the CA at http://127.0.0.1:{port}: connection refused."
    )


def test_rest_timeout() -> None:
    """A CA that accepts the connection and never answers: a bounded wait, then one sentence."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        with (
            RestClient(f"http://127.0.0.1:{port}", timeout=1.0) as api,
            pytest.raises(CAUnreachable) as info,
        ):
            api.get("x")
    assert (
        info.value.message == f"The CA at http://127.0.0.1:{port} did not answer within 1 seconds."
    )


def _mock(responses: list[httpx.Response]) -> httpx.MockTransport:
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        return queue.pop(0)

    return httpx.MockTransport(handler)


def test_rest_retry_after_honoured() -> None:
    slept: list[float] = []
    body = {
        "id": "r1",
        "kind": "test",
        "state": "issued",
        "status_url": "http://ca/status/r1",
        "names": ["a.example.com"],
        "challenges": [],
        "certificate": None,
    }
    transport = _mock(
        [
            httpx.Response(503, headers={"Retry-After": "2"}, json={"detail": "busy"}),
            httpx.Response(429, headers={"Retry-After": "1"}, json={"detail": "slow down"}),
            httpx.Response(200, json=body),
        ]
    )
    with RestClient("http://ca.example", transport=transport, sleep=slept.append) as api:
        assert api.get("r1").id == "r1"
    assert slept == [2.0, 1.0]


def test_rest_not_a_padlock_ca() -> None:
    html = httpx.Response(404, text="<html>Not Found</html>")
    with (
        RestClient("http://ca.example", transport=_mock([html])) as api,
        pytest.raises(CAError, match="HTTP 404 and no problem document"),
    ):
        api.get("r1")
    ok_but_html = httpx.Response(200, text="<html>hello</html>")
    with (
        RestClient("http://ca.example", transport=_mock([ok_but_html])) as api,
        pytest.raises(CAError, match="is not JSON"),
    ):
        api.get("r1")
    wrong_json = httpx.Response(200, json={"hello": "world"})
    with (
        RestClient("http://ca.example", transport=_mock([wrong_json])) as api,
        pytest.raises(CAError, match="is not a padlock enrollment request"),
    ):
        api.get("r1")


# --------------------------------------------------------------------------- HTTPS trust


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on 127.0.0.1 whose certificate chains to a root of the test's own."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Client Test Root")])
    now = dt.datetime.now(dt.UTC)
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False
        )
        .sign(root_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(root_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )
    cert_file, key_file, root_file = (
        tmp_path / "srv.pem",
        tmp_path / "srv.key",
        tmp_path / "root.pem",
    )
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    root_file.write_bytes(root.public_bytes(serialization.Encoding.PEM))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"not json at all"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_file, key_file)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}", root_file
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_https_untrusted_then_trusted_with_ca_root(
    https_server: tuple[str, Path], tmp_path: Path
) -> None:
    url, root = https_server
    with RestClient(url) as api, pytest.raises(CAUnreachable) as info:
        api.get("x")
    assert info.value.message.startswith(f"The CA's HTTPS certificate at {url} does not verify")
    assert "--ca-root" in (info.value.hint or "")
    # Trusted through --ca-root: the TLS session works, and what comes back is judged.
    with RestClient(url, trust=Trust((root,))) as api, pytest.raises(CAError, match="not JSON"):
        api.get("x")
    # The ACME client (requests underneath) the same way.
    with pytest.raises(CAUnreachable, match="does not verify"):
        AcmeClient(url + "/directory", tmp_path / "acct")
    with pytest.raises(CAError, match="not what ACME"):
        AcmeClient(url + "/directory", tmp_path / "acct", trust=Trust((root,)))


# --------------------------------------------------------------------------- ACME


def test_acme_account_kept_and_reused(ca: tuple[PadlockServer, int], tmp_path: Path) -> None:
    server, _ = ca
    directory = server.url + "/acme/test/directory"
    acct_dir = tmp_path / "acct"
    first = AcmeClient(directory, acct_dir)
    assert first.terms_of_service == server.url + "/acme/terms"
    assert "test" in first.profiles
    assert first.renewal_info_url == server.url + "/acme/test/renewal-info"
    with pytest.raises(PolicyError, match="agree to its terms of service"):
        first.account("admin@example.com", agree_tos=False)
    made = first.account("admin@example.com", agree_tos=True)
    assert made.created and made.uri.startswith(server.url + "/acme/test/acct/")
    assert stat.S_IMODE(os.stat(acct_dir / "key.pem").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(acct_dir / "account.json").st_mode) == 0o600
    assert json.loads((acct_dir / "account.json").read_text())["uri"] == made.uri
    again = AcmeClient(directory, acct_dir).account(None, agree_tos=False)
    assert not again.created and again.uri == made.uri
    # The key registered elsewhere already (account.json lost): the CA says which account.
    (acct_dir / "account.json").unlink()
    found = AcmeClient(directory, acct_dir).account(None, agree_tos=True)
    assert found.uri == made.uri


def test_acme_not_a_directory(ca: tuple[PadlockServer, int], tmp_path: Path) -> None:
    server, _ = ca
    with pytest.raises(CAError, match="not what ACME"):
        AcmeClient(server.url + "/roots/test.pem", tmp_path / "a")
    with pytest.raises(NotFound, match="The CA refused the directory request") as info:
        AcmeClient(server.url + "/acme/nowhere/directory", tmp_path / "b")
    assert info.value.hint == ACME_DIRECTORY_HINT
    with pytest.raises(CAUnreachable, match="connection refused"):
        AcmeClient(f"http://127.0.0.1:{free_port()}/directory", tmp_path / "c")


def _ov_csr() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "GB"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Widgets Limited"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "ov.example.com"),
                ]
            )
        )
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("ov.example.com")]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def test_acme_order_http01_retry_after_and_renewal_info(
    ca: tuple[PadlockServer, int], tmp_path: Path
) -> None:
    """A whole order with the standalone listener; then an ov order waiting for review:
    the CA's Retry-After (60 s) is what the client sleeps, and when it is longer than the
    time left, the client returns at once instead of sleeping past its deadline."""
    server, va_port = ca
    acme = AcmeClient(server.url + "/acme/directory", tmp_path / "acct")
    acme.account("admin@example.com", agree_tos=True)
    _key, csr = make_csr(["dv.example.com"])
    order = acme.new_order(csr.encode())
    assert order.status == "pending" and len(order.authorizations) == 1
    authz = acme.authorization(order.authorizations[0])
    challenge = authz.http01()
    assert challenge is not None and challenge.token is not None
    listener = Standalone(port=va_port, address="127.0.0.1")
    path = ACME_CHALLENGE_PATH + challenge.token
    with listener.serving({path: acme.key_authorization(challenge.token).encode()}):
        acme.answer(challenge)
        done = acme.wait_authorization(authz.url, time.monotonic() + 60)
    assert done.status == "valid", done
    assert listener.fetched == [path]
    order = acme.finalize(acme.order(order.url), csr.encode())
    order = acme.wait_order(order, time.monotonic() + 60)
    assert order.status == "valid" and order.certificate
    chain = x509.load_pem_x509_certificates(acme.certificate(order.certificate))
    window = acme.renewal_info(chain[0])
    assert window is not None
    assert chain[0].not_valid_before_utc < window.start < window.end < chain[0].not_valid_after_utc

    # ov: finalized, then processing until a reviewer approves.
    ov_csr = _ov_csr()
    order = acme.new_order(ov_csr, profile="ov")
    authz = acme.authorization(order.authorizations[0])
    challenge = authz.http01()
    assert challenge is not None and challenge.token is not None
    with listener.serving(
        {ACME_CHALLENGE_PATH + challenge.token: acme.key_authorization(challenge.token).encode()}
    ):
        acme.answer(challenge)
        assert acme.wait_authorization(authz.url, time.monotonic() + 60).status == "valid"
    order = acme.finalize(acme.order(order.url), ov_csr)
    assert order.status == "processing"

    class Stop(Exception):
        pass

    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        raise Stop

    waiting = AcmeClient(
        server.url + "/acme/directory", tmp_path / "acct", sleep=sleep, clock=lambda: 1000.0
    )
    waiting.account(None, agree_tos=False)
    with pytest.raises(Stop):
        waiting.wait_order(order, deadline=1000.0 + 3600)
    assert slept == [60.0]
    slept.clear()
    still = waiting.wait_order(order, deadline=1000.0 + 30)  # 30 s left < Retry-After
    assert still.status == "processing" and slept == []


# --------------------------------------------------------------------------- answering


def test_webroot_serves_and_cleans_up(tmp_path: Path) -> None:
    root = tmp_path / "www"
    root.mkdir()
    (root / "index.html").write_text("hi\n")
    path = "/.well-known/pki-validation/abcDEF_123-x.txt"
    with Webroot(root=root).serving({path: b"abcDEF_123-x"}):
        served = root / path.lstrip("/")
        assert served.read_bytes() == b"abcDEF_123-x"
        assert stat.S_IMODE(served.stat().st_mode) == 0o644
        assert stat.S_IMODE((root / ".well-known").stat().st_mode) == 0o755
    assert sorted(p.name for p in root.iterdir()) == ["index.html"]
    # A directory that was there before stays.
    (root / ".well-known" / "acme-challenge").mkdir(parents=True)
    with Webroot(root=root).serving({ACME_CHALLENGE_PATH + "tok": b"tok.thumb"}):
        assert (root / ".well-known" / "acme-challenge" / "tok").read_bytes() == b"tok.thumb"
    assert list((root / ".well-known" / "acme-challenge").iterdir()) == []


@pytest.mark.parametrize(
    "path",
    [
        "/.well-known/acme-challenge/../../../etc/passwd",
        "/.well-known/pki-validation/x.txt/../../y",
        "/index.html",
        "/.well-known/acme-challenge/",
    ],
)
def test_answer_paths_invalid(tmp_path: Path, path: str) -> None:
    with (
        pytest.raises(CAError, match="unexpected path"),
        Webroot(root=tmp_path).serving({path: b"x"}),
    ):
        pass
    assert list(tmp_path.iterdir()) == []


def test_webroot_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="is not a directory"):
        Webroot(root=tmp_path / "missing")


def test_standalone_serves_only_the_check(tmp_path: Path) -> None:
    port = free_port()
    listener = Standalone(port=port, address="127.0.0.1")
    path = ACME_CHALLENGE_PATH + "token1"
    with listener.serving({path: b"token1.thumb"}):
        got = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)
        assert got.status_code == 200 and got.content == b"token1.thumb"
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 404
    assert listener.fetched == [path]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)


def test_standalone_port_in_use() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with (
            pytest.raises(ConfigError, match=f"Cannot listen on 127.0.0.1:{port}") as info,
            Standalone(port=port, address="127.0.0.1").serving({ACME_CHALLENGE_PATH + "t": b""}),
        ):
            pass
    assert "--webroot" in (info.value.hint or "")


def test_responder_choice(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="was not told how to answer"):
        client.responder(None, None, "127.0.0.1")
    with pytest.raises(ConfigError, match="not both"):
        client.responder(tmp_path, 8080, "127.0.0.1")
    with pytest.raises(ConfigError, match="is not a port number"):
        client.responder(None, 70000, "127.0.0.1")
    assert isinstance(client.responder(tmp_path, None, "127.0.0.1"), Webroot)
