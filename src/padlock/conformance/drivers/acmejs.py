"""The npm package acme-client, driven by the kit's script (acmejs/kit.mjs), which uses only
its public API: one account does http-01, dns-01, tls-alpn-01 (its own servers on the VA's
ports), a wildcard, a profile, a key change, a revocation and the deactivation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from padlock.conformance.drivers.base import (
    Row,
    StepFailed,
    fresh_name,
    last_words,
    program_version,
    run_program,
)
from padlock.conformance.model import FEATURE_KEYS, Cell, ClientRow, Status
from padlock.conformance.target import Target


def _plan(target: Target) -> dict[str, Any]:
    names = {k: fresh_name(target, f"js-{k}") for k in ("http", "dns", "alpn", "wild", "profile")}
    eab = {"kid": target.eab.kid, "hmacKey": target.eab.hmac_key} if target.eab else None
    return {
        "directory": target.directory, "httpPort": target.http_port,
        "tlsPort": target.tls_port, "txtDir": str(target.txt_dir), "names": names,
        "eab": eab, "profile": target.profile,
    }  # fmt: skip


def drive(node: Path, home: Path, target: Target) -> ClientRow:
    work = target.work / "acme-client"
    work.mkdir(parents=True, exist_ok=True)
    plan = work / "plan.json"
    plan.write_text(json.dumps(_plan(target)))
    version = json.loads((home / "node_modules" / "acme-client" / "package.json").read_text())
    row = Row("acme-client", f"{version['version']} (node {program_version([node, '--version'])})")
    row.na("ari-replaces", "acme-client 5.4 has no renewal information (ARI) support")
    row.na("revoke-certkey", "acme-client signs revokeCert with its account (kid) only")
    row.not_given(target)
    try:
        out = run_program([node, home / "kit.mjs", plan], target, cwd=home)
    except StepFailed as failed:
        out = failed.output or failed.reason
    said = _summary(out)
    if said is None:
        row.set(FEATURE_KEYS, Cell(Status.FAIL, f"kit.mjs gave no summary: {last_words(out)}"))
        return row.done()
    for key, verdict in said.items():
        if key in FEATURE_KEYS:
            ok = bool(verdict.get("ok"))
            row.cells[key] = Cell(Status.PASS if ok else Status.FAIL, str(verdict.get("reason")))
    row.blocked(["revoke-account"], "http-01")
    row.blocked(["http-01", "dns-01", "tls-alpn-01", "wildcard", "profile", "key-change",
                 "deactivate"], "a new account")  # fmt: skip
    return row.done()


def _summary(out: str) -> dict[str, dict[str, Any]] | None:
    for line in reversed(out.strip().splitlines()):
        if line.startswith('{"features"'):
            try:
                features = json.loads(line)["features"]
            except (ValueError, KeyError):
                return None
            return features if isinstance(features, dict) else None
    return None
