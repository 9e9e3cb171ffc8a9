"""CLI start-up time: ``padlock --help`` and ``padlock key new --type ec-p256 --no-encrypt``.

Each command runs as a fresh process (as a person or a script runs it), ``--runs``
times, in a temporary directory; the median wall time is reported in milliseconds,
with the minimum and maximum. The goal from the issue: ``--help`` under 200 ms.
A bare ``python -c pass`` is timed too, as the floor no CLI can go under.

    python bench/cli_startup.py [--runs 10] [--padlock PATH]

Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GOAL_HELP_MS = 200.0


def _time_runs(argv: list[str], runs: int, cwd: Path, fresh: Path | None = None) -> list[float]:
    """Wall times in ms of ``runs`` fresh processes; ``fresh`` is removed before each run."""
    env = {k: v for k, v in os.environ.items() if k != "PADLOCK_PASSPHRASE"}
    times = []
    for _ in range(runs):
        if fresh is not None:
            fresh.unlink(missing_ok=True)
        start = time.perf_counter()
        proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False)
        elapsed = (time.perf_counter() - start) * 1000
        if proc.returncode != 0:
            raise SystemExit(
                f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr.decode()}"
            )
        times.append(elapsed)
    return times


def _summary(times: list[float]) -> dict[str, Any]:
    return {
        "median_ms": round(statistics.median(times), 1),
        "min_ms": round(min(times), 1),
        "max_ms": round(max(times), 1),
        "runs": len(times),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument(
        "--padlock",
        type=Path,
        default=Path(sys.executable).parent / "padlock",
        help="the console script to time (default: the one beside this Python)",
    )
    args = parser.parse_args()
    padlock = str(args.padlock)

    with tempfile.TemporaryDirectory(prefix="padlock-bench-") as tmp:
        cwd = Path(tmp)
        # One run of each first, untimed, so that .pyc files exist as they do in use.
        _time_runs([padlock, "--help"], 1, cwd)
        key = cwd / "bench.key"
        new_key = [padlock, "key", "new", str(key), "--type", "ec-p256", "--no-encrypt"]
        _time_runs(new_key, 1, cwd, fresh=key)

        python = _summary(_time_runs([sys.executable, "-c", "pass"], args.runs, cwd))
        help_ = _summary(_time_runs([padlock, "--help"], args.runs, cwd))
        key_new = _summary(_time_runs(new_key, args.runs, cwd, fresh=key))

    result = {
        "benchmark": "cli_startup",
        "padlock": padlock,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "python_startup": python,
        "padlock --help": {**help_, "goal_ms": GOAL_HELP_MS},
        "padlock key new --type ec-p256 --no-encrypt": key_new,
        "help_under_goal": help_["median_ms"] < GOAL_HELP_MS,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
