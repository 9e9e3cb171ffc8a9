"""Revocation through ACME (RFC 8555 section 7.6), by the account or by the certificate's
key, and renewal information (RFC 9773): the window, and its opening once revoked."""

from __future__ import annotations

import datetime as dt

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from padlock.acme import messages as m
from tests.support.acme_client import Client, b64, make_csr, problem_type
from tests.support.acme_server import VA, Server, cert_id_of, obtain, pem_chain, prove, unique_name


def test_revoke_with_account_key(client: Client, server: Server, va: VA) -> None:
    _order, _url, pem = obtain(client, va, [unique_name("rev")])
    leaf = pem_chain(pem)[0]
    der = leaf.public_bytes(serialization.Encoding.DER)
    resp = client.post(client.directory["revokeCert"], {"certificate": b64(der), "reason": 4})
    assert resp.status_code == 200, resp.text
    record = server.app.state.services.authority.store.get_certificate(leaf.serial_number)
    assert record.state.value == "revoked" and record.revocation_reason == "superseded"
    again = client.post(client.directory["revokeCert"], {"certificate": b64(der)})
    assert problem_type(again) == "alreadyRevoked"
    ari = client.http.get(f"{client.directory['renewalInfo']}/{cert_id_of(leaf)}").json()
    end = dt.datetime.fromisoformat(ari["suggestedWindow"]["end"])
    assert end <= dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)


def test_revoke_with_certificate_key(
    http: httpx.Client, server: Server, client: Client, va: VA
) -> None:
    name = unique_name("revkey")
    cert_key = ec.generate_private_key(ec.SECP256R1())
    order = client.new_order([name]).json()
    prove(client, va, order["authorizations"][0])
    final = client.finalize(order, make_csr([name], cert_key)).json()
    leaf = pem_chain(client.get(final["certificate"]).text)[0]
    holder = Client(http, server.trusted, key=cert_key)
    der = leaf.public_bytes(serialization.Encoding.DER)
    resp = holder.post(
        holder.directory["revokeCert"], {"certificate": b64(der), "reason": 1}, use_jwk=True
    )
    assert resp.status_code == 200, resp.text


def test_revoke_by_stranger_unauthorized(
    http: httpx.Client, server: Server, client: Client, va: VA
) -> None:
    _order, _url, pem = obtain(client, va, [unique_name("strange")])
    der = pem_chain(pem)[0].public_bytes(serialization.Encoding.DER)
    stranger = Client(http, server.trusted)
    stranger.register()
    resp = stranger.post(stranger.directory["revokeCert"], {"certificate": b64(der)})
    assert resp.status_code == 403 and problem_type(resp) == "unauthorized"
    keyed = Client(http, server.trusted)  # a jwk that is not the certificate's key
    resp = keyed.post(keyed.directory["revokeCert"], {"certificate": b64(der)}, use_jwk=True)
    assert resp.status_code == 403 and problem_type(resp) == "unauthorized"


def test_revoke_bad_reason(client: Client, va: VA) -> None:
    _order, _url, pem = obtain(client, va, [unique_name("reason")])
    der = pem_chain(pem)[0].public_bytes(serialization.Encoding.DER)
    resp = client.post(client.directory["revokeCert"], {"certificate": b64(der), "reason": 7})
    assert problem_type(resp) == "badRevocationReason"


def test_renewal_info_window(client: Client, va: VA) -> None:
    _order, _url, pem = obtain(client, va, [unique_name("ari")])
    leaf = pem_chain(pem)[0]
    resp = client.http.get(f"{client.directory['renewalInfo']}/{cert_id_of(leaf)}")
    assert resp.status_code == 200 and int(resp.headers["Retry-After"]) > 0
    window = resp.json()["suggestedWindow"]
    start = dt.datetime.fromisoformat(window["start"])
    end = dt.datetime.fromisoformat(window["end"])
    assert leaf.not_valid_before_utc < start < end < leaf.not_valid_after_utc


def test_renewal_info_unknown(http: httpx.Client, server: Server) -> None:
    url = http.get(server.trusted).json()["renewalInfo"]
    resp = http.get(f"{url}/{m.cert_id(b'x' * 20, 12345)}")
    assert resp.status_code == 404 and "Replay-Nonce" in resp.headers


def test_renewal_info_revoked_window_open(client: Client, va: VA) -> None:
    """RFC 9773 4.2: once revoked, the window is already open (and over) for a client asking
    at once, so that it renews now."""
    _order, _url, pem = obtain(client, va, [unique_name("ari-rev")])
    leaf = pem_chain(pem)[0]
    der = leaf.public_bytes(serialization.Encoding.DER)
    assert client.post(client.directory["revokeCert"], {"certificate": b64(der)}).is_success
    asked = dt.datetime.now(dt.UTC)
    resp = client.http.get(f"{client.directory['renewalInfo']}/{cert_id_of(leaf)}")
    window = resp.json()["suggestedWindow"]
    start = dt.datetime.fromisoformat(window["start"])
    end = dt.datetime.fromisoformat(window["end"])
    assert start < end <= asked


def test_revoke_unknown_certificate_not_found(client: Client, server: Server) -> None:
    other_ca_cert = pem_chain((server.data_dir / "ca" / "test" / "root.crt").read_text())[0]
    der = other_ca_cert.public_bytes(serialization.Encoding.DER)
    resp = client.post(client.directory["revokeCert"], {"certificate": b64(der)})
    assert resp.status_code == 404 and "Replay-Nonce" in resp.headers
