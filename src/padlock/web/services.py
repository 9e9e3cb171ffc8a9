"""What every route handler may use: settings, the authority, validation config.

Built once per worker process from settings (env vars), so that ``--workers N``
needs no state shared in memory: everything another worker must see is in the
database.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from padlock.ca.validation import VAConfig
from padlock.config import Settings
from padlock.wiring import Authority


@dataclass
class Services:
    settings: Settings
    authority: Authority
    va: VAConfig
    started_pid: int = 0
    counters: dict[str, int] = field(default_factory=dict)  # this worker's request counts

    @property
    def base_url(self) -> str:
        return self.settings.base_url.rstrip("/")


def va_config(settings: Settings) -> VAConfig:
    return VAConfig.for_settings(settings)
