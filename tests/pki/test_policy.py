"""The CA's name policy: public-suffix wildcards, internal names, reserved IPs, canonical form,
the number of names, and one subproblem per refused identifier."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from padlock.errors import RejectedIdentifier
from padlock.pki import names, policy
from padlock.pki.policy import MAX_NAMES, NamePolicy, check_identifiers, is_public_host

TRUSTED = NamePolicy()
TEST_WITH_INTERNAL = NamePolicy(allow_internal=True)


def _refusal(dns: list[str], ips: list[str] = [], policy: NamePolicy = TRUSTED) -> str:  # noqa: B006
    with pytest.raises(RejectedIdentifier) as caught:
        check_identifiers(dns, ips, policy)
    return caught.value.message


# --- wildcards over public suffixes (BR 3.2.2.6) ----------------------------------------------


@pytest.mark.parametrize("name", ["*.co.uk", "*.com", "*.github.io", "*.s3.amazonaws.com"])
@pytest.mark.parametrize("policy", [TRUSTED, TEST_WITH_INTERNAL], ids=["trusted", "internal-ok"])
def test_wildcard_over_public_suffix_refused(name: str, policy: NamePolicy) -> None:
    # *.com is no wildcard padlock's name rules accept at all; the others reach the PSL check.
    message = _refusal([name], policy=policy)
    assert name in message or "top-level domain" in message


def test_wildcard_over_public_suffix_cites_the_rule() -> None:
    message = _refusal(["*.co.uk"])
    assert "public suffix co.uk" in message and "BR 3.2.2.6" in message


def test_wildcard_over_private_suffix_refused() -> None:
    # github.io is in the PSL's private section: its users do not control each other's names.
    assert "public suffix github.io" in _refusal(["*.github.io"])


@pytest.mark.parametrize(
    "name", ["*.example.com", "*.example.co.uk", "*.widgets.github.io", "*.www.example.com"]
)
def test_wildcard_over_registered_domain_allowed(name: str) -> None:
    assert check_identifiers([name], [], TRUSTED) == ([name], [])


@pytest.mark.parametrize("name", ["co.uk", "github.io", "com"])
def test_public_suffix_itself_refused(name: str) -> None:
    message = _refusal([name])
    assert "public suffix" in message or "internal name" in message


def test_name_under_private_suffix_allowed() -> None:
    assert check_identifiers(["widgets.github.io"], [], TRUSTED) == (["widgets.github.io"], [])


# --- internal names (BR 4.2.2) -----------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["server.local", "printer.test", "intranet", "localhost", "db.internal", "*.corp.local"],
)
def test_internal_name_refused_for_trusted(name: str) -> None:
    message = _refusal([name])
    assert "internal name" in message and "BR 4.2.2" in message


@pytest.mark.parametrize(
    "name", ["server.local", "printer.test", "intranet", "db.internal", "*.corp.local"]
)
def test_internal_name_allowed_only_with_allow_internal(name: str) -> None:
    assert check_identifiers([name], [], TEST_WITH_INTERNAL) == ([name], [])


SPECIAL = [
    "nas.home.arpa",
    "home.arpa",
    "*.lan.home.arpa",
    "duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion",
    "service.alt",
    "db.internal",
    "printer.local",
    "www.example",
    "site.test",
    "a.localhost",
    "x.invalid",
    "ipv4only.arpa",
    "resolver.arpa",
]
REVERSE = ["1.0.0.127.in-addr.arpa", "in-addr.arpa", "*.168.192.in-addr.arpa", "b.a.ip6.arpa"]


@pytest.mark.parametrize("name", SPECIAL)
def test_special_use_name_refused_for_trusted(name: str) -> None:
    message = _refusal([name])
    assert "internal name" in message or "public suffix" in message
    assert not is_public_host(name.removeprefix("*."))


@pytest.mark.parametrize("name", ["nas.home.arpa", "hidden.onion", "service.alt", "x.internal"])
def test_special_use_name_cites_where_it_is_reserved(name: str) -> None:
    message = _refusal([name])
    assert "special-use" in message
    assert "RFC" in message or "ICANN" in message


@pytest.mark.parametrize("name", ["nas.home.arpa", "hidden.onion", "service.alt", "www.example"])
def test_special_use_name_allowed_only_with_allow_internal(name: str) -> None:
    assert check_identifiers([name], [], TEST_WITH_INTERNAL) == ([name], [])


@pytest.mark.parametrize("name", REVERSE)
@pytest.mark.parametrize("policy", [TRUSTED, TEST_WITH_INTERNAL], ids=["trusted", "internal-ok"])
def test_reverse_zone_name_refused_in_every_profile(name: str, policy: NamePolicy) -> None:
    message = _refusal([name], policy=policy)
    assert "reverse-mapping zone" in message and "names an address" in message


@pytest.mark.parametrize("name", ["in-addr.example.com", "arpa-x.example.com", "home.arpa.example"])
def test_special_use_only_by_whole_labels(name: str) -> None:
    assert check_identifiers([name], [], TEST_WITH_INTERNAL) == ([name], [])


def test_default_policy_refuses_internal_names() -> None:
    assert NamePolicy().allow_internal is False
    _refusal(["intranet"], policy=NamePolicy())


# --- reserved IP addresses (BR 4.2.2) ---------------------------------------------------------


@pytest.mark.parametrize(
    "ip",
    [
        "10.0.0.1",  # private
        "172.16.5.4",
        "192.168.1.1",
        "127.0.0.1",  # loopback
        "169.254.10.10",  # link-local
        "100.64.0.1",  # shared address space
        "192.0.2.1",  # documentation
        "0.0.0.0",  # noqa: S104 - an identifier, not a bind address
        "::1",
        "fe80::1",
        "fc00::1",
        "2001:db8::1",  # documentation
    ],
)
def test_reserved_ip_refused_for_trusted(ip: str) -> None:
    message = _refusal([], [ip])
    assert "reserved IP address" in message and "BR 4.2.2" in message


@pytest.mark.parametrize("ip", ["10.0.0.1", "127.0.0.1", "::1", "192.0.2.1"])
def test_reserved_ip_allowed_only_with_allow_internal(ip: str) -> None:
    assert check_identifiers([], [ip], TEST_WITH_INTERNAL) == ([], [ip])


@pytest.mark.parametrize("ip", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_global_ip_allowed(ip: str) -> None:
    assert check_identifiers([], [ip], TRUSTED) == ([], [ip])


def test_ip_comes_back_in_canonical_text() -> None:
    assert check_identifiers([], ["2606:4700:4700:0:0:0:0:1111"], TRUSTED) == (
        [],
        ["2606:4700:4700::1111"],
    )


def test_ips_refused_when_not_allowed() -> None:
    message = _refusal([], ["8.8.8.8"], NamePolicy(allow_ip=False))
    assert "IP addresses are not accepted" in message


def test_not_an_ip_refused() -> None:
    assert "not an IP address" in _refusal([], ["300.1.1.1"])


# --- canonical form ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("WWW.Example.COM", "www.example.com"),
        ("www.example.com.", "www.example.com"),
        (" www.example.com", "www.example.com"),
        ("bücher.de", "xn--bcher-kva.de"),
        ("*.EXAMPLE.com", "*.example.com"),
    ],
)
def test_non_canonical_name_refused_with_the_canonical_form(raw: str, canonical: str) -> None:
    message = _refusal([raw])
    assert "not in canonical form" in message and f"write it as {canonical}" in message


def test_canonical_idn_allowed() -> None:
    assert check_identifiers(["xn--bcher-kva.de"], [], TRUSTED) == (["xn--bcher-kva.de"], [])


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("http://www.example.com/", "is a URL"),
        ("www.example.com/shop", "a path"),
        ("www.example.com:443", "has a port"),
        ("a_b.example.com", "underscore"),
        ("webmaster@example.com", "email address"),
        ("www..example.com", "empty label"),
        ("", "empty"),
    ],
)
def test_name_mistakes_refused_with_reason(raw: str, says: str) -> None:
    assert says in _refusal([raw])


# --- how many names --------------------------------------------------------------------------


def test_max_names_is_100() -> None:
    assert MAX_NAMES == 100


def test_100_names_allowed() -> None:
    names = [f"www{i}.example.com" for i in range(MAX_NAMES)]
    assert check_identifiers(names, [], TRUSTED) == (names, [])


def test_101_names_refused() -> None:
    names = [f"www{i}.example.com" for i in range(MAX_NAMES + 1)]
    with pytest.raises(RejectedIdentifier) as caught:
        check_identifiers(names, [], TRUSTED)
    assert "101 names" in caught.value.message and "at most 100" in caught.value.message
    assert caught.value.hint and "Split" in caught.value.hint


def test_names_and_ips_count_together() -> None:
    names = [f"www{i}.example.com" for i in range(MAX_NAMES)]
    assert "101 names" in _refusal(names, ["8.8.8.8"])


def test_a_smaller_limit_holds() -> None:
    names = ["a.example.com", "b.example.com", "c.example.com"]
    assert "at most 2" in _refusal(names, [], NamePolicy(max_names=2))


def test_no_names_refused() -> None:
    with pytest.raises(RejectedIdentifier) as caught:
        check_identifiers([], [], TRUSTED)
    assert "names no host" in caught.value.message


def test_duplicates_collapse_in_order() -> None:
    dns, ips = check_identifiers(
        ["b.example.com", "a.example.com", "b.example.com"], ["8.8.8.8", "8.8.8.8"], TRUSTED
    )
    assert dns == ["b.example.com", "a.example.com"] and ips == ["8.8.8.8"]


# --- subproblems: one per refused identifier (RFC 8555 6.7.1) ---------------------------------


def test_every_refused_identifier_has_its_subproblem() -> None:
    with pytest.raises(RejectedIdentifier) as caught:
        check_identifiers(
            ["www.example.com", "*.co.uk", "intranet", "WWW.EXAMPLE.ORG"],
            ["8.8.8.8", "10.0.0.1"],
            TRUSTED,
        )
    err = caught.value
    subs = err.subproblems
    assert [s.identifier for s in subs] == [
        {"type": "dns", "value": "*.co.uk"},
        {"type": "dns", "value": "intranet"},
        {"type": "dns", "value": "WWW.EXAMPLE.ORG"},
        {"type": "ip", "value": "10.0.0.1"},
    ]
    assert all(s.problem == "rejectedIdentifier" for s in subs)
    assert "public suffix" in subs[0].detail
    assert "internal name" in subs[1].detail
    assert "canonical form" in subs[2].detail
    assert "reserved IP" in subs[3].detail
    # The message is the first problem, and says how many more there are.
    assert err.message.startswith(subs[0].detail) and err.message.endswith("(and 3 more)")


def test_subproblems_reach_the_problem_document() -> None:
    with pytest.raises(RejectedIdentifier) as caught:
        check_identifiers(["intranet", "a_b.example.com"], [], TRUSTED)
    doc = caught.value.to_problem()
    assert doc["type"] == "urn:ietf:params:acme:error:rejectedIdentifier"
    assert [s["identifier"]["value"] for s in doc["subproblems"]] == ["intranet", "a_b.example.com"]
    assert all(
        s["type"] == "urn:ietf:params:acme:error:rejectedIdentifier" for s in doc["subproblems"]
    )


def test_one_refusal_has_no_more_suffix() -> None:
    assert "more)" not in _refusal(["www.example.com", "intranet"])


# --- the CA's own base URL ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "public"),
    [
        ("ca.example.com", True),
        ("8.8.8.8", True),
        ("localhost", False),
        ("ca.local", False),
        ("127.0.0.1", False),
        ("[::1]", False),
        ("not a host", False),
    ],
)
def test_is_public_host(host: str, public: bool) -> None:
    assert is_public_host(host) is public


# --- the fast path for names already in canonical form -----------------------------------------

_NAME_ALPHABET = "abcxyzn019-.*_ AZü。:/@"
_PSL_LABELS = ["www", "a", "ck", "www.ck", "kawasaki", "city", "jp", "uk", "co", "github", "io"]


@settings(max_examples=500)
@given(
    st.text(alphabet=_NAME_ALPHABET, max_size=30)
    | st.from_regex(policy._PLAIN_NAME, fullmatch=True)
)
def test_plainly_canonical_names_are_what_normalisation_returns(raw: str) -> None:
    if policy._plainly_canonical(raw):
        assert names.normalize_dns_name(raw) == raw


@settings(max_examples=300)
@given(
    st.lists(
        st.text(alphabet=_NAME_ALPHABET, max_size=20)
        | st.builds(".".join, st.lists(st.sampled_from(_PSL_LABELS), min_size=1, max_size=4))
        | st.builds(
            lambda labels: "*." + ".".join(labels),
            st.lists(st.sampled_from(_PSL_LABELS), min_size=1, max_size=4),
        ),
        min_size=1,
        max_size=4,
    ),
    st.booleans(),
)
def test_check_identifiers_same_with_and_without_the_fast_path(
    raws: list[str], allow_internal: bool
) -> None:
    rules = NamePolicy(allow_internal=allow_internal)

    def outcome() -> object:
        try:
            return check_identifiers(raws, [], rules)
        except RejectedIdentifier as exc:
            return (exc.message, exc.subproblems)

    fast = outcome()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(policy, "_normalize", names.normalize_dns_name)
        mp.setattr(policy, "_check_dns", _reference_check_dns)
        slow = outcome()
    assert fast == slow


def _reference_check_dns(name: str, rules: NamePolicy) -> str | None:
    """_check_dns as first written: publicsuffix() and is_public() asked separately."""
    psl = policy._psl()
    base = name[2:] if names.is_wildcard(name) else name
    suffix = psl.publicsuffix(base)
    if names.is_wildcard(name) and suffix is not None and psl.is_public(base):
        return (
            f"{name} is a wildcard over the public suffix {base}; nobody controls all"
            " names under it (BR 3.2.2.6)."
        )
    if rules.allow_internal:
        return None
    if suffix is None:
        return (
            f"{name} is an internal name: its top-level domain is not in the public DNS"
            " (BR 4.2.2). Use a name under a registered domain."
        )
    if psl.is_public(base):
        return f"{name} is a public suffix, not a name anyone can prove control of."
    return None


@pytest.mark.parametrize(
    "raw",
    [
        "www.example.com",
        "*.example.com",
        "a.b.c.d.example.co.uk",
        "x1.example.com",
        "xn--bcher-kva.de",
    ],
)
def test_fast_path_edges(raw: str) -> None:
    # xn-- labels always take the full path (they must decode as IDNA).
    assert policy._plainly_canonical(raw) is ("--" not in raw)
    assert policy._normalize(raw) == names.normalize_dns_name(raw) == raw


@pytest.mark.parametrize("raw", ["*.com", "www.example.123", "a--b.example.com", "x" * 254])
def test_fast_path_leaves_the_doubtful_to_the_full_rules(raw: str) -> None:
    assert not policy._plainly_canonical(raw)


# --- the public suffix of a name, with the parent's answer kept -----------------------------


def _psl_names() -> list[str]:
    """Every rule's domain, with zero to three labels before it, and names deeper than any
    rule: where the PSL's exception, wildcard and exact rules meet."""
    psl = policy._psl()
    out: set[str] = set()
    for rule in psl._publicsuffix:
        domain = rule.lstrip("!").removeprefix("*.")
        if not policy._PLAIN_NAME.fullmatch(domain):
            continue  # U-labels: asked of publicsuffixlist itself
        out.add(domain)
        out.add("www." + domain)
        out.add("a.b." + domain)
        out.add("x.y.z.w." + domain)
    out.update(["com", "example.com", "www.example.com", "a.b.c.d.e.f.g.h.i.example.co.uk"])
    out.update(["nosuchtld", "www.nosuchtld", "a.b.example.nosuchtld", "localhost", "local"])
    return sorted(out)


def test_public_suffixes_answer_as_publicsuffixlist_does() -> None:
    psl = policy._psl()
    ours = policy._PublicSuffixes(psl)  # a fresh one: nothing kept yet
    names = _psl_names()
    assert len(names) > 30_000
    for name in names:
        assert ours.publicsuffix(name) == psl.publicsuffix(name), name
    for name in reversed(names):  # again, with every parent's answer kept
        assert ours.publicsuffix(name) == psl.publicsuffix(name), name


def test_public_suffixes_ask_publicsuffixlist_for_anything_else() -> None:
    psl = policy._psl()
    ours = policy._PublicSuffixes(psl)
    for name in ("WWW.Example.COM", "www.example.com.", "a..example.com", "bücher.example", ""):
        assert ours.publicsuffix(name) == psl.publicsuffix(name)

    class _Other:  # a publicsuffixlist that keeps its rules elsewhere
        def publicsuffix(self, name: str) -> str:
            return "asked"

    assert policy._PublicSuffixes(_Other()).publicsuffix("www.example.com") == "asked"  # type: ignore[arg-type]


def test_public_suffixes_keep_a_bounded_number_of_parents() -> None:
    ours = policy._PublicSuffixes(policy._psl())
    for i in range(2 * ours._KEPT + 10):
        assert ours.publicsuffix(f"www.host{i}.example.com") == "com"
    assert len(ours._parents) <= ours._KEPT


# --- IP addresses per profile (RFC 8738; BR 3.2.2.5) and IANA's special-purpose blocks -------


@pytest.mark.parametrize(
    ("ip", "block"),
    [
        ("224.0.0.251", "224.0.0.0/4"),  # multicast: no one host
        ("240.0.0.1", "240.0.0.0/4"),
        ("255.255.255.255", "255.255.255.255/32"),
        ("198.18.0.1", "198.18.0.0/15"),
        ("::ffff:8.8.8.8", "::ffff:0:0/96"),  # a public IPv4 address in IPv6 clothes
        ("2002:808:808::1", "2002::/16"),  # 6to4
        ("2001:0:4136:e378::1", "2001::/32"),  # TEREDO
        ("ff02::1", "ff00::/8"),
        ("3fff::1", "3fff::/20"),
    ],
)
def test_special_purpose_ip_refused_naming_its_block(ip: str, block: str) -> None:
    message = _refusal([], [ip])
    assert block in message and "RFC 6890" in message


@pytest.mark.parametrize("ip", ["192.0.0.9", "192.0.0.10", "2001:1::1", "2001:3::1"])
def test_special_purpose_globally_reachable_blocks_allowed(ip: str) -> None:
    assert check_identifiers([], [ip], TRUSTED) == ([], [ip])


def test_for_profile_ip_only_where_the_profile_certifies_them() -> None:
    from padlock.pki.profiles import PROFILES

    assert check_identifiers([], ["8.8.8.8"], policy.for_profile(PROFILES["short-lived"])) == (
        [],
        ["8.8.8.8"],
    )
    for name in ("classic", "tlsserver", "ov"):
        message = _refusal([], ["8.8.8.8"], policy.for_profile(PROFILES[name]))
        assert f"IP addresses are not accepted in the {name} profile" in message
        assert "shortlived" in message and "RFC 8738" in message


def test_for_profile_reserved_ip_only_in_test_hierarchy_when_allowed() -> None:
    from padlock.pki.profiles import PROFILES

    _refusal([], ["127.0.0.1"], policy.for_profile(PROFILES["short-lived"], True))
    _refusal([], ["127.0.0.1"], policy.for_profile(PROFILES["test"], False))
    allowed = policy.for_profile(PROFILES["test"], True)
    assert check_identifiers([], ["127.0.0.1"], allowed) == ([], ["127.0.0.1"])
