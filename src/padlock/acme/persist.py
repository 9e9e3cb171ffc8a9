"""dns-persist-01 (draft-ietf-acme-dns-persist-02; BR 3.2.2.4.22, ballot SC-088v3): the
record, its hashed account URI and the judgement of what a lookup found.

Pure: no DNS, no clock (``now`` is passed in). The record is an RFC 8659 issue-value
(section 4.1 item 1) at ``_validation-persist.<FQDN>`` (section 4): the CA's issuer domain
name, an ``accounturi`` that is a hashed URI binding the account URL, its key and the
record's own domain (section 4.1 item 3), and optionally ``policy=wildcard`` (sections 5
and 6) and ``persistUntil`` (section 4.1 item 5). The issue-value grammar lives here too,
for CAA (:func:`padlock.ca.validation.parse_caa_property`) reads the same syntax.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from padlock.acme.jws import b64encode
from padlock.errors import Malformed, Unauthorized

PERSIST_LABEL = "_validation-persist"  # section 4 (and the IANA entry of section 8.2)
HASH_ALG = "sha-256"  # section 4.1 item 3: the one RFC 6920 Hash Name String all accept
ANY_DOMAIN = "*"  # section 4.1 item 3.2: the domain-omitted opt-out
MAX_ISSUER_NAMES = 10  # section 3.1
WILDCARD = "wildcard"

# RFC 8659 section 4.2: the grammar of an issue-value.
_LABEL = r"[A-Za-z0-9](?:-*[A-Za-z0-9])*"
ISSUER_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
TAG_RE = re.compile(_LABEL)
VALUE_RE = re.compile(r"[\x21-\x3a\x3c-\x7e]*")


@dataclass(frozen=True)
class IssueValue:
    """An issue-value split (RFC 8659 4.2); ``malformed`` says why it does not parse."""

    issuer: str
    params: tuple[tuple[str, str], ...] = ()
    malformed: str = ""

    def values(self, tag: str) -> list[str]:
        return [v for t, v in self.params if t == tag]


def split_issue_value(value: str) -> IssueValue:
    """``issuer-domain-name *(";" tag "=" value)``; tags lower-cased, issuer lower-cased."""
    head, sep, rest = value.partition(";")
    issuer = head.strip(" \t")
    if issuer and not ISSUER_RE.fullmatch(issuer):
        why = f"{issuer!r} is not an issuer domain name (RFC 8659 4.2)"
        return IssueValue(issuer.lower(), malformed=why)
    params: list[tuple[str, str]] = []
    rest = rest.strip(" \t")
    for part in rest.split(";") if sep and rest else ():
        key, eq, val = (x.strip(" \t") for x in part.partition("="))
        if not eq or not TAG_RE.fullmatch(key) or not VALUE_RE.fullmatch(val):
            why = f"the parameter {part.strip()!r} is not tag=value (RFC 8659 4.2)"
            return IssueValue(issuer.lower(), malformed=why)
        params.append((key.lower(), val))
    return IssueValue(issuer.lower(), tuple(params))


def persist_name(fqdn: str) -> str:
    """The Validation Domain Name: ``_validation-persist.<FQDN>`` (section 4)."""
    return f"{PERSIST_LABEL}.{fqdn}"


def account_hash_prefix(directory_root: str) -> str:
    """The directory's accountHashPrefix (section 4.1 item 3, section 3.2): a stable URL
    below the directory, so that ``<prefix>sha-256/<hash>`` is a URI of this CA."""
    return f"{directory_root}/account-hash/"


def hashed_account_uri(prefix: str, domain: str, thumbprint: str, account_url: str) -> str:
    """``<prefix>sha-256/base64url(SHA-256(len(domain) || domain || key || account_URL))``
    (section 4.1 item 3); ``domain`` is the FQDN the record is at, or ``*``; ``thumbprint``
    the 43-character base64url JWK thumbprint (RFC 7638)."""
    name = domain.lower().rstrip(".").encode("ascii")
    if not 0 < len(name) < 256:
        raise Malformed(f"{domain!r} is not a domain name a hashed URI can bind.")
    data = bytes([len(name)]) + name + thumbprint.encode("ascii") + account_url.encode("ascii")
    return f"{prefix}{HASH_ALG}/{b64encode(hashlib.sha256(data).digest())}"


def accepted_uris(
    prefix: str, domain: str, thumbprints: Sequence[str], account_url: str
) -> list[str]:
    """Every hashed URI that names this account at ``domain``: each retained key (the
    current one first), each with the domain and with the ``*`` opt-out (section 4.2)."""
    return [
        hashed_account_uri(prefix, where, thumb, account_url)
        for thumb in thumbprints
        for where in (domain, ANY_DOMAIN)
    ]


def record_value(issuer: str, account_uri: str, *, wildcard: bool, until: int | None) -> str:
    """The TXT value a client publishes (section 4.1; examples in section 10)."""
    parts = [issuer, f"accounturi={account_uri}"]
    if wildcard:
        parts.append(f"policy={WILDCARD}")
    if until is not None:
        parts.append(f"persistUntil={until}")
    return "; ".join(parts)


@dataclass(frozen=True)
class Expected:
    """What a dns-persist-01 validation accepts; crosses to a remote perspective as is.

    ``issuers``: the challenge's issuerDomainNames; ``account_url`` and ``thumbprints``
    (current first, then prior keys, newest first: section 4.2) make the hashed URIs under
    ``hash_prefix``; ``wildcard``: the authorization is for ``*.name`` (section 5)."""

    issuers: tuple[str, ...]
    account_url: str
    thumbprints: tuple[str, ...]
    hash_prefix: str
    wildcard: bool
    now: dt.datetime


@dataclass(frozen=True)
class Match:
    """The record that validated: where it was, its value, its persistUntil if any."""

    domain: str
    value: str
    until: dt.datetime | None
    wildcard_policy: bool


def _persist_until(value: str, text: str) -> dt.datetime:
    if not value.isascii() or not value.isdigit():
        raise Malformed(
            f"persistUntil={value!r} in {text!r} is not a base-10 UNIX time"
            " (draft-ietf-acme-dns-persist section 4.1 item 5)."
        )
    try:
        return dt.datetime.fromtimestamp(int(value), dt.UTC)
    except (OverflowError, OSError, ValueError):
        raise Malformed(f"persistUntil={value!r} in {text!r} is out of range.") from None


def _judge_one(text: str, domain: str, expected: Expected, accepted: Iterable[str]) -> Match:
    """One record of ours (its issuer matched): Match, or the refusal section 9.3.1 names."""
    parsed = split_issue_value(text)
    if parsed.malformed:
        raise Malformed(f"The record {text!r} is malformed: {parsed.malformed}.")
    for tag in ("accounturi", "policy", "persistuntil"):
        if len(parsed.values(tag)) > 1:
            raise Malformed(f"The record {text!r} gives {tag} twice (section 9.3.1).")
    uris = parsed.values("accounturi")
    if not uris:
        raise Malformed(f"The record {text!r} has no accounturi (section 4.1 item 3).")
    uri = uris[0]
    if not uri.startswith(f"{expected.hash_prefix}{HASH_ALG}/"):
        raise Malformed(
            f"accounturi={uri} is not a hashed URI of this CA: it must start with"
            f" {expected.hash_prefix}{HASH_ALG}/ (section 4.1 item 3)."
        )
    until_text = parsed.values("persistuntil")
    until = _persist_until(until_text[0], text) if until_text else None
    wildcard_policy = [p.lower() for p in parsed.values("policy")] == [WILDCARD]
    if uri not in accepted:
        raise Unauthorized(
            f"accounturi={uri} at {persist_name(domain)} does not name this account"
            f" ({expected.account_url}) with any of its keys (section 4.2)."
        )
    if until is not None and expected.now >= until:
        raise Unauthorized(
            f"The record at {persist_name(domain)} expired at persistUntil"
            f" {until.isoformat()} (section 4.1 item 5)."
        )
    return Match(domain, text, until, wildcard_policy)


def judge(
    found: Sequence[tuple[str, Sequence[str]]],
    name: str,
    expected: Expected,
) -> Match:
    """The record that proves control of ``name``, from the TXT values found at each
    candidate domain (``name`` first, then its parents); the refusal otherwise.

    A record at ``name`` itself serves for ``name``; for ``*.name`` (section 5) or at a
    parent (section 6.1: the validated FQDN is a proper suffix) it must say
    ``policy=wildcard``. Records naming another issuer are ignored (section 4.3.2)."""
    issuers = {i.lower() for i in expected.issuers}
    refusals: list[Exception] = []
    for domain, values in found:
        accepted = set(
            accepted_uris(expected.hash_prefix, domain, expected.thumbprints, expected.account_url)
        )
        needs_policy = expected.wildcard or domain != name
        for text in values:
            if split_issue_value(text).issuer not in issuers:
                continue
            try:
                match = _judge_one(text, domain, expected, accepted)
            except (Malformed, Unauthorized) as exc:
                refusals.append(exc)
                continue
            if needs_policy and not match.wildcard_policy:
                what = f"*.{name}" if expected.wildcard else name
                refusals.append(
                    Unauthorized(
                        f"The record at {persist_name(domain)} does not say policy=wildcard,"
                        f" so it does not cover {what} (sections 5 and 6.2)."
                    )
                )
                continue
            return match
    if refusals:
        raise refusals[0]
    raise Unauthorized(
        f"No TXT record at {persist_name(name)} names this CA ({', '.join(sorted(issuers))}).",
        hint="Publish the record `padlock obtain --challenge dns-persist-01 --print-record`"
        " prints, then try again.",
    )


def candidates(name: str) -> list[str]:
    """Where a record may be: ``name`` and each parent with at least two labels (a record
    at a parent proves the names below it only with policy=wildcard, section 6.1)."""
    labels = name.lower().rstrip(".").split(".")
    return [".".join(labels[i:]) for i in range(max(1, len(labels) - 1))]


def issuer_names(names: Iterable[str]) -> tuple[str, ...]:
    """Issuer Domain Names normalized as section 3.1 says (lower case, A-labels, no
    trailing dot), without duplicates, at most ten. What is no domain name is left out:
    an IP address (an IPv6 one fails RFC 8659's grammar, an IPv4 one ends in an all-numeric
    label, which no top-level domain is, RFC 3696 section 2)."""
    out: list[str] = []
    for raw in names:
        name = raw.strip().rstrip(".")
        try:
            name = name.encode("idna").decode("ascii").lower()
        except UnicodeError:
            continue
        numeric = name.rsplit(".", 1)[-1].isdigit()
        if ISSUER_RE.fullmatch(name) and not numeric and len(name) <= 253 and name not in out:
            out.append(name)
    return tuple(out[:MAX_ISSUER_NAMES])
