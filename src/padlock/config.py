"""Settings: environment variables with defaults that work on a laptop.

Every setting has one env var (``PADLOCK_*``); CLI options override them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("padlock-data")
    database_url: str | None = None  # default: SQLite in the data dir
    base_url: str = "http://127.0.0.1:8080"
    ca_name: str = "padlock"
    allow_internal_names_in_test: bool = False
    blocklist_file: Path | None = None
    va_resolver: str | None = None  # HOST:PORT for every validation DNS lookup
    va_http_port: int = 80
    va_tls_port: int = 443
    caa_identities: tuple[str, ...] = ()  # issuer domain names CAA records may name for us
    host: str = "127.0.0.1"
    port: int = 8080

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'padlock.db').resolve()}"

    @property
    def ca_dir(self) -> Path:
        return self.data_dir / "ca"

    def with_overrides(self, **changes: object) -> Settings:
        clean = {k: v for k, v in changes.items() if v is not None}
        return replace(self, **clean)  # type: ignore[arg-type]


def _bool(text: str | None) -> bool:
    return (text or "").strip().lower() in {"1", "true", "yes", "on"}


def from_env(env: dict[str, str] | None = None) -> Settings:
    e = dict(os.environ if env is None else env)
    base = Settings()
    return Settings(
        data_dir=Path(e.get("PADLOCK_DATA_DIR", str(base.data_dir))),
        database_url=e.get("PADLOCK_DATABASE_URL") or None,
        base_url=e.get("PADLOCK_BASE_URL", base.base_url).rstrip("/"),
        ca_name=e.get("PADLOCK_CA_NAME", base.ca_name),
        allow_internal_names_in_test=_bool(e.get("PADLOCK_TEST_ALLOW_INTERNAL")),
        blocklist_file=Path(e["PADLOCK_BLOCKLIST"]) if e.get("PADLOCK_BLOCKLIST") else None,
        va_resolver=e.get("PADLOCK_VA_RESOLVER") or None,
        va_http_port=int(e.get("PADLOCK_VA_HTTP_PORT", "80")),
        va_tls_port=int(e.get("PADLOCK_VA_TLS_PORT", "443")),
        caa_identities=tuple(
            i.strip() for i in e.get("PADLOCK_CAA_IDENTITIES", "").split(",") if i.strip()
        ),
        host=e.get("PADLOCK_HOST", base.host),
        port=int(e.get("PADLOCK_PORT", str(base.port))),
    )
