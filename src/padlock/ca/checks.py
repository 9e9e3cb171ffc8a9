"""The one registry of domain checks, by method name: what a perspective runs when the CA
asks it (``padlock perspective serve``) and what the CA's coordinator asks for.

Each entry takes the VA's configuration and the check's parameters (strings and booleans,
as they travel in a signed request) and returns the probe's :class:`Evidence`, or raises
:class:`~padlock.ca.validation.ProbeFailed` (or another ``PadlockError``) as the probe does.
A new method is one line here: ``CHECKS["name"] = lambda cfg, p: validation.check_x(...)``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from padlock.acme import persist
from padlock.ca import validation
from padlock.ca.validation import Evidence, VAConfig
from padlock.errors import Malformed

Params = Mapping[str, Any]
Check = Callable[[VAConfig, Params], Evidence]


def _text(params: Params, key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not value or len(value) > 1024:
        raise Malformed(f"The check's parameter {key!r} must be a string of 1 to 1024 characters.")
    return value


def _flag(params: Params, key: str) -> bool:
    value = params.get(key, False)
    if not isinstance(value, bool):
        raise Malformed(f"The check's parameter {key!r} must be true or false.")
    return value


def _optional(params: Params, key: str) -> str | None:
    return _text(params, key) if params.get(key) is not None else None


def _identities(params: Params) -> tuple[str, ...] | None:
    """The CA's CAA issuer domain names, when the request names them (a perspective checks
    CAA for the CA that asks, not for a configuration of its own)."""
    value = params.get("identities")
    if value is None:
        return None
    if not isinstance(value, list) or not 1 <= len(value) <= 16:
        raise Malformed("The check's parameter 'identities' must list 1 to 16 names.")
    return tuple(_text({"i": v}, "i") for v in value)


def _texts(params: Params, key: str) -> tuple[str, ...]:
    value = params.get(key)
    if not isinstance(value, list) or not 1 <= len(value) <= 16:
        raise Malformed(f"The check's parameter {key!r} must list 1 to 16 strings.")
    return tuple(_text({"v": v}, "v") for v in value)


def _persist_expected(p: Params) -> persist.Expected:
    """dns-persist-01's expectations as the CA sent them (the CA's clock, its names)."""
    try:
        now = dt.datetime.fromisoformat(_text(p, "now"))
    except ValueError as exc:
        raise Malformed("The check's parameter 'now' must be an ISO 8601 time.") from exc
    if now.tzinfo is None:
        raise Malformed("The check's parameter 'now' must carry its UTC offset.")
    return persist.Expected(
        issuers=_texts(p, "issuers"),
        account_url=_text(p, "account_url"),
        thumbprints=_texts(p, "thumbprints"),
        hash_prefix=_text(p, "hash_prefix"),
        wildcard=_flag(p, "wildcard"),
        now=now,
    )


def _caa(cfg: VAConfig, p: Params) -> Evidence:
    identities = _identities(p)
    return validation.check_caa(
        replace(cfg, caa_identities=identities) if identities else cfg,
        _text(p, "name"),
        wildcard=_flag(p, "wildcard"),
        account_uri=_optional(p, "account_uri"),
        method=_optional(p, "method"),
    )


CHECKS: dict[str, Check] = {
    # RFC 8555 8.3 (BR 3.2.2.4.19), 8.4 (BR 3.2.2.4.7); RFC 8737 (BR 3.2.2.4.20)
    "http-01": lambda cfg, p: validation.check_http(
        cfg, _text(p, "name"), _text(p, "path"), _text(p, "expected"), exact=True
    ),
    "dns-01": lambda cfg, p: validation.check_dns_txt(
        cfg, _text(p, "name"), _text(p, "qname"), _text(p, "expected")
    ),
    "tls-alpn-01": lambda cfg, p: validation.check_tls_alpn(
        cfg, _text(p, "name"), _text(p, "key_authorization")
    ),
    # The REST/portal methods: BR 3.2.2.4.18 (a file) and 3.2.2.4.7 (TXT at _pki-validation)
    "http": lambda cfg, p: validation.check_http(
        cfg, _text(p, "name"), _text(p, "path"), _text(p, "expected"), exact=False
    ),
    "dns": lambda cfg, p: validation.check_dns_txt(
        cfg, _text(p, "name"), _text(p, "qname"), _text(p, "expected")
    ),
    "caa": _caa,  # RFC 8659, RFC 8657; BR 3.2.2.8
    # draft-ietf-acme-dns-account-label-02 (BR 3.2.2.4.7) and draft-ietf-acme-dns-persist-02
    # (BR 3.2.2.4.22)
    "dns-account-01": lambda cfg, p: validation.check_dns_account(
        cfg, _text(p, "name"), _text(p, "qname"), _text(p, "expected")
    ),
    "dns-persist-01": lambda cfg, p: validation.check_dns_persist(
        cfg, _text(p, "name"), _text(p, "qname"), _persist_expected(p)
    ),
}


def run(cfg: VAConfig, method: str, params: Params) -> Evidence:
    """Run the check registered as ``method``; Malformed when there is none."""
    check = CHECKS.get(method)
    if check is None:
        raise Malformed(f"There is no check {method[:40]!r}; known: {', '.join(sorted(CHECKS))}.")
    return check(cfg, params)
