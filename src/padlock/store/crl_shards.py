"""``CrlShardRepository``: partitioned CRLs' storage (``ca.ports.crl_shards.CrlShardStore``).

Statements are SQLAlchemy Core compiled once for the store's dialect and run on the
thread's DBAPI cursor (``Database.write`` / ``read`` / ``snapshot``), as
``store/certificates.py`` does. Two of them are upserts (``INSERT ... ON CONFLICT``,
which SQLite since 3.24 and PostgreSQL both have), so that the first revocation into a
shard and two hosts asking for a CRL number at once never meet a duplicate key:

- a CRL number is handed out by one committed ``UPDATE ... RETURNING`` of the shard's
  row before anything is signed: PostgreSQL's row lock (SQLite's one writer) orders two
  hosts, and each gets its own number (RFC 5280 5.2.3);
- a shard's CRL replaces the stored one only when its number is higher, so a slow host
  never puts an older CRL back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import ClauseElement, bindparam, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite

from padlock.ca.ports.crl_shards import ShardCrl, ShardHead
from padlock.pki.crl_shards import revoked_entry
from padlock.store.database import Database, compile_statements
from padlock.store.tables_crl_shards import crl_entries, crl_shard_state, crl_shards

if TYPE_CHECKING:
    from padlock.ca.ports.crl_shards import CrlShardStore

ENTRY_BATCH = 20_000
EntryRow = tuple[int, int, dt.datetime, str, dt.datetime]  # serial, shard, at, reason, not_after

_e = crl_entries.c
_s = crl_shard_state.c
_c = crl_shards.c

_HEAD = (_c.shard, _c.number, _c.revision, _c.this_update, _c.next_update)


def _statements(dialect_name: str) -> dict[str, ClauseElement]:
    upsert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    key = (_s.issuer, _s.shard)

    def counter(last_number: str, revision: str, bumped: Any) -> Any:
        """INSERT the shard's row, or bump one of its counters if it has one."""
        values: dict[str, Any] = {
            "issuer": bindparam("p_issuer"),
            "shard": bindparam("p_shard"),
            "last_number": literal_column(last_number),
            "revision": literal_column(revision),
        }
        return (
            upsert(crl_shard_state)
            .values(values)
            .on_conflict_do_update(
                index_elements=key, set_={bumped.name: bumped + literal_column("1")}
            )
        )

    allocate = counter("1", "0", _s.last_number).returning(_s.last_number)
    bump = counter("0", "1", _s.revision)
    save = upsert(crl_shards).values({c.name: bindparam("p_" + c.name) for c in crl_shards.columns})
    save = save.on_conflict_do_update(
        index_elements=(_c.issuer, _c.shard),
        set_={c.name: save.excluded[c.name] for c in crl_shards.columns if not c.primary_key},
        where=_c.number < save.excluded.number,
    )
    one = (_c.issuer == bindparam("p_issuer"), _c.shard == bindparam("p_shard"))
    return {
        "allocate": allocate,
        "bump": bump,
        "save": save,
        "insert_entry": crl_entries.insert(),
        "revision": select(_s.revision).where(
            _s.issuer == bindparam("p_issuer"), _s.shard == bindparam("p_shard")
        ),
        "revisions": select(_s.shard, _s.revision).where(
            _s.issuer == bindparam("p_issuer"), _s.shard >= literal_column("0")
        ),
        "heads": select(*_HEAD).where(_c.issuer == bindparam("p_issuer")),
        "head": select(*_HEAD).where(*one),
        "get": select(*_HEAD, _c.entries, _c.der).where(*one),
        "entries": select(_e.der).where(
            _e.issuer == bindparam("p_issuer"),
            _e.shard == bindparam("p_shard"),
            _e.not_after >= bindparam("p_since"),
        ),
        # No issuer in the WHERE: the planner would walk the (issuer, shard) index and
        # fetch every row apart (2.6 s for 200,000 rows on SQLite here); a plain scan reads
        # the table in order (0.44 s), and the other issuers' rows are dropped in Python.
        "all_entries": select(_e.issuer, _e.shard, _e.der).where(
            _e.not_after >= bindparam("p_since")
        ),
    }


class CrlShardRepository:
    """The shard tables on one :class:`Database`."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._sql = compile_statements(db.dialect, _statements(db.dialect.name))

    # -- written by a revocation, in its transaction ---------------------------------------

    def note_revocation(
        self,
        cursor: Any,
        issuer: str,
        shard: int,
        serial: int,
        revoked_at: dt.datetime,
        reason: str,
        not_after: dt.datetime,
    ) -> None:
        """The revoked certificate's entry in its shard, and the shard's revision bumped, in
        the revocation's own transaction (``cursor``: a DBAPI cursor of it)."""
        row = (serial, shard, revoked_at, reason, not_after)
        cursor.execute(self._sql["insert_entry"], self._entry(issuer, row))
        cursor.execute(self._sql["bump"], {"p_issuer": issuer, "p_shard": shard})

    def _entry(self, issuer: str, row: EntryRow) -> dict[str, Any]:
        out = self._db.times.out
        serial, shard, revoked_at, reason, not_after = row
        return {
            "serial": format(serial, "x"),
            "issuer": issuer,
            "shard": shard,
            "revoked_at": out(revoked_at, "revoked_at"),
            "reason": reason,
            "not_after": out(not_after, "not_after"),
            "der": revoked_entry(serial, revoked_at, reason),
        }

    def add_entries(self, issuer: str, rows: Sequence[EntryRow]) -> None:
        """Bulk load (serial, shard, revoked_at, reason, not_after) rows with their revisions
        bumped, in one transaction: for bench/crl_shards.py and the tests' large stores."""
        params = [self._entry(issuer, row) for row in rows]
        shards = sorted({row[1] for row in rows})

        def work(cursor: Any) -> None:
            cursor.executemany(self._sql["insert_entry"], params)
            for shard in shards:
                cursor.execute(self._sql["bump"], {"p_issuer": issuer, "p_shard": shard})

        self._db.write(work, f"loading {len(rows)} CRL entries of {issuer}")

    # -- CRL numbers -----------------------------------------------------------------------

    def allocate_number(self, issuer: str, shard: int) -> int:
        return self.allocate_numbers(issuer, [shard])[shard]

    def allocate_numbers(self, issuer: str, shards: Sequence[int]) -> dict[int, int]:
        """The next CRL number of each shard, in one committed transaction; in shard order,
        so that two hosts lock the rows in the same order (no deadlock)."""
        sql = self._sql["allocate"]

        def work(cursor: Any) -> dict[int, int]:
            got: dict[int, int] = {}
            for shard in sorted(set(shards)):
                cursor.execute(sql, {"p_issuer": issuer, "p_shard": shard})
                got[shard] = int(cursor.fetchone()[0])
            return got

        return self._db.write(work, f"allocating CRL numbers of {issuer}")

    # -- reads -----------------------------------------------------------------------------

    def revision(self, issuer: str, shard: int) -> int:
        row = self._db.read_row(
            self._sql["revision"],
            {"p_issuer": issuer, "p_shard": shard},
            f"reading the revision of CRL shard {shard} of {issuer}",
        )
        return 0 if row is None else int(row[0])

    def revisions(self, issuer: str) -> Mapping[int, int]:
        rows = self._rows("revisions", {"p_issuer": issuer}, f"reading the shards of {issuer}")
        return {int(shard): int(revision) for shard, revision in rows}

    def heads(self, issuer: str) -> Mapping[int, ShardHead]:
        rows = self._rows("heads", {"p_issuer": issuer}, f"reading the CRL shards of {issuer}")
        return {int(row[0]): self._head(issuer, row) for row in rows}

    def head(self, issuer: str, shard: int) -> ShardHead | None:
        row = self._db.read_row(
            self._sql["head"],
            {"p_issuer": issuer, "p_shard": shard},
            f"reading CRL shard {shard} of {issuer}",
        )
        return None if row is None else self._head(issuer, row)

    def get(self, issuer: str, shard: int) -> ShardCrl | None:
        row = self._db.read_row(
            self._sql["get"],
            {"p_issuer": issuer, "p_shard": shard},
            f"reading CRL shard {shard} of {issuer}",
        )
        if row is None:
            return None
        return ShardCrl(self._head(issuer, row), int(row[5]), bytes(row[6]))

    def entries(self, issuer: str, shard: int, expired_before: dt.datetime) -> list[bytes]:
        rows = self._rows(
            "entries",
            {
                "p_issuer": issuer,
                "p_shard": shard,
                "p_since": self._db.times.out(expired_before, "expired_before"),
            },
            f"reading the entries of CRL shard {shard} of {issuer}",
        )
        return [bytes(row[0]) for row in rows]

    def all_entries(self, issuer: str, expired_before: dt.datetime) -> Iterator[tuple[int, bytes]]:
        """Read in one snapshot, in batches; handed out after it ends."""
        params = {"p_since": self._db.times.out(expired_before, "expired_before")}

        def work(cursor: Any) -> list[list[Any]]:
            cursor.execute(self._sql["all_entries"], params)
            batches = []
            while batch := cursor.fetchmany(ENTRY_BATCH):
                batches.append(batch)
            return batches

        for batch in self._db.snapshot(work, f"reading the CRL entries of {issuer}"):
            for of, shard, der in batch:
                if of == issuer:
                    yield shard, bytes(der)

    def _rows(self, name: str, params: Mapping[str, Any], doing: str) -> list[Any]:
        def work(cursor: Any) -> list[Any]:
            cursor.execute(self._sql[name], params)
            return list(cursor.fetchall())

        return self._db.read(work, doing)

    def _head(self, issuer: str, row: Sequence[Any]) -> ShardHead:
        back = self._db.times.back
        return ShardHead(issuer, int(row[0]), int(row[1]), int(row[2]), back(row[3]), back(row[4]))

    # -- writes ----------------------------------------------------------------------------

    def save(self, crl: ShardCrl) -> bool:
        return self.save_many([crl])[0]

    def save_many(self, crls: Sequence[ShardCrl]) -> list[bool]:
        """Each CRL stored unless its shard has one of a higher number; in one transaction."""
        out = self._db.times.out

        def work(cursor: Any) -> list[bool]:
            saved = []
            for crl in crls:
                h = crl.head
                cursor.execute(
                    self._sql["save"],
                    {
                        "p_issuer": h.issuer,
                        "p_shard": h.shard,
                        "p_number": h.number,
                        "p_revision": h.revision,
                        "p_this_update": out(h.this_update, "this_update"),
                        "p_next_update": out(h.next_update, "next_update"),
                        "p_entries": crl.entries,
                        "p_der": crl.der,
                    },
                )
                saved.append(cursor.rowcount == 1)
            return saved

        return self._db.write(work, f"storing {len(crls)} CRL shards")


if TYPE_CHECKING:

    def _is_a_crl_shard_store(repo: CrlShardRepository) -> CrlShardStore:
        return repo
