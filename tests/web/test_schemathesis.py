"""schemathesis against /api/v1/openapi.json of a real ``padlock serve``, bounded: at most 100
examples per operation (schema examples, coverage, fuzzing and the stateful phase that follows
the OpenAPI links from a submission), a fixed seed, and a time limit on the whole run.
Whatever it sends, the server never answers 5xx, and answers with the media types it
documents. (schemathesis runs as its CLI: its pytest plugin does not load on pytest 9.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.web.conftest import PadlockServer

ST = Path(sys.executable).parent / "st"
RUN_LIMIT_S = 600


def test_schemathesis_no_server_errors(padlock_server: PadlockServer, tmp_path: Path) -> None:
    report = tmp_path / "report.xml"
    run = subprocess.run(
        [
            str(ST),
            "run",
            f"{padlock_server.url}/api/v1/openapi.json",
            "--checks",
            "not_a_server_error,content_type_conformance",
            "--max-examples",
            "100",
            "--seed",
            "20261127",
            "--request-timeout",
            "30",
            "--suppress-health-check",
            "all",
            "--generation-database",
            "none",
            "--no-color",
            "--report",
            "junit",
            "--report-junit-path",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=RUN_LIMIT_S,
        cwd=tmp_path,
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    assert "passed" in output and " failed" not in output
    assert report.is_file()
    served = padlock_server.log()
    assert "Traceback" not in served, served[-4000:]
    assert " 500 " not in served
