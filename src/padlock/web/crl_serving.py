"""CRLs over HTTP as static bytes a CDN can keep: validators, freshness and 304s.

Every CRL answer carries ``Cache-Control: public, max-age=N`` (N never past the CRL's
nextUpdate, at most an hour, RFC 5019 6.2's rule for OCSP applied to CRLs),
``Last-Modified`` (its thisUpdate), ``Expires`` (its nextUpdate) and an ``ETag`` that
changes with its CRL number; a conditional GET (``If-None-Match``, else
``If-Modified-Since``, RFC 9110 13.1) that still matches is answered ``304`` with no body.
Both front ends (the FastAPI app and the bare PKI responder) answer through
:func:`crl_answer`.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import threading
from collections.abc import Callable
from dataclasses import dataclass

from padlock.ca.crl_shards import ShardedCrls
from padlock.ca.ports.crl_shards import ShardCrl, ShardHead

CRL_TYPE = "application/pkix-crl"
MAX_AGE_CAP = 3600


@dataclass(frozen=True)
class CrlMeta:
    """What the headers of one CRL answer are made from."""

    etag: str
    this_update: dt.datetime
    next_update: dt.datetime


@dataclass(frozen=True)
class CrlAnswer:
    status: int  # 200 or 304
    headers: list[tuple[str, str]]
    body: bytes


def http_date(when: dt.datetime) -> str:
    return email.utils.format_datetime(when.astimezone(dt.UTC), usegmt=True)


def _not_modified(meta: CrlMeta, if_none_match: str | None, if_modified_since: str | None) -> bool:
    if if_none_match is not None:  # RFC 9110 13.1.3: If-Modified-Since is then ignored
        tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
        return "*" in tags or meta.etag in tags
    if if_modified_since is None:
        return False
    try:
        since = email.utils.parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError, IndexError):
        return False  # RFC 9110 13.1.3: an invalid date is ignored
    if since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    return meta.this_update.replace(microsecond=0) <= since


def crl_answer(
    meta: CrlMeta,
    body: Callable[[], bytes],
    now: dt.datetime,
    if_none_match: str | None = None,
    if_modified_since: str | None = None,
) -> CrlAnswer:
    """The answer to a GET of a CRL; ``body`` is called only when the bytes are sent."""
    max_age = max(0, min(MAX_AGE_CAP, int((meta.next_update - now).total_seconds())))
    headers = [
        ("cache-control", f"public, max-age={max_age}, no-transform"),
        ("last-modified", http_date(meta.this_update)),
        ("expires", http_date(meta.next_update)),
        ("etag", meta.etag),
    ]
    if _not_modified(meta, if_none_match, if_modified_since):
        return CrlAnswer(304, headers, b"")
    return CrlAnswer(200, [("content-type", CRL_TYPE), *headers], body())


def shard_meta(head: ShardHead) -> CrlMeta:
    return CrlMeta(head.etag, head.this_update, head.next_update)


def parse_shard(text: str) -> int | None:
    """The shard number of a ``/crl/ISSUER/N.crl`` path's ``N``; None if it is not one."""
    if not text.isascii() or not text.isdigit() or len(text) > 4:
        return None
    return int(text)


class ShardBytes:
    """The last DER of each shard this process served, kept while its number is current: a
    GET is one small read (the head) unless the shard has changed."""

    def __init__(self) -> None:
        self._kept: dict[tuple[str, int], ShardCrl] = {}
        self._lock = threading.Lock()

    def der(self, shards: ShardedCrls, head: ShardHead, now: dt.datetime) -> bytes:
        key = (head.issuer, head.shard)
        with self._lock:
            kept = self._kept.get(key)
        if kept is not None and kept.head.number == head.number:
            return kept.der
        crl = shards.current(head.issuer, head.shard, now)
        with self._lock:
            self._kept[key] = crl
        return crl.der
