"""The ACME store (``ca.ports.acme_server.AcmeStore``) on SQLite and PostgreSQL.

Like the certificate store it runs SQL compiled once per dialect through the DBAPI
cursor of the thread's pooled connection (``store/database.py``'s ``Database``): an ACME
request is one short transaction of a handful of statements, and the ORM-free path
keeps it at tens of microseconds on SQLite. Audit events are appended through the
certificate store's chain in the same transaction.

Database errors leave as StorageError (or Conflict for a uniqueness clash), raised
``from`` the original.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import text

from padlock.acme import messages as m
from padlock.ca.ports import AuditEntry
from padlock.errors import Conflict
from padlock.store.certificates import SqlStore

_json = json.JSONEncoder(separators=(",", ":")).encode
_ORDER = {kind: i for i, kind in enumerate(m.CHALLENGE_TYPES)}


# Plain SQL with :named parameters; compiled once for the engine's dialect (psycopg gets
# %(name)s). Every statement here is valid on SQLite >= 3.35 and PostgreSQL >= 9.5.
_SQL: dict[str, str] = {
    "use_nonce": "INSERT INTO acme_nonces (nonce) VALUES (:nonce) ON CONFLICT DO NOTHING",
    "purge_nonces": "DELETE FROM acme_nonces WHERE nonce < :before",
    "purge_windows": "DELETE FROM acme_rate_limits WHERE window_start < :before",
    "get_secret": "SELECT value FROM acme_secrets WHERE name = :name",
    "put_secret": "INSERT INTO acme_secrets (name, value, created_at)"
    " VALUES (:name, :value, :now) ON CONFLICT DO NOTHING",
    "account": "SELECT id, directory, status, jwk, thumbprint, contact, tos_agreed, created_at,"
    " eab_kid FROM acme_accounts WHERE id = :id",
    "account_by_thumb": "SELECT id, directory, status, jwk, thumbprint, contact, tos_agreed,"
    " created_at, eab_kid FROM acme_accounts"
    " WHERE directory = :directory AND thumbprint = :thumbprint",
    "insert_account": "INSERT INTO acme_accounts (id, directory, status, jwk, thumbprint,"
    " contact, tos_agreed, eab_kid, created_at, updated_at) VALUES (:id, :directory, :status,"
    " :jwk, :thumbprint, :contact, :tos_agreed, :eab_kid, :created_at, :created_at)",
    "deactivate_authzs": "UPDATE acme_authorizations SET status = 'deactivated',"
    " updated_at = :now WHERE account_id = :account_id AND status = 'pending'",
    "insert_order": "INSERT INTO acme_orders (id, account_id, directory, profile, status,"
    " identifiers, authz_ids, expires, created_at, updated_at, csr, cert_serial, error,"
    " replaces) VALUES (:id, :account_id, :directory, :profile, :status, :identifiers,"
    " :authz_ids, :expires, :created_at, :created_at, NULL, NULL, NULL, :replaces)",
    "insert_authz": "INSERT INTO acme_authorizations (id, order_id, account_id,"
    " identifier_type, identifier_value, wildcard, status, expires, updated_at) VALUES"
    " (:id, :order_id, :account_id, :identifier_type, :identifier_value, :wildcard, :status,"
    " :expires, :now)",
    "insert_challenge": "INSERT INTO acme_challenges (id, authz_id, type, token, status,"
    " validated_at, claimed_at, error, evidence) VALUES (:id, :authz_id, :type, :token,"
    " :status, NULL, NULL, NULL, NULL)",
    "order": "SELECT id, account_id, directory, profile, status, identifiers, authz_ids, expires,"
    " created_at, cert_serial, error, replaces FROM acme_orders WHERE id = :id",
    "order_csr": "SELECT csr FROM acme_orders WHERE id = :id",
    "order_by_cert": "SELECT id, account_id, directory, profile, status, identifiers,"
    " authz_ids, expires, created_at, cert_serial, error, replaces FROM acme_orders"
    " WHERE cert_serial = :serial",
    "orders_of_account": "SELECT id FROM acme_orders WHERE account_id = :account_id"
    " ORDER BY created_at DESC, id DESC LIMIT :limit",
    "orders_of_account_before": "SELECT o.id FROM acme_orders o, acme_orders c"
    " WHERE c.id = :before AND o.account_id = :account_id AND (o.created_at < c.created_at"
    " OR (o.created_at = c.created_at AND o.id < c.id))"
    " ORDER BY o.created_at DESC, o.id DESC LIMIT :limit",
    "orders_awaiting_review": "SELECT id, account_id, directory, profile, status,"
    " identifiers, authz_ids, expires, created_at, cert_serial, error, replaces FROM acme_orders"
    " WHERE status = 'processing' AND profile = :profile ORDER BY created_at",
    "replacement_exists": "SELECT 1 FROM acme_orders WHERE replaces = :cert_id"
    " AND (status IN ('valid', 'processing') OR (status IN ('pending', 'ready')"
    " AND expires > :now)) LIMIT 1",
    "authz": "SELECT id, order_id, account_id, identifier_type, identifier_value, wildcard,"
    " status, expires FROM acme_authorizations WHERE id = :id",
    "authz_challenges": "SELECT id, authz_id, type, token, status, validated_at, error,"
    " claimed_at FROM acme_challenges WHERE authz_id = :id",
    "authz_statuses": "SELECT status FROM acme_authorizations WHERE order_id = :order_id",
    "ready_if_all_valid": "UPDATE acme_orders SET status = 'ready', updated_at = :now"
    " WHERE id = :order_id AND status = 'pending' AND NOT EXISTS (SELECT 1 FROM"
    " acme_authorizations a WHERE a.order_id = :order_id AND a.status != 'valid')",
    "set_authz_status": "UPDATE acme_authorizations SET status = :status, updated_at = :now"
    " WHERE id = :id",
    "set_authz_valid": "UPDATE acme_authorizations SET status = 'valid', updated_at = :now,"
    " expires = :valid_until WHERE id = :id",
    "challenge": "SELECT id, authz_id, type, token, status, validated_at, error, claimed_at FROM"
    " acme_challenges WHERE id = :id",
    "challenge_evidence": "SELECT evidence FROM acme_challenges WHERE id = :id",
    "claim_challenge": "UPDATE acme_challenges SET status = 'processing', claimed_at = :now"
    " WHERE id = :id AND (status = 'pending' OR (status = 'processing'"
    " AND claimed_at < :stale_before))",
    "finish_challenge": "UPDATE acme_challenges SET status = :status, validated_at ="
    " :validated_at, error = :error, evidence = :evidence WHERE id = :id",
    "valid_identifiers": "SELECT identifier_value FROM acme_authorizations"
    " WHERE account_id = :account_id AND status = 'valid' AND expires > :now"
    " AND identifier_value = :value",
    "bump_rate": "INSERT INTO acme_rate_limits (account_id, kind, window_start, count)"
    " VALUES (:account_id, :kind, :window, 1) ON CONFLICT (account_id, kind, window_start)"
    " DO UPDATE SET count = acme_rate_limits.count + 1 RETURNING count",
    "retire_key": "INSERT INTO acme_account_keys (account_id, thumbprint, retired_at)"
    " VALUES (:account_id, :thumbprint, :now) ON CONFLICT DO NOTHING",
    "prior_keys": "SELECT thumbprint FROM acme_account_keys WHERE account_id = :account_id"
    " ORDER BY retired_at DESC",
    "rate_count": "SELECT count FROM acme_rate_limits WHERE account_id = :account_id"
    " AND kind = :kind AND window_start = :window",
}


class _Compiled:
    def __init__(self, store: SqlStore) -> None:
        dialect = store.dialect
        self.sql = {name: str(text(sql).compile(dialect=dialect)) for name, sql in _SQL.items()}


class SqlAcmeStore:
    """``ca.ports.acme_server.AcmeStore`` on the certificate store's engine and connections."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self._sql = _Compiled(store).sql
        self.database = store  # for the one audit append, and dialect-compiled statements
        self._times = store.times
        self._accounts: dict[str, tuple[tuple[Any, ...], m.Account]] = {}

    def transaction(self, write: bool = True) -> AbstractContextManager[_Tx]:
        """One transaction on this thread's connection; committed when the block ends."""
        return self._store.transaction(
            self._tx,
            write=write,
            doing="serving an ACME request",
            conflict="The database refused an ACME change that clashes with stored data.",
        )

    def _tx(self, cursor: Any) -> _Tx:
        return _Tx(self, cursor)

    def secret(self, name: str, make: Callable[[], bytes], now: dt.datetime) -> bytes:
        with self.transaction() as tx:
            return tx.secret(name, make, now)

    # -- conversions ------------------------------------------------------------------------

    def out(self, when: dt.datetime) -> Any:
        return self._times.out(when, "time")

    def back(self, value: Any) -> dt.datetime:
        return self._times.back(value)

    def account_row(self, row: Sequence[Any]) -> m.Account:
        """An Account from its row; the last rows read are reused while unchanged (every
        request reads its account, and parsing the key and contacts each time adds up)."""
        key = tuple(row)
        cached = self._accounts.get(key[0])
        if cached is not None and cached[0] == key:
            return cached[1]
        account = self._account(row)
        if len(self._accounts) > 10_000:
            self._accounts.clear()
        self._accounts[key[0]] = (key, account)
        return account

    def _account(self, row: Sequence[Any]) -> m.Account:
        return m.Account(
            id=row[0],
            directory=row[1],
            status=row[2],
            jwk=json.loads(row[3]),
            thumbprint=row[4],
            contact=tuple(json.loads(row[5])),
            tos_agreed=bool(row[6]),
            created_at=self.back(row[7]),
            eab_kid=row[8],
        )

    def order_row(self, row: Sequence[Any]) -> m.Order:
        return m.Order(
            id=row[0],
            account_id=row[1],
            directory=row[2],
            profile=row[3],
            status=row[4],
            identifiers=tuple(m.Identifier(t, v) for t, v in json.loads(row[5])),
            authz_ids=tuple(json.loads(row[6])),
            expires=self.back(row[7]),
            created_at=self.back(row[8]),
            cert_serial=row[9],
            error=None if row[10] is None else json.loads(row[10]),
            replaces=row[11],
        )

    def challenge_row(self, row: Sequence[Any]) -> m.Challenge:
        return m.Challenge(
            id=row[0],
            authz_id=row[1],
            type=row[2],
            token=row[3],
            status=row[4],
            validated=None if row[5] is None else self.back(row[5]),
            error=None if row[6] is None else json.loads(row[6]),
            claimed_at=None if row[7] is None else self.back(row[7]),
        )


class _Tx:
    """``ca.ports.acme_server.AcmeTx``: the statements of one transaction."""

    __slots__ = ("_c", "_s", "_sql")

    def __init__(self, store: SqlAcmeStore, cursor: Any) -> None:
        self._s = store
        self._c = cursor
        self._sql = store._sql

    def _one(self, name: str, params: Mapping[str, Any]) -> Any:
        self._c.execute(self._sql[name], params)
        return self._c.fetchone()

    def _run(self, name: str, params: Mapping[str, Any]) -> int:
        self._c.execute(self._sql[name], params)
        rowcount: int = self._c.rowcount
        return rowcount

    # -- nonces, secrets, audit --------------------------------------------------------------

    def use_nonce(self, key: str) -> bool:
        return self._run("use_nonce", {"nonce": key}) == 1

    def purge(self, nonces_before: str, windows_before: dt.datetime) -> None:
        self._run("purge_nonces", {"before": nonces_before})
        self._run("purge_windows", {"before": self._s.out(windows_before)})

    def secret(self, name: str, make: Callable[[], bytes], now: dt.datetime) -> bytes:
        row = self._one("get_secret", {"name": name})
        if row is None:
            self._run("put_secret", {"name": name, "value": make(), "now": self._s.out(now)})
            row = self._one("get_secret", {"name": name})
        return bytes(row[0])

    def audit(self, entry: AuditEntry, at: dt.datetime) -> None:
        self._s.database.append(self._c, entry, at, self._s.out(at))

    # -- accounts ----------------------------------------------------------------------------

    def account(self, account_id: str) -> m.Account | None:
        row = self._one("account", {"id": account_id})
        return None if row is None else self._s.account_row(row)

    def account_by_thumbprint(self, directory: str, thumbprint: str) -> m.Account | None:
        row = self._one("account_by_thumb", {"directory": directory, "thumbprint": thumbprint})
        return None if row is None else self._s.account_row(row)

    def insert_account(self, account: m.Account) -> None:
        self._run(
            "insert_account",
            {
                "id": account.id,
                "directory": account.directory,
                "status": account.status,
                "jwk": _json(account.jwk),
                "thumbprint": account.thumbprint,
                "contact": _json(list(account.contact)),
                "tos_agreed": account.tos_agreed,
                "eab_kid": account.eab_kid,
                "created_at": self._s.out(account.created_at),
            },
        )

    def update_account(
        self,
        account_id: str,
        now: dt.datetime,
        *,
        contact: tuple[str, ...] | None = None,
        status: str | None = None,
        jwk: Mapping[str, Any] | None = None,
        thumbprint: str | None = None,
        tos_agreed: bool | None = None,
    ) -> m.Account:
        sets: dict[str, Any] = {}
        if contact is not None:
            sets["contact"] = _json(list(contact))
        if status is not None:
            sets["status"] = status
        if jwk is not None:
            sets["jwk"] = _json(dict(jwk))
        if thumbprint is not None:
            sets["thumbprint"] = thumbprint
        if tos_agreed is not None:
            sets["tos_agreed"] = tos_agreed
        sets["updated_at"] = self._s.out(now)
        # Column names come from the fixed list above, never from the client.
        clause = ", ".join(f"{col} = :{col}" for col in sets)
        sql = str(
            text(f"UPDATE acme_accounts SET {clause} WHERE id = :id").compile(  # noqa: S608
                dialect=self._s.database.dialect
            )
        )
        self._c.execute(sql, {**sets, "id": account_id})
        found = self.account(account_id)
        if found is None:  # pragma: no cover - the caller read it in this transaction
            raise Conflict(f"Account {account_id} vanished.")
        return found

    def retire_key(self, account_id: str, thumbprint: str, now: dt.datetime) -> None:
        self._run(
            "retire_key",
            {"account_id": account_id, "thumbprint": thumbprint, "now": self._s.out(now)},
        )

    def prior_thumbprints(self, account_id: str) -> list[str]:
        self._c.execute(self._sql["prior_keys"], {"account_id": account_id})
        return [str(row[0]) for row in self._c.fetchall()]

    def deactivate_pending_authzs(self, account_id: str, now: dt.datetime) -> None:
        self._run("deactivate_authzs", {"account_id": account_id, "now": self._s.out(now)})

    # -- orders ------------------------------------------------------------------------------

    def insert_order(
        self, order: m.Order, authzs: Sequence[m.Authorization], now: dt.datetime
    ) -> None:
        out = self._s.out
        created = out(order.created_at)
        self._run(
            "insert_order",
            {
                "id": order.id,
                "account_id": order.account_id,
                "directory": order.directory,
                "profile": order.profile,
                "status": order.status,
                "identifiers": _json([[i.type, i.value] for i in order.identifiers]),
                "authz_ids": _json(list(order.authz_ids)),
                "expires": out(order.expires),
                "created_at": created,
                "replaces": order.replaces,
            },
        )
        authz_rows = []
        chall_rows = []
        for a in authzs:
            authz_rows.append(
                {
                    "id": a.id,
                    "order_id": a.order_id,
                    "account_id": a.account_id,
                    "identifier_type": a.identifier.type,
                    "identifier_value": a.identifier.value,
                    "wildcard": a.wildcard,
                    "status": a.status,
                    "expires": out(a.expires),
                    "now": created,
                }
            )
            for c in a.challenges:
                chall_rows.append(
                    {
                        "id": c.id,
                        "authz_id": a.id,
                        "type": c.type,
                        "token": c.token,
                        "status": c.status,
                    }
                )
        self._c.executemany(self._sql["insert_authz"], authz_rows)
        self._c.executemany(self._sql["insert_challenge"], chall_rows)

    def order(self, order_id: str) -> m.Order | None:
        row = self._one("order", {"id": order_id})
        return None if row is None else self._s.order_row(row)

    def order_csr(self, order_id: str) -> bytes | None:
        row = self._one("order_csr", {"id": order_id})
        return None if row is None or row[0] is None else bytes(row[0])

    def order_by_cert(self, serial_hex: str) -> m.Order | None:
        row = self._one("order_by_cert", {"serial": serial_hex})
        return None if row is None else self._s.order_row(row)

    def orders_of_account(self, account_id: str, limit: int, before: str | None) -> list[str]:
        if before is None:
            self._c.execute(
                self._sql["orders_of_account"], {"account_id": account_id, "limit": limit}
            )
        else:
            self._c.execute(
                self._sql["orders_of_account_before"],
                {"account_id": account_id, "limit": limit, "before": before},
            )
        return [row[0] for row in self._c.fetchall()]

    def orders_awaiting_review(self, profiles: Sequence[str]) -> list[m.Order]:
        out: list[m.Order] = []
        for profile in profiles:
            self._c.execute(self._sql["orders_awaiting_review"], {"profile": profile})
            out.extend(self._s.order_row(row) for row in self._c.fetchall())
        return out

    def move_order(
        self,
        order_id: str,
        from_status: str,
        to_status: str,
        now: dt.datetime,
        *,
        csr: bytes | None = None,
        cert_serial: str | None = None,
        error: Mapping[str, Any] | None = None,
    ) -> bool:
        sets: dict[str, Any] = {"status": to_status, "updated_at": self._s.out(now)}
        if csr is not None:
            sets["csr"] = csr
        if cert_serial is not None:
            sets["cert_serial"] = cert_serial
        if error is not None:
            sets["error"] = _json(dict(error))
        key = "move_order:" + ",".join(sets)
        sql = self._sql.get(key)
        if sql is None:
            clause = ", ".join(f"{col} = :{col}" for col in sets)
            sql = str(
                text(
                    f"UPDATE acme_orders SET {clause} WHERE id = :id AND status = :from_status"  # noqa: S608
                ).compile(dialect=self._s.database.dialect)
            )
            self._sql[key] = sql
        self._c.execute(sql, {**sets, "id": order_id, "from_status": from_status})
        return bool(self._c.rowcount == 1)

    def replacement_exists(self, cert_id: str, now: dt.datetime) -> bool:
        params = {"cert_id": cert_id, "now": self._s.out(now)}
        return self._one("replacement_exists", params) is not None

    # -- authorizations and challenges ---------------------------------------------------------

    def authorization(self, authz_id: str) -> m.Authorization | None:
        row = self._one("authz", {"id": authz_id})
        if row is None:
            return None
        self._c.execute(self._sql["authz_challenges"], {"id": authz_id})
        challenges = sorted(
            (self._s.challenge_row(r) for r in self._c.fetchall()),
            key=lambda c: _ORDER.get(c.type, 9),
        )
        return m.Authorization(
            id=row[0],
            order_id=row[1],
            account_id=row[2],
            identifier=m.Identifier(row[3], row[4]),
            wildcard=bool(row[5]),
            status=row[6],
            expires=self._s.back(row[7]),
            challenges=tuple(challenges),
        )

    def ready_if_all_valid(self, order_id: str, now: dt.datetime) -> bool:
        return self._run("ready_if_all_valid", {"order_id": order_id, "now": self._s.out(now)}) == 1

    def authz_statuses(self, order_id: str) -> list[str]:
        self._c.execute(self._sql["authz_statuses"], {"order_id": order_id})
        return [row[0] for row in self._c.fetchall()]

    def set_authz_status(
        self, authz_id: str, status: str, now: dt.datetime, valid_until: dt.datetime | None = None
    ) -> None:
        out = self._s.out
        if status == m.VALID:
            until = valid_until or now + dt.timedelta(days=30)
            self._run(
                "set_authz_valid", {"id": authz_id, "now": out(now), "valid_until": out(until)}
            )
        else:
            self._run("set_authz_status", {"id": authz_id, "status": status, "now": out(now)})

    def challenge(self, challenge_id: str) -> m.Challenge | None:
        row = self._one("challenge", {"id": challenge_id})
        return None if row is None else self._s.challenge_row(row)

    def challenge_evidence(self, challenge_id: str) -> list[dict[str, Any]]:
        row = self._one("challenge_evidence", {"id": challenge_id})
        found = json.loads(row[0]) if row is not None and row[0] else []
        return [e for e in found if isinstance(e, dict)] if isinstance(found, list) else []

    def claim_challenge(
        self, challenge_id: str, now: dt.datetime, stale_before: dt.datetime
    ) -> bool:
        count = self._run(
            "claim_challenge",
            {
                "id": challenge_id,
                "now": self._s.out(now),
                "stale_before": self._s.out(stale_before),
            },
        )
        return count == 1

    def finish_challenge(
        self,
        challenge_id: str,
        status: str,
        now: dt.datetime,
        error: Mapping[str, Any] | None,
        evidence: Sequence[Mapping[str, Any]],
    ) -> None:
        self._run(
            "finish_challenge",
            {
                "id": challenge_id,
                "status": status,
                "validated_at": self._s.out(now) if status == m.VALID else None,
                "error": None if error is None else _json(dict(error)),
                "evidence": json.dumps(list(evidence), default=str, separators=(",", ":")),
            },
        )

    def valid_identifiers(
        self, account_id: str, values: Sequence[str], now: dt.datetime
    ) -> set[str]:
        held: set[str] = set()
        for value in values:
            row = self._one(
                "valid_identifiers",
                {"account_id": account_id, "now": self._s.out(now), "value": value},
            )
            if row is not None:
                held.add(value)
        return held

    # -- rate limits ---------------------------------------------------------------------------

    def bump_rate(self, account_id: str, kind: str, window: dt.datetime) -> int:
        row = self._one(
            "bump_rate", {"account_id": account_id, "kind": kind, "window": self._s.out(window)}
        )
        return int(row[0])

    def rate_count(self, account_id: str, kind: str, window: dt.datetime) -> int:
        row = self._one(
            "rate_count", {"account_id": account_id, "kind": kind, "window": self._s.out(window)}
        )
        return 0 if row is None else int(row[0])
