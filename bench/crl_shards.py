"""Partitioned CRLs at a million revoked certificates. Prints JSON.

    python bench/crl_shards.py [--entries 1000000] [--shards 128] [--db-url URL]

Makes a CA in a temporary data dir (SQLite there, or the PostgreSQL at ``--db-url``) and
bulk-loads ``--entries`` revoked entries over ``--shards`` shards (straight into the
shard table, as revocations leave them; not issuance). Then measures:

- ``full_regeneration_s``: every shard signed again from one pass over the entries and
  stored in one transaction (``ShardedCrls.regenerate_all``): the target is < 10 s;
- one revocation of a real certificate issued with a shard URL (``Revoker.revoke``, which
  republishes its shard): ``revoke_call_ms`` is the call, ``visible_after_return_ms`` the
  time from its return until the stored shard, read as a relying party's fetch would read
  it, lists the serial: the target is < 100 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

PASSPHRASE = b"bench pass phrase"
ISSUER = "trusted-issuing"
BATCH = 50_000
REASONS = ("unspecified", "keyCompromise", "superseded", "cessationOfOperation")


def _csr(name: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), False)
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )


def _load(shards_repo: object, entries: int, shards: int, now: dt.datetime) -> float:
    """Bulk-load ``entries`` revoked entries; the seconds it took."""
    started = time.perf_counter()
    for start in range(0, entries, BATCH):
        rows = []
        for i in range(start, min(entries, start + BATCH)):
            serial = secrets.randbits(127) | 1 << 100
            at = now - dt.timedelta(seconds=i % 86_400)
            rows.append((serial, serial % shards, at, REASONS[i % 4], now + dt.timedelta(days=60)))
        shards_repo.add_entries(ISSUER, rows)  # type: ignore[attr-defined]
    return time.perf_counter() - started


def run(entries: int, shards: int, db_url: str | None, data: Path) -> dict[str, object]:
    from padlock.ca.crl_shards import ShardedCrls
    from padlock.ca.issuance import IssuancePolicy, Issuer, IssueRequest
    from padlock.ca.revocation import Revoker
    from padlock.ca.revocation_settings import RevocationChoice
    from padlock.ca.signer import create_authority, load_issuing_signers
    from padlock.store import open_store
    from padlock.store.revocation import RevocationRepository

    base = "http://ca.example.com"
    now = dt.datetime.now(dt.UTC)
    create_authority(data / "ca", name="bench", passphrase=PASSPHRASE, now=now, base_url=base)
    signers = load_issuing_signers(data / "ca", PASSPHRASE)
    store = open_store(db_url or f"sqlite:///{(data / 'padlock.db').resolve()}")
    try:
        repo = RevocationRepository(store)  # type: ignore[arg-type]
        chosen = {ISSUER: RevocationChoice(shards, False)}
        sharded = ShardedCrls(repo.shards, signers.values(), chosen, base)
        policy = IssuancePolicy(base, revocation=chosen)
        issuer = Issuer(store, signers, policy, blocked_keys=repo)
        revoker = Revoker(repo, shards=sharded)
        load_s = _load(repo.shards, entries, shards, now)

        started, cpu = time.perf_counter(), time.process_time()
        heads = sharded.regenerate_all(ISSUER, dt.datetime.now(dt.UTC))
        full_s, full_cpu = time.perf_counter() - started, time.process_time() - cpu
        sizes = [len(c.der) for c in (repo.shards.get(ISSUER, h.shard) for h in heads) if c]

        issued = issuer.issue(
            IssueRequest(_csr("www.example.com"), "dv", domain_control_shown=True)
        )
        serial = issued.record.serial
        shard = serial % shards
        started, cpu = time.perf_counter(), time.process_time()
        revoker.revoke(serial, "keyCompromise", "bench")
        returned, revoke_cpu = time.perf_counter(), time.process_time() - cpu
        while True:  # as a fetch of the shard would see it: the stored bytes, parsed
            crl = repo.shards.get(ISSUER, shard)
            if crl is not None and x509.load_der_x509_crl(
                crl.der
            ).get_revoked_certificate_by_serial_number(serial):
                break
            if time.perf_counter() - returned > 30:
                raise SystemExit("the revocation never reached its shard")
        visible = time.perf_counter()
        return {
            "entries": entries,
            "shards": shards,
            "database": "postgresql" if db_url else "sqlite",
            "bulk_load_s": round(load_s, 2),
            "full_regeneration_s": round(full_s, 2),
            # CPU of this process (SQLite runs in it): what the wall time is on an idle machine
            "full_regeneration_cpu_s": round(full_cpu, 2),
            "shards_signed": len(heads),
            "shard_bytes_mean": round(sum(sizes) / len(sizes)) if sizes else 0,
            "shard_bytes_total": sum(sizes),
            "revoke_call_ms": round((returned - started) * 1000, 1),
            "revoke_call_cpu_ms": round(revoke_cpu * 1000, 1),
            "visible_after_return_ms": round((visible - returned) * 1000, 2),
            "entries_in_its_shard": repo.shards.head(ISSUER, shard) and crl.entries,
            "cpus": os.cpu_count(),
            "load_average_1m": round(os.getloadavg()[0], 1),
            "targets": {"full_regeneration_s": 10, "visible_after_return_ms": 100},
        }
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, default=128)
    parser.add_argument("--db-url", default=None, help="a PostgreSQL URL (a fresh database)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="padlock-crl-bench-") as tmp:
        result = run(args.entries, args.shards, args.db_url, Path(tmp))
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
