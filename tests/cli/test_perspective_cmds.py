"""``padlock perspective init / ca-key / serve`` and what ``padlock doctor`` says of the
configured perspectives (BR 3.2.2.9)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from padlock.ca.mpic.signing import RequestKey, public_key, public_text
from tests.conftest import Result

Run = Callable[..., Result]

FIVE = [
    ("fra", "RIPE NCC", 50.11, 8.68),
    ("iad", "ARIN", 38.95, -77.45),
    ("sin", "APNIC", 1.35, 103.99),
    ("gru", "LACNIC", -23.43, -46.47),
    ("jnb", "AFRINIC", -26.14, 28.24),
]


def _file(path: Path, places: list[tuple[str, str, float, float]]) -> Path:
    entries = []
    for name, rir, lat, lon in places:
        key, _pem = RequestKey.generate()
        entries.append(
            {"name": name, "url": f"https://{name}.example:8444", "key": public_text(key.public),
             "rir": rir, "latitude": lat, "longitude": lon}
        )  # fmt: skip
    path.write_text(json.dumps({"perspectives": entries}))
    return path


def _doctor(padlock_proc: Run, tmp_path: Path, env: dict[str, str]) -> list[dict[str, object]]:
    res = padlock_proc("doctor", "--offline", "--json", "--data-dir", tmp_path / "d", env=env)
    assert res.rc == 0, res.err
    return [c for c in json.loads(res.out) if c["check"] == "mpic"]


def test_perspective_init_writes_key_0600_and_prints_public(
    padlock_proc: Run, tmp_path: Path
) -> None:
    res = padlock_proc("perspective", "init", "--dir", tmp_path / "p")
    assert res.rc == 0, res.err
    key_file = tmp_path / "p" / "perspective.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    key = RequestKey.from_pem(key_file.read_bytes(), "key")
    assert public_text(key.public) == res.out.strip()
    again = padlock_proc("perspective", "init", "--dir", tmp_path / "p")
    assert again.rc != 0 and "exists already" in again.err


def test_perspective_ca_key_made_once(padlock_proc: Run, tmp_path: Path) -> None:
    first = padlock_proc("perspective", "ca-key", "--data-dir", tmp_path / "d")
    second = padlock_proc("perspective", "ca-key", "--data-dir", tmp_path / "d")
    assert first.rc == 0 and first.out == second.out
    public_key(first.out.strip(), "ca key")  # a valid Ed25519 public key
    assert (tmp_path / "d" / "ca" / "mpic-request.key").stat().st_mode & 0o777 == 0o600


def test_perspective_serve_refuses_without_ca_key(padlock_proc: Run, tmp_path: Path) -> None:
    padlock_proc("perspective", "init", "--dir", tmp_path / "p")
    res = padlock_proc("perspective", "serve", "--dir", tmp_path / "p", "--name", "fra")
    assert res.rc != 0 and "request key is missing" in res.err
    bad = padlock_proc(
        "perspective", "serve", "--dir", tmp_path / "p", "--name", "fra", "--ca-key", "abc"
    )
    assert bad.rc != 0 and "not an Ed25519 public key" in bad.err


def test_perspective_doctor_without_perspectives(padlock_proc: Run, tmp_path: Path) -> None:
    (check,) = _doctor(padlock_proc, tmp_path, {})
    assert check["ok"] is False
    assert "validates alone" in str(check["detail"])
    assert "private CA may run fewer" in str(check["detail"])


def test_perspective_doctor_too_few_in_one_rir(padlock_proc: Run, tmp_path: Path) -> None:
    near = [("fra", "RIPE NCC", 50.11, 8.68), ("ams", "RIPE NCC", 52.31, 4.76)]
    env = {"PADLOCK_MPIC_PERSPECTIVES": str(_file(tmp_path / "p.json", near))}
    details = " | ".join(str(c["detail"]) for c in _doctor(padlock_proc, tmp_path, env))
    assert "2 remote perspectives configured" in details
    assert "one RIR" in details and "fra and ams are 36" in details


def test_perspective_doctor_five_meet_the_rule(padlock_proc: Run, tmp_path: Path) -> None:
    env = {"PADLOCK_MPIC_PERSPECTIVES": str(_file(tmp_path / "p.json", FIVE))}
    (check,) = _doctor(padlock_proc, tmp_path, env)
    assert check["ok"] is True and "5 remote perspectives" in str(check["detail"])


def test_perspective_doctor_bad_file(padlock_proc: Run, tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text('{"perspectives": [{"name": "X"}]}')
    env = {"PADLOCK_MPIC_PERSPECTIVES": str(tmp_path / "p.json")}
    (check,) = _doctor(padlock_proc, tmp_path, env)
    assert check["ok"] is False and "name must be" in str(check["detail"])
