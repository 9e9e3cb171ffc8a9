"""``ca new-issuer``: a new issuing CA under the same root takes over issuance at once, even
in an authority opened before it was made; the old one issues nothing more and keeps its
chain, CRL and OCSP answers for what it issued; the change is audited and another host of
the same database refuses to issue until its data dir has the new CA."""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from padlock import hosts, wiring
from padlock.ca import identity as ident
from padlock.ca.issuance import IssuedCertificate, IssueRequest
from padlock.ca.signer import create_authority, issuing_files, offline_dir_for
from padlock.config import Settings
from padlock.errors import ConfigError
from padlock.pki.crl_shards import shard_named
from padlock.pki.profiles import Hierarchy
from tests.ca.conftest import BASE_URL, CA_PASSPHRASE, build_csr
from tests.ca.issue_loop import pg_schema
from tests.conftest import OPENSSL

PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER
SHA1 = hashes.SHA1  # RFC 5019 2.1.1: OCSP clients identify certificates by SHA-1


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """SQLite in the data dir, then a fresh PostgreSQL schema (where several hosts meet)."""
    if request.param == "sqlite":
        yield None
        return
    with pg_schema("padlock_new_issuer") as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    settings = Settings(data_dir=tmp_path / "a", base_url=BASE_URL, database_url=database_url)
    create_authority(
        settings.ca_dir,
        name="padlock tests",
        passphrase=CA_PASSPHRASE,
        now=dt.datetime.now(dt.UTC),
        base_url=BASE_URL,
    )
    hosts.record_ca(settings, "test")
    return settings


@pytest.fixture
def authority(settings: Settings) -> Iterator[wiring.Authority]:
    found = wiring.open_authority(settings, CA_PASSPHRASE)
    yield found
    found.close()


def _issue(authority: wiring.Authority, profile: str, name: str) -> IssuedCertificate:
    request = IssueRequest(build_csr([name]), profile, domain_control_shown=True)
    return authority.issuer.issue(request)


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OPENSSL, *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )


def _verify(tmp: Path, root: Path, issued: IssuedCertificate, untrusted: bytes) -> str:
    (tmp / "leaf.pem").write_bytes(issued.certificate_pem)
    (tmp / "untrusted.pem").write_bytes(untrusted)
    done = _openssl(
        "verify", "-x509_strict", "-purpose", "sslserver", "-CAfile", root,
        "-untrusted", tmp / "untrusted.pem", tmp / "leaf.pem",
    )  # fmt: skip
    return done.stdout + done.stderr


def _issuing(settings: Settings, hierarchy: Hierarchy, generation: int) -> x509.Certificate:
    path = issuing_files(settings.ca_dir, hierarchy, generation)[0]
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_new_issuer_takes_over_issuance_and_old_certificates_keep_their_chain(
    settings: Settings, authority: wiring.Authority, tmp_path: Path
) -> None:
    old = _issue(authority, "dv", "old.example.com")
    made = hosts.new_issuer(settings, Hierarchy.TRUSTED, CA_PASSPHRASE)
    assert (made.issuer, made.succeeds) == ("trusted-issuing-2", "trusted-issuing")

    second = _issuing(settings, Hierarchy.TRUSTED, 2)
    first = _issuing(settings, Hierarchy.TRUSTED, 1)
    root = settings.ca_dir / "trusted" / "root.crt"
    # The new CA: the same root, serverAuth only (Chrome root policy 1.8), its own name.
    second.verify_directly_issued_by(x509.load_pem_x509_certificate(root.read_bytes()))
    eku = second.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    cn = second.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == "padlock tests Trusted Issuing CA 2"
    assert second.public_key() != first.public_key()

    # The authority opened before new-issuer issues from the new CA at its next certificate.
    new = _issue(authority, "dv", "new.example.com")
    assert new.record.issuer == "trusted-issuing-2"
    leaf = x509.load_pem_x509_certificate(new.certificate_pem)
    assert leaf.issuer == second.subject
    assert new.chain_pem == second.public_bytes(PEM)
    assert _verify(tmp_path, root, new, new.chain_pem).strip().endswith("OK")
    assert "OK" not in _verify(tmp_path, root, new, first.public_bytes(PEM)).splitlines()[-1]
    aia = leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert f"{BASE_URL}/ca/trusted-issuing-2.der" in [d.access_location.value for d in aia]

    # An old certificate keeps its own issuer's chain.
    again = authority.issuer.package(old.record)
    assert again.chain_pem == first.public_bytes(PEM)
    assert _verify(tmp_path, root, again, again.chain_pem).strip().endswith("OK")
    # How long each must answer: its unexpired certificates and the last one's end.
    spans = hosts.issuer_spans(settings)
    assert spans["trusted-issuing"] == (1, old.record.not_after)
    assert spans["trusted-issuing-2"] == (1, new.record.not_after)
    # The test hierarchy did not move.
    assert _issue(authority, "test", "t.example.com").record.issuer == "test-issuing"


def test_new_issuer_old_issuer_still_answers_ocsp_and_crl_and_revokes(
    settings: Settings, authority: wiring.Authority, tmp_path: Path
) -> None:
    old = _issue(authority, "test", "old.example.com")
    hosts.new_issuer(settings, Hierarchy.TEST, CA_PASSPHRASE)
    new = _issue(authority, "test", "new.example.com")
    assert new.record.issuer == "test-issuing-2"
    revocation = wiring.open_revocation(authority, CA_PASSPHRASE)
    now = dt.datetime.now(dt.UTC)
    revocation.tick(now)
    assert {"test-issuing", "test-issuing-2"} <= set(revocation.ocsp.responders)

    first, second = _issuing(settings, Hierarchy.TEST, 1), _issuing(settings, Hierarchy.TEST, 2)
    old_leaf = x509.load_pem_x509_certificate(old.certificate_pem)
    new_leaf = x509.load_pem_x509_certificate(new.certificate_pem)
    for leaf, issuer, status in ((old_leaf, first, "good"), (new_leaf, second, "good")):
        request = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, SHA1()).build()
        answer = revocation.ocsp.answer(request.public_bytes(DER), now)
        assert answer.status == status
        response = ocsp.load_der_ocsp_response(answer.der)
        response.certificates[0].verify_directly_issued_by(issuer)  # its own CA's responder

    revocation.revoker.revoke(old.record.serial, "keyCompromise", "test")
    request = ocsp.OCSPRequestBuilder().add_certificate(old_leaf, first, SHA1()).build()
    assert revocation.ocsp.answer(request.public_bytes(DER), now).status == "revoked"
    shard = shard_named(old_leaf, "test-issuing")  # the CRL the old certificate names
    assert shard is not None and revocation.shards is not None
    crl = revocation.shards.current("test-issuing", shard, dt.datetime.now(dt.UTC))
    (tmp_path / "crl.pem").write_bytes(x509.load_der_x509_crl(crl.der).public_bytes(PEM))
    (tmp_path / "old.pem").write_bytes(old.certificate_pem)
    (tmp_path / "first.pem").write_bytes(first.public_bytes(PEM))
    checked = _openssl(
        "verify", "-crl_check", "-CRLfile", tmp_path / "crl.pem",
        "-CAfile", settings.ca_dir / "test" / "root.crt",
        "-untrusted", tmp_path / "first.pem", tmp_path / "old.pem",
    )  # fmt: skip
    assert checked.returncode != 0
    assert "certificate revoked" in checked.stdout + checked.stderr
    assert x509.load_der_x509_crl(crl.der).is_signature_valid(first.public_key())  # type: ignore[arg-type]
    # The new issuing CA takes its hierarchy's CRL shards: its certificates name its own.
    new_shard = shard_named(new_leaf, "test-issuing-2")
    assert new_shard is not None
    new_crl = revocation.shards.current("test-issuing-2", new_shard, dt.datetime.now(dt.UTC))
    assert x509.load_der_x509_crl(new_crl.der).is_signature_valid(second.public_key())  # type: ignore[arg-type]


def test_new_issuer_is_audited_and_recorded_in_the_identity(
    settings: Settings, authority: wiring.Authority
) -> None:
    hosts.new_issuer(settings, Hierarchy.TRUSTED, CA_PASSPHRASE)
    _issue(authority, "dv", "www.example.com")
    events = [e for e in authority.store.iter_events() if e.action == "ca.issuer.added"]
    assert [(e.object_id, e.details["succeeds"]) for e in events] == [
        ("trusted-issuing-2", "trusted-issuing")
    ]
    assert authority.store.verify_audit().ok
    recorded = hosts.record_ca(settings, "test")
    assert ident.current_issuers(recorded) == {
        Hierarchy.TEST: "test-issuing",
        Hierarchy.TRUSTED: "trusted-issuing-2",
    }
    # every stored certificate is signed by a recorded key (padlock audit verify)
    assert hosts.check_signatures(authority.store) == 5


def test_new_issuer_another_host_refuses_until_updated(
    settings: Settings, authority: wiring.Authority, tmp_path: Path
) -> None:
    host_b = Settings(data_dir=tmp_path / "b", base_url=BASE_URL, database_url=settings.db_url)
    hosts.clone_to(settings, host_b.data_dir, with_passphrase=False)
    running_b = wiring.open_authority(host_b, CA_PASSPHRASE)
    try:
        hosts.new_issuer(settings, Hierarchy.TEST, CA_PASSPHRASE)
        # B, running, does not issue from the succeeded CA: it says what it lacks.
        with pytest.raises(ConfigError, match="lacks the issuing CA test-issuing-2") as refused:
            _issue(running_b, "test", "b.example.com")
        assert "clone-to" in str(refused.value.hint) and "--update" in str(refused.value.hint)
        with pytest.raises(ConfigError, match="lacks the issuing CA test-issuing-2"):
            wiring.open_authority(host_b, CA_PASSPHRASE).close()
        copied = hosts.clone_to(settings, host_b.data_dir, with_passphrase=False, update=True)
        names = {p.name for p in copied}
        assert names == {"issuing-2.crt", "issuing-2.key", "ocsp-2.crt", "ocsp-2.key"}
        assert _issue(running_b, "test", "b.example.com").record.issuer == "test-issuing-2"
    finally:
        running_b.close()
    assert not (offline_dir_for(host_b.ca_dir) / "trusted-root.key").exists()  # never copied


def test_new_issuer_refused_without_the_trusted_root_key(
    settings: Settings, tmp_path: Path
) -> None:
    root_key = offline_dir_for(settings.ca_dir) / "trusted-root.key"
    moved = tmp_path / "safe" / "trusted-root.key"
    moved.parent.mkdir()
    root_key.rename(moved)  # the operator took it offline, as they should
    with pytest.raises(Exception, match="root key"):
        hosts.new_issuer(settings, Hierarchy.TRUSTED, CA_PASSPHRASE)
    assert not issuing_files(settings.ca_dir, Hierarchy.TRUSTED, 2)[0].exists()
    made = hosts.new_issuer(settings, Hierarchy.TRUSTED, CA_PASSPHRASE, root_key=moved)
    assert made.issuer == "trusted-issuing-2"
