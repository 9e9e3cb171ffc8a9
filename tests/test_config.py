"""Settings: the PKI base URL derived from the API/ACME base URL."""

from __future__ import annotations

import pytest

from padlock.config import Settings, from_env, pki_base_url_for


@pytest.mark.parametrize(
    ("base_url", "pki_port", "expected"),
    [
        ("http://127.0.0.1:8080", None, "http://127.0.0.1:8080"),
        ("http://ca.example.net/", None, "http://ca.example.net"),
        ("https://ca.example.net:8443", None, "http://ca.example.net"),
        ("https://ca.example.net:8443", 80, "http://ca.example.net"),
        ("https://ca.example.net:8443", 8081, "http://ca.example.net:8081"),
        ("https://ca.example.net/pki/", None, "http://ca.example.net/pki"),
        ("https://[2001:db8::1]:8443", 8081, "http://[2001:db8::1]:8081"),
        ("http://127.0.0.1:8080", 8081, "http://127.0.0.1:8081"),
        ("http://127.0.0.1:8080", 8080, "http://127.0.0.1:8080"),
    ],
)
def test_pki_base_url_for_is_always_plain_http(
    base_url: str, pki_port: int | None, expected: str
) -> None:
    assert pki_base_url_for(base_url, pki_port) == expected


def test_settings_effective_pki_base_url_prefers_the_given_one() -> None:
    settings = Settings(base_url="https://ca.example.net:8443", pki_port=8081)
    assert settings.effective_pki_base_url == "http://ca.example.net:8081"
    given = Settings(base_url="https://ca.example.net", pki_base_url="http://pki.example.net")
    assert given.effective_pki_base_url == "http://pki.example.net"


def test_from_env_reads_pki_settings() -> None:
    settings = from_env(
        {"PADLOCK_PKI_BASE_URL": "http://pki.example.net/", "PADLOCK_PKI_PORT": "8081"}
    )
    assert settings.pki_base_url == "http://pki.example.net"
    assert settings.pki_port == 8081
    assert from_env({}).pki_base_url is None
