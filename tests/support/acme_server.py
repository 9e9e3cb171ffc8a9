"""An ACME server for the tests of its use cases (tests/ca/acmeserver/) and of its HTTP front
end (tests/web/test_acme_api.py): the real app under uvicorn in a thread on 127.0.0.1, with
validation pointed at loopback DNS, HTTP and TLS-ALPN servers the tests control, and the
helpers those tests share (a whole flow, a refusal's checks, a certificate's chain and id).

Servers with other ACME settings (EAB, tight rate limits, the insecure switch) share the
data directory, so they are the same CA and database seen through another front end.
tests/conftest.py loads this module as a plugin (``pytest_plugins``), so the fixtures reach
both directories; a test module's own fixture of the same name wins.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.x509 import verification

from padlock.acme import messages as m
from padlock.ca.acmeserver.model import AcmeSettings
from padlock.ca.acmeserver.service import AcmeService
from padlock.ca.signer import create_authority
from padlock.config import Settings
from padlock.web.acme_api import acme_service
from padlock.web.app import create_app
from padlock.web.serving import bind_tcp
from padlock.wiring import PASSPHRASE_FILE
from tests.support.acme_client import Client, make_csr, problem_type
from tests.support.dnsserver import TestDNS, Zone
from tests.support.httpfiles import FileServer
from tests.support.tlsalpn import ALPNResponder

CAA_IDENTITY = "padlock.example"
CA_BASE_URL = "http://ca.example.com"


@dataclass
class Server:
    base: str
    app: Any
    server: uvicorn.Server
    thread: threading.Thread
    data_dir: Path

    @property
    def trusted(self) -> str:
        return f"{self.base}/acme/directory"

    @property
    def test(self) -> str:
        return f"{self.base}/acme/test/directory"

    @property
    def service(self) -> AcmeService:
        return acme_service(self.app)

    def sql(self, statement: str, **params: Any) -> list[Any]:
        """Run SQL on the server's database (to age an order, for instance)."""
        import sqlalchemy

        engine = self.service.store.database.engine  # type: ignore[attr-defined]
        with engine.begin() as conn:
            result = conn.execute(sqlalchemy.text(statement), params)
            return list(result) if result.returns_rows else []

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@dataclass
class VA:
    dns: TestDNS
    web: FileServer
    alpn: ALPNResponder
    txt_dir: Path


@pytest.fixture(scope="session")
def va(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VA]:
    txt_dir = tmp_path_factory.mktemp("txt")
    dns = TestDNS(Zone(txt_dir=txt_dir)).start()
    web = FileServer().start()
    alpn = ALPNResponder().start()
    try:
        yield VA(dns, web, alpn, txt_dir)
    finally:
        alpn.stop()
        web.stop()
        dns.stop()


def start_server(
    data_dir: Path,
    va: VA,
    acme: AcmeSettings | None = None,
    settings: dict[str, Any] | None = None,
    **state: Any,
) -> Server:
    sock = bind_tcp("127.0.0.1", 0)  # any free port, held from here on: no probe-then-bind
    port = int(sock.getsockname()[1])
    base = f"http://127.0.0.1:{port}"
    config = Settings(
        data_dir=data_dir,
        base_url=base,
        va_resolver=va.dns.spec,
        va_http_port=va.web.port,
        va_tls_port=va.alpn.port,
        caa_identities=(CAA_IDENTITY,),
    ).with_overrides(**(settings or {}))
    app = create_app(config)
    if acme is not None:
        app.state.acme_settings = acme
    for key, value in state.items():
        setattr(app.state, key, value)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60  # bounded poll: a loaded machine starts it slowly
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:  # pragma: no cover
            sock.close()
            raise RuntimeError("the ACME test server did not start")
        time.sleep(0.05)
    return Server(base, app, server, thread, data_dir)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA made ahead with a public-looking base URL, so that its certificates' AIA and
    CRL URLs pass pkilint as they would at a real CA (the ACME server itself is on 127.0.0.1)."""
    data = tmp_path_factory.mktemp("padlock-acme")
    passphrase = b"acme tests pass phrase"
    create_authority(
        data / "ca",
        name="padlock acme tests",
        passphrase=passphrase,
        now=dt.datetime.now(dt.UTC),
        base_url=CA_BASE_URL,
    )
    (data / "ca" / PASSPHRASE_FILE).write_bytes(passphrase + b"\n")
    return data


@pytest.fixture(scope="session")
def server(data_dir: Path, va: VA) -> Iterator[Server]:
    # Challenge POSTs wait for their validation here, so most tests see the outcome at once;
    # tests/ca/acmeserver/test_challenges.py covers the default (answer "processing", validate
    # right after).
    srv = start_server(
        data_dir, va, AcmeSettings(caa_identities=(CAA_IDENTITY,), validation_wait=10)
    )
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def make_server(data_dir: Path, va: VA) -> Iterator[Callable[..., Server]]:
    """Another front end on the same CA, with other ACME settings."""
    started: list[Server] = []

    def make(
        acme: AcmeSettings | None = None, settings: dict[str, Any] | None = None, **state: Any
    ) -> Server:
        srv = start_server(data_dir, va, acme, settings, **state)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


@pytest.fixture
def client(http: httpx.Client, server: Server) -> Client:
    """A registered account on the trusted directory."""
    c = Client(http, server.trusted)
    assert c.register(["mailto:owner@example.com"]).status_code == 201
    return c


@pytest.fixture
def test_client(http: httpx.Client, server: Server) -> Client:
    """A registered account on the test directory."""
    c = Client(http, server.test)
    assert c.register().status_code == 201
    return c


def prove(client: Client, va: VA, authz_url: str, kind: str = "http-01") -> dict[str, Any]:
    """Answer one authorization's challenge of ``kind`` with the loopback servers."""
    from padlock.acme import challenges as ch
    from padlock.acme.messages import Identifier

    authz = client.get(authz_url).json()
    chal = client.challenge_of(authz, kind)
    key_auth = client.key_authorization(chal["token"])
    name = authz["identifier"]["value"]
    if kind == "http-01":
        va.web.files[ch.http01_path(chal["token"])] = key_auth.encode()
    elif kind == "dns-01":
        va.dns.zone.add_txt(ch.dns01_name(Identifier("dns", name)), ch.dns01_value(key_auth))
    else:
        va.alpn.set(name, key_auth)
    resp = client.post(chal["url"], {})
    assert resp.status_code == 200, resp.text
    result: dict[str, Any] = resp.json()
    for _ in range(200):  # a server that answers at once: poll the challenge (bounded)
        if result["status"] not in ("pending", "processing"):
            break
        time.sleep(0.05)
        result = client.get(chal["url"]).json()
    return result


def obtain(
    client: Client, va: VA, names: list[str], kind: str = "http-01", **order_extra: Any
) -> tuple[dict[str, Any], str, str]:
    """The whole flow: order, prove every authorization, finalize, download.
    Returns (final order, order URL, PEM chain)."""
    resp = client.new_order(names, **order_extra)
    assert resp.status_code == 201, resp.text
    order, order_url = resp.json(), resp.headers["Location"]
    for authz_url in order["authorizations"]:
        chal = prove(client, va, authz_url, kind)
        assert chal["status"] == "valid", chal
    resp = client.finalize(order, make_csr(names))
    assert resp.status_code == 200, resp.text
    order = resp.json()
    assert order["status"] == "valid", order
    cert = client.get(order["certificate"])
    assert cert.status_code == 200, cert.text
    return order, order_url, cert.text


def unique_name(prefix: str = "www") -> str:
    """A DNS name no other test uses (the session's server and database are shared)."""
    return f"{prefix}-{secrets.token_hex(4)}.example.com"


def pem_chain(pem: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem.encode())


def ca_root(server: Server, hierarchy: str) -> x509.Certificate:
    path = server.data_dir / "ca" / hierarchy / "root.crt"
    return x509.load_pem_x509_certificate(path.read_bytes())


def verified_leaf(
    server: Server, pem: str, name: str, hierarchy: str = "trusted"
) -> x509.Certificate:
    """The chain's leaf, once it verifies for ``name`` (a DNS name or an IP address) up to
    the hierarchy's root."""
    leaf, *rest = pem_chain(pem)
    subject: x509.DNSName | x509.IPAddress
    try:
        subject = x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        subject = x509.DNSName(name.removeprefix("*."))
    store = verification.Store([ca_root(server, hierarchy)])
    verification.PolicyBuilder().store(store).build_server_verifier(subject).verify(leaf, rest)
    return leaf


def cert_id_of(leaf: x509.Certificate) -> str:
    """The certificate's renewal-information id (RFC 9773 section 4.1)."""
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier is not None
    return m.cert_id(aki.key_identifier, leaf.serial_number)


def assert_refused(resp: httpx.Response, kind: str, status: int | None = None) -> dict[str, Any]:
    """The refusal's problem document, once it has the exact ACME error type (RFC 8555 6.7),
    a fresh Replay-Nonce and, when given, the HTTP status."""
    assert problem_type(resp) == kind, resp.text
    assert "Replay-Nonce" in resp.headers, "every response carries a fresh nonce"
    if status is not None:
        assert resp.status_code == status, resp.text
    doc: dict[str, Any] = resp.json()
    return doc


def ready_order(client: Client, va: VA, names: list[str]) -> tuple[dict[str, Any], str]:
    """A new order for ``names`` with every authorization proven by http-01: (order, URL)."""
    resp = client.new_order(names)
    assert resp.status_code == 201, resp.text
    order, url = resp.json(), resp.headers["Location"]
    for authz_url in order["authorizations"]:
        assert prove(client, va, authz_url)["status"] == "valid"
    return order, url
