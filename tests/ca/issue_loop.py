"""Issue certificates in a loop, for the fault and concurrency tests.

As a script it is the process the fault tests kill (``SIGKILL``)::

    python tests/ca/issue_loop.py --data-dir DIR [--max 2000] [--seconds 3]

It opens the CA exactly as ``padlock ca issue`` does (``wiring.open_authority``:
the data dir's CA files, ``PADLOCK_CA_PASSPHRASE``, ``PADLOCK_DATABASE_URL`` or
the data dir's SQLite file) and prints, flushing each line:

- ``READY`` once the CA is open;
- ``SIGNED <serial hex>`` right after the issuing CA signed a certificate
  (before it is stored);
- ``ISSUED <serial hex>`` once ``Issuer.issue`` has returned, that is, once the
  certificate is stored: what an answer to a client would be.

Every fourth issuance is ``dv`` (pkilint runs between the reservation and the
signature, so a kill lands there more often); the rest are ``test``.

With ``PADLOCK_TEST_PAUSE_AFTER_RESERVE=K`` (a test-only hook that lives here, not
in ``src/``) the K-th reservation, once ``reserve_certificate`` has returned,
prints ``RESERVED <serial hex>`` and the process sleeps (at most 60 s) waiting
to be killed, so a kill lands between reserve and sign every time.

The functions below are also used in-process by the concurrency tests (threads,
and spawned processes, which import this module by name).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

PAUSE_ENV = "PADLOCK_TEST_PAUSE_AFTER_RESERVE"
PAUSE_LIMIT_S = 60.0
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def csr_for(key: ec.EllipticCurvePrivateKey, name: str) -> bytes:
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
    )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def csr_supply(tag: str, keys: int = 8) -> Iterator[bytes]:
    """Endless distinct CSRs (a name each) over a few P-256 keys."""
    pool = [ec.generate_private_key(ec.SECP256R1()) for _ in range(keys)]
    n = 0
    while True:
        yield csr_for(pool[n % keys], f"www{n}.{tag}.example.com")
        n += 1


def profile_for(n: int) -> str:
    return "dv" if n % 4 == 3 else "test"


def issue_many(issuer: Any, count: int, tag: str, on_issued: Callable[[int], None]) -> list[int]:
    """Issue ``count`` certificates with ``issuer``; their serials, in order."""
    from padlock.ca.issuance import IssueRequest

    serials: list[int] = []
    supply = csr_supply(tag)
    for n in range(count):
        profile = profile_for(n)
        issued = issuer.issue(
            IssueRequest(
                csr=next(supply),
                profile=profile,
                actor=f"loop:{tag}",
                domain_control_shown=profile != "test",
            )
        )
        serials.append(issued.record.serial)
        on_issued(issued.record.serial)
    return serials


def pg_base_url() -> str:
    return os.environ.get("PADLOCK_TEST_PG_URL", DEFAULT_PG_URL)


@contextmanager
def pg_schema(prefix: str = "padlock_ca_test") -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards; its URL (search_path)."""
    import uuid

    import sqlalchemy
    from sqlalchemy.engine import make_url

    base = pg_base_url()
    schema = f"{prefix}_{uuid.uuid4().hex[:16]}"
    admin = sqlalchemy.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql("SET lock_timeout = '10s'")
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        except sqlalchemy.exc.OperationalError:
            pass  # unreachable: the test has failed already, with the reason
        admin.dispose()


# --- the script -------------------------------------------------------------------------------


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _watch_signatures(signer: Any) -> None:
    """Print SIGNED <serial> after each certificate this Signer signs (instance-level wrap)."""
    for name in dir(type(signer)):
        if not name.startswith("sign_"):
            continue
        original = getattr(signer, name)

        def signed(*args: Any, __original: Any = original, **kwargs: Any) -> Any:
            result = __original(*args, **kwargs)
            signed_cert = (
                x509.load_der_x509_certificate(result) if type(result) is bytes else result
            )
            serial = getattr(signed_cert, "serial_number", None)
            if serial is not None:
                _say(f"SIGNED {serial:x}")
            return result

        setattr(signer, name, signed)


def _pause_after_reserve(store: Any, nth: int) -> None:
    original = store.reserve_certificate
    seen = 0

    def reserve(reservation: Any, event: Any, also: Any = None) -> None:
        nonlocal seen
        original(reservation, event, also)
        seen += 1
        if seen == nth:
            _say(f"RESERVED {reservation.serial:x}")
            time.sleep(PAUSE_LIMIT_S)  # the test kills us here
            raise SystemExit("issue_loop: nobody killed me after the reservation")

    store.reserve_certificate = reserve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Issue certificates until killed.")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--max", type=int, default=2000, help="issuances at most")
    parser.add_argument("--seconds", type=float, default=3.0, help="time bound")
    parser.add_argument("--tag", default=f"p{os.getpid()}", help="names are www<n>.<tag>....")
    args = parser.parse_args(argv)

    from padlock import config, wiring
    from padlock.pki.profiles import Hierarchy

    settings = config.from_env().with_overrides(data_dir=Path(args.data_dir))
    authority = wiring.open_authority(settings, wiring.ca_passphrase(settings))
    for hierarchy in Hierarchy:
        _watch_signatures(authority.issuer.signer_for(hierarchy))
    pause = os.environ.get(PAUSE_ENV)
    if pause:
        _pause_after_reserve(authority.store, int(pause))
    from padlock.pki import lint

    lint.warm_up([lint.CertKind.DV])  # so that kills land in issuances, not in pkilint's start
    _say("READY")
    deadline = time.monotonic() + args.seconds
    supply = csr_supply(args.tag)
    from padlock.ca.issuance import IssueRequest

    try:
        for n in range(args.max):
            profile = profile_for(n)
            issued = authority.issuer.issue(
                IssueRequest(
                    csr=next(supply),
                    profile=profile,
                    actor="issue_loop",
                    domain_control_shown=profile != "test",
                )
            )
            _say(f"ISSUED {issued.record.serial_hex}")
            if time.monotonic() > deadline:
                break
    finally:
        authority.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())


def process_worker(
    ca_dir: str, passphrase: bytes, db_url: str, count: int, tag: str, start: Any, results: Any
) -> None:
    """A spawned process with an Issuer of its own (Signers cannot be pickled: each
    process loads the CA keys itself) on the shared database. Waits at the ``start``
    barrier so that the processes issue at the same time; puts (tag, serials or the
    error's text) on ``results``."""
    try:
        results.put((tag, _issue_in_process(ca_dir, passphrase, db_url, count, tag, start)))
    except BaseException as exc:
        results.put((tag, f"{type(exc).__name__}: {exc}"))
        raise


def _issue_in_process(
    ca_dir: str, passphrase: bytes, db_url: str, count: int, tag: str, start: Any
) -> list[int]:
    from padlock.ca.issuance import IssuancePolicy, Issuer
    from padlock.ca.signer import load_issuing_signers, read_meta
    from padlock.pki.keypolicy import builtin_blocklist
    from padlock.store import open_store

    base_url = read_meta(Path(ca_dir))["base_url"]
    signers = load_issuing_signers(Path(ca_dir), passphrase)
    store = open_store(db_url)
    try:
        issuer = Issuer(store, signers, IssuancePolicy(base_url=base_url), builtin_blocklist())
        from padlock.pki import lint

        lint.warm_up([lint.CertKind.DV])
        start.wait(120)
        return issue_many(issuer, count, tag, lambda _serial: None)
    finally:
        store.close()
