"""Partitioned CRLs: sign each shard of an issuing CA, one at a time or all in one pass.

A CA with N shards names, in each certificate, the URL of shard ``serial mod N``
(``pki/crl_shards.py``); each shard's CRL lists the revoked certificates that name it
and carries a critical Issuing Distribution Point with that URL (BR 7.2.2, SC-058).
A revocation republishes only its shard (:meth:`ShardedCrls.regenerate`, called by the
Revoker), and the upkeep signs again what is missing, behind its shard's revision, or
half-way to nextUpdate (:meth:`ShardedCrls.refresh_due`).

Several hosts may do this at once: each CRL number is allocated in the database before
anything is signed (never one number twice, RFC 5280 5.2.3), and a stored shard is
replaced only by a higher number (``CrlShardStore.save``).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence

from padlock.ca.ports.crl_shards import CrlShardStore, ShardCrl, ShardHead
from padlock.ca.revocation_settings import RevocationChoice, choice_for
from padlock.ca.signer import Signer, ca_urls
from padlock.errors import NotFound, PadlockError
from padlock.pki import crl_ocsp, crl_shards

log = logging.getLogger("padlock.revocation")

ATTEMPTS = 5
ONE_BY_ONE = 8  # more shards than this due at once: one pass over all the entries


def sign_crl(
    signer: Signer,
    number: int,
    times: tuple[dt.datetime, dt.datetime],
    revoked: bytes,
    distribution_point: str | None = None,
) -> bytes:
    """The signed DER of a CRL of ``signer``'s CA, valid ``times`` (thisUpdate, nextUpdate),
    listing ``revoked`` (``pki.crl_shards.revoked_list``): a shard's when
    ``distribution_point`` is its URL, the full CRL otherwise."""
    tbs = crl_shards.tbs_cert_list(
        signer.signature_algorithm,
        signer.certificate.subject.public_bytes(),
        *times,
        revoked,
        crl_shards.crl_extensions(signer.certificate, number, distribution_point),
    )
    return signer.sign_tbs_crl(tbs)


class ShardedCrls:
    """The shard CRLs of the issuing CAs that have shards and whose keys are online."""

    def __init__(
        self,
        store: CrlShardStore,
        signers: Iterable[Signer],
        chosen: Mapping[str, RevocationChoice],
        base_url: str,
        days: int = crl_ocsp.CRL_DAYS,
    ) -> None:
        self._store = store
        self._chosen = dict(chosen)
        self._base_url = base_url
        self._days = days
        self._lock = threading.Lock()  # one builder per process at a time
        self._signers: dict[str, Signer] = {}
        self.replace_signers(signers)

    def replace_signers(self, signers: Iterable[Signer]) -> None:
        """The issuing CAs held now (after ``ca new-issuer``); those with shards are kept."""
        self._signers = {s.issuer: s for s in signers if self.count(s.issuer) > 0}

    @property
    def issuers(self) -> tuple[str, ...]:
        return tuple(self._signers)

    def count(self, issuer: str) -> int:
        """How many shards ``issuer``'s new certificates are spread over (0: none)."""
        return choice_for(self._chosen, issuer).crl_shards

    def url(self, issuer: str, shard: int) -> str:
        return crl_shards.shard_url(ca_urls(self._base_url, issuer).crl, shard)

    def known(self, issuer: str, shard: int) -> bool:
        """A shard this CA publishes: one of its N, or one an older setting used."""
        if issuer not in self._signers or not 0 <= shard < crl_shards.MAX_SHARDS:
            return False
        return shard < self.count(issuer) or shard in self._store.revisions(issuer)

    def _signer(self, issuer: str) -> Signer:
        signer = self._signers.get(issuer)
        if signer is None:
            raise NotFound(f"There is no online CA {issuer!r} with CRL shards.")
        return signer

    def _signed(
        self,
        signer: Signer,
        shard: int,
        number: int,
        revision: int,
        entries: Sequence[bytes],
        times: tuple[dt.datetime, dt.datetime],
    ) -> ShardCrl:
        url = self.url(signer.issuer, shard)
        der = sign_crl(signer, number, times, b"".join(entries), url)
        head = ShardHead(signer.issuer, shard, number, revision, *times)
        return ShardCrl(head, len(entries), der)

    def regenerate(self, issuer: str, shard: int, now: dt.datetime) -> ShardHead:
        """Sign and store shard ``shard`` of ``issuer`` now: after a revocation into it."""
        signer = self._signer(issuer)
        with self._lock:
            for _attempt in range(ATTEMPTS):
                number = self._store.allocate_number(issuer, shard)
                revision = self._store.revisions(issuer).get(shard, 0)  # before the entries
                times = crl_ocsp.crl_times(now, self._days)
                entries = self._store.entries(issuer, shard, times[0])
                crl = self._signed(signer, shard, number, revision, entries, times)
                if self._store.save(crl):
                    log.info(
                        "CRL shard %s/%d number %d signed (%d entries)",
                        issuer, shard, number, len(entries),
                    )  # fmt: skip
                    return crl.head
                stored = self._store.head(issuer, shard)  # a higher number came first
                if stored is not None and stored.revision >= revision:
                    return stored
        raise PadlockError(f"Could not store CRL shard {shard} of {issuer}: too many writers.")

    def regenerate_all(
        self, issuer: str, now: dt.datetime, only: Iterable[int] | None = None
    ) -> list[ShardHead]:
        """Sign every shard of ``issuer`` (or those in ``only``) from one pass over its
        entries, and store them in one transaction. A shard another host stored meanwhile
        with a higher number is left as it is (the upkeep looks at it again)."""
        signer = self._signer(issuer)
        with self._lock:
            revisions = self._store.revisions(issuer)  # before the entries
            wanted = set(range(self.count(issuer))) | set(revisions)
            if only is not None:
                wanted &= set(only)
            numbers = self._store.allocate_numbers(issuer, sorted(wanted))
            times = crl_ocsp.crl_times(now, self._days)
            groups: dict[int, list[bytes]] = {s: [] for s in wanted}
            for shard, entry in self._store.all_entries(issuer, times[0]):
                group = groups.get(shard)
                if group is not None:
                    group.append(entry)
            crls = [
                self._signed(signer, s, numbers[s], revisions.get(s, 0), groups[s], times)
                for s in sorted(wanted)
            ]
            saved = self._store.save_many(crls)
        log.info("CRL shards of %s signed: %d of %d stored", issuer, sum(saved), len(crls))
        return [crl.head for crl, ok in zip(crls, saved, strict=True) if ok]

    def due(self, issuer: str, now: dt.datetime) -> list[int]:
        """Shards of ``issuer`` missing, behind their revision, or half-way to nextUpdate."""
        revisions = self._store.revisions(issuer)
        heads = self._store.heads(issuer)
        wanted = set(range(self.count(issuer))) | set(revisions) | set(heads)
        return sorted(
            s
            for s in wanted
            if s not in heads
            or heads[s].revision < revisions.get(s, 0)
            or heads[s].refresh_due(now)
        )

    def refresh_due(self, now: dt.datetime) -> int:
        """Sign again every shard :meth:`due` says; how many were signed."""
        signed = 0
        for issuer in self._signers:
            due = self.due(issuer, now)
            if len(due) > ONE_BY_ONE:
                signed += len(self.regenerate_all(issuer, now, only=due))
            else:
                for shard in due:
                    self.regenerate(issuer, shard, now)
                    signed += 1
        return signed

    def head(self, issuer: str, shard: int, now: dt.datetime) -> ShardHead:
        """The stored shard's head, signed now when there is none or it has expired."""
        if not self.known(issuer, shard):
            raise NotFound(f"There is no CRL shard {shard} of {issuer}.")
        head = self._store.head(issuer, shard)
        if head is None or now >= head.next_update:
            head = self.regenerate(issuer, shard, now)
        return head

    def current(self, issuer: str, shard: int, now: dt.datetime) -> ShardCrl:
        """The stored shard's CRL (signed now when there is none or it has expired)."""
        self.head(issuer, shard, now)
        crl = self._store.get(issuer, shard)
        if crl is None:  # pragma: no cover - head() has just stored it
            raise NotFound(f"There is no CRL shard {shard} of {issuer}.")
        return crl
