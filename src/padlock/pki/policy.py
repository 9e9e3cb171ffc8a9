"""The CA's name policy on top of the host-name rules of :mod:`padlock.pki.names`.

- BR 3.2.2.6: no wildcard directly over a public suffix (``*.co.uk``).
- BR 4.2.2 / 7.1.2.7.12: no Internal Names (names whose suffix is not in the
  public DNS root, single labels, ``.local``, ``.test``) and no Reserved IP
  addresses in publicly trusted certificates. The test hierarchy may allow them
  when the operator turns that on.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from publicsuffixlist import PublicSuffixList

from padlock.errors import InvalidName, RejectedIdentifier, Subproblem
from padlock.pki import names

MAX_NAMES = 100  # as Let's Encrypt; the BR sets no number, big SAN lists are abuse


@cache
def _psl() -> PublicSuffixList:
    return PublicSuffixList(accept_unknown=False)


@dataclass(frozen=True)
class NamePolicy:
    allow_internal: bool = False  # internal names and reserved IPs (test hierarchy only)
    allow_ip: bool = True
    max_names: int = MAX_NAMES


# A name that is certainly in canonical form already: lower-case LDH labels of at most
# 63 characters, no "--" anywhere (so no A-label and nothing reserved for one), a last
# label that is not all digits, at most 253 characters. For such a name
# names.normalize_dns_name returns the name itself (tests/pki/test_policy.py checks
# this), so the full normalisation, the costly part of the name policy, is skipped.
_PLAIN_NAME = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
)


def _plainly_canonical(raw: str) -> bool:
    text = raw[2:] if raw.startswith("*.") else raw
    return (
        len(raw) <= names.MAX_NAME
        and "--" not in text
        and _PLAIN_NAME.fullmatch(text) is not None
        and not text.rpartition(".")[2].isdigit()
        and (text is raw or text.count(".") >= 1)  # a wildcard needs a domain under it
    )


def _normalize(raw: str) -> str:
    """names.normalize_dns_name(raw), without its work when ``raw`` is plainly canonical."""
    if type(raw) is str and _plainly_canonical(raw):
        return raw
    return names.normalize_dns_name(raw)


def _check_dns(name: str, policy: NamePolicy) -> str | None:
    """Why ``name`` (already normalised) is refused, or None."""
    psl = _psl()
    wildcard = names.is_wildcard(name)
    base = name[2:] if wildcard else name
    suffix = psl.publicsuffix(base)
    # ``base`` is lower case, so it is a public suffix exactly when it is its own
    # (what psl.is_public(base) says, with one walk of the list instead of two).
    public = suffix == base
    if wildcard and suffix is not None and public:
        return (
            f"{name} is a wildcard over the public suffix {base}; nobody controls all"
            " names under it (BR 3.2.2.6)."
        )
    if policy.allow_internal:
        return None
    if suffix is None:
        return (
            f"{name} is an internal name: its top-level domain is not in the public DNS"
            " (BR 4.2.2). Use a name under a registered domain."
        )
    if public:
        return f"{name} is a public suffix, not a name anyone can prove control of."
    return None


def _check_ip(text: str, policy: NamePolicy) -> str | None:
    if not policy.allow_ip:
        return f"{text}: IP addresses are not accepted here."
    address = ipaddress.ip_address(text)
    if policy.allow_internal:
        return None
    if not address.is_global:
        return (
            f"{text} is a reserved IP address (private, loopback, link-local or documentation"
            " range); publicly trusted certificates cannot name it (BR 4.2.2)."
        )
    return None


def check_identifiers(
    dns_names: Sequence[str], ip_addresses: Sequence[str], policy: NamePolicy
) -> tuple[list[str], list[str]]:
    """Normalise and check every name; raise one RejectedIdentifier listing all refusals."""
    if len(dns_names) + len(ip_addresses) == 0:
        raise RejectedIdentifier("The request names no host.", hint="Add the host name as a SAN.")
    if len(dns_names) + len(ip_addresses) > policy.max_names:
        raise RejectedIdentifier(
            f"The request has {len(dns_names) + len(ip_addresses)} names; at most"
            f" {policy.max_names} are allowed.",
            hint="Split the names over several certificates.",
        )
    problems: list[Subproblem] = []
    out_dns: list[str] = []
    out_ips: list[str] = []
    for raw in dns_names:
        try:
            name = _normalize(raw)
        except InvalidName as exc:
            problems.append(
                Subproblem("rejectedIdentifier", exc.message, {"type": "dns", "value": raw})
            )
            continue
        if name != raw:
            problems.append(
                Subproblem(
                    "rejectedIdentifier",
                    f"{raw!r} is not in canonical form; write it as {name}.",
                    {"type": "dns", "value": raw},
                )
            )
            continue
        why = _check_dns(name, policy)
        if why:
            problems.append(Subproblem("rejectedIdentifier", why, {"type": "dns", "value": raw}))
        elif name not in out_dns:
            out_dns.append(name)
    for raw in ip_addresses:
        try:
            ip = names.normalize_ip(raw)
        except InvalidName as exc:
            problems.append(
                Subproblem("rejectedIdentifier", exc.message, {"type": "ip", "value": raw})
            )
            continue
        why = _check_ip(ip, policy)
        if why:
            problems.append(Subproblem("rejectedIdentifier", why, {"type": "ip", "value": raw}))
        elif ip not in out_ips:
            out_ips.append(ip)
    if problems:
        first = problems[0].detail
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise RejectedIdentifier(f"{first}{more}", subproblems=tuple(problems))
    return out_dns, out_ips


def is_public_host(host: str) -> bool:
    """Whether a URL's host is a public DNS name or global IP (not an Internal Name)."""
    if names.is_ip_address(host):
        return ipaddress.ip_address(host.strip("[]")).is_global
    try:
        name = names.normalize_dns_name(host, allow_wildcard=False)
    except InvalidName:
        return False
    return _check_dns(name, NamePolicy()) is None
