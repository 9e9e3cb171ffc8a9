"""After a reload: prove the live server presents the new certificate for every name.

A graceful reload returns before the server has switched (Apache's parent re-reads its
configuration after the signal; old workers finish their connections), so the probe
asks again until the new serial shows or a deadline passes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from padlock.errors import InstallFailed
from padlock.site.check import CheckResult, check

PROBE_DEADLINE = 30.0


def probe_address(listen_address: str | None) -> str:
    """Where to connect to reach a server listening on ``listen_address``."""
    if not listen_address or listen_address in ("*", "0.0.0.0", "_default_"):  # noqa: S104
        return "127.0.0.1"
    if listen_address in ("::", "[::]"):
        return "::1"
    return listen_address.strip("[]")


def wait_for_serial(
    host: str,
    port: int,
    names: Sequence[str],
    serial: str,
    anchor_pem: bytes,
    deadline: float = PROBE_DEADLINE,
) -> tuple[CheckResult, ...]:
    """Each name must present ``serial``, verify up to ``anchor_pem`` and match the name."""
    results = []
    for name in names:
        end = time.monotonic() + deadline
        while True:
            result = check(host, port, server_name=name, ca_pem=anchor_pem, ask_staple=False)
            good = result.serial == serial and result.verified and result.name_matches
            if good:
                results.append(result)
                break
            if time.monotonic() > end:
                if not result.connected:
                    why = "; ".join(result.problems)
                elif result.serial != serial:
                    why = f"it still presents serial {result.serial}, not {serial}"
                else:
                    why = "; ".join(result.problems) or "the check failed"
                raise InstallFailed(
                    f"The live server at {host}:{port} does not show the new certificate for"
                    f" {name} after {deadline:g} seconds: {why}."
                )
            time.sleep(0.2)
    return tuple(results)
