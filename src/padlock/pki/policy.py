"""The CA's name policy on top of the host-name rules of :mod:`padlock.pki.names`.

- BR 3.2.2.6: no wildcard directly over a public suffix (``*.co.uk``).
- BR 4.2.2 / 7.1.2.7.12: no Internal Names (names whose suffix is not in the
  public DNS root, single labels, ``.local``, ``.test``) and no Reserved IP
  addresses in publicly trusted certificates. The test hierarchy may allow them
  when the operator turns that on.
- Special-use names (:data:`SPECIAL_USE`: RFC 6761, 6762, 7686, 8375, 8880, 9462,
  9476, ``.internal``) are Internal Names whatever the public suffix list says
  (``home.arpa`` is under ``arpa``, which is in it).
- IP addresses (RFC 8738; BR 3.2.2.5) only in the profiles that certify them
  (:func:`padlock.pki.profiles.ip_profiles`), and never one of IANA's special-purpose
  addresses (:data:`SPECIAL_PURPOSE`) outside the test hierarchy.
- Reverse-zone names (``in-addr.arpa``, ``ip6.arpa``; RFC 1035 3.5, RFC 3596 2.5)
  name addresses, not hosts: refused in every profile, the test profile included.

:func:`check_identifiers` is the one rule every entry point uses (``ca issue``, the
REST API and the portal through the issuer, ACME's newOrder).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import cache

from publicsuffixlist import PublicSuffixList

from padlock.errors import InvalidName, RejectedIdentifier, Subproblem
from padlock.pki import names
from padlock.pki.profiles import Hierarchy, Profile
from padlock.pki.profiles import ip_profiles as default_ip_profiles

MAX_NAMES = 100  # as Let's Encrypt; the BR sets no number, big SAN lists are abuse

# Domains whose names are never publicly trusted (IANA's Special-Use Domain Names
# registry and ICANN's reserved private-use TLD), with where each is reserved.
SPECIAL_USE: dict[str, str] = {
    "test": "RFC 6761 section 6.2",
    "localhost": "RFC 6761 section 6.3",
    "invalid": "RFC 6761 section 6.4",
    "example": "RFC 6761 section 6.5",
    "local": "RFC 6762 (Multicast DNS)",
    "onion": "RFC 7686 (Tor)",
    "home.arpa": "RFC 8375 (home networks)",
    "ipv4only.arpa": "RFC 8880",
    "resolver.arpa": "RFC 9462",
    "alt": "RFC 9476 (non-DNS names)",
    "internal": "ICANN's private-use TLD (2024)",
}
# Reverse-mapping zones: their names stand for addresses (RFC 1035 3.5, RFC 3596 2.5).
REVERSE_ZONES = frozenset({"in-addr.arpa", "ip6.arpa"})

# Addresses no publicly trusted certificate may name (BR 4.2.2 / 7.1.2.7.12 "Reserved IP
# Address"): every block of IANA's IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890
# section 2.2) not marked globally reachable, plus multicast (RFC 5771, RFC 4291 2.7) and the
# IPv4 future-use block, which name no one host. Blocks marked globally reachable (the
# anycast 192.0.0.9/32, 192.0.0.10/32, 2001:1::1/128, 2001:1::2/128, 2001:3::/32 AMT) are
# left out: they are as public as any address.
SPECIAL_PURPOSE: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "'this network' (RFC 791)"),
    ("10.0.0.0/8", "private use (RFC 1918)"),
    ("100.64.0.0/10", "shared address space (RFC 6598)"),
    ("127.0.0.0/8", "loopback (RFC 1122)"),
    ("169.254.0.0/16", "link local (RFC 3927)"),
    ("172.16.0.0/12", "private use (RFC 1918)"),
    ("192.0.0.0/29", "IPv4 service continuity (RFC 7335)"),
    ("192.0.0.8/32", "IPv4 dummy address (RFC 7600)"),
    ("192.0.0.170/31", "NAT64/DNS64 discovery (RFC 8880)"),
    ("192.0.0.0/24", "IETF protocol assignments (RFC 6890)"),
    ("192.0.2.0/24", "documentation TEST-NET-1 (RFC 5737)"),
    ("192.88.99.0/24", "deprecated 6to4 relay anycast (RFC 7526)"),
    ("192.168.0.0/16", "private use (RFC 1918)"),
    ("198.18.0.0/15", "benchmarking (RFC 2544)"),
    ("198.51.100.0/24", "documentation TEST-NET-2 (RFC 5737)"),
    ("203.0.113.0/24", "documentation TEST-NET-3 (RFC 5737)"),
    ("224.0.0.0/4", "multicast (RFC 5771)"),
    ("255.255.255.255/32", "limited broadcast (RFC 919)"),
    ("240.0.0.0/4", "reserved for future use (RFC 1112)"),
    ("::/128", "unspecified address (RFC 4291)"),
    ("::1/128", "loopback (RFC 4291)"),
    ("::ffff:0:0/96", "IPv4-mapped address (RFC 4291)"),
    ("64:ff9b:1::/48", "local-use IPv4/IPv6 translation (RFC 8215)"),
    ("100::/64", "discard-only (RFC 6666)"),
    ("100:0:0:1::/64", "dummy IPv6 prefix (RFC 9780)"),
    ("2001::/32", "TEREDO (RFC 4380)"),
    ("2001:2::/48", "benchmarking (RFC 5180)"),
    ("2001:10::/28", "deprecated ORCHID (RFC 4843)"),
    ("2001:20::/28", "ORCHIDv2 (RFC 7343)"),
    ("2001:db8::/32", "documentation (RFC 3849)"),
    ("2002::/16", "6to4 (RFC 3056)"),
    ("3fff::/20", "documentation (RFC 9637)"),
    ("5f00::/16", "segment routing SIDs (RFC 9602)"),
    ("fc00::/7", "unique local (RFC 4193)"),
    ("fe80::/10", "link-local unicast (RFC 4291)"),
    ("ff00::/8", "multicast (RFC 4291)"),
)
_SPECIAL_NETWORKS = tuple((ipaddress.ip_network(n), why) for n, why in SPECIAL_PURPOSE)
_GLOBAL_EXCEPTIONS = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.0.9/32", "192.0.0.10/32", "2001:1::1/128", "2001:1::2/128", "2001:3::/32")
)


def special_purpose(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """The special-purpose block ``address`` is in, as "NETWORK, what it is", or None."""
    if any(address in net for net in _GLOBAL_EXCEPTIONS):
        return None
    for net, why in _SPECIAL_NETWORKS:
        if address.version == net.version and address in net:
            return f"{net}, {why}"
    return None if address.is_global else "not globally reachable"


@cache
def _psl() -> PublicSuffixList:
    return PublicSuffixList(accept_unknown=False)


class _PublicSuffixes:
    """``_psl().publicsuffix(name)`` for names in canonical form, the parent's part kept.

    The PSL algorithm (publicsuffix.org/list, "Algorithm"; as publicsuffixlist applies
    it: at each length, longest first, an exception rule, then a wildcard, then the
    name itself) asks of a name ``label.parent`` only two things: the rules naming the
    name itself, then the same questions of the parent's suffixes that every other child
    of that parent asks. Those answers are kept per parent, so the many names under one
    domain cost a few set lookups each. Anything not plainly canonical, or a library
    that keeps its rules elsewhere, is asked of publicsuffixlist itself.
    """

    _KEPT = 4096

    def __init__(self, psl: PublicSuffixList) -> None:
        self._psl = psl
        rules = getattr(psl, "_publicsuffix", None)
        longest = getattr(psl, "_maxlabel", None)
        usable = isinstance(rules, frozenset | set) and isinstance(longest, int)
        self._rules: frozenset[str] | None = frozenset(rules) if usable else None  # type: ignore[arg-type]
        self._depth = (longest + 1) if isinstance(longest, int) else 0
        self._parents: dict[str, int] = {}

    def publicsuffix(self, name: str) -> str | None:
        if self._rules is None or _PLAIN_NAME.fullmatch(name) is None:
            return self._psl.publicsuffix(name)
        labels = name.split(".")
        count = self._count(name, labels)
        if count == 0 or count > len(labels):
            return None
        return name if count == len(labels) else ".".join(labels[-count:])

    def _count(self, name: str, labels: list[str]) -> int:
        """How many labels from the right are public (0: no rule applies)."""
        if len(labels) <= self._depth:
            found = self._rule(name, len(labels), whole=True)
            if found is not None:
                return found
        if len(labels) == 1:
            return 0
        parent = name[len(labels[0]) + 1 :]
        count = self._parents.get(parent)
        if count is None:
            count = self._under(parent, labels[1:])
            if len(self._parents) >= self._KEPT:
                self._parents.clear()
            self._parents[parent] = count
        return count

    def _under(self, parent: str, labels: list[str]) -> int:
        """The answer for any child of ``parent`` that no rule names itself."""
        for depth in range(min(len(labels), self._depth), 0, -1):
            suffix = parent if depth == len(labels) else ".".join(labels[-depth:])
            found = self._rule(suffix, depth, whole=False)
            if found is not None:
                return found
        return 0

    def _rule(self, suffix: str, depth: int, whole: bool) -> int | None:
        rules = self._rules
        assert rules is not None
        if "!" + suffix in rules:  # an exception: its parent is the public suffix
            return depth - 1
        if "*." + suffix in rules:  # a wildcard: one label more (the name itself if whole)
            return depth if whole else depth + 1
        if suffix in rules:
            return depth
        return None


@cache
def _suffixes() -> _PublicSuffixes:
    return _PublicSuffixes(_psl())


@dataclass(frozen=True)
class NamePolicy:
    allow_internal: bool = False  # internal names and reserved IPs (test hierarchy only)
    allow_ip: bool = True
    max_names: int = MAX_NAMES
    profile: str = ""  # the profile this policy is for, named when an IP is refused
    ip_profiles: tuple[str, ...] = ()  # the profiles that certify IPs, named then too


def for_profile(
    profile: Profile,
    allow_internal_in_test: bool = False,
    ip_profiles: Sequence[str] | None = None,
) -> NamePolicy:
    """The name policy of one profile: internal names only in the test hierarchy when the
    operator allows them; IP addresses only where the profile certifies them (the CA's
    ``ip_profiles``, padlock's shipped ones when not given)."""
    return NamePolicy(
        allow_internal=profile.hierarchy is Hierarchy.TEST and allow_internal_in_test,
        allow_ip=profile.ip_addresses,
        profile=profile.name,
        ip_profiles=tuple(default_ip_profiles() if ip_profiles is None else ip_profiles),
    )


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
    wildcard = names.is_wildcard(name)
    base = name[2:] if wildcard else name
    suffix = _suffixes().publicsuffix(base)
    # ``base`` is lower case, so it is a public suffix exactly when it is its own
    # (what psl.is_public(base) says, with one walk of the list instead of two).
    public = suffix == base
    if wildcard and suffix is not None and public:
        return (
            f"{name} is a wildcard over the public suffix {base}; nobody controls all"
            " names under it (BR 3.2.2.6)."
        )
    reverse = _under_any(base, REVERSE_ZONES)
    if reverse:
        return (
            f"{name} is in the reverse-mapping zone {reverse}: it names an address, not a"
            " host (RFC 1035 3.5, RFC 3596 2.5), and no profile certifies such names."
        )
    if policy.allow_internal:
        return None
    special = _under_any(base, SPECIAL_USE)
    if special:
        return (
            f"{name} is a special-use name under .{special} ({SPECIAL_USE[special]}), an"
            " internal name that publicly trusted certificates cannot hold (BR 4.2.2)."
        )
    if suffix is None:
        return (
            f"{name} is an internal name: its top-level domain is not in the public DNS"
            " (BR 4.2.2). Use a name under a registered domain."
        )
    if public:
        return f"{name} is a public suffix, not a name anyone can prove control of."
    return None


def _under_any(name: str, domains: Collection[str]) -> str | None:
    """The one of ``domains`` (of one or two labels) that ``name`` is or is under, if any."""
    last = name.rpartition(".")[2]
    if last in domains:
        return last
    two = ".".join(name.rsplit(".", 2)[-2:])
    return two if two in domains else None


def _check_ip(text: str, policy: NamePolicy) -> str | None:
    if not policy.allow_ip:
        where = f" in the {policy.profile} profile" if policy.profile else " here"
        return (
            f"{text}: IP addresses are not accepted{where}; only the "
            + " and ".join(policy.ip_profiles or default_ip_profiles())
            + " profiles certify them (RFC 8738, BR 3.2.2.5)."
        )
    address = ipaddress.ip_address(text)
    if policy.allow_internal:
        return None
    block = special_purpose(address)
    if block is not None:
        return (
            f"{text} is a reserved IP address ({block} in IANA's"
            " special-purpose address registry, RFC 6890); publicly trusted certificates"
            " cannot name it (BR 4.2.2)."
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
