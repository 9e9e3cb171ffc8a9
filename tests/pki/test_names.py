"""Host name rules: every mistake of the seed's Common Name gets an error that says what to type."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from padlock.errors import InvalidName
from padlock.pki import names
from padlock.pki.names import normalize_country, normalize_dns_name, normalize_ip


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("www.example.com", "www.example.com"),
        ("  www.example.com  ", "www.example.com"),
        ("WWW.Example.COM", "www.example.com"),
        ("www.example.com.", "www.example.com"),
        ("a-b.example.com", "a-b.example.com"),
        ("3com.com", "3com.com"),
        ("localhost", "localhost"),
        ("*.example.com", "*.example.com"),
        ("*.EXAMPLE.com", "*.example.com"),
        ("bücher.de", "xn--bcher-kva.de"),
        ("WWW.Bücher.DE", "www.xn--bcher-kva.de"),
        ("xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("XN--BCHER-KVA.DE", "xn--bcher-kva.de"),
        ("*.bücher.de", "*.xn--bcher-kva.de"),
        ("例え.テスト", "xn--r8jz45g.xn--zckzah"),
        ("例え。テスト", "xn--r8jz45g.xn--zckzah"),
        ("例え。テスト。", "xn--r8jz45g.xn--zckzah"),
        ("ＷＷＷ．ＥＸＡＭＰＬＥ．ＣＯＭ", "www.example.com"),
        ("a" * 63 + ".com", "a" * 63 + ".com"),
    ],
)
def test_dns_name_normalised(raw: str, expected: str) -> None:
    assert normalize_dns_name(raw) == expected


def test_dns_name_url_with_path_hint() -> None:
    with pytest.raises(InvalidName) as info:
        normalize_dns_name("http://secure.mydomain.com/checkout")
    assert "is a URL, not a host name" in info.value.message
    assert info.value.hint == "Put only the host name: secure.mydomain.com"


@pytest.mark.parametrize(
    ("raw", "host"),
    [
        ("https://secure.mydomain.com/", "secure.mydomain.com"),
        ("https://secure.mydomain.com", "secure.mydomain.com"),
        ("https://user@secure.mydomain.com:8443/x?y=1", "secure.mydomain.com"),
        ("HTTPS://Secure.MyDomain.com/checkout", "secure.mydomain.com"),
    ],
)
def test_dns_name_url_hint_names_host(raw: str, host: str) -> None:
    with pytest.raises(InvalidName, match="is a URL") as info:
        normalize_dns_name(raw)
    assert info.value.hint == f"Put only the host name: {host}"


def test_dns_name_path_hint() -> None:
    with pytest.raises(InvalidName, match="is a path, not a host name") as info:
        normalize_dns_name("secure.mydomain.com/checkout")
    assert info.value.hint == "Put only the host name: secure.mydomain.com"


def test_dns_name_file_path_refused() -> None:
    with pytest.raises(InvalidName, match="is a path") as info:
        normalize_dns_name("/etc/ssl/www.example.com.key")
    assert info.value.hint == "Put only the host name."


def test_dns_name_port_hint() -> None:
    with pytest.raises(InvalidName, match="has a port") as info:
        normalize_dns_name("www.example.com:443")
    assert info.value.hint == "Put only the host name: www.example.com"


@pytest.mark.parametrize("raw", ["www example.com", "www.example.com x", "www.\texample.com"])
def test_dns_name_space_refused(raw: str) -> None:
    with pytest.raises(InvalidName, match="contains a space"):
        normalize_dns_name(raw)


@pytest.mark.parametrize("raw", ["my_host.example.com", "_acme-challenge.example.com"])
def test_dns_name_underscore_refused(raw: str) -> None:
    with pytest.raises(InvalidName, match="contains an underscore"):
        normalize_dns_name(raw)


@pytest.mark.parametrize(
    "raw", ["www..example.com", ".example.com", "..", "example.com..", "例え。。テスト"]
)
def test_dns_name_empty_label_refused(raw: str) -> None:
    with pytest.raises(InvalidName, match="empty label"):
        normalize_dns_name(raw)


@pytest.mark.parametrize("raw", ["", "   ", "\n"])
def test_dns_name_empty_refused(raw: str) -> None:
    with pytest.raises(InvalidName, match="The name is empty") as info:
        normalize_dns_name(raw)
    assert info.value.hint and "www.example.com" in info.value.hint


def test_dns_name_label_too_long_refused() -> None:
    with pytest.raises(InvalidName, match="longer than 63 characters"):
        normalize_dns_name("a" * 64 + ".com")


def test_dns_name_unicode_label_too_long_refused() -> None:
    with pytest.raises(InvalidName):
        normalize_dns_name("ü" * 60 + ".de")


def test_dns_name_too_long_refused() -> None:
    name = ".".join(["a" * 63] * 3 + ["b" * 61])  # 253 characters: the most allowed
    assert len(name) == 253
    assert normalize_dns_name(name) == name
    with pytest.raises(InvalidName, match="longer than 253 characters"):
        normalize_dns_name(name + "b")


@pytest.mark.parametrize("raw", ["192.0.2.1", "2001:db8::1", "[2001:db8::1]", "::1"])
def test_dns_name_ip_address_refused(raw: str) -> None:
    with pytest.raises(InvalidName, match="is an IP address, not a DNS name") as info:
        normalize_dns_name(raw)
    assert info.value.hint and "iPAddress" in info.value.hint


@pytest.mark.parametrize("raw", ["1.2.3", "example.123"])
def test_dns_name_numeric_tld_refused(raw: str) -> None:
    with pytest.raises(InvalidName, match="all digits"):
        normalize_dns_name(raw)


@pytest.mark.parametrize("raw", ["*.*.example.com", "www.*.example.com", "w*.example.com"])
def test_dns_name_bad_wildcard_refused(raw: str) -> None:
    with pytest.raises(InvalidName, match="bad wildcard: only a whole leftmost label"):
        normalize_dns_name(raw)


@pytest.mark.parametrize("raw", ["*.com", "*"])
def test_dns_name_wildcard_over_tld_refused(raw: str) -> None:
    with pytest.raises(InvalidName, match="wildcard over a top-level domain") as info:
        normalize_dns_name(raw)
    assert info.value.hint and "*.example.com" in info.value.hint


def test_dns_name_wildcard_not_allowed() -> None:
    with pytest.raises(InvalidName, match="wildcard is not allowed"):
        normalize_dns_name("*.example.com", allow_wildcard=False)


def test_dns_name_email_refused() -> None:
    with pytest.raises(InvalidName, match="email address") as info:
        normalize_dns_name("webmaster@example.com")
    assert info.value.hint and "--email" in info.value.hint


@pytest.mark.parametrize("raw", ["-www.example.com", "www-.example.com", "ww!w.example.com"])
def test_dns_name_bad_characters_refused(raw: str) -> None:
    with pytest.raises(InvalidName, match="characters a host name cannot have"):
        normalize_dns_name(raw)


def test_dns_name_reserved_hyphens_refused() -> None:
    with pytest.raises(InvalidName, match="reserved for IDN labels"):
        normalize_dns_name("ab--cd.example.com")


def test_dns_name_bad_a_label_refused() -> None:
    with pytest.raises(InvalidName, match="not a valid IDN A-label"):
        normalize_dns_name("xn--zz.example.com")


def test_dns_name_invalid_unicode_refused() -> None:
    with pytest.raises(InvalidName, match="not a valid internationalised label"):
        normalize_dns_name("☃\u0301x.example.com")  # a combining mark is not a valid U-label


def test_dns_name_not_text_refused() -> None:
    with pytest.raises(InvalidName, match="is not text"):
        normalize_dns_name(b"www.example.com")  # type: ignore[arg-type]


def test_is_wildcard() -> None:
    assert names.is_wildcard("*.example.com")
    assert not names.is_wildcard("www.example.com")


def test_to_unicode_round_trip() -> None:
    assert names.to_unicode("*.www.xn--bcher-kva.de") == "*.www.bücher.de"
    assert names.to_unicode("www.example.com") == "www.example.com"


def test_to_unicode_bad_a_label_kept() -> None:
    assert names.to_unicode("xn--zz.example.com") == "xn--zz.example.com"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("192.0.2.1", "192.0.2.1"), ("2001:DB8:0::1", "2001:db8::1"), ("[::1]", "::1")],
)
def test_ip_normalised(raw: str, expected: str) -> None:
    assert normalize_ip(raw) == expected
    assert names.is_ip_address(raw)


def test_ip_invalid_refused() -> None:
    with pytest.raises(InvalidName, match="is not an IP address"):
        normalize_ip("300.1.1.1")


@pytest.mark.parametrize(("raw", "expected"), [("US", "US"), ("gb", "GB"), (" de ", "DE")])
def test_country_normalised(raw: str, expected: str) -> None:
    assert normalize_country(raw) == expected


def test_country_uk_refused_with_gb_hint() -> None:
    with pytest.raises(InvalidName, match="'UK' is not an ISO 3166 country code") as info:
        normalize_country("UK")
    assert info.value.hint and "GB" in info.value.hint


def test_country_unknown_code_refused() -> None:
    with pytest.raises(InvalidName, match="not an ISO 3166 country code") as info:
        normalize_country("XX")
    assert info.value.hint and "GB (not UK)" not in info.value.hint


@pytest.mark.parametrize("raw", ["USA", "U", "", "1A", "United States"])
def test_country_not_two_letters_refused(raw: str) -> None:
    with pytest.raises(InvalidName, match="not a two-letter country code"):
        normalize_country(raw)


# ----------------------------------------------------------------- properties

_LDH_LABEL = st.from_regex(r"\A[A-Za-z0-9](?:[A-Za-z0-9-]{0,20}[A-Za-z0-9])?\Z", fullmatch=True)
_UNICODE_LABEL = st.text(
    alphabet=st.sampled_from("abcdefxyzäöüßéèçñøåæłżšœ例えテストмосквадеБÜÖÄ0123456789"),
    min_size=1,
    max_size=12,
)
_LABEL = st.one_of(_LDH_LABEL, _UNICODE_LABEL)
_HOST = st.builds(
    lambda labels, tld, star, dot: (
        ("*." if star else "") + ".".join([*labels, tld]) + ("." if dot else "")
    ),
    st.lists(_LABEL, min_size=1, max_size=4),
    st.sampled_from(["com", "COM", "de", "org", "example", "テスト", "рф", "xn--p1ai"]),
    st.booleans(),
    st.booleans(),
)
_PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _normalizes_to_fixed_point(raw: str) -> None:
    try:
        once = normalize_dns_name(raw)
    except InvalidName as exc:
        assert exc.message  # every refusal says why
        return
    assert normalize_dns_name(once) == once  # idempotent; never rejects its own output
    assert once == once.lower()
    assert once.isascii()
    assert len(once) <= 253
    assert all(1 <= len(label) <= 63 for label in once.split(".")), (
        "every label of the result is a valid length"
    )


@_PROPERTY
@given(_HOST)
@example("Ｅｘａｍｐｌｅ。com")
@example("www.Bücher.DE.")
@example("*.例え.テスト")
def test_property_plausible_hosts_normalise_to_fixed_point(raw: str) -> None:
    _normalizes_to_fixed_point(raw)


@_PROPERTY
@given(_HOST)
def test_property_plausible_hosts_case_insensitive(raw: str) -> None:
    try:
        lower = normalize_dns_name(raw.lower())
    except InvalidName:
        return
    # Upper-casing an ASCII name never changes what it names.
    if raw.isascii():
        assert normalize_dns_name(raw.upper()) == lower


@_PROPERTY
@given(st.text(max_size=80))
@example("http://secure.mydomain.com/checkout")
@example("a⒈com")
@example("\u3002")
@example("xn--")
def test_property_arbitrary_text_refused_or_fixed_point(raw: str) -> None:
    _normalizes_to_fixed_point(raw)


@_PROPERTY
@given(st.text(alphabet=st.characters(codec="ascii"), max_size=80))
def test_property_arbitrary_ascii_refused_or_fixed_point(raw: str) -> None:
    _normalizes_to_fixed_point(raw)


@_PROPERTY
@given(_HOST)
def test_property_accepted_names_are_valid_idna(raw: str) -> None:
    import idna

    try:
        name = normalize_dns_name(raw)
    except InvalidName:
        return
    plain = name[2:] if name.startswith("*.") else name
    assert idna.encode(idna.decode(plain)).decode() == plain
