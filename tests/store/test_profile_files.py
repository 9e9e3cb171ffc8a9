"""The operator's profile files: made on first start, edited without code, a bad one
refused at start with its path, line and reason."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from padlock.errors import ConfigError, PadlockError
from padlock.pki.profiles import shipped_texts
from padlock.store.profile_files import read_profiles


def test_profile_files_first_start_copies_the_shipped_set(tmp_path: Path) -> None:
    profiles = read_profiles(tmp_path)
    folder = tmp_path / "profiles"
    assert sorted(p.stem for p in folder.glob("*.toml")) == sorted(shipped_texts())
    assert (folder / "classic.toml").read_text() == shipped_texts()["classic"]
    assert list(profiles) == ["test", "classic", "tlsserver", "shortlived", "ov"]


def test_profile_files_operator_edits_adds_and_withdraws(tmp_path: Path) -> None:
    read_profiles(tmp_path)
    folder = tmp_path / "profiles"
    tls = folder / "tlsserver.toml"
    tls.write_text(tls.read_text().replace('default = "90d"', 'default = "30d"'))
    (folder / "weekly.toml").write_text(
        shipped_texts()["tlsserver"].replace('"90d"', '"7d"').replace("lean:", "weekly:")
    )
    ov = folder / "ov.toml"
    ov.write_text("enabled = false\n" + ov.read_text())
    (folder / "classic.toml").unlink()  # a shipped profile with no file: offered as shipped
    profiles = read_profiles(tmp_path)
    assert profiles["tlsserver"].lifetime == dt.timedelta(days=30)
    assert profiles["weekly"].limit == dt.timedelta(days=7)
    assert "ov" not in profiles and "classic" in profiles and "dv" in profiles


def test_profile_files_bad_file_refused_with_path_line_and_reason(tmp_path: Path) -> None:
    read_profiles(tmp_path)
    path = tmp_path / "profiles" / "classic.toml"
    path.write_text(path.read_text().replace('"serverAuth"', '"clientAuth"'))
    with pytest.raises(ConfigError) as caught:
        read_profiles(tmp_path)
    assert caught.value.message.startswith(
        f"{path}:21: extensions.extKeyUsage.purposes: clientAuth not allowed here"
    )


def test_profile_files_not_text_or_too_big_refused(tmp_path: Path) -> None:
    read_profiles(tmp_path)
    path = tmp_path / "profiles" / "odd.toml"
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match="not UTF-8"):
        read_profiles(tmp_path)
    path.write_bytes(b"#" * (65 * 1024))
    with pytest.raises(PadlockError, match="larger than 65536 bytes"):
        read_profiles(tmp_path)
