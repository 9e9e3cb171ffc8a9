"""The kit's Markdown: each cell holds every server's verdict, side by side."""

from __future__ import annotations

from padlock.conformance.model import FEATURE_KEYS
from padlock.conformance.render import markdown


def _report(status: str, check: str) -> dict[str, object]:
    features = {k: {"status": status, "reason": ""} for k in FEATURE_KEYS}
    return {
        "clients": [{"client": "lego", "version": "4.9", "features": features}],
        "checks": [{"check": "bad nonce", "section": "RFC 8555 6.5", "status": check}],
    }


def test_markdown_side_by_side() -> None:
    text = markdown([("padlock", _report("pass", "pass")), ("Pebble", _report("n/a", "fail"))])
    lines = text.splitlines()
    assert lines[0].startswith("| client (padlock / Pebble) | account |")
    assert lines[2].startswith("| lego 4.9 | pass / n/a | pass / n/a |")
    assert "| bad nonce | RFC 8555 6.5 | pass / FAIL |" in lines
