"""Profile files: the shipped set reads back as the profiles it describes, and a bad file is
refused with its name, the line and the reason (tomllib's line and column for bad TOML,
the key for a schema error)."""

from __future__ import annotations

import datetime as dt

import pytest

from padlock.pki.profile_model import Hierarchy, ProfileFileError, parse_profile
from padlock.pki.profiles import PROFILES, ProfileSet, load_profiles, shipped_texts

CLASSIC = shipped_texts()["classic"]


def _refusal(text: str, name: str = "mine") -> str:
    with pytest.raises(ProfileFileError) as caught:
        parse_profile(name, text, f"/data/profiles/{name}.toml")
    return caught.value.message


def test_profile_model_shipped_set_is_what_clients_ask_for() -> None:
    classic, tls, short = PROFILES["classic"], PROFILES["tlsserver"], PROFILES["shortlived"]
    assert classic.common_name and classic.subject_key_identifier and classic.key_encipherment
    assert classic.limit == dt.timedelta(days=90) and not classic.ip_addresses
    for lean in (tls, short):
        assert not lean.common_name and not lean.subject_key_identifier
        assert not lean.key_encipherment and lean.subject == ()
        assert lean.rule("extKeyUsage").values == ("serverAuth",)  # type: ignore[union-attr]
    assert short.limit == dt.timedelta(hours=160) and short.ip_addresses
    assert [p.name for p in PROFILES.values() if p.ip_addresses] == ["test", "shortlived"]
    assert PROFILES["test"].hierarchy is Hierarchy.TEST and not PROFILES["test"].pkilint


def test_profile_model_a_new_profile_needs_no_code() -> None:
    text = CLASSIC.replace('aliases = ["dv"]\n', "").replace('"90d"', '"30d"')
    profiles = load_profiles({"month": (text, "month.toml")} | _shipped_but("classic"))
    assert profiles["month"].limit == dt.timedelta(days=30)
    assert profiles["month"].description == PROFILES["classic"].description


def test_profile_model_disabled_profile_is_not_offered() -> None:
    text = "enabled = false\n" + shipped_texts()["tlsserver"]
    profiles = load_profiles({"tlsserver": (text, "tlsserver.toml")} | _shipped_but("tlsserver"))
    assert "tlsserver" not in profiles and "classic" in profiles


def _shipped_but(name: str) -> dict[str, tuple[str, str]]:
    return {n: (t, n) for n, t in shipped_texts().items() if n != name}


def test_profile_model_bad_toml_names_file_line_and_column() -> None:
    message = _refusal(CLASSIC.replace("[validity]", "[validity"))
    assert message.startswith("/data/profiles/mine.toml: not valid TOML")
    assert "line 9" in message


@pytest.mark.parametrize(
    ("old", "new", "where", "words"),
    [
        ('hierarchy = "trusted"', 'hierarchy = "public"', ":4: hierarchy", '"trusted" or "test"'),
        ('default = "90d"', 'default = "90 days"', ":10: validity.default", "not a duration"),
        ('default = "90d"', 'default = "120d"', ":10: validity.default", "longer than"),
        ("pkilint = true", "pkilint = false", ":7: pkilint", "BR 4.3.1.2"),
        ("pkilint = true", "pkilnt = true", ":7: pkilnt", "unknown key"),
        (
            'attributes = ["commonName"]',
            'attributes = ["commonName", "organizationName"]',
            ":14: subject.attributes",
            "organization-validated",
        ),
        (
            "subjectKeyIdentifier = { critical = false }",
            "nameConstraints = { critical = true }",
            ":18: extensions.nameConstraints",
            "does not write",
        ),
        (
            'purposes = ["serverAuth"]',
            'purposes = ["serverAuth", "clientAuth"]',
            ":21: extensions.extKeyUsage.purposes",
            "clientAuth not allowed",
        ),
        (
            "keyUsage = { critical = true,",
            "keyUsage = { critical = false,",
            ":23: extensions.keyUsage.critical",
            "must be true",
        ),
        (
            '"2.23.140.1.2.1"',
            '"2.23.140.1.2.2"',
            ":20: extensions.certificatePolicies.policies",
            "OV",
        ),
    ],
)
def test_profile_model_schema_error_names_line_and_key(
    old: str, new: str, where: str, words: str
) -> None:
    assert old in CLASSIC
    message = _refusal(CLASSIC.replace(old, new, 1))
    assert message.startswith("/data/profiles/mine.toml" + where), message
    assert words in message


def test_profile_model_missing_key_is_named() -> None:
    message = _refusal(CLASSIC.replace('validation = "domain"\n', ""))
    assert "validation: missing" in message


def test_profile_model_bad_file_name_refused() -> None:
    assert "not a profile name" in _refusal(CLASSIC, name="Bad_Name")


def test_profile_model_two_profiles_with_one_name_refused() -> None:
    text = shipped_texts()["tlsserver"].replace(
        'validation = "domain"', 'aliases = ["dv"]\nvalidation = "domain"'
    )
    with pytest.raises(ProfileFileError, match="'dv'"):
        load_profiles({"tlsserver": (text, "t")} | _shipped_but("tlsserver"))


def test_profile_model_set_resolves_aliases_and_iterates_names_once() -> None:
    profiles = ProfileSet([PROFILES["classic"], PROFILES["test"]])
    assert list(profiles) == ["classic", "test"] and "dv" in profiles
    assert profiles.get_profile("dv").name == "classic"
