"""The ACME server's HTTP front end (web/acme_api.py): the envelope it parses (content type,
method, body size and shape, POST-as-GET), the links it writes, the settings it reads from
the environment, its banner, and its requests in /metrics; each refusal an ACME problem
document with a fresh Replay-Nonce (RFC 8555 6.7)."""

from __future__ import annotations

import base64

import httpx
import pytest

from padlock.ca.acmeserver.model import AcmeSettings
from tests.support.acme_client import JOSE, Client, jws
from tests.support.acme_server import VA, Server, assert_refused, obtain, unique_name


def _links(resp: httpx.Response) -> list[str]:
    """The URLs of the response's Link headers, every relation."""
    return [
        part.split(">", 1)[0].strip().lstrip("<")
        for header in resp.headers.get_list("Link")
        for part in header.split(",")
    ]


def test_every_link_answers_post_as_get(server: Server, va: VA) -> None:
    """Every URL padlock puts in a Link or Location header of an ACME response can be fetched
    with POST-as-GET by the account (RFC 8555 6.3, 7.4.2): what mod_md and other clients that
    follow rel="up" and rel="alternate" do."""
    seen: set[str] = set()

    def record(resp: httpx.Response) -> None:
        seen.update(_links(resp))
        if "Location" in resp.headers:
            seen.add(resp.headers["Location"])

    with httpx.Client(timeout=30, event_hooks={"response": [record]}) as http:
        client = Client(http, server.trusted)
        assert client.register().status_code == 201
        order, order_url, _pem = obtain(client, va, [unique_name("links")])
        for _ in range(100):  # a second page of the account's orders: rel="next"
            assert client.new_order([unique_name("page")]).status_code == 201
        assert client.kid is not None
        client.get(f"{client.kid}/orders")
        client.get(order_url)
        client.get(order["authorizations"][0])
        client.get(order["certificate"])
        client.get(f"{order['certificate']}/1")
        assert server.trusted in seen  # rel="index"
        assert f"{order['certificate']}/1" in seen and order["authorizations"][0] in seen
        assert any("?after=" in url for url in seen)
        fetched: set[str] = set()
        while seen - fetched:  # and the links of what they answer, until nothing is new
            for url in sorted(seen - fetched):
                fetched.add(url)
                resp = client.get(url)
                assert resp.status_code == 200, (url, resp.status_code, resp.text)


def test_insecure_banner_is_loud() -> None:
    from padlock.web.acme_api import insecure_banner

    assert insecure_banner(AcmeSettings()) is None
    text = insecure_banner(AcmeSettings(insecure_always_valid=True)) or ""
    assert "WITHOUT ANY CHECK" in text and "TEST directory" in text
    both = insecure_banner(
        AcmeSettings(insecure_always_valid=True, insecure_always_valid_trusted=True)
    )
    assert both is not None and "BOTH" in both


def test_eab_keys_from_env() -> None:
    from padlock.web.acme_api import _eab_keys

    key = base64.urlsafe_b64encode(b"k" * 32).rstrip(b"=").decode()
    assert _eab_keys(f"a:{key}, b:{key}") == {"a": b"k" * 32, "b": b"k" * 32}


def test_acme_requests_counted_in_metrics(
    http: httpx.Client, server: Server, client: Client
) -> None:
    """ACME requests skip the app's route list but are counted like every other request."""

    def created() -> int:
        text = http.get(f"{server.base}/metrics").text
        return sum(
            int(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("padlock_http_requests_total")
            and 'method="POST",status="201"' in line
        )

    before = created()
    assert client.new_order([unique_name("metrics")]).status_code == 201
    assert created() == before + 1


@pytest.mark.parametrize(
    "body",
    [b"", b"garbage", b"{}", b"[]", b'{"protected": "e30", "payload": "", "signature": 5}'],
)
def test_garbage_body_malformed(client: Client, body: bytes) -> None:
    assert_refused(client.send(client.directory["newOrder"], body), "malformed", 400)


@pytest.mark.parametrize("ctype", ["application/json", "text/plain", ""])
def test_wrong_content_type_malformed_415(client: Client, ctype: str) -> None:
    assert client.kid is not None
    body = jws(client.key, client.protected(client.kid), "", "ES256")
    assert_refused(client.send(client.kid, body, content_type=ctype), "malformed", 415)


def test_get_instead_of_post_as_get_malformed(http: httpx.Client, client: Client) -> None:
    """RFC 8555 6.3: resources are read with POST-as-GET; a GET is malformed with 405."""
    resp = client.new_order([unique_name()])
    order, order_url = resp.json(), resp.headers["Location"]
    for url in (order_url, order["authorizations"][0], order["finalize"], client.kid):
        assert url is not None
        got = http.get(url)
        assert_refused(got, "malformed", 405)
        assert got.headers["Allow"] == "POST"
        assert "POST-as-GET" in got.json()["detail"]


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_directory_other_method_405(http: httpx.Client, server: Server, method: str) -> None:
    for url in (server.trusted, f"{server.base}/acme/new-nonce"):
        resp = http.request(method, url)
        assert_refused(resp, "malformed", 405)
        assert resp.headers["Allow"] == "GET, HEAD, POST"


def test_unknown_resource_not_found(http: httpx.Client, server: Server) -> None:
    resp = http.get(f"{server.base}/acme/nowhere")
    assert resp.status_code == 404 and "Replay-Nonce" in resp.headers


def test_huge_body_refused(client: Client) -> None:
    resp = client.send(client.directory["newOrder"], b"{" + b" " * (300 * 1024) + b"}")
    assert resp.status_code == 413 and "Replay-Nonce" in resp.headers


def test_jose_content_type_with_parameters_accepted(client: Client) -> None:
    assert client.kid is not None
    body = jws(client.key, client.protected(client.kid), "", "ES256")
    resp = client.send(client.kid, body, content_type=f"{JOSE}; charset=utf-8")
    assert resp.status_code == 200
