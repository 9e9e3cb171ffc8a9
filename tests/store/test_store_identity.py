"""The CA identity in the database: recorded once, compared by every host, and the stored
signatures ``audit verify`` checks against it (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from sqlalchemy import insert
from store_helpers import NOW, entry, issue, reservation

from padlock import hosts
from padlock.ca import identity as ident
from padlock.ca import signer as signer_mod
from padlock.config import Settings
from padlock.errors import ConfigError, Conflict
from padlock.pki import keys
from padlock.pki.profiles import Hierarchy
from padlock.store import SqlStore
from padlock.store.identity import IdentityRepository
from padlock.store.tables_revocation import crls

PASS = b"identity tests pass phrase"


def _ca(tmp_path: Path, name: str, db_url: str) -> Settings:
    settings = Settings(data_dir=tmp_path / name, database_url=db_url)
    signer_mod.create_authority(
        settings.ca_dir, name=name, passphrase=PASS, now=NOW, base_url="http://ca.example"
    )
    return settings


def _issuing(settings: Settings) -> signer_mod.Signer:
    return signer_mod.load_issuing_signers(settings.ca_dir, PASS)[Hierarchy.TEST]


def test_store_identity_recorded_once(store: SqlStore, db_url: str, tmp_path: Path) -> None:
    first, second = _ca(tmp_path, "first", db_url), _ca(tmp_path, "second", db_url)
    repo = IdentityRepository(store)
    assert repo.get() == ()
    mine = ident.local_identity(first.ca_dir)
    assert {c.issuer for c in mine} == {
        "test-root",
        "test-issuing",
        "trusted-root",
        "trusted-issuing",
    }
    assert repo.record(mine, NOW, "test") == mine
    # Another CA recording later gets the first one's identity back, and nothing is added.
    assert repo.record(ident.local_identity(second.ca_dir), NOW, "test") == mine
    assert repo.get() == mine
    events = [e for e in store.iter_events() if e.action == "ca.identity.recorded"]
    assert len(events) == 1 and events[0].details["test-issuing"]["key"] == next(
        c.key_sha256 for c in mine if c.issuer == "test-issuing"
    )


def test_store_identity_adopted_then_other_ca_refused(
    store: SqlStore, db_url: str, tmp_path: Path
) -> None:
    """A database made before identities existed adopts the first data dir's CA."""
    first, second = _ca(tmp_path, "first", db_url), _ca(tmp_path, "second", db_url)
    recorded = hosts.check_ca(first, store)
    assert recorded == ident.local_identity(first.ca_dir)
    assert hosts.check_ca(first, store) == recorded  # the same CA again: fine
    with pytest.raises(ConfigError, match="holds another CA") as err:
        hosts.check_ca(second, store)
    assert err.value.hint and "clone-to" in err.value.hint


def test_store_identity_key_fingerprint_is_spki_sha256(tmp_path: Path) -> None:
    settings = _ca(tmp_path, "ca", "sqlite:///unused")
    issuing = next(c for c in ident.local_identity(settings.ca_dir) if c.issuer == "test-issuing")
    cert = x509.load_pem_x509_certificate((settings.ca_dir / "test" / "issuing.crt").read_bytes())
    assert "sha256:" + issuing.key_sha256 == keys.fingerprint(cert.public_key())
    assert issuing.cert_sha256 == cert.fingerprint(hashes.SHA256()).hex()


def _leaf(signer: signer_mod.Signer, serial: int) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.example.com")]))
        .issuer_name(signer.certificate.subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=7))
    )
    return signer.sign_certificate(builder).public_bytes(Encoding.DER)


def _store_leaf(store: SqlStore, signer: signer_mod.Signer) -> int:
    r = reservation(issuer="test-issuing")
    store.reserve_certificate(r, entry("certificate.reserved", r.serial))
    der = _leaf(signer, r.serial)
    store.complete_certificate(
        r.serial, der, hashlib.sha256(der).hexdigest(), NOW, entry("certificate.issued", r.serial)
    )
    return r.serial


def test_store_identity_audit_finds_foreign_signatures(
    store: SqlStore, db_url: str, tmp_path: Path
) -> None:
    ours, theirs = _ca(tmp_path, "ours", db_url), _ca(tmp_path, "theirs", db_url)
    assert hosts.check_signatures(store) == 0  # no identity yet: nothing to check against
    hosts.check_ca(ours, store)
    _store_leaf(store, _issuing(ours))
    assert hosts.check_signatures(store) == 4
    foreign = _store_leaf(store, _issuing(theirs))
    with pytest.raises(Conflict, match=f"certificate {foreign:x}: it is not signed"):
        hosts.check_signatures(store)


def test_store_identity_audit_finds_foreign_crl(
    store: SqlStore, db_url: str, tmp_path: Path
) -> None:
    ours, theirs = _ca(tmp_path, "ours", db_url), _ca(tmp_path, "theirs", db_url)
    hosts.check_ca(ours, store)
    other = _issuing(theirs)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(other.certificate.subject)
        .last_update(NOW)
        .next_update(NOW + dt.timedelta(days=1))
    )
    der = other.sign_crl(builder).public_bytes(Encoding.DER)
    with store.engine.begin() as conn:
        conn.execute(
            insert(crls).values(
                issuer="test-issuing",
                number=1,
                generation=0,
                this_update=NOW,
                next_update=NOW + dt.timedelta(days=1),
                entries=0,
                der=der,
            )
        )
    with pytest.raises(Conflict, match="the CRL of test-issuing: it is not signed"):
        hosts.check_signatures(store)


def test_store_identity_signed_objects_read_page_by_page(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every certificate and pre-signed OCSP response is read, however many pages."""
    from padlock.ca.ports.revocation import CachedResponse
    from padlock.store import identity as identity_mod
    from padlock.store.revocation import RevocationRepository

    monkeypatch.setattr(identity_mod, "PAGE", 2)
    serials = sorted(format(issue(store).serial, "x") for _ in range(5))
    later = NOW + dt.timedelta(days=1)
    responses = [
        CachedResponse(int(s, 16), alg, "test-int", "issued", NOW, later, f"{s}{alg}".encode())
        for s in serials[:3]
        for alg in ("sha1", "sha256")
    ]
    assert all(RevocationRepository(store).save_ocsp_many(responses))
    repo = IdentityRepository(store)
    assert [serial for serial, _issuer, _der in repo.issued_certificates()] == serials
    assert [(s, der) for s, _issuer, der in repo.ocsp_responses()] == [
        (format(r.serial, "x"), r.der) for r in responses
    ]
