"""Settings: environment variables with defaults that work on a laptop.

Every setting has one env var (``PADLOCK_*``); CLI options override them.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("padlock-data")
    database_url: str | None = None  # default: SQLite in the data dir
    base_url: str = "http://127.0.0.1:8080"
    # Where relying parties fetch issuer certificates, CRLs and OCSP (AIA, CRL DP): always
    # plain http (BR 7.1.2.7.7, 7.1.2.11.2); None derives it from base_url (pki_base_url_for).
    pki_base_url: str | None = None
    pki_port: int | None = None  # serve --tls: the plain-HTTP port for those paths
    ca_name: str = "padlock"
    allow_internal_names_in_test: bool = False
    blocklist_file: Path | None = None
    va_resolver: str | None = None  # HOST:PORT for every validation DNS lookup
    va_http_port: int = 80
    va_tls_port: int = 443
    va_deadline: float = 10.0  # seconds one HTTP or TLS-ALPN validation probe may take
    # padlock doctor asks the VA's resolver about a signed and a broken name (SC-085)
    va_dnssec_secure: str = "ietf.org"
    va_dnssec_bogus: str = "dnssec-failed.org"
    caa_identities: tuple[str, ...] = ()  # issuer domain names CAA records may name for us
    # BR 3.2.2.9: the JSON file naming the remote perspectives (none: the VA alone), how
    # long the CA waits for them, and the CA bundle their https certificates chain to.
    mpic_perspectives: Path | None = None
    mpic_deadline: float = 30.0
    mpic_ca_bundle: str | None = None
    # dns-persist-01's issuer domain names (each one of the CAA identities); () means the
    # CAA identities themselves (PADLOCK_ISSUER_DOMAIN_NAMES)
    issuer_domain_names: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    port: int = 8080
    # The test hierarchy's rules (validity, validation reuse) run this far ahead, to rehearse
    # a later step of the BR schedule (PADLOCK_TEST_CLOCK_OFFSET, serve --clock-offset).
    test_clock_offset: dt.timedelta = dt.timedelta(0)

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'padlock.db').resolve()}"

    @property
    def ca_dir(self) -> Path:
        return self.data_dir / "ca"

    @property
    def effective_pki_base_url(self) -> str:
        """The PKI base URL a new CA writes into its certificates."""
        return self.pki_base_url or pki_base_url_for(self.base_url, self.pki_port)

    def with_overrides(self, **changes: object) -> Settings:
        clean = {k: v for k, v in changes.items() if v is not None}
        return replace(self, **clean)  # type: ignore[arg-type]


def pki_base_url_for(base_url: str, pki_port: int | None = None) -> str:
    """The plain-http URL relying parties use, derived from the API/ACME base URL.

    An http base URL is its own PKI base URL (the same server answers). An https one gives
    http on the same host name, on ``pki_port`` (default 80), where ``padlock serve --tls``
    answers the PKI paths over plain HTTP: AIA, CRL DP and OCSP URLs must be http
    (BR 7.1.2.7.7, 7.1.2.11.2; RFC 5280 4.2.1.13 and RFC 6960 avoid TLS loops).
    """
    parts = urlsplit(base_url.rstrip("/"))
    if parts.scheme == "http" and (pki_port is None or pki_port == (parts.port or 80)):
        return base_url.rstrip("/")
    host = parts.hostname or "127.0.0.1"
    if ":" in host:  # an IPv6 literal keeps its brackets in a URL
        host = f"[{host}]"
    port = "" if pki_port in (None, 80) else f":{pki_port}"
    return f"http://{host}{port}{parts.path.rstrip('/')}"


def _bool(text: str | None) -> bool:
    return (text or "").strip().lower() in {"1", "true", "yes", "on"}


def from_env(env: dict[str, str] | None = None) -> Settings:
    e = dict(os.environ if env is None else env)
    base = Settings()
    return Settings(
        data_dir=Path(e.get("PADLOCK_DATA_DIR", str(base.data_dir))),
        database_url=e.get("PADLOCK_DATABASE_URL") or None,
        base_url=e.get("PADLOCK_BASE_URL", base.base_url).rstrip("/"),
        pki_base_url=(e.get("PADLOCK_PKI_BASE_URL") or "").rstrip("/") or None,
        pki_port=int(e["PADLOCK_PKI_PORT"]) if e.get("PADLOCK_PKI_PORT") else None,
        ca_name=e.get("PADLOCK_CA_NAME", base.ca_name),
        allow_internal_names_in_test=_bool(e.get("PADLOCK_TEST_ALLOW_INTERNAL")),
        blocklist_file=Path(e["PADLOCK_BLOCKLIST"]) if e.get("PADLOCK_BLOCKLIST") else None,
        va_resolver=e.get("PADLOCK_VA_RESOLVER") or None,
        va_http_port=int(e.get("PADLOCK_VA_HTTP_PORT", "80")),
        va_tls_port=int(e.get("PADLOCK_VA_TLS_PORT", "443")),
        va_deadline=float(e.get("PADLOCK_VA_DEADLINE", "10")),
        va_dnssec_secure=e.get("PADLOCK_VA_DNSSEC_SECURE") or base.va_dnssec_secure,
        va_dnssec_bogus=e.get("PADLOCK_VA_DNSSEC_BOGUS") or base.va_dnssec_bogus,
        caa_identities=tuple(
            i.strip() for i in e.get("PADLOCK_CAA_IDENTITIES", "").split(",") if i.strip()
        ),
        mpic_perspectives=Path(e["PADLOCK_MPIC_PERSPECTIVES"])
        if e.get("PADLOCK_MPIC_PERSPECTIVES")
        else None,
        mpic_deadline=float(e.get("PADLOCK_MPIC_DEADLINE", "30")),
        mpic_ca_bundle=e.get("PADLOCK_MPIC_CA_BUNDLE") or None,
        issuer_domain_names=tuple(
            i.strip() for i in e.get("PADLOCK_ISSUER_DOMAIN_NAMES", "").split(",") if i.strip()
        ),
        host=e.get("PADLOCK_HOST", base.host),
        port=int(e.get("PADLOCK_PORT", str(base.port))),
        test_clock_offset=_clock_offset(e.get("PADLOCK_TEST_CLOCK_OFFSET")),
    )


def _clock_offset(text: str | None) -> dt.timedelta:
    if not text:
        return dt.timedelta(0)
    from padlock.pki.schedule import parse_clock_offset

    return parse_clock_offset(text)
