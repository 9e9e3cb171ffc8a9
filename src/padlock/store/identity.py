"""``IdentityRepository``: the CA identity a database belongs to, and the signed objects
``padlock audit verify`` checks against it.

The identity is written once, with its audit event, in one transaction; a second writer
racing the first finds the rows there (the primary key refuses its insert) and reads the
first one's identity instead, so two hosts can never both record theirs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, case, func, insert, select

from padlock.ca.identity import CaCertificate, CaIdentity
from padlock.ca.ports import AuditEntry
from padlock.errors import Conflict
from padlock.store import base
from padlock.store.tables import certificates
from padlock.store.tables_identity import ca_identity
from padlock.store.tables_revocation import crls, ocsp_responses

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from padlock.store.certificates import SqlStore

_i = ca_identity.c
_c = certificates.c
PAGE = 2_000


def _identity(conn: Connection) -> CaIdentity:
    rows = conn.execute(
        select(_i.issuer, _i.cert_sha256, _i.key_sha256, _i.der).order_by(_i.issuer)
    ).all()
    return tuple(CaCertificate(r[0], r[1], r[2], bytes(r[3])) for r in rows)


def _insert(conn: Connection, c: CaCertificate, at: dt.datetime) -> None:
    conn.execute(
        insert(ca_identity).values(
            issuer=c.issuer,
            cert_sha256=c.cert_sha256,
            key_sha256=c.key_sha256,
            der=c.der,
            recorded_at=at,
        )
    )


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite gives the UTC times it keeps without their zone."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


class IdentityRepository:
    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self._recorded_sql = str(
            select(_i.issuer)
            .where(_i.issuer == bindparam("p_issuer"))
            .compile(dialect=store.engine.dialect)
        )

    def get(self) -> CaIdentity:
        """The recorded identity (empty: none recorded yet)."""
        with base.read(self._store, "reading the CA identity") as conn:
            return _identity(conn)

    def record(self, identity: CaIdentity, at: dt.datetime, actor: str) -> CaIdentity:
        """Record ``identity`` unless one is recorded already; the identity now recorded."""
        try:
            with base.write(self._store, "recording the CA identity") as tx:
                found = _identity(tx.conn)
                if found:
                    return found
                for c in identity:
                    _insert(tx.conn, c, at)
                details = {c.issuer: {"cert": c.cert_sha256, "key": c.key_sha256} for c in identity}
                tx.audit(AuditEntry("ca.identity.recorded", actor, "ca", "identity", details), at)
        except Conflict:  # another host recorded its identity in the meantime
            return self.get()
        return identity

    def add_issuer(
        self,
        added: CaCertificate,
        expected: CaIdentity,
        at: dt.datetime,
        actor: str,
        succeeds: str | None = None,
    ) -> None:
        """Record a new issuing CA (``ca new-issuer``) beside ``expected``, the identity the
        caller checked its data dir against; Conflict when it changed meanwhile (another host
        rolled the CA first) or the issuer is recorded already."""
        with base.write(self._store, "recording a new issuing CA") as tx:
            if _identity(tx.conn) != expected:
                raise Conflict(
                    "The database's CA changed while the new issuing CA was being made.",
                    hint="Another host may have made one: see padlock ca issuers.",
                )
            _insert(tx.conn, added, at)
            details = {"cert": added.cert_sha256, "key": added.key_sha256, "succeeds": succeeds}
            tx.audit(AuditEntry("ca.issuer.added", actor, "ca", added.issuer, details), at)

    def recorded_in(self, cursor: Any, issuer: str) -> bool:
        """Whether ``issuer`` is a recorded CA, read in the caller's write transaction
        (``cursor``: the DBAPI cursor the store gives a StoreWrite): one primary-key read,
        on every issuance's path (is the issuing CA's successor there yet?)."""
        cursor.execute(self._recorded_sql, {"p_issuer": issuer})
        return cursor.fetchone() is not None

    def issuer_spans(self, now: dt.datetime) -> dict[str, tuple[int, dt.datetime | None]]:
        """{issuer: (its signed certificates still unexpired at ``now``, the last notAfter)}:
        how long a succeeded issuing CA must keep answering (``padlock ca issuers``)."""
        signed = _c.der.is_not(None)
        alive = func.sum(case((_c.not_after > now, 1), else_=0))
        query = select(_c.issuer, alive, func.max(_c.not_after)).where(signed).group_by(_c.issuer)
        with base.read(self._store, "reading the issuing CAs' certificates") as conn:
            return {r[0]: (int(r[1] or 0), _utc(r[2])) for r in conn.execute(query)}

    def issued_certificates(self) -> Iterator[tuple[str, str, bytes]]:
        """(serial, issuer, der) of every signed certificate, a page at a time."""
        after = ""
        while True:
            with base.read(self._store, "reading certificates") as conn:
                rows = conn.execute(
                    select(_c.serial, _c.issuer, _c.der)
                    .where(_c.der.is_not(None), _c.serial > after)
                    .order_by(_c.serial)
                    .limit(PAGE)
                ).all()
            yield from ((r[0], r[1], bytes(r[2])) for r in rows)
            if len(rows) < PAGE:
                return
            after = rows[-1][0]

    def crls(self) -> list[tuple[str, bytes]]:
        with base.read(self._store, "reading CRLs") as conn:
            return [(r[0], bytes(r[1])) for r in conn.execute(select(crls.c.issuer, crls.c.der))]

    def ocsp_responses(self) -> Iterator[tuple[str, str, bytes]]:
        """(serial, issuer, der) of every pre-signed OCSP response, a page at a time."""
        o = ocsp_responses.c
        after = ("", "")
        while True:
            with base.read(self._store, "reading OCSP responses") as conn:
                rows = conn.execute(
                    select(o.serial, o.hash_alg, o.issuer, o.der)
                    .where(
                        (o.serial > after[0]) | ((o.serial == after[0]) & (o.hash_alg > after[1]))
                    )
                    .order_by(o.serial, o.hash_alg)
                    .limit(PAGE)
                ).all()
            yield from ((r[0], r[2], bytes(r[3])) for r in rows)
            if len(rows) < PAGE:
                return
            after = (rows[-1][0], rows[-1][1])
