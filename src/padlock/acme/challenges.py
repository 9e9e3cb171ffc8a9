"""Challenges (RFC 8555 section 8, RFC 8737, RFC 8738): what is offered, what is expected.

Pure: the key authorization, the http-01 path, the dns-01 and dns-account-01 TXT names and
value. dns-persist-01's record is :mod:`padlock.acme.persist`'s. The probes that look at the
network live in :mod:`padlock.ca.validation`.
"""

from __future__ import annotations

import base64
import hashlib

from padlock.acme.jws import b64encode
from padlock.acme.messages import (
    DNS_01,
    DNS_ACCOUNT_01,
    DNS_PERSIST_01,
    HTTP_01,
    TLS_ALPN_01,
    Identifier,
)

HTTP01_PREFIX = "/.well-known/acme-challenge/"
DNS01_LABEL = "_acme-challenge"
TOKEN_BYTES = 32  # RFC 8555 8.1: at least 128 bits of entropy; we use 256


def key_authorization(token: str, account_thumbprint: str) -> str:
    """``token || '.' || base64url(JWK thumbprint)`` (RFC 8555 section 8.1)."""
    return f"{token}.{account_thumbprint}"


def http01_path(token: str) -> str:
    return HTTP01_PREFIX + token


def dns01_name(identifier: Identifier) -> str:
    """``_acme-challenge.<name>``; for ``*.example.com`` the authorization is for
    ``example.com``, so the record is ``_acme-challenge.example.com`` (RFC 8555 8.4)."""
    return f"{DNS01_LABEL}.{identifier.base.value}"


def dns_account_label(account_url: str) -> str:
    """``"_" || base32(SHA-256(ACCOUNT_URL)[0:10])`` in lower case: 16 characters after the
    underscore (draft-ietf-acme-dns-account-label-02 section 3.1)."""
    digest = hashlib.sha256(account_url.encode("ascii")).digest()[:10]
    return "_" + base64.b32encode(digest).decode("ascii").lower()


def dns_account_name(identifier: Identifier, account_url: str) -> str:
    """``_<label>._acme-challenge.<name>``: one record name per account, so several accounts
    can prove one name at once; a wildcard's is its base name's, as for dns-01
    (draft-ietf-acme-dns-account-label-02 section 3.1)."""
    return f"{dns_account_label(account_url)}.{DNS01_LABEL}.{identifier.base.value}"


def dns01_value(key_auth: str) -> str:
    """base64url(SHA-256(key authorization)) — the TXT record's value."""
    return b64encode(hashlib.sha256(key_auth.encode("ascii")).digest())


def offered(identifier: Identifier, wildcard: bool, persist: bool = False) -> tuple[str, ...]:
    """The challenge types offered for an identifier.

    - a wildcard can only be proven in DNS (RFC 8555 7.1.3): dns-01, dns-account-01, and
      dns-persist-01 (whose record must then say policy=wildcard, draft section 5);
    - an IP address: http-01 and tls-alpn-01 to the address itself (RFC 8738 sections 6-7),
      never in DNS (an address has no name of its own to hold the TXT record, and its
      reverse zone belongs to whoever holds the block, not to who uses the address);
    - any other DNS name gets them all.

    ``persist``: the CA has issuer domain names, without which dns-persist-01 cannot be
    offered (draft-ietf-acme-dns-persist-02 section 3.1: the array must not be empty).
    """
    if identifier.type == "ip":
        return (HTTP_01, TLS_ALPN_01)
    dns = (DNS_01, DNS_ACCOUNT_01) + ((DNS_PERSIST_01,) if persist else ())
    if wildcard:
        return dns
    return (HTTP_01, *dns[:1], TLS_ALPN_01, *dns[1:])


def valid_token(token: str) -> bool:
    """A token is base64url of TOKEN_BYTES bytes (nothing the client controls)."""
    return len(token) == 43 and all(c.isalnum() or c in "-_" for c in token)
