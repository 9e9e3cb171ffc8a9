"""padlock's own protocol checks against the server under test: the RFC 8555 negative cases
and the answers section 6.7 requires, sent by the kit's own JWS client (wire.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from padlock.conformance.drivers.base import fresh_name
from padlock.conformance.loopback import FileResponder
from padlock.conformance.model import CheckResult, Status
from padlock.conformance.target import Target
from padlock.conformance.wire import ACME_ERR, Client, jwk_of, make_csr

PROBLEM = "application/problem+json"
POLL_S, READY_TIMEOUT_S = 0.25, 30.0


class Refusal(Exception):
    """A check's verdict: the server did not answer as the RFC says."""


@dataclass
class Probe:
    http: httpx.Client
    target: Target

    def client(self, register: bool = True) -> Client:
        client = Client(self.http, self.target.directory)
        if register:
            answer = client.register(contact=["mailto:webmaster@example.com"])
            if answer.status_code not in (200, 201):
                raise Refusal(f"newAccount answered {answer.status_code}: {answer.text[:200]}")
        return client


def expect(answer: httpx.Response, status: int | tuple[int, ...], *kinds: str) -> None:
    """``answer`` is an RFC 7807 problem (RFC 8555 6.7) of one of ``kinds`` with ``status``."""
    statuses = (status,) if isinstance(status, int) else status
    said = f"{answer.status_code} {answer.headers.get('Content-Type', '')} {answer.text[:160]}"
    if answer.status_code not in statuses:
        raise Refusal(f"wanted {'/'.join(map(str, statuses))}, got {said}")
    if not answer.headers.get("Content-Type", "").startswith(PROBLEM):
        raise Refusal(f"not an {PROBLEM} document: {said}")
    try:
        kind = str(answer.json().get("type", ""))
    except ValueError:
        raise Refusal(f"the problem document is not JSON: {said}") from None
    if kinds and kind.removeprefix(ACME_ERR) not in kinds:
        raise Refusal(f"wanted {' or '.join(kinds)}, got {kind or 'no type'}")


def new_nonce(probe: Probe) -> None:
    client = probe.client(register=False)
    answer = probe.http.head(client.directory["newNonce"])
    if answer.status_code != 200 or not answer.headers.get("Replay-Nonce"):
        raise Refusal(f"HEAD newNonce: {answer.status_code}, no Replay-Nonce")
    if "no-store" not in answer.headers.get("Cache-Control", ""):
        raise Refusal("HEAD newNonce has no Cache-Control: no-store")


def bad_nonce(probe: Probe) -> None:
    client = probe.client(register=False)
    answer = client.post(client.directory["newAccount"], {"termsOfServiceAgreed": True},
                         use_jwk=True, nonce="bm90LWEtbm9uY2U")  # fmt: skip
    expect(answer, 400, "badNonce")
    if not answer.headers.get("Replay-Nonce"):
        raise Refusal("badNonce came without a fresh Replay-Nonce")


def replayed_nonce(probe: Probe) -> None:
    client = probe.client()
    nonce = client.fresh_nonce()
    client.post(client.kid or "", None, nonce=nonce)
    expect(client.post(client.kid or "", None, nonce=nonce), 400, "badNonce")


def wrong_url(probe: Probe) -> None:
    client = probe.client()
    header = {"url": client.directory["newOrder"]}
    expect(client.post(client.kid or "", None, header=header), (401, 403), "unauthorized")


def jwk_and_kid(probe: Probe) -> None:
    client = probe.client()
    answer = client.post(client.kid or "", None, header={"jwk": jwk_of(client.key)})
    expect(answer, (400, 401, 403), "malformed")


def alg_none(probe: Probe) -> None:
    client = probe.client(register=False)
    answer = client.post(client.directory["newAccount"], {"termsOfServiceAgreed": True},
                         use_jwk=True, alg="none")  # fmt: skip
    expect(answer, 400, "badSignatureAlgorithm")
    if not isinstance(answer.json().get("algorithms"), list):
        raise Refusal("badSignatureAlgorithm without the algorithms it supports")


def alg_mac(probe: Probe) -> None:
    client = probe.client(register=False)
    answer = client.post(client.directory["newAccount"], {"termsOfServiceAgreed": True},
                         use_jwk=True, alg="HS256", key=b"k" * 32)  # fmt: skip
    expect(answer, 400, "badSignatureAlgorithm")


def unknown_account(probe: Probe) -> None:
    client = probe.client(register=False)
    answer = client.post(client.directory["newAccount"], {"onlyReturnExisting": True},
                         use_jwk=True)  # fmt: skip
    expect(answer, 400, "accountDoesNotExist")


def unknown_kid(probe: Probe) -> None:
    client = probe.client()
    client.kid = (client.kid or "") + "0nosuchaccount"
    expect(client.post(client.directory["newOrder"], {"identifiers": []}), (400, 401, 403, 404),
           "accountDoesNotExist", "unauthorized")  # fmt: skip


def others_order(probe: Probe) -> None:
    owner, other = probe.client(), probe.client()
    placed = owner.new_order([fresh_name(probe.target, "kit-owned")])
    if placed.status_code != 201:
        raise Refusal(f"newOrder answered {placed.status_code}: {placed.text[:160]}")
    expect(other.get(placed.headers["Location"]), (401, 403, 404), "unauthorized", "malformed")


def wrong_media_type(probe: Probe) -> None:
    client = probe.client()
    answer = client.send(client.directory["newOrder"], {"x": 1}, content_type="application/json")
    if answer.status_code != 415:
        raise Refusal(f"wanted 415, got {answer.status_code}")


def ready_order(probe: Probe, client: Client, name: str) -> dict[str, object]:
    """An order for ``name`` proven by http-01 (the kit's responder serves the file)."""
    placed = client.new_order([name])
    if placed.status_code != 201:
        raise Refusal(f"newOrder answered {placed.status_code}: {placed.text[:160]}")
    order: dict[str, object] = {**placed.json(), "url": placed.headers["Location"]}
    authz_url = str(order["authorizations"][0])  # type: ignore[index]
    challenge = client.challenge_of(client.get(authz_url).json(), "http-01")
    webroot = probe.target.work / "checks-www"
    token_dir = webroot / ".well-known" / "acme-challenge"
    token_dir.mkdir(parents=True, exist_ok=True)
    (token_dir / challenge["token"]).write_text(client.key_authorization(challenge["token"]))
    with FileResponder(probe.target.http_port, webroot):
        client.post(challenge["url"], {})
        _until_valid(client, authz_url)
    return order


def _until_valid(client: Client, url: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        status = client.get(url).json().get("status")
        if status == "valid":
            return
        if status not in ("pending", "processing"):
            raise Refusal(f"the http-01 authorization became {status}")
        time.sleep(POLL_S)
    raise Refusal(f"the http-01 authorization was not valid in {READY_TIMEOUT_S:.0f} s")


def finalize_other_names(probe: Probe) -> None:
    client = probe.client()
    order = ready_order(probe, client, fresh_name(probe.target, "kit-ordered"))
    csr = make_csr([fresh_name(probe.target, "kit-not-ordered")])
    expect(client.finalize(order, csr), (400, 403), "badCSR", "unauthorized", "rejectedIdentifier")


def csr_of_account_key(probe: Probe) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    client = Client(probe.http, probe.target.directory, key=key)
    if client.register().status_code not in (200, 201):
        raise Refusal("newAccount failed")
    name = fresh_name(probe.target, "kit-acctkey")
    order = ready_order(probe, client, name)
    expect(client.finalize(order, make_csr([name], key)), 400, "badCSR")


CHECKS: tuple[tuple[str, str, Callable[[Probe], None]], ...] = (
    ("newNonce gives a fresh Replay-Nonce, not cached", "RFC 8555 7.2", new_nonce),
    ("bad nonce: badNonce with a fresh Replay-Nonce", "RFC 8555 6.5", bad_nonce),
    ("replayed nonce: badNonce", "RFC 8555 6.5", replayed_nonce),
    ("wrong url in the protected header: unauthorized", "RFC 8555 6.4", wrong_url),
    ("jwk and kid together: malformed", "RFC 8555 6.2", jwk_and_kid),
    ("alg none: badSignatureAlgorithm with algorithms", "RFC 8555 6.2", alg_none),
    ("alg HS256 (a MAC): badSignatureAlgorithm", "RFC 8555 6.2", alg_mac),
    ("unknown account key (onlyReturnExisting): accountDoesNotExist", "RFC 8555 7.3.1",
     unknown_account),
    ("unknown kid: refused", "RFC 8555 6.2", unknown_kid),
    ("another account's order: refused", "RFC 8555 6.2, 7.1.3", others_order),
    ("a Content-Type other than application/jose+json: 415", "RFC 8555 6.2", wrong_media_type),
    ("finalize with names the order lacks: badCSR", "RFC 8555 7.4", finalize_other_names),
    ("a CSR of the account key: badCSR", "RFC 8555 11.1", csr_of_account_key),
)  # fmt: skip


def run_checks(target: Target) -> tuple[CheckResult, ...]:
    """Every check, each on fresh accounts; a check that cannot finish fails with why."""
    results = []
    with httpx.Client(verify=target.ssl_context(), timeout=15) as http:
        probe = Probe(http, target)
        for name, section, check in CHECKS:
            try:
                check(probe)
            except Refusal as refused:
                results.append(CheckResult(name, section, Status.FAIL, str(refused)))
            except (httpx.HTTPError, KeyError, ValueError, LookupError) as exc:
                results.append(
                    CheckResult(name, section, Status.FAIL, f"{type(exc).__name__}: {exc}")
                )
            else:
                results.append(CheckResult(name, section, Status.PASS))
    return tuple(results)
