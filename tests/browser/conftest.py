"""Playwright from PyPI driving Debian's chromium (``/usr/bin/chromium``), headless, against a
real ``padlock serve`` (the web tests' ``padlock_server``, with loopback DNS, HTTP and SMTP).

``playwright install`` is never run: the plugin's ``browser_type_launch_args`` is overridden
to launch the system's chromium. Without it the tests FAIL (they are never skipped): install
it with ``apt-get install chromium`` (``.ci/run`` does).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

# The real server and its loopback helpers, shared with the web tests.
from tests.web.conftest import padlock_server, smtp, va_dns, va_web  # noqa: F401

CHROMIUM = Path(os.environ.get("PADLOCK_TEST_CHROMIUM", "/usr/bin/chromium"))
# The machine has no internet: keep chromium from trying to reach it.
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-gpu",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium"
            " (apt-get install -y chromium).",
            pytrace=False,
        )
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": [*browser_type_launch_args.get("args", []), *CHROMIUM_ARGS],
        "timeout": 60_000,
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_context_args,
        "viewport": {"width": 1200, "height": 860},
        "accept_downloads": True,
    }


class Shots:
    """Screenshots for the user guide: written only when PADLOCK_SCREENSHOTS=1 (so that a
    normal test run never rewrites docs/)."""

    def __init__(self) -> None:
        self.enabled = os.environ.get("PADLOCK_SCREENSHOTS") == "1"
        self.taken: list[Path] = []

    def __call__(self, page: Any, name: str, *, full_page: bool = True) -> None:
        if not self.enabled:
            return
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        self.taken.append(path)


@pytest.fixture
def shots() -> Shots:
    return Shots()
