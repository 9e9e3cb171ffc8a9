"""``padlock.site.backend_rest``: the REST client against a real ``padlock serve``, the
translation of httpx's errors and the CA's problems at this border, and Retry-After."""

from __future__ import annotations

import socket

import httpx
import pytest
from cryptography import x509
from tests.support.ports import free_port
from tests.web.conftest import PadlockServer, make_csr

from padlock.errors import (
    BadCSR,
    CAError,
    CAUnreachable,
    Malformed,
    NotFound,
)
from padlock.site.backend_rest import RestClient
from padlock.site.ca_http import CA_URL_HINT, REQUEST_ID_HINT

# --------------------------------------------------------------------------- REST


def test_rest_test_certificate(client_ca: tuple[PadlockServer, int]) -> None:
    server, _ = client_ca
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


def test_rest_dv_challenges(client_ca: tuple[PadlockServer, int]) -> None:
    server, _ = client_ca
    _key, csr = make_csr(["a.example.com", "*.example.com"])
    with RestClient(server.url) as api:
        req = api.submit(csr, "dv", "admin@example.com")
    assert req.state == "submitted"
    by_name = {c.name: c for c in req.challenges}
    plain, wild = by_name["a.example.com"], by_name["*.example.com"]
    assert plain.http_path == f"/.well-known/pki-validation/{plain.token}.txt"
    assert wild.http_path is None and wild.dns_record == "_pki-validation.example.com"


def test_rest_unknown_request(client_ca: tuple[PadlockServer, int]) -> None:
    server, _ = client_ca
    with RestClient(server.url) as api, pytest.raises(NotFound) as info:
        api.get("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    assert info.value.message.startswith("The CA refused to show request AAAA")
    assert info.value.hint == REQUEST_ID_HINT


def test_rest_not_found_hint_fits_the_cause(client_ca: tuple[PadlockServer, int]) -> None:
    """The same "not found" with a wrong --ca: the hint is about the URL, not the id."""
    server, _ = client_ca
    with RestClient(server.url + "/api/v2") as api:
        with pytest.raises(NotFound) as on_submit:
            api.submit(make_csr(["hint.example.com"])[1], "test", "admin@example.com")
        with pytest.raises(NotFound) as on_get:
            api.get("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    assert on_submit.value.hint == CA_URL_HINT
    assert on_get.value.hint == CA_URL_HINT


def test_rest_refusal_is_the_cas_words(client_ca: tuple[PadlockServer, int]) -> None:
    server, _ = client_ca
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
