"""``RevocationRepository``: revocation's storage (``ca.revocation.RevocationStore``).

Writes go through :mod:`padlock.store.base` (one transaction, its audit event in
it). The two reads on the OCSP responder's hot path (the issuer's generation and
a pre-signed response) run as single statements on a connection each thread
keeps, in autocommit, through the DBAPI cursor: a few microseconds on SQLite.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    delete,
    exc,
    insert,
    literal_column,
    outerjoin,
    select,
    update,
)

from padlock.ca.ports import AuditEntry, CertificateRecord, CertState
from padlock.ca.revocation import CachedResponse, StoredCrl
from padlock.errors import AlreadyRevoked, Conflict, NotFound
from padlock.pki.crl_ocsp import RevokedEntry
from padlock.store import base
from padlock.store.certificates import RECORD_COLUMNS, record_from_row
from padlock.store.engine import storage_error
from padlock.store.tables import certificates
from padlock.store.tables_revocation import (
    blocked_keys,
    crls,
    ocsp_responses,
    revocation_state,
)

if TYPE_CHECKING:
    from padlock.ca.revocation import RevocationStore
    from padlock.store.certificates import SqlStore

UTC = dt.UTC
_c = certificates.c
_o = ocsp_responses.c
_g = revocation_state.c
_k = blocked_keys.c
_crl = crls.c

ENTRY_BATCH = 20_000


def _utc(value: Any) -> dt.datetime:
    when: dt.datetime = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _record(row: Sequence[Any]) -> CertificateRecord:
    return record_from_row(row, _utc)


class _HotReads:
    """Single-statement reads on the hot paths (issuance, OCSP), compiled once.

    They run on the thread's own store connection (``SqlStore.read_row``), the one
    that writes: on SQLite its page cache is still good after its own commits,
    where a second connection reread the pages the writer had just changed (about
    a fifth of an issuance's blocked-key lookup went there).
    """

    def __init__(self, store: SqlStore) -> None:
        self._store = store
        dialect = store.engine.dialect
        self.generation_sql = str(
            select(_g.generation).where(_g.issuer == bindparam("p_issuer")).compile(dialect=dialect)
        )
        self.blocked_sql = str(
            select(_k.key_fingerprint)
            .where(_k.key_fingerprint == bindparam("p_fp"))
            .compile(dialect=dialect)
        )
        self.ocsp_sql = str(
            select(_o.issuer, _o.cert_state, _o.this_update, _o.next_update, _o.der)
            .where(_o.serial == bindparam("p_serial"), _o.hash_alg == bindparam("p_alg"))
            .compile(dialect=dialect)
        )

    def one(self, sql: str, params: dict[str, Any], doing: str) -> Any:
        return self._store.read_row(sql, params, doing)


class RevocationRepository:
    """Revocation's tables (and the certificates table's revocation columns)."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self._hot = _HotReads(store)

    # -- certificates -------------------------------------------------------------------------

    def get_certificate(self, serial: int) -> CertificateRecord | None:
        return self._store.get_certificate(serial)

    def certificates_for_request(self, request_id: str) -> Sequence[CertificateRecord]:
        with base.read(self._store, "reading a request's certificates") as conn:
            rows = conn.execute(
                select(*RECORD_COLUMNS)
                .where(_c.request_id == request_id)
                .order_by(_c.reserved_at, _c.serial)
            ).all()
        return [_record(r) for r in rows]

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
        with base.write(self._store, f"revoking certificate {serial_hex}") as tx:
            # The audit append comes first: it locks the audit head, which serialises
            # revocations on PostgreSQL (SQLite's BEGIN IMMEDIATE already does).
            tx.audit(event, at)
            return self._revoke_row(tx.conn, serial_hex, reason, at)

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
        with base.write(self._store, f"revoking certificate {serial_hex} and its key") as tx:
            tx.audit(event, at)
            conn = tx.conn
            record = self._revoke_row(conn, serial_hex, "keyCompromise", at)
            fp = record.key_fingerprint
            known = conn.execute(select(_k.key_fingerprint).where(_k.key_fingerprint == fp))
            if known.first() is None:  # else blocked by an earlier revocation
                conn.execute(
                    insert(blocked_keys).values(
                        key_fingerprint=fp, serial=serial_hex, blocked_at=at, actor=event.actor
                    )
                )
            # No index on key_fingerprint (migration 0006): a rare act, it scans.
            same_key = conn.execute(
                select(_c.serial, _c.state)
                .where(
                    _c.key_fingerprint == fp,
                    _c.serial != serial_hex,
                    _c.state.in_((CertState.ISSUED.value, CertState.RESERVED.value)),
                    _c.not_after > self._time(conn, at),
                )
                .order_by(_c.serial)
                .with_for_update()
            ).all()
            records = [record]
            for other, state in same_key:
                if state != CertState.ISSUED.value:
                    continue  # a reservation: its completion is refused now the key is blocked
                details = {**event.details, "key_blocked": True, "same_key_as": serial_hex}
                tx.audit(
                    AuditEntry(event.action, event.actor, event.object_type, other, details), at
                )
                records.append(self._revoke_row(conn, other, "keyCompromise", at))
        return records

    def _revoke_row(
        self, conn: Connection, serial_hex: str, reason: str, at: dt.datetime
    ) -> CertificateRecord:
        """issued -> revoked, its OCSP responses dropped, its issuer's generation bumped."""
        changed = conn.execute(
            update(certificates)
            .where(_c.serial == serial_hex, _c.state == CertState.ISSUED.value)
            .values(
                state=CertState.REVOKED.value,
                revoked_at=self._time(conn, at),
                revocation_reason=reason,
            )
        ).rowcount
        row = conn.execute(select(*RECORD_COLUMNS).where(_c.serial == serial_hex)).first()
        if row is None:
            raise NotFound(f"There is no certificate with serial {serial_hex}.")
        record = _record(row)
        if changed != 1:
            if record.state is CertState.REVOKED:
                raise AlreadyRevoked(f"Certificate {serial_hex} is already revoked.")
            raise Conflict(
                f"Certificate {serial_hex} is {record.state.value}: only an issued"
                " certificate can be revoked."
            )
        conn.execute(ocsp_responses.delete().where(_o.serial == serial_hex))
        bumped = conn.execute(
            update(revocation_state)
            .where(_g.issuer == record.issuer)
            .values(generation=_g.generation + 1)
        ).rowcount
        if bumped != 1:
            conn.execute(insert(revocation_state).values(issuer=record.issuer, generation=1))
        return record

    @staticmethod
    def _time(conn: Connection, at: dt.datetime) -> Any:
        """The certificates table keeps SQLAlchemy's own SQLite text form (see tables.py)."""
        at = at.astimezone(UTC)
        return at.replace(tzinfo=None) if conn.dialect.name == "sqlite" else at

    def is_key_blocked(self, key_fingerprint: str) -> bool:
        """One indexed read on the thread's own connection (checks before issuance)."""
        row = self._hot.one(
            self._hot.blocked_sql, {"p_fp": key_fingerprint}, "reading the blocked keys"
        )
        return row is not None

    def is_key_blocked_in(self, cursor: Any, key_fingerprint: str) -> bool:
        """The same read in the caller's write transaction (``cursor``: the DBAPI cursor
        the store gives a StoreWrite): on every issuance's path, inside its reservation."""
        cursor.execute(self._hot.blocked_sql, {"p_fp": key_fingerprint})
        return cursor.fetchone() is not None

    # -- generations (hot) ----------------------------------------------------------------------

    def generation(self, issuer: str) -> int:
        row = self._hot.one(
            self._hot.generation_sql, {"p_issuer": issuer}, "reading the revocation generation"
        )
        return 0 if row is None else int(row[0])

    # -- CRLs -----------------------------------------------------------------------------------

    def revoked_entries(self, issuer: str, expired_before: dt.datetime) -> Iterator[RevokedEntry]:
        """Streamed in batches through the DBAPI cursor: a million rows take seconds."""
        engine = self._store.engine
        sqlite = engine.dialect.name == "sqlite"
        sql = str(
            select(_c.serial, _c.revoked_at, _c.revocation_reason)
            .where(
                _c.issuer == bindparam("p_issuer"),
                _c.state == literal_column(f"'{CertState.REVOKED.value}'"),
                _c.not_after >= bindparam("p_since"),
            )
            .compile(dialect=engine.dialect)
        )
        since: Any = expired_before.astimezone(UTC)
        if sqlite:
            since = since.replace(tzinfo=None).isoformat(" ", "microseconds")
        doing = f"reading the revoked certificates of {issuer}"
        try:
            fairy = engine.raw_connection()
        except (exc.SQLAlchemyError, engine.dialect.loaded_dbapi.Error) as err:
            raise storage_error(err, engine.url, doing) from err
        try:
            cursor = fairy.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute(sql, {"p_issuer": issuer, "p_since": since})
                while True:
                    rows = cursor.fetchmany(ENTRY_BATCH)
                    if not rows:
                        break
                    if sqlite:
                        for serial, at, reason in rows:
                            yield RevokedEntry(
                                int(serial, 16),
                                dt.datetime.fromisoformat(at).replace(tzinfo=UTC),
                                reason or "unspecified",
                            )
                    else:
                        for serial, at, reason in rows:
                            yield RevokedEntry(int(serial, 16), at, reason or "unspecified")
            finally:
                cursor.close()
                fairy.driver_connection.rollback()  # type: ignore[union-attr]
        except (exc.SQLAlchemyError, engine.dialect.loaded_dbapi.Error) as err:
            raise storage_error(err, engine.url, doing) from err
        finally:
            fairy.close()

    def get_crl(self, issuer: str) -> StoredCrl | None:
        with base.read(self._store, f"reading the CRL of {issuer}") as conn:
            row = conn.execute(
                select(
                    _crl.issuer,
                    _crl.number,
                    _crl.generation,
                    _crl.this_update,
                    _crl.next_update,
                    _crl.entries,
                    _crl.der,
                ).where(_crl.issuer == issuer)
            ).first()
        if row is None:
            return None
        return StoredCrl(
            row[0], int(row[1]), int(row[2]), row[3], row[4], int(row[5]), bytes(row[6])
        )

    def crl_state(self, issuer: str) -> tuple[int, int, dt.datetime, dt.datetime] | None:
        with base.read(self._store, f"reading the CRL of {issuer}") as conn:
            row = conn.execute(
                select(_crl.number, _crl.generation, _crl.this_update, _crl.next_update).where(
                    _crl.issuer == issuer
                )
            ).first()
        if row is None:
            return None
        return int(row[0]), int(row[1]), row[2], row[3]

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
            with base.write(self._store, f"storing CRL {crl.number} of {crl.issuer}") as tx:
                if replaces is None:
                    tx.conn.execute(insert(crls).values(issuer=crl.issuer, **values))
                    return True
                changed = tx.conn.execute(
                    update(crls)
                    .where(_crl.issuer == crl.issuer, _crl.number == replaces)
                    .values(**values)
                ).rowcount
                return bool(changed == 1)
        except Conflict:  # another process inserted the first CRL meanwhile
            return False

    # -- OCSP responses -------------------------------------------------------------------------

    def get_ocsp(self, serial: int, hash_alg: str) -> CachedResponse | None:
        row = self._hot.one(
            self._hot.ocsp_sql,
            {"p_serial": format(serial, "x"), "p_alg": hash_alg},
            "reading a pre-signed OCSP response",
        )
        if row is None:
            return None
        return CachedResponse(
            serial, hash_alg, row[0], row[1], _utc(row[2]), _utc(row[3]), bytes(row[4])
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
            with base.write(self._store, f"storing {len(responses)} OCSP responses") as tx:
                # Lock the certificates' rows (PostgreSQL): a revocation committing meanwhile
                # is seen here, and a response signed for the old state is not stored.
                states = dict(
                    tx.conn.execute(
                        select(_c.serial, _c.state)
                        .where(_c.serial.in_(sorted(set(serials))))
                        .with_for_update()
                    ).all()
                )
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
                if rows:
                    tx.conn.execute(
                        delete(ocsp_responses).where(
                            _o.serial == bindparam("d_serial"), _o.hash_alg == bindparam("d_alg")
                        ),
                        [{"d_serial": s, "d_alg": a} for s, a in rows],
                    )
                    tx.conn.execute(insert(ocsp_responses), list(rows.values()))
                return saved
        except Conflict:  # another process stored one meanwhile: sign again next time
            return [False] * len(responses)

    def ocsp_due(
        self, issuer: str, now: dt.datetime, stale_before: dt.datetime, limit: int
    ) -> Sequence[CertificateRecord]:
        if limit <= 0:
            return []
        joined = outerjoin(
            certificates,
            ocsp_responses,
            and_(_o.serial == _c.serial, _o.hash_alg == "sha1"),
        )
        with base.read(self._store, f"finding OCSP responses of {issuer} to sign") as conn:
            rows = conn.execute(
                select(*RECORD_COLUMNS)
                .select_from(joined)
                .where(
                    _c.issuer == issuer,
                    _c.state.in_((CertState.ISSUED.value, CertState.REVOKED.value)),
                    _c.not_after > self._time(conn, now),
                    (_o.serial.is_(None)) | (_o.this_update < stale_before),
                )
                .limit(limit)
            ).all()
        return [_record(r) for r in rows]


if TYPE_CHECKING:

    def _is_a_revocation_store(repo: RevocationRepository) -> RevocationStore:
        return repo
