"""The ACME server's model: its directories and settings, the problems only ACME raises,
and the results its use cases hand the front end. Plain values; the records of accounts,
orders, authorizations and challenges are ``padlock.acme.messages``'."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from padlock.acme import messages as m
from padlock.acme import persist
from padlock.errors import Conflict, RateLimited, Unauthorized
from padlock.pki.profiles import PROFILES, Hierarchy, ProfileSet

if TYPE_CHECKING:
    from padlock.ca.issuance import IssuedCertificate

NONCE_SECRET = "nonce-mac-key"  # noqa: S105 - the name of a stored secret
ORDERS = "orders"
FAILED = "failed"


@dataclass(frozen=True)
class Directory:
    """One ACME directory: ``acme`` (trusted, /acme) or ``test`` (the test profile, /acme/test)."""

    name: str
    urls: m.Urls
    profiles: Mapping[str, str]  # profile name -> description (the directory's meta.profiles)
    default_profile: str
    hierarchy: Hierarchy = Hierarchy.TRUSTED


def directories(base_url: str, profiles: ProfileSet = PROFILES) -> dict[str, Directory]:
    """The two directories this CA serves, by name: each offers the profiles of its
    hierarchy (draft-ietf-acme-profiles' meta.profiles), their old names included."""
    base = base_url.rstrip("/")
    found: dict[str, Directory] = {}
    for name, path, hierarchy, default in (
        ("acme", "/acme", Hierarchy.TRUSTED, "classic"),
        ("test", "/acme/test", Hierarchy.TEST, "test"),
    ):
        offered: dict[str, str] = {}
        for profile in profiles.of_hierarchy(hierarchy):
            offered[profile.name] = profile.description
            for alias in profile.aliases:
                offered[alias] = f"Another name for {profile.name}: {profile.description}"
        if offered:
            chosen = default if default in offered else next(iter(offered))
            found[name] = Directory(name, m.Urls(base, path), offered, chosen, hierarchy)
    return found


@dataclass(frozen=True)
class AcmeSettings:
    terms_of_service: str | None = None  # None: padlock's page at /acme/terms; "": none
    website: str | None = None  # None: the base URL; "": none
    caa_identities: tuple[str, ...] = ()
    # dns-persist-01's Issuer Domain Names (draft-ietf-acme-dns-persist-02 sections 3.1,
    # 3.2): normalized, each one of the caaIdentities; none: dns-persist-01 is not offered.
    issuer_domain_names: tuple[str, ...] = ()
    eab_required: bool = False
    eab_keys: Mapping[str, bytes] = field(default_factory=dict)  # EAB key id -> MAC key
    order_lifetime: dt.timedelta = dt.timedelta(days=7)
    authz_lifetime: dt.timedelta = dt.timedelta(days=7)
    valid_authz_lifetime: dt.timedelta = dt.timedelta(days=30)
    nonce_lifetime: dt.timedelta = dt.timedelta(minutes=10)
    orders_per_hour: int = 300  # per account; 0: no limit
    failed_validations_per_hour: int = 60  # per account; 0: no limit
    challenge_lease: dt.timedelta = dt.timedelta(minutes=2)
    review_retry_after: int = 60  # seconds, for an order waiting for a reviewer
    # How long a challenge POST waits for its validation before answering "processing"
    # (0: answer at once, validate right after; see docs/acme.md for the trade-off).
    validation_wait: float = 0.0
    allow_internal_in_test: bool = False
    # The test directory's validation reuse follows the rules of this many days ahead
    # (the test hierarchy's offset clock, pki/schedule.py); never the trusted directory's.
    test_clock_offset: dt.timedelta = dt.timedelta(0)
    # Tests and benchmarks only: every challenge is valid without looking (see docs/acme.md).
    insecure_always_valid: bool = False
    insecure_always_valid_trusted: bool = False  # the second, explicit flag for /acme

    def always_valid(self, directory: Directory) -> bool:
        if not self.insecure_always_valid:
            return False
        return directory.hierarchy is Hierarchy.TEST or self.insecure_always_valid_trusted

    def terms_url(self, directory: Directory) -> str | None:
        """The terms of service: the setting, or padlock's own page; "" for none."""
        if self.terms_of_service is None:
            return f"{directory.urls.base}/acme/terms"
        return self.terms_of_service or None

    def meta(self, directory: Directory) -> m.DirectoryMeta:
        return m.DirectoryMeta(
            terms_of_service=self.terms_url(directory),
            website=f"{directory.urls.base}/" if self.website is None else self.website or None,
            caa_identities=self.caa_identities,
            external_account_required=self.eab_required,
            profiles=directory.profiles,
            issuer_domain_names=self.issuer_domain_names,
            account_hash_prefix=persist.account_hash_prefix(directory.urls.root),
        )


class AcmeRateLimited(RateLimited):
    """rateLimited with the seconds after which the limit lifts (the Retry-After header)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, hint=f"Try again in {retry_after} seconds.")
        self.retry_after = retry_after


class AccountDeactivated(Unauthorized):
    """Any request signed by a deactivated account's key: unauthorized with HTTP 401, not the
    403 the problem table gives unauthorized elsewhere (RFC 8555 section 7.3.6)."""

    def __init__(self, account: m.Account) -> None:
        super().__init__(
            f"The account is {account.status}; it can no longer be used (RFC 8555 section 7.3.6).",
            hint="Make a new account with a new key.",
        )

    def to_problem(self, **extra: Any) -> dict[str, Any]:
        return super().to_problem(**{"status": 401, **extra})


class KeyInUse(Conflict):
    """keyChange to a key another account holds: 409 with that account's URL (RFC 8555 7.3.5)."""

    def __init__(self, message: str, location: str) -> None:
        super().__init__(message)
        self.location = location


@dataclass(frozen=True)
class AccountResult:
    account: m.Account
    created: bool


@dataclass(frozen=True)
class ChallengeResult:
    challenge: m.Challenge
    authz: m.Authorization
    claimed: bool = False  # this request moved it to processing: validate it now
    started: concurrent.futures.Future[m.Challenge] | None = None


# The chains a certificate is served with (RFC 8555 7.4.2): 0 the leaf and its issuer, 1 the
# same with the root. Each download holds its whole chain, so no Link rel="up" is sent (a
# client following one would POST-as-GET a URL that is not an ACME resource); the others
# are offered as rel="alternate" at their own POST-as-GET URLs.
CHAINS = (0, 1)


@dataclass(frozen=True)
class CertificateResult:
    issued: IssuedCertificate
    alternates: tuple[int, ...]  # the other chains (Link rel="alternate")
