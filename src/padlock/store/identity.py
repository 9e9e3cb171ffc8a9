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

from sqlalchemy import ClauseElement, bindparam, case, func, insert, select

from padlock.ca.ports import AuditEntry
from padlock.ca.ports.identity import CaCertificate, CaIdentity
from padlock.errors import Conflict
from padlock.store.statements import Statements, Tx
from padlock.store.tables import certificates
from padlock.store.tables_identity import ca_identity
from padlock.store.tables_revocation import crls, ocsp_responses

if TYPE_CHECKING:
    from padlock.ca.ports.identity import IdentityStore
    from padlock.store.certificates import SqlStore

_i = ca_identity.c
_c = certificates.c
_o = ocsp_responses.c
PAGE = 2_000

_STATEMENTS: dict[str, ClauseElement] = {
    "identity": select(_i.issuer, _i.cert_sha256, _i.key_sha256, _i.der).order_by(_i.issuer),
    "insert_identity": insert(ca_identity),
    "recorded": select(_i.issuer).where(_i.issuer == bindparam("p_issuer")),
    "issuer_spans": select(
        _c.issuer,
        func.sum(case((_c.not_after > bindparam("p_now"), 1), else_=0)).label("alive"),
        func.max(_c.not_after).label("last"),
    )
    .where(_c.der.is_not(None))
    .group_by(_c.issuer),
    "certificates_page": select(_c.serial, _c.issuer, _c.der)
    .where(_c.der.is_not(None), _c.serial > bindparam("p_after"))
    .order_by(_c.serial)
    .limit(bindparam("p_limit")),
    "crls": select(crls.c.issuer, crls.c.der),
    "ocsp_page": select(_o.serial, _o.hash_alg, _o.issuer, _o.der)
    .where(
        (_o.serial > bindparam("p_serial"))
        | ((_o.serial == bindparam("p_serial")) & (_o.hash_alg > bindparam("p_alg")))
    )
    .order_by(_o.serial, _o.hash_alg)
    .limit(bindparam("p_limit")),
}


def _row(c: CaCertificate, at: dt.datetime) -> dict[str, Any]:
    return {
        "issuer": c.issuer,
        "cert_sha256": c.cert_sha256,
        "key_sha256": c.key_sha256,
        "der": c.der,
        "recorded_at": at,
    }


def _identity(tx: Tx) -> CaIdentity:
    return tuple(
        CaCertificate(r["issuer"], r["cert_sha256"], r["key_sha256"], bytes(r["der"]))
        for r in tx.all("identity")
    )


class IdentityRepository:
    def __init__(self, store: SqlStore) -> None:
        self._sql = Statements(store, _STATEMENTS)
        self._recorded_sql = self._sql["recorded"].sql

    def get(self) -> CaIdentity:
        """The recorded identity (empty: none recorded yet)."""
        with self._sql.reading("reading the CA identity") as tx:
            return _identity(tx)

    def record(self, identity: CaIdentity, at: dt.datetime, actor: str) -> CaIdentity:
        """Record ``identity`` unless one is recorded already; the identity now recorded."""
        try:
            with self._sql.write("recording the CA identity") as tx:
                found = _identity(tx)
                if found:
                    return found
                tx.run_many("insert_identity", [_row(c, at) for c in identity])
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
        with self._sql.write("recording a new issuing CA") as tx:
            if _identity(tx) != expected:
                raise Conflict(
                    "The database's CA changed while the new issuing CA was being made.",
                    hint="Another host may have made one: see padlock ca issuers.",
                )
            tx.run("insert_identity", _row(added, at))
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
        rows = self._sql.all(
            "issuer_spans", {"p_now": now}, "reading the issuing CAs' certificates"
        )
        return {r["issuer"]: (int(r["alive"] or 0), r["last"]) for r in rows}

    def issued_certificates(self) -> Iterator[tuple[str, str, bytes]]:
        """(serial, issuer, der) of every signed certificate, a page at a time."""
        after = ""
        while True:
            page = {"p_after": after, "p_limit": PAGE}
            rows = self._sql.all("certificates_page", page, "reading certificates")
            yield from ((r["serial"], r["issuer"], bytes(r["der"])) for r in rows)
            if len(rows) < PAGE:
                return
            after = rows[-1]["serial"]

    def crls(self) -> list[tuple[str, bytes]]:
        rows = self._sql.all("crls", {}, "reading CRLs")
        return [(r["issuer"], bytes(r["der"])) for r in rows]

    def ocsp_responses(self) -> Iterator[tuple[str, str, bytes]]:
        """(serial, issuer, der) of every pre-signed OCSP response, a page at a time."""
        after = {"p_serial": "", "p_alg": ""}
        while True:
            page = {**after, "p_limit": PAGE}
            rows = self._sql.all("ocsp_page", page, "reading OCSP responses")
            yield from ((r["serial"], r["issuer"], bytes(r["der"])) for r in rows)
            if len(rows) < PAGE:
                return
            after = {"p_serial": rows[-1]["serial"], "p_alg": rows[-1]["hash_alg"]}


if TYPE_CHECKING:

    def _is_an_identity_store(repo: IdentityRepository) -> IdentityStore:
        return repo
