"""What the web front ends build from settings."""

from __future__ import annotations

from padlock import config
from padlock.ca.validation import DEADLINE
from padlock.web.services import va_config


def test_va_config_deadline_from_env() -> None:
    assert va_config(config.from_env({})).deadline == DEADLINE == 10.0
    settings = config.from_env({"PADLOCK_VA_DEADLINE": "2.5", "PADLOCK_VA_HTTP_PORT": "8080"})
    cfg = va_config(settings)
    assert (cfg.deadline, cfg.http_port) == (2.5, 8080)
