"""``padlock ca profiles``: the profiles as a table and as their published documents; a bad
profile file stops the command with its path, line and reason, no traceback."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Result

Run = Callable[..., Result]


def test_profile_cmds_table_and_json(padlock_proc: Run, tmp_path: Path) -> None:
    data = tmp_path / "data"
    res = padlock_proc("ca", "profiles", "--data-dir", data)
    assert res.rc == 0, res.err
    for name in ("classic", "tlsserver", "shortlived", "ov", "test", "short-lived", "160h"):
        assert name in res.out
    res = padlock_proc("ca", "profiles", "--data-dir", data, "--json")
    assert res.rc == 0, res.err
    documents = {d["name"]: d for d in json.loads(res.out)}
    tls = documents["tlsserver"]
    assert tls["fields"]["subject"] == []
    assert [e["name"] for e in tls["extensions"]] == [
        "authorityKeyIdentifier",
        "authorityInfoAccess",
        "certificatePolicies",
        "extKeyUsage",
        "subjectAltName",
        "keyUsage",
        "basicConstraints",
        "cRLDistributionPoints",
    ]
    assert documents["classic"]["aliases"] == ["dv"]


def test_profile_cmds_bad_file_names_path_and_line(padlock_proc: Run, tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert padlock_proc("ca", "profiles", "--data-dir", data).rc == 0
    path = data / "profiles" / "tlsserver.toml"
    path.write_text(path.read_text().replace("[validity]", "[validity"))
    res = padlock_proc("ca", "profiles", "--data-dir", data)
    assert res.rc != 0
    assert f"{path}: not valid TOML" in res.err and "(at line 8, column 10)" in res.err
    assert "Traceback" not in res.err
