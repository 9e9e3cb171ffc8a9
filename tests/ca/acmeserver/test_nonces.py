"""Replay nonces (RFC 8555 section 6.5): newNonce, and every nonce spent once, refused
requests' too, each refusal badNonce with a fresh nonce."""

from __future__ import annotations

import secrets

import httpx

from tests.support.acme_client import Client, b64, jws, make_csr
from tests.support.acme_server import Server, assert_refused, unique_name


def test_new_nonce_head_and_get(http: httpx.Client, server: Server) -> None:
    url = http.get(server.trusted).json()["newNonce"]
    head = http.head(url)
    get = http.get(url)
    assert head.status_code == 200 and get.status_code == 204
    for resp in (head, get):
        assert resp.headers["Cache-Control"] == "no-store"
        assert f'<{server.trusted}>;rel="index"' in resp.headers["Link"]
    assert head.headers["Replay-Nonce"] != get.headers["Replay-Nonce"]


def test_replayed_nonce_bad_nonce(client: Client) -> None:
    assert client.kid is not None
    body = jws(client.key, client.protected(client.kid), "", "ES256")
    assert client.send(client.kid, body).status_code == 200
    assert_refused(client.send(client.kid, body), "badNonce", 400)


def test_made_up_nonce_bad_nonce(client: Client) -> None:
    assert client.kid is not None
    assert_refused(
        client.post(client.kid, None, nonce=b64(secrets.token_bytes(26))), "badNonce", 400
    )
    assert_refused(client.post(client.kid, None, nonce="short"), "badNonce", 400)


def test_missing_nonce_bad_nonce(client: Client) -> None:
    assert client.kid is not None
    protected = {"alg": "ES256", "kid": client.kid, "url": client.kid}
    assert_refused(client.send(client.kid, jws(client.key, protected, "")), "badNonce", 400)


def test_nonce_of_refused_request_is_spent(client: Client) -> None:
    """A refused request's nonce cannot be used for a later one (no replay of refusals)."""
    nonce = client.fresh_nonce()
    order = client.new_order([unique_name()]).json()
    finalize = client.finalize(order, make_csr([unique_name()]))  # refused: not ready
    assert_refused(finalize, "orderNotReady")
    body = jws(client.key, client.protected(order["finalize"], nonce=nonce), {"csr": "AA"})
    assert client.send(order["finalize"], body).status_code in (400, 403)
    replay = client.post(client.kid or "", None, nonce=nonce)
    assert_refused(replay, "badNonce")
