"""The perspectives file: every field checked, errors that name the perspective."""

from __future__ import annotations

import json
from typing import Any

import pytest

from padlock.ca.mpic.config import parse
from padlock.ca.mpic.signing import RequestKey, public_text
from padlock.errors import ConfigError


def _entry(**changes: Any) -> dict[str, Any]:
    key, _pem = RequestKey.generate()
    entry = {
        "name": "fra",
        "url": "https://fra.example:8444",
        "key": public_text(key.public),
        "rir": "ripe ncc",
        "latitude": 50.11,
        "longitude": 8.68,
    }
    entry.update(changes)
    return entry


def test_config_parse_good() -> None:
    (one,) = parse(json.dumps({"perspectives": [_entry()]}))
    assert one.name == "fra" and one.place.rir == "RIPE NCC"
    assert one.check_url == "https://fra.example:8444/check"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "Bad Name"}, "name must be"),
        ({"url": "ftp://x"}, "url must be"),
        ({"rir": "IANA"}, "rir must be one of"),
        ({"latitude": 91}, "latitude must be"),
        ({"longitude": "8"}, "longitude must be"),
        ({"key": "abc"}, "not an Ed25519 public key"),
    ],
)
def test_config_parse_bad_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(json.dumps([_entry(**change)]))


@pytest.mark.parametrize("text", ["{", "{}", "[1]", json.dumps([_entry(), _entry()])])
def test_config_parse_bad_file(text: str) -> None:
    with pytest.raises(ConfigError):
        parse(text)
