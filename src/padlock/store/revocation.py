"""``RevocationRepository``: revocation's storage (``ca.ports.revocation.RevocationStore``).

Every statement is declared with SQLAlchemy Core and run through
:mod:`padlock.store.statements` on the database's own connections: a write is one
transaction with its audit event in it. The reads on the OCSP responder's and the
issuance's hot paths (the issuer's generation, a pre-signed response, a blocked key)
are single statements on the connection each thread keeps, in autocommit: a few
microseconds on SQLite. A CRL's revoked certificates are streamed from a snapshot on a
connection of their own (``Database.stream``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ClauseElement,
    and_,
    bindparam,
    delete,
    insert,
    literal_column,
    outerjoin,
    select,
    update,
)

from padlock.ca.ports import AuditEntry, CertificateRecord, CertState
from padlock.ca.ports.revocation import CachedResponse, StoredCrl
from padlock.errors import AlreadyRevoked, Conflict, NotFound
from padlock.pki.crl_ocsp import RevokedEntry
from padlock.pki.crl_shards import FULL, shard_named_in
from padlock.store.certificates import RECORD_COLUMNS, record_from_row
from padlock.store.crl_shards import CrlShardRepository
from padlock.store.statements import Statements, Tx, bound
from padlock.store.tables import certificates
from padlock.store.tables_revocation import (
    blocked_keys,
    crls,
    ocsp_responses,
    revocation_state,
)

if TYPE_CHECKING:
    from padlock.ca.ports.revocation import RevocationStore
    from padlock.store.certificates import SqlStore

UTC = dt.UTC
_c = certificates.c
_o = ocsp_responses.c
_g = revocation_state.c
_k = blocked_keys.c
_crl = crls.c

ENTRY_BATCH = 20_000

_LIVE = (CertState.ISSUED.value, CertState.REVOKED.value)
_OCSP_DUE = outerjoin(
    certificates, ocsp_responses, and_(_o.serial == _c.serial, _o.hash_alg == "sha1")
)

_STATEMENTS: dict[str, ClauseElement] = {
    # The hot reads (issuance, OCSP).
    "generation": select(_g.generation).where(_g.issuer == bindparam("p_issuer")),
    "blocked": select(_k.key_fingerprint).where(_k.key_fingerprint == bindparam("p_fp")),
    "ocsp": select(_o.issuer, _o.cert_state, _o.this_update, _o.next_update, _o.der).where(
        _o.serial == bindparam("p_serial"), _o.hash_alg == bindparam("p_alg")
    ),
    # Revoking.
    "record": select(*RECORD_COLUMNS).where(_c.serial == bindparam("p_serial")),
    "records_of_request": select(*RECORD_COLUMNS)
    .where(_c.request_id == bindparam("p_request"))
    .order_by(_c.reserved_at, _c.serial),
    "revoke": update(certificates)
    .where(_c.serial == bindparam("p_serial"), _c.state == CertState.ISSUED.value)
    .values(
        state=CertState.REVOKED.value,
        revoked_at=bindparam("p_at"),
        revocation_reason=bindparam("p_reason"),
    ),
    "drop_ocsp": delete(ocsp_responses).where(_o.serial == bindparam("p_serial")),
    "bump_generation": update(revocation_state)
    .where(_g.issuer == bindparam("p_issuer"))
    .values(generation=_g.generation + 1),
    "insert_generation": insert(revocation_state),
    "insert_blocked": insert(blocked_keys),
    # No index on key_fingerprint (migration 0006): a rare act, it scans.
    "same_key": select(_c.serial, _c.state)
    .where(
        _c.key_fingerprint == bindparam("p_fp"),
        _c.serial != bindparam("p_serial"),
        _c.state.in_((CertState.ISSUED.value, CertState.RESERVED.value)),
        _c.not_after > bindparam("p_now"),
    )
    .order_by(_c.serial)
    .with_for_update(),
    # CRLs.
    "revoked_entries": select(_c.serial, _c.revoked_at, _c.revocation_reason).where(
        _c.issuer == bindparam("p_issuer"),
        _c.state == literal_column(f"'{CertState.REVOKED.value}'"),
        _c.not_after >= bindparam("p_since"),
    ),
    "crl": select(
        _crl.issuer,
        _crl.number,
        _crl.generation,
        _crl.this_update,
        _crl.next_update,
        _crl.entries,
        _crl.der,
    ).where(_crl.issuer == bindparam("p_issuer")),
    "crl_state": select(_crl.number, _crl.generation, _crl.this_update, _crl.next_update).where(
        _crl.issuer == bindparam("p_issuer")
    ),
    "insert_crl": insert(crls),
    "replace_crl": update(crls)
    .where(_crl.issuer == bindparam("p_issuer"), _crl.number == bindparam("p_replaces"))
    .values(bound("number", "generation", "this_update", "next_update", "entries", "der")),
    # OCSP responses.
    "lock_states": select(_c.serial, _c.state)
    .where(_c.serial.in_(bindparam("p_serials", expanding=True)))
    .with_for_update(),
    "delete_ocsp": delete(ocsp_responses).where(
        _o.serial == bindparam("p_serial"), _o.hash_alg == bindparam("p_alg")
    ),
    "insert_ocsp": insert(ocsp_responses),
    "ocsp_due": select(*RECORD_COLUMNS)
    .select_from(_OCSP_DUE)
    .where(
        _c.issuer == bindparam("p_issuer"),
        _c.state.in_(_LIVE),
        _c.not_after > bindparam("p_now"),
        (_o.serial.is_(None)) | (_o.this_update < bindparam("p_stale_before")),
    )
    .limit(bindparam("p_limit")),
}


class RevocationRepository:
    """Revocation's tables (and the certificates table's revocation columns)."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self._sql = Statements(store, _STATEMENTS)
        self.shards = CrlShardRepository(store)
        # The hot reads run their SQL on the thread's own connection (``read_row``), the
        # one that writes: on SQLite its page cache is still good after its own commits,
        # where a second connection reread the pages the writer had just changed.
        self._blocked_sql = self._sql["blocked"].sql
        self._generation_sql = self._sql["generation"].sql
        self._ocsp_sql = self._sql["ocsp"].sql

    def _record(self, row: Sequence[Any]) -> CertificateRecord:
        return record_from_row(row, self._store.times.back)

    # -- certificates -------------------------------------------------------------------------

    def get_certificate(self, serial: int) -> CertificateRecord | None:
        return self._store.get_certificate(serial)

    def certificates_for_request(self, request_id: str) -> Sequence[CertificateRecord]:
        with self._sql.reading("reading a request's certificates") as tx:
            rows = tx.raw("records_of_request", {"p_request": request_id})
        return [self._record(r) for r in rows]

    def revoke(
        self,
        serial: int,
        reason: str,
        at: dt.datetime,
        event: AuditEntry,
        block_key: bool,
    ) -> CertificateRecord:
        if block_key:
            return self.revoke_key(serial, at, event)[0]
        serial_hex = format(serial, "x")
        with self._sql.write(f"revoking certificate {serial_hex}") as tx:
            # The audit append comes first: it locks the audit head, which serialises
            # revocations on PostgreSQL (SQLite's BEGIN IMMEDIATE already does).
            tx.audit(event, at)
            return self._revoke_row(tx, serial_hex, reason, at)

    def revoke_key(
        self, serial: int, at: dt.datetime, event: AuditEntry
    ) -> list[CertificateRecord]:
        """Revoke ``serial`` for keyCompromise, block its key, and revoke every other issued,
        unexpired certificate of that key (BR 4.9.1.1), each with its own audit event: one
        transaction. The named certificate's record comes first.

        The key's reservations are locked too (PostgreSQL): a completion that stored its
        certificate first is waited for and revoked here; one that comes after finds the
        key blocked and is refused (``Issuer.issue``).
        """
        serial_hex = format(serial, "x")
        with self._sql.write(f"revoking certificate {serial_hex} and its key") as tx:
            tx.audit(event, at)
            record = self._revoke_row(tx, serial_hex, "keyCompromise", at)
            fp = record.key_fingerprint
            if tx.one("blocked", {"p_fp": fp}) is None:  # else blocked by an earlier revocation
                tx.run(
                    "insert_blocked",
                    {
                        "key_fingerprint": fp,
                        "serial": serial_hex,
                        "blocked_at": at,
                        "actor": event.actor,
                    },
                )
            same_key = tx.all("same_key", {"p_fp": fp, "p_serial": serial_hex, "p_now": at})
            records = [record]
            for other in same_key:
                if other["state"] != CertState.ISSUED.value:
                    continue  # a reservation: its completion is refused now the key is blocked
                details = {**event.details, "key_blocked": True, "same_key_as": serial_hex}
                entry = AuditEntry(
                    event.action, event.actor, event.object_type, other["serial"], details
                )
                tx.audit(entry, at)
                records.append(self._revoke_row(tx, other["serial"], "keyCompromise", at))
        return records

    def _revoke_row(
        self, tx: Tx, serial_hex: str, reason: str, at: dt.datetime
    ) -> CertificateRecord:
        """issued -> revoked, its OCSP responses dropped, its issuer's generation bumped."""
        changed = tx.run("revoke", {"p_serial": serial_hex, "p_at": at, "p_reason": reason})
        rows = tx.raw("record", {"p_serial": serial_hex})
        if not rows:
            raise NotFound(f"There is no certificate with serial {serial_hex}.")
        record = self._record(rows[0])
        if changed != 1:
            if record.state is CertState.REVOKED:
                raise AlreadyRevoked(f"Certificate {serial_hex} is already revoked.")
            raise Conflict(
                f"Certificate {serial_hex} is {record.state.value}: only an issued"
                " certificate can be revoked."
            )
        tx.run("drop_ocsp", {"p_serial": serial_hex})
        if tx.run("bump_generation", {"p_issuer": record.issuer}) != 1:
            tx.run("insert_generation", {"issuer": record.issuer, "generation": 1})
        shard = None if record.der is None else shard_named_in(record.der, record.issuer)
        if shard is not None:  # its entry in the shard its certificate names
            self.shards.note_revocation(
                tx.cursor, record.issuer, shard, record.serial, at, reason, record.not_after
            )
        return record

    def is_key_blocked(self, key_fingerprint: str) -> bool:
        """One indexed read on the thread's own connection (checks before issuance)."""
        row = self._store.read_row(
            self._blocked_sql, {"p_fp": key_fingerprint}, "reading the blocked keys"
        )
        return row is not None

    def is_key_blocked_in(self, cursor: Any, key_fingerprint: str) -> bool:
        """The same read in the caller's write transaction (``cursor``: the DBAPI cursor
        the store gives a StoreWrite): on every issuance's path, inside its reservation."""
        cursor.execute(self._blocked_sql, {"p_fp": key_fingerprint})
        return cursor.fetchone() is not None

    # -- generations (hot) ----------------------------------------------------------------------

    def generation(self, issuer: str) -> int:
        row = self._store.read_row(
            self._generation_sql, {"p_issuer": issuer}, "reading the revocation generation"
        )
        return 0 if row is None else int(row[0])

    # -- CRLs -----------------------------------------------------------------------------------

    def allocate_crl_number(self, issuer: str) -> int:
        return self.shards.allocate_number(issuer, FULL)

    def revoked_entries(self, issuer: str, expired_before: dt.datetime) -> Iterator[RevokedEntry]:
        """Streamed in batches from a snapshot of their own: a million rows take seconds."""
        compiled = self._sql["revoked_entries"]
        params = {"p_issuer": issuer, "p_since": expired_before}
        bound = compiled.bind(params, self._store.times.out)
        back = self._store.times.back

        def work(cursor: Any) -> Iterator[RevokedEntry]:
            cursor.execute(compiled.sql, bound)
            while rows := cursor.fetchmany(ENTRY_BATCH):
                for serial, at, reason in rows:
                    yield RevokedEntry(int(serial, 16), back(at), reason or "unspecified")

        return self._store.stream(work, f"reading the revoked certificates of {issuer}")

    def get_crl(self, issuer: str) -> StoredCrl | None:
        row = self._sql.one("crl", {"p_issuer": issuer}, f"reading the CRL of {issuer}")
        if row is None:
            return None
        return StoredCrl(
            row["issuer"],
            int(row["number"]),
            int(row["generation"]),
            row["this_update"],
            row["next_update"],
            int(row["entries"]),
            bytes(row["der"]),
        )

    def crl_state(self, issuer: str) -> tuple[int, int, dt.datetime, dt.datetime] | None:
        row = self._sql.one("crl_state", {"p_issuer": issuer}, f"reading the CRL of {issuer}")
        if row is None:
            return None
        return int(row["number"]), int(row["generation"]), row["this_update"], row["next_update"]

    def save_crl(self, crl: StoredCrl, replaces: int | None) -> bool:
        values = {
            "number": crl.number,
            "generation": crl.generation,
            "this_update": crl.this_update,
            "next_update": crl.next_update,
            "entries": crl.entries,
            "der": crl.der,
        }
        try:
            with self._sql.write(f"storing CRL {crl.number} of {crl.issuer}") as tx:
                if replaces is None:
                    tx.run("insert_crl", {"issuer": crl.issuer, **values})
                    return True
                params = {f"p_{k}": v for k, v in values.items()}
                changed = tx.run(
                    "replace_crl", {"p_issuer": crl.issuer, "p_replaces": replaces, **params}
                )
                return changed == 1
        except Conflict:  # another process inserted the first CRL meanwhile
            return False

    # -- OCSP responses -------------------------------------------------------------------------

    def get_ocsp(self, serial: int, hash_alg: str) -> CachedResponse | None:
        row = self._store.read_row(
            self._ocsp_sql,
            {"p_serial": format(serial, "x"), "p_alg": hash_alg},
            "reading a pre-signed OCSP response",
        )
        if row is None:
            return None
        back = self._store.times.back
        return CachedResponse(
            serial, hash_alg, row[0], row[1], back(row[2]), back(row[3]), bytes(row[4])
        )

    def save_ocsp(self, response: CachedResponse) -> bool:
        return self.save_ocsp_many([response])[0]

    def save_ocsp_many(self, responses: Sequence[CachedResponse]) -> list[bool]:
        """Each response stored (replacing its earlier one) only if its certificate is still
        in ``cert_state``; all in one transaction, three statements however many."""
        if not responses:
            return []
        serials = [format(r.serial, "x") for r in responses]
        try:
            with self._sql.write(f"storing {len(responses)} OCSP responses") as tx:
                # Lock the certificates' rows (PostgreSQL): a revocation committing meanwhile
                # is seen here, and a response signed for the old state is not stored.
                locked = tx.all("lock_states", {"p_serials": sorted(set(serials))})
                states = {r["serial"]: r["state"] for r in locked}
                saved = [
                    states.get(s) == r.cert_state for s, r in zip(serials, responses, strict=True)
                ]
                # The last of several responses for one (serial, algorithm) wins.
                rows = {
                    (s, r.hash_alg): {
                        "serial": s,
                        "hash_alg": r.hash_alg,
                        "issuer": r.issuer,
                        "cert_state": r.cert_state,
                        "this_update": r.this_update,
                        "next_update": r.next_update,
                        "der": r.der,
                    }
                    for s, r, ok in zip(serials, responses, saved, strict=True)
                    if ok
                }
                tx.run_many("delete_ocsp", [{"p_serial": s, "p_alg": a} for s, a in rows])
                tx.run_many("insert_ocsp", list(rows.values()))
                return saved
        except Conflict:  # another process stored one meanwhile: sign again next time
            return [False] * len(responses)

    def ocsp_due(
        self, issuer: str, now: dt.datetime, stale_before: dt.datetime, limit: int
    ) -> Sequence[CertificateRecord]:
        if limit <= 0:
            return []
        params = {
            "p_issuer": issuer,
            "p_now": now,
            "p_stale_before": stale_before,
            "p_limit": limit,
        }
        with self._sql.reading(f"finding OCSP responses of {issuer} to sign") as tx:
            rows = tx.raw("ocsp_due", params)
        return [self._record(r) for r in rows]


if TYPE_CHECKING:

    def _is_a_revocation_store(repo: RevocationRepository) -> RevocationStore:
        return repo
