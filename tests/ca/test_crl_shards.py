"""Partitioned CRLs in-process on a real store, checked by the real pkilint (lint_crl) and
openssl (verify -crl_check); CRL numbers racing on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import subprocess
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from padlock.ca.crl_shards import ShardedCrls
from padlock.ca.issuance import IssuancePolicy, Issuer, IssueRequest
from padlock.ca.ports import Store
from padlock.ca.revocation import CrlService, Revoker
from padlock.ca.revocation_settings import RevocationChoice
from padlock.ca.signer import Signer
from padlock.pki.keypolicy import builtin_blocklist
from padlock.pki.profiles import Hierarchy
from padlock.store.revocation import RevocationRepository

from .conftest import BASE_URL, build_csr

PEM = serialization.Encoding.PEM
OPENSSL = "/usr/bin/openssl"
LINT_CRL = str(Path(__import__("sys").executable).parent / "lint_crl")
SHARDS = 4
ISSUER = "test-issuing"


class Sharded:
    """An issuer with SHARDS CRL shards for the test hierarchy, and the full CRL beside."""

    def __init__(self, store: Store, signers: dict[Hierarchy, Signer], shards: int = SHARDS):
        self.repo = RevocationRepository(store)  # type: ignore[arg-type]
        choice = {ISSUER: RevocationChoice(shards, True)}
        self.issuer = Issuer(
            store,
            signers,
            IssuancePolicy(base_url=BASE_URL, revocation=choice),
            builtin_blocklist(),
            blocked_keys=self.repo,
        )
        self.signers = signers
        self.shards = ShardedCrls(self.repo.shards, signers.values(), choice, BASE_URL)
        self.crls = CrlService(self.repo, signers.values(), lagging=lambda i: i == ISSUER)
        self.revoker = Revoker(self.repo, self.crls, shards=self.shards)

    def issue(self, name: str = "www.example.com") -> x509.Certificate:
        issued = self.issuer.issue(IssueRequest(build_csr([name]), "test"))
        return x509.load_pem_x509_certificate(issued.certificate_pem)

    def crl(self, shard: int) -> x509.CertificateRevocationList:
        now = dt.datetime.now(dt.UTC)
        return x509.load_der_x509_crl(self.shards.current(ISSUER, shard, now).der)


@pytest.fixture
def sharded(store: Store, signers: dict[Hierarchy, Signer]) -> Sharded:
    return Sharded(store, signers)


def _crldp(cert: x509.Certificate) -> str:
    points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert len(points) == 1 and points[0].full_name is not None
    return str(points[0].full_name[0].value)


def test_crl_shards_certificate_names_its_shard_and_the_shard_names_itself(
    sharded: Sharded,
) -> None:
    cert = sharded.issue()
    shard = cert.serial_number % SHARDS
    url = f"{BASE_URL}/crl/{ISSUER}/{shard}.crl"
    assert _crldp(cert) == url
    crl = sharded.crl(shard)
    idp = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint)
    assert idp.critical  # BR 7.2.2: critical in a partitioned CRL
    assert idp.value.full_name == [x509.UniformResourceIdentifier(url)]
    assert idp.value.only_contains_user_certs and not idp.value.only_contains_ca_certs
    assert crl.is_signature_valid(sharded.signers[Hierarchy.TEST].certificate.public_key())  # type: ignore[arg-type]


def test_crl_shards_revocation_changes_only_its_shard(sharded: Sharded) -> None:
    now = dt.datetime.now(dt.UTC)
    sharded.shards.regenerate_all(ISSUER, now)
    before = dict(sharded.repo.shards.heads(ISSUER))
    assert sorted(before) == list(range(SHARDS))
    cert = sharded.issue()
    shard = cert.serial_number % SHARDS
    sharded.revoker.revoke(cert.serial_number, "keyCompromise", "test")
    after = dict(sharded.repo.shards.heads(ISSUER))
    changed = [s for s in after if after[s] != before[s]]
    assert changed == [shard]
    assert after[shard].number > before[shard].number
    revoked = sharded.crl(shard).get_revoked_certificate_by_serial_number(cert.serial_number)
    assert revoked is not None
    reason = revoked.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason is x509.ReasonFlags.key_compromise
    for other in set(range(SHARDS)) - {shard}:
        assert len(sharded.crl(other)) == 0
    assert sharded.shards.due(ISSUER, dt.datetime.now(dt.UTC)) == []


def test_crl_shards_every_shard_passes_lint_crl(sharded: Sharded, tmp_path: Path) -> None:
    """pkilint's own lint_crl -t CRL -p BR on every shard: no ERROR (nor FATAL)."""
    for i in range(6):
        cert = sharded.issue(f"lint{i}.example.com")
        sharded.revoker.revoke(cert.serial_number, ["superseded", None][i % 2], "test")
    sharded.shards.regenerate_all(ISSUER, dt.datetime.now(dt.UTC))
    for shard in range(SHARDS):
        path = tmp_path / f"{shard}.crl"
        path.write_bytes(sharded.shards.current(ISSUER, shard, dt.datetime.now(dt.UTC)).der)
        linted = subprocess.run(
            [LINT_CRL, "lint", "-t", "CRL", "-p", "BR", "-s", "ERROR", str(path)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert linted.returncode == 0 and linted.stdout.strip() == "", linted.stdout + linted.stderr


def _verify(tmp_path: Path, sharded: Sharded, cert: x509.Certificate, shard: int) -> str:
    signer = sharded.signers[Hierarchy.TEST]
    (tmp_path / "root.pem").write_bytes(signer.chain[-1].public_bytes(PEM))
    (tmp_path / "issuing.pem").write_bytes(signer.certificate.public_bytes(PEM))
    (tmp_path / "leaf.pem").write_bytes(cert.public_bytes(PEM))
    (tmp_path / "shard.pem").write_bytes(sharded.crl(shard).public_bytes(PEM))
    done = subprocess.run(
        [OPENSSL, "verify", "-crl_check", "-CAfile", str(tmp_path / "root.pem"),
         "-untrusted", str(tmp_path / "issuing.pem"), "-CRLfile", str(tmp_path / "shard.pem"),
         str(tmp_path / "leaf.pem")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return done.stdout + done.stderr


def test_crl_shards_openssl_verify_with_the_named_shard(sharded: Sharded, tmp_path: Path) -> None:
    cert = sharded.issue()
    shard = cert.serial_number % SHARDS
    assert _verify(tmp_path, sharded, cert, shard).strip().endswith(": OK")
    # Another shard's IDP does not match the certificate's CRLDP: openssl will not use it.
    other = _verify(tmp_path, sharded, cert, (shard + 1) % SHARDS)
    assert "different CRL scope" in other
    sharded.revoker.revoke(cert.serial_number, "superseded", "test")
    assert "certificate revoked" in _verify(tmp_path, sharded, cert, shard)


def test_crl_shards_certificate_without_a_shard_stays_in_the_full_crl(
    store: Store, signers: dict[Hierarchy, Signer]
) -> None:
    """A certificate issued before its CA had shards names the full CRL; its revocation is
    listed there (signed at once) and in no shard."""
    before = Sharded(store, signers, shards=0)
    old = before.issue()
    assert _crldp(old) == f"{BASE_URL}/crl/{ISSUER}.crl"
    now_sharded = Sharded(store, signers)
    now_sharded.revoker.revoke(old.serial_number, "superseded", "test")
    full = x509.load_der_x509_crl(now_sharded.crls.current(ISSUER, dt.datetime.now(dt.UTC)).der)
    assert full.get_revoked_certificate_by_serial_number(old.serial_number) is not None
    assert not full.extensions.get_extension_for_class(x509.CRLNumber).critical
    assert dict(now_sharded.repo.shards.revisions(ISSUER)) == {}


def test_crl_shards_full_crl_of_a_sharded_issuer_lags_but_catches_up(sharded: Sharded) -> None:
    now = dt.datetime.now(dt.UTC)
    sharded.crls.regenerate(ISSUER, now)
    cert = sharded.issue()
    sharded.revoker.revoke(cert.serial_number, "superseded", "test", now)
    assert not sharded.crls.needs_refresh(ISSUER, now + dt.timedelta(minutes=30))
    assert sharded.crls.needs_refresh(ISSUER, now + dt.timedelta(minutes=61))


def test_crl_shards_unknown_shard_is_not_found(sharded: Sharded) -> None:
    from padlock.errors import NotFound

    with pytest.raises(NotFound):
        sharded.shards.head(ISSUER, SHARDS, dt.datetime.now(dt.UTC))
    with pytest.raises(NotFound):
        sharded.shards.head("trusted-issuing", 0, dt.datetime.now(dt.UTC))


class RecordingSigner:
    """A CA signer that notes the number of every CRL it signs (shard or full)."""

    def __init__(self, signer: Signer, signed: dict[str, list[int]], lock: threading.Lock):
        self._signer, self._signed, self._lock = signer, signed, lock
        self.issuer, self.certificate = signer.issuer, signer.certificate
        self.chain, self.signature_algorithm = signer.chain, signer.signature_algorithm

    def sign_tbs_crl(self, tbs: bytes) -> bytes:
        der = self._signer.sign_tbs_crl(tbs)
        crl = x509.load_der_x509_crl(der)
        number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        try:
            crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint)
            kind = "shard"
        except x509.ExtensionNotFound:
            kind = "full"
        with self._lock:
            self._signed[kind].append(number)
        return der


@pytest.mark.postgres
def test_crl_shards_numbers_never_repeat_with_hosts_racing_on_postgresql(
    signers: dict[Hierarchy, Signer],
) -> None:
    """Four threads (each its own connection and services, as hosts are) revoke into one
    shard and sign it and the full CRL again and again: no CRL number is ever signed twice,
    for the shard or for the full CRL (RFC 5280 5.2.3), and the stored one is the highest."""
    from padlock.store import open_store
    from tests.ca import issue_loop

    signed: dict[str, list[int]] = {"shard": [], "full": []}
    lock = threading.Lock()
    recording = {h: RecordingSigner(s, signed, lock) for h, s in signers.items()}
    with issue_loop.pg_schema("padlock_crl_race") as url:
        store = open_store(url)
        try:
            world = Sharded(store, signers, shards=1)
            certs = [world.issue(f"race{i}.example.com") for i in range(12)]
            start = threading.Barrier(4)
            errors: list[BaseException] = []

            def host(mine: list[x509.Certificate]) -> None:
                other = Sharded(store, recording, shards=1)  # type: ignore[arg-type]
                try:
                    start.wait(timeout=30)
                    for cert in mine:
                        other.revoker.revoke(cert.serial_number, "superseded", "race")
                        now = dt.datetime.now(dt.UTC)
                        other.shards.regenerate(ISSUER, 0, now)
                        other.crls.regenerate(ISSUER, now)
                except BaseException as exc:  # reported below
                    errors.append(exc)

            threads = [threading.Thread(target=host, args=(certs[i::4],)) for i in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=120)
            assert not errors, errors
            assert len(signed["shard"]) >= 2 * len(certs) and len(signed["full"]) >= len(certs)
            for kind, numbers in signed.items():
                assert len(numbers) == len(set(numbers)), (kind, sorted(numbers))
            stored = world.repo.shards.head(ISSUER, 0)
            assert stored is not None and stored.number == max(signed["shard"])
            assert {c.serial_number for c in certs} <= {r.serial_number for r in world.crl(0)}
            # The full CRL is replaced by compare-and-set: a CRL signed by a host that lost
            # the race is dropped, never stored under its number or any other.
            full = world.repo.get_crl(ISSUER)
            assert full is not None and full.number in signed["full"]
            assert full.generation == world.repo.generation(ISSUER)
            assert world.shards.due(ISSUER, dt.datetime.now(dt.UTC)) == []
        finally:
            store.close()
