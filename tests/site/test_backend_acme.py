"""``padlock.site.backend_acme``: the ACME client against a real ``padlock serve`` (account,
order, http-01, Retry-After, renewal information) and RFC 9773's certificate id."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.support.ports import free_port
from tests.web.conftest import PadlockServer, make_csr

from padlock.errors import (
    CAError,
    CAUnreachable,
    NotFound,
    PolicyError,
)
from padlock.site import backend_acme
from padlock.site.backend_acme import AcmeClient
from padlock.site.ca_http import ACME_DIRECTORY_HINT
from padlock.site.responders import ACME_CHALLENGE_PATH, Standalone


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
    assert backend_acme.cert_id(cert) == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"


# --------------------------------------------------------------------------- ACME


def test_acme_account_kept_and_reused(client_ca: tuple[PadlockServer, int], tmp_path: Path) -> None:
    server, _ = client_ca
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


def test_acme_not_a_directory(client_ca: tuple[PadlockServer, int], tmp_path: Path) -> None:
    server, _ = client_ca
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
    client_ca: tuple[PadlockServer, int], tmp_path: Path
) -> None:
    """A whole order with the standalone listener; then an ov order waiting for review:
    the CA's Retry-After (60 s) is what the client sleeps, and when it is longer than the
    time left, the client returns at once instead of sleeping past its deadline."""
    server, va_port = client_ca
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
