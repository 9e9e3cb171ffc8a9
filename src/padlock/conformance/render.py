"""The kit's report as a rich table, JSON, or Markdown (docs/acme.md's side-by-side table)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table

from padlock.conformance.model import FEATURES, Cell, KitReport, Status

MARK = {Status.PASS: "pass", Status.FAIL: "FAIL", Status.NA: "n/a", Status.NOT_RUN: "-"}
STYLE = {Status.PASS: "green", Status.FAIL: "bold red", Status.NA: "dim", Status.NOT_RUN: "yellow"}


def _keys(features: Sequence[str] | None) -> list[str]:
    return [f.key for f in FEATURES if not features or f.key in features]


def table(report: KitReport, features: Sequence[str] | None = None) -> Table:
    grid = Table(title=f"ACME conformance of {report.directory}")
    grid.add_column("client")
    for key in _keys(features):
        grid.add_column(key, justify="center")
    for row in report.rows:
        cells = [row.cells[k] for k in _keys(features)]
        grid.add_row(
            f"{row.client}\n[dim]{row.version}, {row.seconds:.0f} s[/dim]",
            *(f"[{STYLE[c.status]}]{MARK[c.status]}[/]" for c in cells),
        )
    return grid


def checks_table(report: KitReport) -> Table:
    grid = Table(title="padlock's protocol checks")
    for column in ("check", "section", "verdict"):
        grid.add_column(column)
    for check in report.checks:
        verdict = f"[{STYLE[check.status]}]{MARK[check.status]}[/]"
        grid.add_row(check.name, check.section, f"{verdict} {check.reason}".strip())
    return grid


def reasons(report: KitReport, features: Sequence[str] | None = None) -> list[str]:
    """Every cell that is not a pass, with why: failures first."""
    lines: list[tuple[int, str]] = []
    order = {Status.FAIL: 0, Status.NOT_RUN: 1, Status.NA: 2}
    for row in report.rows:
        for key in _keys(features):
            cell: Cell = row.cells[key]
            if cell.status is not Status.PASS:
                text = f"{row.client} {key}: {MARK[cell.status]}: {cell.reason}"
                lines.append((order[cell.status], text))
    return [text for _rank, text in sorted(lines, key=lambda item: item[0])]


def as_json(report: KitReport) -> str:
    return json.dumps(report.as_dict(), indent=2)


MD_MARK = {"pass": "pass", "fail": "FAIL", "n/a": "n/a", "not run": "-"}


def markdown(reports: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """One table from the kit's JSON reports (``--json``), a cell per client and feature
    holding each server's verdict side by side (``padlock / Pebble``), then the checks."""
    names = " / ".join(name for name, _report in reports)
    keys = _keys(None)
    lines = [f"| client ({names}) | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for index, row in enumerate(reports[0][1]["clients"]):
        rows = [report["clients"][index]["features"] for _name, report in reports]
        cells = [" / ".join(MD_MARK[r[k]["status"]] for r in rows) for k in keys]
        lines.append(f"| {row['client']} {row['version']} | " + " | ".join(cells) + " |")
    lines += ["", f"| protocol check | section | {names} |", "|---|---|---|"]
    for index, check in enumerate(reports[0][1]["checks"]):
        verdicts = [MD_MARK[report["checks"][index]["status"]] for _name, report in reports]
        lines.append(f"| {check['check']} | {check['section']} | {' / '.join(verdicts)} |")
    return "\n".join(lines) + "\n"
