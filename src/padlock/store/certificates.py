"""``SqlStore``: the CA's certificate store (``ca.ports.Store``) on SQLite or PostgreSQL.

Every method is one transaction of :class:`~padlock.store.database.Database` (its
connections, transactions and the one audit append), the audit event that records a
change written in the same transaction as the change.

Speed: issuing one certificate is two transactions (reserve, complete), and the
CA aims at thousands of issuances a second on one core. So the statements are
built once with SQLAlchemy Core, compiled once for the engine's dialect, and run
through the DBAPI cursor of a pooled connection that stays with its thread;
values are converted by hand (times, JSON) instead of through SQLAlchemy's
result machinery, which costs several times more than SQLite itself here.

Errors: whatever SQLAlchemy or the driver raises leaves this module as
:class:`~padlock.errors.StorageError` (or ``Conflict``/``NotFound``/
``AlreadyRevoked`` when the database said something the CA must act on),
raised ``from`` the original.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ClauseElement,
    Engine,
    bindparam,
    func,
    insert,
    literal_column,
    select,
    update,
)

from padlock.ca.ports import AuditEntry, CertificateRecord, CertState, Reservation, StoreWrite
from padlock.errors import AlreadyRevoked, Conflict, NotFound
from padlock.store.database import Database, compile_statements, is_duplicate_key
from padlock.store.engine import make_engine
from padlock.store.migrate import upgrade_engine
from padlock.store.tables import certificates

if TYPE_CHECKING:
    from padlock.ca.ports import Store

UTC = dt.UTC
MAX_SERIAL = 1 << 160

_c = certificates.c

# The columns of a CertificateRecord, in the order the row mapper reads them.
RECORD_COLUMNS = (
    _c.serial,
    _c.hierarchy,
    _c.issuer,
    _c.profile,
    _c.request_id,
    _c.state,
    _c.subject,
    _c.names,
    _c.not_before,
    _c.not_after,
    _c.reserved_at,
    _c.key_fingerprint,
    _c.der,
    _c.sha256,
    _c.issued_at,
    _c.revoked_at,
    _c.revocation_reason,
)


def _state(state: CertState) -> Any:
    return literal_column(f"'{state.value}'")


_COMPLETE = (
    update(certificates)
    .where(_c.serial == bindparam("p_serial"), _c.state == _state(CertState.RESERVED))
    .values(
        state=_state(CertState.ISSUED),
        der=bindparam("p_der"),
        sha256=bindparam("p_sha256"),
        issued_at=bindparam("p_issued_at"),
    )
)

# Parameters of UPDATE statements carry a "p_" prefix: SQLAlchemy reserves the
# plain column names for the SET clause.
_STATEMENTS: dict[str, ClauseElement] = {
    # A reservation's row: the columns it fills, the others NULL by leaving them out (a
    # NULL parameter is one the sqlite3 driver tries to adapt, at a cost).
    "insert_certificate": insert(certificates).values(
        {
            column: bindparam(column)
            for column in (
                "serial",
                "hierarchy",
                "issuer",
                "profile",
                "request_id",
                "state",
                "subject",
                "names",
                "not_before",
                "not_after",
                "reserved_at",
                "key_fingerprint",
                "tbs_der",
            )
        }
    ),
    "get_certificate": select(*RECORD_COLUMNS).where(_c.serial == bindparam("p_serial")),
    "get_state": select(_c.state).where(_c.serial == bindparam("p_serial")),
    "list_all": select(*RECORD_COLUMNS)
    .order_by(_c.reserved_at.desc(), _c.serial.desc())
    .limit(bindparam("p_limit"))
    .offset(bindparam("p_offset")),
    "list_state": select(*RECORD_COLUMNS)
    .where(_c.state == bindparam("p_state"))
    .order_by(_c.reserved_at.desc(), _c.serial.desc())
    .limit(bindparam("p_limit"))
    .offset(bindparam("p_offset")),
    "complete": _COMPLETE.returning(*RECORD_COLUMNS),
    "complete_bare": _COMPLETE,
    "revoke": update(certificates)
    .where(_c.serial == bindparam("p_serial"), _c.state == _state(CertState.ISSUED))
    .values(
        state=_state(CertState.REVOKED),
        revoked_at=bindparam("p_revoked_at"),
        revocation_reason=bindparam("p_reason"),
    )
    .returning(*RECORD_COLUMNS),
    "abandon": update(certificates)
    .where(_c.serial == bindparam("p_serial"), _c.state == _state(CertState.RESERVED))
    .values(state=_state(CertState.ABANDONED)),
    "counts": select(_c.profile, _c.state, func.count()).group_by(_c.profile, _c.state),
}


_STATES = {state.value: state for state in CertState}


_quote = json.encoder.encode_basestring_ascii


def _names_json(names: Sequence[str]) -> str:
    """``json.dumps(list(names))`` for a list of strings, without making an encoder."""
    return "[" + ", ".join(map(_quote, names)) + "]"


def record_from_row(row: Sequence[Any], back: Callable[[Any], dt.datetime]) -> CertificateRecord:
    """A CertificateRecord from a row of RECORD_COLUMNS; ``back`` reads a stored time."""
    return CertificateRecord(
        serial=int(row[0], 16),
        hierarchy=row[1],
        issuer=row[2],
        profile=row[3],
        request_id=row[4],
        state=_STATES[row[5]],
        subject=row[6],
        names=tuple(json.loads(row[7])),
        not_before=back(row[8]),
        not_after=back(row[9]),
        reserved_at=back(row[10]),
        key_fingerprint=row[11],
        der=None if row[12] is None else bytes(row[12]),  # bytes(b) is b itself
        sha256=row[13],
        issued_at=None if row[14] is None else back(row[14]),
        revoked_at=None if row[15] is None else back(row[15]),
        revocation_reason=row[16],
    )


class SqlStore(Database):
    """The CA's :class:`~padlock.ca.ports.Store` on SQLAlchemy; see :func:`open_store`."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)  # connects first: the dialect learns the server's version
        self._sql = compile_statements(engine.dialect, _STATEMENTS)

    # -- rows -------------------------------------------------------------------------

    def _record(self, row: Sequence[Any]) -> CertificateRecord:
        return record_from_row(row, self.times.back)

    # -- certificates -----------------------------------------------------------------

    def reserve_certificate(
        self, reservation: Reservation, event: AuditEntry, also: StoreWrite | None = None
    ) -> None:
        r = reservation
        if not 0 < r.serial < MAX_SERIAL:
            raise ValueError(f"serial must be positive and below 2**160, got {r.serial}")
        out = self.times.out
        serial_hex = format(r.serial, "x")
        reserved_at = out(r.reserved_at, "reserved_at")
        params = {
            "serial": serial_hex,
            "hierarchy": r.hierarchy,
            "issuer": r.issuer,
            "profile": r.profile,
            "request_id": r.request_id,
            "state": CertState.RESERVED.value,
            "subject": r.subject,
            "names": _names_json(r.names),
            "not_before": out(r.not_before, "not_before"),
            "not_after": out(r.not_after, "not_after"),
            "reserved_at": reserved_at,
            "key_fingerprint": r.key_fingerprint,
            "tbs_der": r.tbs_der,
        }

        def work(cursor: Any) -> None:
            try:
                cursor.execute(self._sql["insert_certificate"], params)
            except self._integrity_error as err:
                if not is_duplicate_key(err):
                    raise  # NOT NULL, CHECK: a bug, reported as StorageError
                raise Conflict(
                    f"A certificate with serial {serial_hex} exists already.",
                    hint="Draw another serial number.",
                ) from err
            self.append(cursor, event, r.reserved_at, reserved_at)
            if also is not None:
                also(cursor)

        self.write(work, f"reserving certificate {serial_hex}")

    def _not_in_state(self, cursor: Any, serial_hex: str, wanted: CertState, verb: str) -> None:
        """After an UPDATE matched nothing: is the serial unknown, or in another state?"""
        cursor.execute(self._sql["get_state"], {"p_serial": serial_hex})
        row = cursor.fetchone()
        if row is None:
            raise NotFound(f"There is no certificate with serial {serial_hex}.")
        state = CertState(row[0])
        if wanted is CertState.ISSUED and state is CertState.REVOKED:
            raise AlreadyRevoked(f"Certificate {serial_hex} is already revoked.")
        raise Conflict(
            f"Certificate {serial_hex} is {state.value}: only a {wanted.value} certificate"
            f" can be {verb}."
        )

    def complete_certificate(
        self,
        serial: int,
        der: bytes,
        sha256: str,
        issued_at: dt.datetime,
        event: AuditEntry,
        issued: CertificateRecord | None = None,
        also: StoreWrite | None = None,
    ) -> CertificateRecord:
        serial_hex = format(serial, "x")
        issued_db = self.times.out(issued_at, "issued_at")
        params = {
            "p_serial": serial_hex,
            "p_der": der,
            "p_sha256": sha256,
            "p_issued_at": issued_db,
        }
        if issued is not None and (issued.serial, issued.der) != (serial, der):
            raise ValueError("the record given is not the one being completed")

        def work(cursor: Any) -> CertificateRecord:
            if issued is None:
                cursor.execute(self._sql["complete"], params)
                row = cursor.fetchone()
                if row is None:
                    self._not_in_state(cursor, serial_hex, CertState.RESERVED, "completed")
                record = self._record(row)
            else:
                # The caller holds what the row says; the UPDATE matches one reserved row or
                # none, and nothing needs reading back.
                cursor.execute(self._sql["complete_bare"], params)
                if cursor.rowcount != 1:
                    self._not_in_state(cursor, serial_hex, CertState.RESERVED, "completed")
                record = issued
            self.append(cursor, event, issued_at, issued_db)
            if also is not None:
                also(cursor)
            return record

        return self.write(work, f"storing certificate {serial_hex}")

    def abandon_certificate(self, serial: int, event: AuditEntry) -> None:
        serial_hex = format(serial, "x")
        now = dt.datetime.now(UTC)
        now_db = self.times.out(now, "now")

        def work(cursor: Any) -> None:
            cursor.execute(self._sql["abandon"], {"p_serial": serial_hex})
            if cursor.rowcount != 1:
                self._not_in_state(cursor, serial_hex, CertState.RESERVED, "abandoned")
            self.append(cursor, event, now, now_db)

        self.write(work, f"abandoning reservation {serial_hex}")

    def revoke_certificate(
        self, serial: int, reason: str, at: dt.datetime, event: AuditEntry
    ) -> CertificateRecord:
        serial_hex = format(serial, "x")
        at_db = self.times.out(at, "at")
        params = {"p_serial": serial_hex, "p_revoked_at": at_db, "p_reason": reason}

        def work(cursor: Any) -> CertificateRecord:
            cursor.execute(self._sql["revoke"], params)
            row = cursor.fetchone()
            if row is None:
                self._not_in_state(cursor, serial_hex, CertState.ISSUED, "revoked")
            self.append(cursor, event, at, at_db)
            return self._record(row)

        return self.write(work, f"revoking certificate {serial_hex}")

    def get_certificate(self, serial: int) -> CertificateRecord | None:
        if not 0 < serial < MAX_SERIAL:
            return None
        serial_hex = format(serial, "x")

        def work(cursor: Any) -> CertificateRecord | None:
            cursor.execute(self._sql["get_certificate"], {"p_serial": serial_hex})
            row = cursor.fetchone()
            return None if row is None else self._record(row)

        return self.read(work, f"reading certificate {serial_hex}")

    def list_certificates(
        self, state: CertState | None = None, limit: int = 100, offset: int = 0
    ) -> Sequence[CertificateRecord]:
        """Certificates newest first (by reservation time), optionally in one state."""
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must not be negative")
        params: dict[str, Any] = {"p_limit": limit, "p_offset": offset}
        if state is None:
            sql = self._sql["list_all"]
        else:
            sql = self._sql["list_state"]
            params["p_state"] = CertState(state).value

        def work(cursor: Any) -> list[CertificateRecord]:
            cursor.execute(sql, params)
            return [self._record(row) for row in cursor.fetchall()]

        return self.read(work, "listing certificates")

    def certificate_counts(self) -> dict[tuple[str, str], int]:
        """{(profile, state): number of certificates}, for metrics (counts every row)."""

        def work(cursor: Any) -> dict[tuple[str, str], int]:
            cursor.execute(self._sql["counts"])
            return {(profile, state): int(n) for profile, state, n in cursor.fetchall()}

        return self.read(work, "counting certificates")


def open_store(url: str, *, migrate: bool = True) -> SqlStore:
    """Open padlock's database at ``url``, upgrading its schema first unless told not to.

    ``url`` is ``sqlite:////abs/path/padlock.db`` or
    ``postgresql+psycopg://user@host:5432/dbname``. Raises ConfigError for a URL
    padlock cannot use and StorageError when the database cannot be reached.
    """
    engine = make_engine(url)
    try:
        if migrate:
            upgrade_engine(engine)
        return SqlStore(engine)
    except BaseException:
        engine.dispose()
        raise


if TYPE_CHECKING:

    def _is_a_store(store: SqlStore) -> Store:
        return store
