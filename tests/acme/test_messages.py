"""ACME payloads, resources and challenges (RFC 8555 7-8, RFC 8738, RFC 9773), pure."""

from __future__ import annotations

import datetime as dt

import pytest

from padlock.acme import challenges as ch
from padlock.acme import messages as m
from padlock.errors import (
    BadRevocationReason,
    InvalidContact,
    Malformed,
    UnsupportedContact,
    UnsupportedIdentifier,
)

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


# --- contacts --------------------------------------------------------------------------------


def test_contact_mailto_accepted() -> None:
    assert m.check_contacts(["mailto:admin@example.com"]) == ("mailto:admin@example.com",)


@pytest.mark.parametrize("contact", ["https://example.com/", "tel:+15555550100", "admin@x.com"])
def test_contact_other_scheme_unsupported(contact: str) -> None:
    with pytest.raises(UnsupportedContact):
        m.check_contacts([contact])


@pytest.mark.parametrize(
    "contact",
    [
        "mailto:",
        "mailto:not-an-address",
        "mailto:a@b.com?subject=hi",
        "mailto:a@b.com,c@d.com",
        "mailto:a@localhost",
        "mailto:a..b@example.com",
    ],
)
def test_contact_invalid(contact: str) -> None:
    with pytest.raises(InvalidContact):
        m.check_contacts([contact])


def test_contact_not_a_list_malformed() -> None:
    with pytest.raises(Malformed):
        m.check_contacts("mailto:a@example.com")


# --- accounts and orders ---------------------------------------------------------------------


def test_new_account_fields() -> None:
    req = m.parse_new_account(
        {
            "contact": ["mailto:a@example.com"],
            "termsOfServiceAgreed": True,
            "onlyReturnExisting": False,
        }
    )
    assert req.contact == ("mailto:a@example.com",)
    assert req.tos_agreed and not req.only_return_existing


def test_new_account_bool_type_malformed() -> None:
    with pytest.raises(Malformed):
        m.parse_new_account({"termsOfServiceAgreed": "yes"})


def test_account_update_only_deactivation() -> None:
    assert m.parse_account_update({"status": "deactivated"}).deactivate
    with pytest.raises(Malformed):
        m.parse_account_update({"status": "valid"})


def test_new_order_identifiers() -> None:
    req = m.parse_new_order(
        {
            "identifiers": [
                {"type": "dns", "value": "a.example.com"},
                {"type": "ip", "value": "192.0.2.1"},
            ]
        }
    )
    assert req.identifiers == (
        m.Identifier("dns", "a.example.com"),
        m.Identifier("ip", "192.0.2.1"),
    )


@pytest.mark.parametrize("payload", [{}, {"identifiers": []}, {"identifiers": "x"}])
def test_new_order_without_identifiers_malformed(payload: dict[str, object]) -> None:
    with pytest.raises(Malformed):
        m.parse_new_order(payload)


def test_new_order_unknown_identifier_type() -> None:
    with pytest.raises(UnsupportedIdentifier):
        m.parse_new_order({"identifiers": [{"type": "email", "value": "a@example.com"}]})


def test_new_order_not_before_refused() -> None:
    with pytest.raises(Malformed, match="notBefore"):
        m.parse_new_order(
            {"identifiers": [{"type": "dns", "value": "a.example.com"}], "notBefore": "2026-01-01"}
        )


def test_wildcard_identifier_base() -> None:
    ident = m.Identifier("dns", "*.example.net")
    assert ident.is_wildcard
    assert ident.base == m.Identifier("dns", "example.net")


# --- revocation ------------------------------------------------------------------------------


def test_revocation_reason_default_unspecified() -> None:
    assert m.parse_revocation({"certificate": "AQID"}).reason == 0


@pytest.mark.parametrize("reason", [2, 6, 7, 8, 10, -1, "1", True])
def test_revocation_reason_refused(reason: object) -> None:
    with pytest.raises(BadRevocationReason):
        m.parse_revocation({"certificate": "AQID", "reason": reason})


# --- order status ------------------------------------------------------------------------------


def _order(status: str, expires: dt.datetime) -> m.Order:
    return m.Order(
        "o", "a", "acme", "dv", status, (m.Identifier("dns", "a.example.com"),), expires, T0
    )


def test_order_expired_is_invalid() -> None:
    order = _order(m.PENDING, T0 + dt.timedelta(days=1))
    assert m.order_status(order, T0) == m.PENDING
    assert m.order_status(order, T0 + dt.timedelta(days=2)) == m.INVALID
    doc = m.render_order(m.Urls("https://ca", "/acme"), order, T0 + dt.timedelta(days=2))
    assert doc["status"] == "invalid" and "expired" in doc["error"]["detail"]


def test_valid_order_does_not_expire_and_links_certificate() -> None:
    order = m.Order("o", "a", "acme", "dv", m.VALID, (), T0, T0, cert_serial="abc")
    doc = m.render_order(m.Urls("https://ca", "/acme"), order, T0 + dt.timedelta(days=30))
    assert doc["status"] == "valid"
    assert doc["certificate"] == "https://ca/acme/cert/abc"


# --- URLs ------------------------------------------------------------------------------------


def test_account_id_from_kid() -> None:
    urls = m.Urls("https://ca.example.com", "/acme/test")
    assert urls.account_id_from_kid("https://ca.example.com/acme/test/acct/xyz") == "xyz"
    assert urls.account_id_from_kid("https://ca.example.com/acme/acct/xyz") is None
    assert urls.account_id_from_kid("https://ca.example.com/acme/test/acct/xyz/orders") is None


def test_same_url() -> None:
    assert m.same_url("https://CA.example.com/acme/x", "https://ca.example.com/acme/x")
    assert not m.same_url("https://ca.example.com/acme/y", "https://ca.example.com/acme/x")
    assert not m.same_url("http://ca.example.com/acme/x", "https://ca.example.com/acme/x")


# --- ARI (RFC 9773) ----------------------------------------------------------------------------


def test_cert_id_rfc9773_example() -> None:
    aki = bytes.fromhex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4")
    assert m.cert_id(aki, 0x87654321) == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"
    assert m.parse_cert_id("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE") == (aki, 0x87654321)


@pytest.mark.parametrize("text", ["", "abc", ".AIdlQyE", "aYhb.", "aYhb.AA", "a=.b"])
def test_cert_id_malformed(text: str) -> None:
    with pytest.raises(Malformed):
        m.parse_cert_id(text)


def test_cert_id_without_the_sign_octet() -> None:
    """mod_md 2.6 leaves DER's leading 0 out of the serial: the same certificate, two forms."""
    aki = bytes.fromhex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4")
    assert m.parse_cert_id("aYhba4dGQEHhs3uEe6CuLN4ByNQ.h2VDIQ") == (aki, 0x87654321)
    assert m.cert_id_forms(aki, 0x87654321) == (
        "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE",
        "aYhba4dGQEHhs3uEe6CuLN4ByNQ.h2VDIQ",
    )
    assert m.cert_id_forms(aki, 0x7654321) == (m.cert_id(aki, 0x7654321),)


def test_renewal_window_last_third() -> None:
    start, end = m.renewal_window(T0, T0 + dt.timedelta(days=90), None)
    assert start == T0 + dt.timedelta(days=60)
    assert end == T0 + dt.timedelta(days=75)


def test_renewal_window_revoked_is_already_open() -> None:
    revoked = T0 + dt.timedelta(days=3, microseconds=999_999)
    start, end = m.renewal_window(T0, T0 + dt.timedelta(days=90), revoked)
    # open (and over) at the revocation itself, whatever minute a client asks in
    assert start < end <= revoked
    assert end == T0 + dt.timedelta(days=3) and start == end - dt.timedelta(hours=1)


# --- challenges ------------------------------------------------------------------------------


def test_key_authorization_and_dns_value() -> None:
    key_auth = ch.key_authorization("evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA", "thumb")
    assert key_auth == "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.thumb"
    assert len(ch.dns01_value(key_auth)) == 43


def test_dns01_name_of_wildcard_is_base() -> None:
    assert ch.dns01_name(m.Identifier("dns", "*.example.net")) == "_acme-challenge.example.net"


def test_offered_challenges() -> None:
    wild = m.Identifier("dns", "example.net")
    assert ch.offered(wild, True) == ("dns-01", "dns-account-01")
    assert ch.offered(wild, True, persist=True) == ("dns-01", "dns-account-01", "dns-persist-01")
    assert ch.offered(m.Identifier("ip", "192.0.2.1"), True) == ("http-01", "tls-alpn-01")
    assert set(ch.offered(m.Identifier("dns", "www.example.com"), False, persist=True)) == {
        "http-01",
        "dns-01",
        "tls-alpn-01",
        "dns-account-01",
        "dns-persist-01",
    }


def test_dns_account_label_draft_example() -> None:
    """The draft's example account (draft-ietf-acme-dns-account-label-02 section 3.1)."""
    url = "https://example.com/acme/acct/ExampleAccount"
    assert ch.dns_account_label(url) == "_ujmmovf2vn55tgye"
    name = ch.dns_account_name(m.Identifier("dns", "*.example.org"), url)
    assert name == "_ujmmovf2vn55tgye._acme-challenge.example.org"


def test_persist_challenge_renders_issuer_names_not_token() -> None:
    urls = m.Urls("https://ca.example", "/acme")
    chal = m.Challenge("c1", "a1", "dns-persist-01", "tok", "pending")
    doc = m.render_challenge(urls, chal, ("ca.example",))
    assert doc["issuerDomainNames"] == ["ca.example"] and "token" not in doc
    assert "token" in m.render_challenge(urls, m.Challenge("c2", "a1", "dns-01", "t", "pending"))
