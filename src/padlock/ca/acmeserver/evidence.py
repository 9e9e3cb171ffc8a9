"""What proved an ACME certificate's names: for each authorization of the order that issued
it, the valid challenge and everything its validation saw, the remote perspectives' signed
evidence included (BR 3.2.2.9). ``padlock ca show`` prints it."""

from __future__ import annotations

from typing import Any

from padlock.acme import messages as m
from padlock.ca.ports.acme_server import AcmeStore


def validations_of(store: AcmeStore, serial: int) -> list[dict[str, Any]]:
    """The validations behind certificate ``serial`` ([] when no ACME order issued it)."""
    found: list[dict[str, Any]] = []
    with store.transaction(write=False) as tx:
        order = tx.order_by_cert(format(serial, "x"))
        for authz_id in order.authz_ids if order is not None else ():
            authz = tx.authorization(authz_id)
            for challenge in authz.challenges if authz is not None else ():
                if challenge.status != m.VALID or authz is None:
                    continue
                found.append(
                    {
                        "identifier": authz.identifier.value,
                        "challenge": challenge.type,
                        "validated": m.rfc3339(challenge.validated)
                        if challenge.validated
                        else None,
                        "evidence": tx.challenge_evidence(challenge.id),
                    }
                )
    return found


def summary(validation: dict[str, Any]) -> list[str]:
    """One validation as lines for a terminal: each probe, then each perspective."""
    lines = [
        f"{validation['identifier']} by {validation['challenge']} at {validation['validated']}"
    ]
    for ev in validation["evidence"]:
        if ev.get("method") == "mpic":
            lines.append(f"  corroboration: {ev.get('detail')}")
            for p in ev.get("perspectives") or ():
                mark = "agrees" if p.get("ok") else f"DISSENTS: {p.get('detail')}"
                lines.append(f"    {p.get('name')} ({p.get('rir')}): {mark}")
        else:
            lines.append(f"  {ev.get('method')}: {ev.get('target', '')} {ev.get('detail', '')}")
    return lines
