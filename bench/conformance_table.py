"""Regenerate docs/acme.md's conformance table: ``padlock conformance`` with every client
against padlock and against Pebble (Debian's package), side by side.

    .venv/bin/python bench/conformance_table.py        # rewrites the table in docs/acme.md

Both servers run on loopback as the kit's tests start them (tests/conformance/conftest.py).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conformance.conftest import EAB_KEY, EAB_KID, run_kit  # noqa: E402
from tests.interop.conftest import start_padlock, stop_padlock  # noqa: E402
from tests.support.pebble import pebble  # noqa: E402
from tests.support.ports import free_port  # noqa: E402

from padlock.conformance.render import markdown  # noqa: E402

DOC = ROOT / "docs" / "acme.md"
BEGIN, END = "<!-- conformance table: bench/conformance_table.py -->", "<!-- end of table -->"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        dns_port = free_port()
        server = start_padlock(
            work / "padlock", _Spec(f"127.0.0.1:{dns_port}"), work / "txt",  # type: ignore[arg-type]
            extra_env={"PADLOCK_ACME_EAB_KEYS": f"{EAB_KID}:{EAB_KEY}"},
        )  # fmt: skip
        try:
            _proc, ours = run_kit(server, dns_port, work / "cache")
        finally:
            stop_padlock(server)
        dns_port = free_port()
        (work / "pebble").mkdir()
        with pebble(work / "pebble", f"127.0.0.1:{dns_port}", {EAB_KID: EAB_KEY}) as served:
            _proc, theirs = run_kit(served, dns_port, work / "cache")
    table = markdown([("padlock", ours), ("Pebble 2.4", theirs)])
    text = DOC.read_text()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    DOC.write_text(f"{head}{BEGIN}\n{table}{END}{tail}")
    print(table)


class _Spec:
    """What start_padlock reads of a DNS server: its host:port (the kit runs the server)."""

    def __init__(self, spec: str) -> None:
        self.spec = spec


if __name__ == "__main__":
    main()
