"""The ACME store on SQLite and PostgreSQL: nonces, secrets, accounts, orders, challenges,
rate windows, the audit chain, and parallel finalization of one order (one certificate)."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from store_helpers import NOW
from tests.support.acme_client import b64, jwk_of, jws, make_csr

from padlock.acme import jws as jwslib
from padlock.acme import messages as m
from padlock.ca.acmeserver.model import AcmeSettings, directories
from padlock.ca.acmeserver.service import AcmeService
from padlock.ca.issuance import IssuancePolicy, Issuer
from padlock.ca.ports import AuditEntry
from padlock.ca.signer import Signer, create_authority, load_issuing_signers
from padlock.ca.validation import VAConfig
from padlock.errors import Conflict, OrderNotReady
from padlock.pki.keypolicy import builtin_blocklist
from padlock.pki.profiles import Hierarchy
from padlock.store import SqlStore
from padlock.store.acme import SqlAcmeStore

LATER = NOW + dt.timedelta(minutes=5)


@pytest.fixture
def acme(store: SqlStore) -> SqlAcmeStore:
    return SqlAcmeStore(store)


def _account(account_id: str = "acct1", thumb: str = "t1", directory: str = "acme") -> m.Account:
    return m.Account(
        id=account_id,
        directory=directory,
        status=m.VALID,
        jwk={"kty": "EC", "crv": "P-256", "x": "x", "y": "y"},
        thumbprint=thumb,
        contact=("mailto:a@example.com",),
        tos_agreed=True,
        created_at=NOW,
    )


def _order(
    order_id: str = "o1", account_id: str = "acct1"
) -> tuple[m.Order, list[m.Authorization]]:
    authz = m.Authorization(
        id=f"{order_id}-a",
        order_id=order_id,
        account_id=account_id,
        identifier=m.Identifier("dns", "www.example.com"),
        wildcard=False,
        status=m.PENDING,
        expires=NOW + dt.timedelta(days=7),
        challenges=(
            m.Challenge(f"{order_id}-c1", f"{order_id}-a", m.HTTP_01, "tok1", m.PENDING),
            m.Challenge(f"{order_id}-c2", f"{order_id}-a", m.DNS_01, "tok2", m.PENDING),
        ),
    )
    order = m.Order(
        id=order_id,
        account_id=account_id,
        directory="acme",
        profile="dv",
        status=m.PENDING,
        identifiers=(m.Identifier("dns", "www.example.com"),),
        expires=NOW + dt.timedelta(days=7),
        created_at=NOW,
        authz_ids=(authz.id,),
    )
    return order, [authz]


def test_acme_nonce_used_once(acme: SqlAcmeStore) -> None:
    with acme.transaction() as tx:
        assert tx.use_nonce("0001aa")
    with acme.transaction() as tx:
        assert not tx.use_nonce("0001aa")
        assert tx.use_nonce("0001ab")


def test_acme_nonce_purge_by_time_prefix(acme: SqlAcmeStore, store: SqlStore) -> None:
    with acme.transaction() as tx:
        for key in ("000001", "000002", "000100"):
            tx.use_nonce(key)
        tx.purge("000050", NOW)
    with acme.transaction() as tx:
        assert tx.use_nonce("000001")  # purged, so unknown again
        assert not tx.use_nonce("000100")


def test_acme_secret_is_made_once(acme: SqlAcmeStore, store: SqlStore) -> None:
    first = acme.secret("k", lambda: b"one", NOW)
    assert acme.secret("k", lambda: b"two", NOW) == first == b"one"
    assert SqlAcmeStore(store).secret("k", lambda: b"three", NOW) == b"one"


def test_acme_account_round_trip(acme: SqlAcmeStore) -> None:
    with acme.transaction() as tx:
        tx.insert_account(_account())
    with acme.transaction(write=False) as tx:
        got = tx.account("acct1")
        assert got == _account()
        assert tx.account_by_thumbprint("acme", "t1") == got
        assert tx.account_by_thumbprint("test", "t1") is None
        assert tx.account("nope") is None


def test_acme_account_same_key_same_directory_conflict(acme: SqlAcmeStore) -> None:
    with acme.transaction() as tx:
        tx.insert_account(_account())
        tx.insert_account(_account("acct2", directory="test"))  # other directory: fine
    with pytest.raises(Conflict), acme.transaction() as tx:
        tx.insert_account(_account("acct3"))


def test_acme_account_update(acme: SqlAcmeStore) -> None:
    with acme.transaction() as tx:
        tx.insert_account(_account())
        changed = tx.update_account("acct1", LATER, contact=(), status=m.DEACTIVATED)
    assert changed.contact == () and changed.status == m.DEACTIVATED


def test_acme_retired_keys_kept_newest_first(acme: SqlAcmeStore) -> None:
    """draft-ietf-acme-dns-persist-02 section 4.2: every key an account used is kept."""
    with acme.transaction() as tx:
        tx.insert_account(_account())
        tx.retire_key("acct1", "t0", NOW)
        tx.retire_key("acct1", "t1", LATER)
        tx.retire_key("acct1", "t1", LATER)  # once only
    with acme.transaction(write=False) as tx:
        assert tx.prior_thumbprints("acct1") == ["t1", "t0"]
        assert tx.prior_thumbprints("other") == []


def test_acme_order_round_trip_and_move(acme: SqlAcmeStore) -> None:
    order, authzs = _order()
    with acme.transaction() as tx:
        tx.insert_account(_account())
        tx.insert_order(order, authzs, NOW)
    with acme.transaction() as tx:
        assert tx.order("o1") == order
        authz = tx.authorization("o1-a")
        assert authz == authzs[0]
        assert [c.type for c in authz.challenges] == [m.HTTP_01, m.DNS_01]
        assert tx.move_order("o1", m.PENDING, m.READY, LATER)
        assert not tx.move_order("o1", m.PENDING, m.READY, LATER)
        assert tx.move_order("o1", m.READY, m.PROCESSING, LATER, csr=b"\x30csr")
        assert tx.move_order("o1", m.PROCESSING, m.VALID, LATER, cert_serial="abc")
    with acme.transaction(write=False) as tx:
        got = tx.order("o1")
        assert got is not None and got.status == m.VALID and got.cert_serial == "abc"
        assert tx.order_csr("o1") == b"\x30csr"
        assert tx.order_by_cert("abc") == got


def test_acme_replacement_exists_while_live(acme: SqlAcmeStore) -> None:
    """RFC 9773 section 5: a pending, ready, processing or valid order replaces its
    certificate; one that expired unfinished or failed does not."""
    order, authzs = _order()
    with acme.transaction() as tx:
        tx.insert_account(_account())
        tx.insert_order(dataclasses.replace(order, replaces="aki.serial"), authzs, NOW)
        assert not tx.replacement_exists("aki.other", NOW)
        assert tx.replacement_exists("aki.serial", NOW)
        assert not tx.replacement_exists("aki.serial", order.expires)  # expired pending
        steps = [(m.PENDING, m.READY), (m.READY, m.PROCESSING), (m.PROCESSING, m.VALID)]
        for before, after in steps:
            assert tx.move_order("o1", before, after, NOW)
            # past the order's expiry only processing and valid orders still hold it
            assert tx.replacement_exists("aki.serial", order.expires) == (after != m.READY)
        assert tx.move_order("o1", m.VALID, m.INVALID, NOW)
        assert not tx.replacement_exists("aki.serial", NOW)


def test_acme_orders_of_account_pages(acme: SqlAcmeStore) -> None:
    with acme.transaction() as tx:
        tx.insert_account(_account())
        for i in range(5):
            order, authzs = _order(f"o{i}")
            tx.insert_order(
                m.Order(**{**order.__dict__, "created_at": NOW + dt.timedelta(seconds=i)}),
                authzs,
                NOW,
            )
    with acme.transaction() as tx:
        first = tx.orders_of_account("acct1", 2, None)
        second = tx.orders_of_account("acct1", 2, first[-1])
        third = tx.orders_of_account("acct1", 2, second[-1])
    assert first + second + third == ["o4", "o3", "o2", "o1", "o0"]


def test_acme_challenge_claimed_once_and_reclaimed_when_stale(acme: SqlAcmeStore) -> None:
    order, authzs = _order()
    with acme.transaction() as tx:
        tx.insert_account(_account())
        tx.insert_order(order, authzs, NOW)
    with acme.transaction() as tx:
        assert tx.claim_challenge("o1-c1", NOW, NOW - dt.timedelta(minutes=2))
        assert not tx.claim_challenge("o1-c1", NOW, NOW - dt.timedelta(minutes=2))
        # later than the lease: another worker may take it over
        assert tx.claim_challenge("o1-c1", LATER, LATER - dt.timedelta(minutes=2))
        tx.finish_challenge("o1-c1", m.VALID, LATER, None, [{"method": "http"}])
        tx.set_authz_status("o1-a", m.VALID, LATER)
        challenge = tx.challenge("o1-c1")
        assert challenge is not None and challenge.status == m.VALID
        assert challenge.validated == LATER
        assert tx.authz_statuses("o1") == [m.VALID]
        assert tx.valid_identifiers("acct1", ["www.example.com", "x.example.com"], LATER) == {
            "www.example.com"
        }


def test_acme_rate_windows(acme: SqlAcmeStore) -> None:
    window = NOW.replace(minute=0, second=0, microsecond=0)
    with acme.transaction() as tx:
        assert tx.rate_count("a", "orders", window) == 0
        assert [tx.bump_rate("a", "orders", window) for _ in range(3)] == [1, 2, 3]
        assert tx.bump_rate("a", "orders", window + dt.timedelta(hours=1)) == 1
        assert tx.rate_count("a", "orders", window) == 3
        tx.purge("00", window + dt.timedelta(minutes=30))
        assert tx.rate_count("a", "orders", window) == 0


def test_acme_audit_chained_with_certificates(acme: SqlAcmeStore, store: SqlStore) -> None:
    with acme.transaction() as tx:
        tx.insert_account(_account())
        tx.audit(AuditEntry("acme.account.created", "acme:acct1", "acme_account", "acct1"), NOW)
    store.append_event(AuditEntry("other.event", "test", "x", "1"), LATER)
    assert store.verify_audit().ok
    assert [e.action for e in store.iter_events()] == ["acme.account.created", "other.event"]


def test_acme_rollback_on_error(acme: SqlAcmeStore) -> None:
    with pytest.raises(RuntimeError), acme.transaction() as tx:
        tx.use_nonce("00ff")
        raise RuntimeError("boom")
    with acme.transaction() as tx:
        assert tx.use_nonce("00ff")


# --- parallel finalization through the use case, on each backend ---------------------------------


@pytest.fixture(scope="module")
def signers(tmp_path_factory: pytest.TempPathFactory) -> dict[Hierarchy, Signer]:
    ca = tmp_path_factory.mktemp("acme-store-ca") / "ca"
    create_authority(
        ca, name="t", passphrase=b"pass phrase 123", now=NOW, base_url="http://ca.example.com"
    )
    return load_issuing_signers(ca, b"pass phrase 123")


@pytest.fixture
def service(store: SqlStore, signers: dict[Hierarchy, Signer]) -> Iterator[AcmeService]:
    issuer = Issuer(store, signers, IssuancePolicy("http://ca.example.com"), builtin_blocklist())
    svc = AcmeService(
        SqlAcmeStore(store),
        issuer,
        store,
        AcmeSettings(insecure_always_valid=True),
        "https://acme.example.com",
        VAConfig(),
        revoke=lambda *a: None,
    )
    yield svc
    svc.close()


def test_acme_parallel_finalize_issues_one_certificate(
    service: AcmeService, store: SqlStore, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    d = directories("https://acme.example.com")["test"]
    key = ec.generate_private_key(ec.SECP256R1())

    def signed(url: str, payload: object, *, kid: str | None = None) -> jwslib.JWS:
        header: dict[str, object] = {"alg": "ES256", "nonce": service.new_nonce(), "url": url}
        if kid:
            header["kid"] = kid
        else:
            header["jwk"] = jwk_of(key)
        return jwslib.parse(json.dumps(jws(key, header, payload)).encode())

    urls = d.urls
    account = service.new_account(
        d, signed(urls.new_account, {"termsOfServiceAgreed": True}), urls.new_account
    ).account
    kid = urls.account(account.id)
    payload = {"identifiers": [{"type": "dns", "value": "www.example.com"}]}
    order = service.new_order(d, signed(urls.new_order, payload, kid=kid), urls.new_order)
    authz_id = order.authz_ids[0]
    with service.store.transaction() as tx:
        authz = tx.authorization(authz_id)
    assert authz is not None
    chal_url = urls.challenge(authz.challenges[0].id)
    service.challenge(d, signed(chal_url, {}, kid=kid), chal_url, authz.challenges[0].id)
    csr = {"csr": b64(make_csr(["www.example.com"]))}
    final_url = urls.finalize(order.id)
    requests = [signed(final_url, csr, kid=kid) for _ in range(6)]
    start = threading.Barrier(len(requests))

    def finalize(req: jwslib.JWS) -> str:
        start.wait(timeout=30)
        try:
            return service.finalize(d, req, final_url, order.id).status
        except OrderNotReady:
            return "refused"

    with concurrent.futures.ThreadPoolExecutor(len(requests)) as pool:
        outcomes = list(pool.map(finalize, requests))
    assert sorted(outcomes) == ["refused"] * 5 + ["valid"]
    issued = [
        c for c in store.list_certificates(limit=1000) if c.request_id == f"acme-order:{order.id}"
    ]
    assert len(issued) == 1
