"""dns-persist-01's pure rules (draft-ietf-acme-dns-persist-02): the hashed account URI
(the draft's own test vectors, section 10.2), the record's grammar and the judgement of
what DNS held: issuer, account, persistUntil, policy=wildcard and subdomains."""

from __future__ import annotations

import datetime as dt

import pytest

from padlock.acme import persist
from padlock.errors import Malformed, Unauthorized

PREFIX = "https://ca.example/account-hash/"
THUMB = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"  # RFC 7638 section 3.1's thumbprint
ACCOUNT = "https://ca.example/acct/123"
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def test_persist_hashed_uri_draft_vectors() -> None:
    got = persist.hashed_account_uri(PREFIX, "example.com", THUMB, ACCOUNT)
    assert got == PREFIX + "sha-256/5SQm7n6tPh2-PlLbCKGnViTXX5z19SCN4cPGQHSk-kw"
    opt_out = persist.hashed_account_uri(PREFIX, "*", THUMB, ACCOUNT)
    assert opt_out == PREFIX + "sha-256/NpDnSwUthQK8zCgFdefYxAdAVPnygMLbs9US6oO-5ug"


def _expected(wildcard: bool = False, thumbs: tuple[str, ...] = (THUMB,)) -> persist.Expected:
    return persist.Expected(("authority.example",), ACCOUNT, thumbs, PREFIX, wildcard, NOW)


def _record(domain: str = "example.com", **extra: object) -> str:
    uri = persist.hashed_account_uri(PREFIX, domain, THUMB, ACCOUNT)
    return persist.record_value(
        "authority.example",
        uri,
        wildcard=bool(extra.get("wildcard")),
        until=extra.get("until"),  # type: ignore[arg-type]
    )


def test_persist_judge_validated_and_other_issuers_ignored() -> None:
    found = [("example.com", ["other-ca.example; accounturi=x", _record()])]
    match = persist.judge(found, "example.com", _expected())
    assert match.domain == "example.com" and match.until is None


def test_persist_judge_prior_key_and_opt_out_accepted() -> None:
    uri = persist.hashed_account_uri(PREFIX, "*", THUMB, ACCOUNT)
    found = [("example.com", [f"authority.example; accounturi={uri}"])]
    assert persist.judge(found, "example.com", _expected(thumbs=("x" * 43, THUMB)))


def test_persist_judge_wrong_account_unauthorized() -> None:
    other = persist.hashed_account_uri(PREFIX, "example.com", THUMB, ACCOUNT + "4")
    found = [("example.com", [f"authority.example; accounturi={other}"])]
    with pytest.raises(Unauthorized, match="does not name this account"):
        persist.judge(found, "example.com", _expected())


def test_persist_judge_wrong_issuer_none_found() -> None:
    found = [("example.com", [_record().replace("authority.example", "elsewhere.example")])]
    with pytest.raises(Unauthorized, match="names this CA"):
        persist.judge(found, "example.com", _expected())


def test_persist_judge_expired_persist_until_refused() -> None:
    past = int((NOW - dt.timedelta(seconds=1)).timestamp())
    with pytest.raises(Unauthorized, match="persistUntil"):
        persist.judge([("example.com", [_record(until=past)])], "example.com", _expected())
    future = int((NOW + dt.timedelta(days=9)).timestamp())
    match = persist.judge([("example.com", [_record(until=future)])], "example.com", _expected())
    assert match.until == dt.datetime.fromtimestamp(future, dt.UTC)


@pytest.mark.parametrize(
    "text",
    [
        "authority.example; policy=wildcard",  # no accounturi
        "authority.example; accounturi=https://elsewhere/sha-256/x",  # not our prefix
        "authority.example; accounturi=a; accounturi=b",  # twice
        f"authority.example; accounturi={PREFIX}sha-256/x; persistUntil=soon",
        "authority.example; bad param",
    ],
)
def test_persist_judge_malformed(text: str) -> None:
    with pytest.raises(Malformed):
        persist.judge([("example.com", [text])], "example.com", _expected())


def test_persist_judge_wildcard_needs_policy() -> None:
    with pytest.raises(Unauthorized, match="policy=wildcard"):
        persist.judge([("example.com", [_record()])], "example.com", _expected(wildcard=True))
    record = _record(wildcard=True).replace("wildcard", "WILDCARD")  # case-insensitive (4.1)
    assert persist.judge([("example.com", [record])], "example.com", _expected(wildcard=True))


def test_persist_judge_parent_record_covers_subdomain_only_with_policy() -> None:
    name = "www.dept.example.com"
    found = [(name, []), ("dept.example.com", []), ("example.com", [_record()])]
    with pytest.raises(Unauthorized, match="policy=wildcard"):
        persist.judge(found, name, _expected())
    found[-1] = ("example.com", [_record(wildcard=True)])
    assert persist.judge(found, name, _expected()).domain == "example.com"
    assert persist.candidates(name) == [name, "dept.example.com", "example.com"]


def test_persist_issuer_names_normalized() -> None:
    names = persist.issuer_names(
        ["CA.Example.", "ca.example", "127.0.0.1", "::1", "bücher.example", "a b"]
    )
    assert names == ("ca.example", "xn--bcher-kva.example")
