"""ov orders through ACME: finalize leaves the order processing until a reviewer completes
it with the verified organization, or rejects it with a reason."""

from __future__ import annotations

from cryptography.x509.oid import NameOID

from padlock.pki import certs
from tests.support.acme_client import Client, make_csr
from tests.support.acme_server import VA, Server, pem_chain, prove, unique_name


def test_ov_order_waits_for_review(client: Client, server: Server, va: VA) -> None:
    name = unique_name("ov")
    resp = client.new_order([name], profile="ov")
    order, order_url = resp.json(), resp.headers["Location"]
    assert order["profile"] == "ov"
    prove(client, va, order["authorizations"][0])
    resp = client.finalize(order, make_csr([name]))
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "processing"
    assert int(resp.headers["Retry-After"]) > 0
    order_id = order_url.rsplit("/", 1)[1]
    service = server.service
    assert order_id in [o.id for o in service.orders_awaiting_review()]
    org = certs.Organization("Widgets Inc.", "Springfield", None, "US")
    done = service.complete_reviewed_order(order_id, org, "alice")
    assert done.status == "valid"
    final = client.get(order_url).json()
    leaf = pem_chain(client.get(final["certificate"]).text)[0]
    assert leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Widgets Inc."


def test_ov_order_rejected(client: Client, server: Server, va: VA) -> None:
    name = unique_name("ovno")
    resp = client.new_order([name], profile="ov")
    order, order_url = resp.json(), resp.headers["Location"]
    prove(client, va, order["authorizations"][0])
    client.finalize(order, make_csr([name]))
    server.service.reject_reviewed_order(order_url.rsplit("/", 1)[1], "no such company", "bob")
    final = client.get(order_url).json()
    assert final["status"] == "invalid" and "no such company" in final["error"]["detail"]
