"""The ACME vocabulary (RFC 8555 section 7, RFC 8738, RFC 9773): resources, payloads, URLs.

Pure: the records here are frozen values; parsing checks shape and types and raises
the ACME problem types by name (malformed, invalidContact, unsupportedContact,
unsupportedIdentifier); rendering turns records into the JSON objects clients read.
Times are parameters, never read from a clock.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from padlock.acme.jws import b64decode, b64encode
from padlock.errors import (
    BadRevocationReason,
    InvalidContact,
    Malformed,
    UnsupportedContact,
    UnsupportedIdentifier,
)

# Statuses (RFC 8555 section 7.1.6).
PENDING = "pending"
READY = "ready"
PROCESSING = "processing"
VALID = "valid"
INVALID = "invalid"
DEACTIVATED = "deactivated"
EXPIRED = "expired"
REVOKED = "revoked"

HTTP_01 = "http-01"
DNS_01 = "dns-01"
TLS_ALPN_01 = "tls-alpn-01"
DNS_ACCOUNT_01 = "dns-account-01"  # draft-ietf-acme-dns-account-label-02
DNS_PERSIST_01 = "dns-persist-01"  # draft-ietf-acme-dns-persist-02
CHALLENGE_TYPES = (HTTP_01, DNS_01, TLS_ALPN_01, DNS_ACCOUNT_01, DNS_PERSIST_01)

MAX_CONTACTS = 10
MAX_IDENTIFIERS = 100

# RFC 5280 section 5.3.1 reason codes a subscriber may give (BR 7.2.2; 2 and 8 are the CA's).
REVOCATION_REASONS: dict[int, str] = {
    0: "unspecified",
    1: "keyCompromise",
    3: "affiliationChanged",
    4: "superseded",
    5: "cessationOfOperation",
    9: "privilegeWithdrawn",
}

_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$"
)


def rfc3339(when: dt.datetime) -> str:
    """UTC, second precision, ``Z`` suffix: what every ACME client parses."""
    if when.tzinfo is not dt.UTC:
        when = when.astimezone(dt.UTC)
    return when.replace(microsecond=0, tzinfo=None).isoformat() + "Z"


# --- records ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identifier:
    type: str  # "dns" or "ip"
    value: str

    def as_dict(self) -> dict[str, str]:
        return {"type": self.type, "value": self.value}

    @property
    def is_wildcard(self) -> bool:
        return self.type == "dns" and self.value.startswith("*.")

    @property
    def base(self) -> Identifier:
        """The identifier an authorization is for: ``*.example.com`` → ``example.com``."""
        return Identifier(self.type, self.value[2:]) if self.is_wildcard else self


@dataclass(frozen=True)
class Account:
    id: str
    directory: str
    status: str
    jwk: dict[str, Any]
    thumbprint: str
    contact: tuple[str, ...]
    tos_agreed: bool
    created_at: dt.datetime
    eab_kid: str | None = None


@dataclass(frozen=True)
class Challenge:
    id: str
    authz_id: str
    type: str
    token: str
    status: str
    validated: dt.datetime | None = None
    error: dict[str, Any] | None = None
    claimed_at: dt.datetime | None = None


@dataclass(frozen=True)
class Authorization:
    id: str
    order_id: str
    account_id: str
    identifier: Identifier  # the base name; ``wildcard`` says whether it was *.name
    wildcard: bool
    status: str
    expires: dt.datetime
    challenges: tuple[Challenge, ...] = ()


@dataclass(frozen=True)
class Order:
    id: str
    account_id: str
    directory: str
    profile: str
    status: str
    identifiers: tuple[Identifier, ...]
    expires: dt.datetime
    created_at: dt.datetime
    authz_ids: tuple[str, ...] = ()
    cert_serial: str | None = None
    error: dict[str, Any] | None = None
    replaces: str | None = None


# --- effective status (expiry applied when read) -------------------------------------------


def order_status(order: Order, now: dt.datetime) -> str:
    """An order past its expiry that never got to processing is invalid (RFC 8555 7.1.6)."""
    if order.status in (PENDING, READY) and now >= order.expires:
        return INVALID
    return order.status


def authz_status(authz: Authorization, now: dt.datetime) -> str:
    if authz.status in (PENDING, VALID) and now >= authz.expires:
        return EXPIRED
    return authz.status


# --- URLs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Urls:
    """Every URL of one ACME directory: ``base`` is the public base URL, ``prefix`` the path."""

    base: str  # e.g. https://ca.example.com (no trailing slash)
    prefix: str  # e.g. /acme or /acme/test

    @property
    def root(self) -> str:
        return self.base + self.prefix

    @property
    def directory(self) -> str:
        return f"{self.root}/directory"

    @property
    def new_nonce(self) -> str:
        return f"{self.root}/new-nonce"

    @property
    def new_account(self) -> str:
        return f"{self.root}/new-account"

    @property
    def new_order(self) -> str:
        return f"{self.root}/new-order"

    @property
    def revoke_cert(self) -> str:
        return f"{self.root}/revoke-cert"

    @property
    def key_change(self) -> str:
        return f"{self.root}/key-change"

    @property
    def renewal_info(self) -> str:
        return f"{self.root}/renewal-info"

    def account(self, account_id: str) -> str:
        return f"{self.root}/acct/{account_id}"

    def orders(self, account_id: str) -> str:
        return f"{self.root}/acct/{account_id}/orders"

    def order(self, order_id: str) -> str:
        return f"{self.root}/order/{order_id}"

    def finalize(self, order_id: str) -> str:
        return f"{self.root}/order/{order_id}/finalize"

    def authz(self, authz_id: str) -> str:
        return f"{self.root}/authz/{authz_id}"

    def challenge(self, challenge_id: str) -> str:
        return f"{self.root}/chall/{challenge_id}"

    def certificate(self, serial_hex: str, alternate: int = 0) -> str:
        url = f"{self.root}/cert/{serial_hex}"
        return f"{url}/{alternate}" if alternate else url

    def account_id_from_kid(self, kid: str) -> str | None:
        """The account id in a kid, if the kid is one of this directory's account URLs."""
        head = f"{self.root}/acct/"
        if not kid.startswith(head):
            return None
        rest = kid[len(head) :]
        return rest if rest and "/" not in rest else None


# --- rendering ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DirectoryMeta:
    terms_of_service: str | None
    website: str | None
    caa_identities: tuple[str, ...]
    external_account_required: bool
    profiles: Mapping[str, str] = field(default_factory=dict)
    # draft-ietf-acme-dns-persist-02 section 3.2 and 4.1: what a client needs to publish a
    # dns-persist-01 record before any order; empty when the CA has no issuer domain name.
    issuer_domain_names: tuple[str, ...] = ()
    account_hash_prefix: str = ""


def render_directory(urls: Urls, meta: DirectoryMeta) -> dict[str, Any]:
    m: dict[str, Any] = {
        "caaIdentities": list(meta.caa_identities),
        "externalAccountRequired": meta.external_account_required,
        "profiles": dict(meta.profiles),
    }
    if meta.terms_of_service:
        m["termsOfService"] = meta.terms_of_service
    if meta.website:
        m["website"] = meta.website
    if meta.issuer_domain_names:
        m["issuerDomainNames"] = list(meta.issuer_domain_names)
        m["accountHashPrefix"] = meta.account_hash_prefix
    return {
        "newNonce": urls.new_nonce,
        "newAccount": urls.new_account,
        "newOrder": urls.new_order,
        "revokeCert": urls.revoke_cert,
        "keyChange": urls.key_change,
        "renewalInfo": urls.renewal_info,
        "meta": m,
    }


def render_account(urls: Urls, account: Account) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "status": account.status,
        "contact": list(account.contact),
        "termsOfServiceAgreed": account.tos_agreed,
        "orders": urls.orders(account.id),
        "key": account.jwk,
        "createdAt": rfc3339(account.created_at),
    }
    return doc


def render_order(urls: Urls, order: Order, now: dt.datetime) -> dict[str, Any]:
    status = order_status(order, now)
    doc: dict[str, Any] = {
        "status": status,
        "expires": rfc3339(order.expires),
        "identifiers": [i.as_dict() for i in order.identifiers],
        "authorizations": [urls.authz(a) for a in order.authz_ids],
        "finalize": urls.finalize(order.id),
        "profile": order.profile,
    }
    if order.cert_serial and status == VALID:
        doc["certificate"] = urls.certificate(order.cert_serial)
    if order.error is not None:
        doc["error"] = order.error
    elif status == INVALID and order.status != INVALID:
        doc["error"] = {
            "type": "urn:ietf:params:acme:error:malformed",
            "detail": f"The order expired at {rfc3339(order.expires)}.",
            "status": 400,
        }
    if order.replaces:
        doc["replaces"] = order.replaces
    return doc


def render_challenge(
    urls: Urls, challenge: Challenge, issuer_domain_names: tuple[str, ...] = ()
) -> dict[str, Any]:
    """A dns-persist-01 challenge has no token: it carries the CA's issuerDomainNames
    instead (draft-ietf-acme-dns-persist-02 section 3.1)."""
    doc: dict[str, Any] = {
        "type": challenge.type,
        "url": urls.challenge(challenge.id),
        "status": challenge.status,
    }
    if challenge.type == DNS_PERSIST_01:
        doc["issuerDomainNames"] = list(issuer_domain_names)
    else:
        doc["token"] = challenge.token
    if challenge.validated is not None:
        doc["validated"] = rfc3339(challenge.validated)
    if challenge.error is not None:
        doc["error"] = challenge.error
    return doc


def render_authz(
    urls: Urls,
    authz: Authorization,
    now: dt.datetime,
    issuer_domain_names: tuple[str, ...] = (),
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "identifier": authz.identifier.as_dict(),
        "status": authz_status(authz, now),
        "expires": rfc3339(authz.expires),
        "challenges": [render_challenge(urls, c, issuer_domain_names) for c in authz.challenges],
    }
    if authz.wildcard:
        doc["wildcard"] = True
    return doc


def render_renewal_info(
    start: dt.datetime, end: dt.datetime, explanation: str | None = None
) -> dict[str, Any]:
    doc: dict[str, Any] = {"suggestedWindow": {"start": rfc3339(start), "end": rfc3339(end)}}
    if explanation:
        doc["explanationURL"] = explanation
    return doc


# --- payloads -----------------------------------------------------------------------------


def _bool(payload: Mapping[str, Any], name: str) -> bool | None:
    value = payload.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise Malformed(f"'{name}' must be true or false.")
    return value


def check_contacts(raw: Any) -> tuple[str, ...]:
    """``mailto:`` URLs with one plain address each (RFC 8555 section 7.3)."""
    if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
        raise Malformed("'contact' must be an array of strings.")
    if len(raw) > MAX_CONTACTS:
        raise InvalidContact(f"At most {MAX_CONTACTS} contacts are accepted.")
    out: list[str] = []
    for contact in raw:
        scheme, _, rest = contact.partition(":")
        if scheme.lower() != "mailto":
            raise UnsupportedContact(
                f"The contact {contact!r} is not a mailto: URL; only e-mail contacts are kept."
            )
        if not rest or "?" in rest or "," in rest or "%" in rest:
            raise InvalidContact(
                f"The contact {contact!r} must be one plain address, e.g. mailto:you@example.com"
                " (no hfields, no several addresses)."
            )
        address = unquote(rest)
        if not _EMAIL.match(address) or ".." in address or len(address) > 254:
            raise InvalidContact(f"{address!r} is not a valid e-mail address.")
        domain = address.rsplit("@", 1)[1]
        if "." not in domain:
            raise InvalidContact(f"The e-mail domain {domain!r} is not a full domain name.")
        out.append(f"mailto:{address}")
    return tuple(out)


@dataclass(frozen=True)
class NewAccount:
    contact: tuple[str, ...]
    tos_agreed: bool
    only_return_existing: bool
    external_account_binding: dict[str, Any] | None


def parse_new_account(payload: Mapping[str, Any]) -> NewAccount:
    contact = check_contacts(payload["contact"]) if payload.get("contact") is not None else ()
    eab = payload.get("externalAccountBinding")
    if eab is not None and not isinstance(eab, dict):
        raise Malformed("'externalAccountBinding' must be a JWS object.")
    return NewAccount(
        contact=contact,
        tos_agreed=bool(_bool(payload, "termsOfServiceAgreed")),
        only_return_existing=bool(_bool(payload, "onlyReturnExisting")),
        external_account_binding=eab,
    )


@dataclass(frozen=True)
class AccountUpdate:
    contact: tuple[str, ...] | None
    deactivate: bool
    tos_agreed: bool | None


def parse_account_update(payload: Mapping[str, Any]) -> AccountUpdate:
    status = payload.get("status")
    if status is not None and status != DEACTIVATED:
        raise Malformed("An account's status can only be changed to 'deactivated'.")
    contact = payload.get("contact")
    return AccountUpdate(
        contact=None if contact is None else check_contacts(contact),
        deactivate=status == DEACTIVATED,
        tos_agreed=_bool(payload, "termsOfServiceAgreed"),
    )


def parse_identifier(raw: Any) -> Identifier:
    if not isinstance(raw, dict):
        raise Malformed("Each identifier must be an object with 'type' and 'value'.")
    kind, value = raw.get("type"), raw.get("value")
    if not isinstance(kind, str) or not isinstance(value, str):
        raise Malformed("Each identifier needs a string 'type' and a string 'value'.")
    if kind not in ("dns", "ip"):
        raise UnsupportedIdentifier(
            f"Identifiers of type {kind!r} are not supported; use 'dns' or 'ip' (RFC 8738).",
        )
    return Identifier(kind, value)


@dataclass(frozen=True)
class NewOrder:
    identifiers: tuple[Identifier, ...]
    profile: str | None
    replaces: str | None


def parse_new_order(payload: Mapping[str, Any]) -> NewOrder:
    raw = payload.get("identifiers")
    if not isinstance(raw, list) or not raw:
        raise Malformed("'identifiers' must be a non-empty array.")
    if len(raw) > MAX_IDENTIFIERS:
        raise Malformed(f"An order may name at most {MAX_IDENTIFIERS} identifiers.")
    for name in ("notBefore", "notAfter"):
        if payload.get(name) is not None:
            raise Malformed(f"'{name}' is not supported: the profile decides the validity period.")
    profile = payload.get("profile")
    if profile is not None and not isinstance(profile, str):
        raise Malformed("'profile' must be a string.")
    replaces = payload.get("replaces")
    if replaces is not None and not isinstance(replaces, str):
        raise Malformed("'replaces' must be a certificate identifier string (RFC 9773).")
    return NewOrder(tuple(parse_identifier(i) for i in raw), profile, replaces)


def parse_finalize(payload: Mapping[str, Any]) -> bytes:
    csr = payload.get("csr")
    if not isinstance(csr, str) or not csr:
        raise Malformed("The finalize payload needs 'csr': the DER CSR in base64url.")
    return b64decode(csr, "csr")


@dataclass(frozen=True)
class Revocation:
    certificate_der: bytes
    reason: int


def parse_revocation(payload: Mapping[str, Any]) -> Revocation:
    cert = payload.get("certificate")
    if not isinstance(cert, str) or not cert:
        raise Malformed("revokeCert needs 'certificate': the DER certificate in base64url.")
    reason = payload.get("reason", 0)
    if isinstance(reason, bool) or not isinstance(reason, int):
        raise BadRevocationReason("'reason' must be an RFC 5280 reason code (an integer).")
    if reason not in REVOCATION_REASONS:
        raise BadRevocationReason(
            f"Reason code {reason} is not one a subscriber may give; use one of "
            + ", ".join(f"{k} ({v})" for k, v in REVOCATION_REASONS.items())
            + "."
        )
    return Revocation(b64decode(cert, "certificate"), reason)


@dataclass(frozen=True)
class KeyChange:
    account: str
    old_key: dict[str, Any]


def parse_key_change(payload: Mapping[str, Any]) -> KeyChange:
    account, old_key = payload.get("account"), payload.get("oldKey")
    if not isinstance(account, str) or not isinstance(old_key, dict):
        raise Malformed("The inner keyChange payload needs 'account' and 'oldKey'.")
    return KeyChange(account, old_key)


# --- ARI (RFC 9773 section 4.1) ------------------------------------------------------------


def cert_id(authority_key_id: bytes, serial: int) -> str:
    """``base64url(AKI keyIdentifier) "." base64url(serial DER INTEGER content octets)``."""
    length = serial.bit_length() // 8 + 1  # the DER INTEGER content: a leading 0 when needed
    return f"{b64encode(authority_key_id)}.{b64encode(serial.to_bytes(length, 'big'))}"


def cert_id_forms(authority_key_id: bytes, serial: int) -> tuple[str, ...]:
    """Both spellings clients send for one certificate: RFC 9773's (DER INTEGER content)
    and, when that starts with DER's sign octet 0, the same without it (mod_md 2.6)."""
    canonical = cert_id(authority_key_id, serial)
    if serial.bit_length() % 8:
        return (canonical,)
    unsigned = serial.to_bytes(serial.bit_length() // 8, "big")
    return canonical, f"{b64encode(authority_key_id)}.{b64encode(unsigned)}"


def parse_cert_id(text: str) -> tuple[bytes, int]:
    """The (AKI, serial) a certificate identifier names. A serial whose first octet has the
    high bit set is read as unsigned, not refused: mod_md 2.6 leaves out DER's leading 0,
    and padlock's serials are positive (RFC 5280 4.1.2.2), so it names one certificate."""
    aki_b64, dot, serial_b64 = text.partition(".")
    if not dot or not aki_b64 or not serial_b64:
        raise Malformed("A certificate identifier is two base64url parts joined by '.'.")
    aki = b64decode(aki_b64, "certificate identifier")
    serial = int.from_bytes(b64decode(serial_b64, "certificate identifier"), "big")
    if serial == 0:
        raise Malformed("The serial in the certificate identifier is not a positive INTEGER.")
    return aki, serial


def renewal_window(
    not_before: dt.datetime, not_after: dt.datetime, revoked_at: dt.datetime | None
) -> tuple[dt.datetime, dt.datetime]:
    """The suggested renewal window: the middle of the last third of the validity period.

    For a revoked certificate, the hour that ends at the revocation (to the second, rounded
    down): a window wholly in the past from the moment of revocation, so that a client
    asking at once (or with a clock a little behind) renews at once (RFC 9773 section 4.2).
    """
    if revoked_at is not None:
        end = revoked_at.replace(microsecond=0)
        return end - dt.timedelta(hours=1), end
    lifetime = not_after - not_before
    start = not_after - lifetime / 3
    end = not_after - lifetime / 6
    return start.replace(microsecond=0), end.replace(microsecond=0)


def same_url(claimed: str, actual: str) -> bool:
    """RFC 8555 6.4: the JWS url must be the request URL (scheme and host case-insensitive)."""
    if claimed == actual:
        return True
    a, b = urlsplit(claimed), urlsplit(actual)
    return (
        a.scheme.lower() == b.scheme.lower()
        and a.netloc.lower() == b.netloc.lower()
        and a.path == b.path
        and a.query == b.query
        and not a.fragment
    )
