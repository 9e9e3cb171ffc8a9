"""Reading and writing files: whole or not at all, never over an existing file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from padlock import fileio
from padlock.errors import FileProblem, OutputExists


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_read_bytes_reads_file(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"hello")
    assert fileio.read_bytes(tmp_path / "a") == b"hello"


def test_read_bytes_missing(tmp_path: Path) -> None:
    with pytest.raises(FileProblem, match="does not exist"):
        fileio.read_bytes(tmp_path / "nope", "key file")


def test_read_bytes_missing_names_what(tmp_path: Path) -> None:
    with pytest.raises(FileProblem) as info:
        fileio.read_bytes(tmp_path / "nope", "key file")
    assert str(info.value).startswith("The key file ")


def test_read_bytes_directory(tmp_path: Path) -> None:
    with pytest.raises(FileProblem, match="is a directory"):
        fileio.read_bytes(tmp_path)


def test_read_bytes_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests run as root, where chmod 000 does not stop reading: make open() refuse instead.
    path = tmp_path / "secret"
    path.write_bytes(b"x")

    def refuse(self: Path, *args: object, **kwargs: object) -> object:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(FileProblem, match="permission denied") as info:
        fileio.read_bytes(path)
    assert info.value.hint and "root" in info.value.hint


def test_read_bytes_too_large(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"x" * 11)
    with pytest.raises(FileProblem, match="larger than 10 bytes"):
        fileio.read_bytes(tmp_path / "big", limit=10)


def test_read_bytes_at_limit(tmp_path: Path) -> None:
    (tmp_path / "ok").write_bytes(b"x" * 10)
    assert fileio.read_bytes(tmp_path / "ok", limit=10) == b"x" * 10


def test_write_atomic_writes_with_mode(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    fileio.write_atomic(path, b"secret", mode=0o600)
    assert path.read_bytes() == b"secret"
    assert _mode(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["key.pem"]


def test_write_atomic_default_mode(tmp_path: Path) -> None:
    path = tmp_path / "req.csr"
    fileio.write_atomic(path, b"csr")
    assert _mode(path) == 0o644


def test_write_atomic_refuses_existing(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(b"old")
    with pytest.raises(OutputExists, match="exists already") as info:
        fileio.write_atomic(path, b"new")
    assert info.value.hint and "--force" in info.value.hint
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["key.pem"]


def test_write_atomic_refuses_dangling_symlink(tmp_path: Path) -> None:
    link = tmp_path / "link.pem"
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(OutputExists):
        fileio.write_atomic(link, b"new")
    assert not (tmp_path / "nowhere").exists()


def test_write_atomic_overwrite_replaces(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(b"old")
    os.chmod(path, 0o644)
    fileio.write_atomic(path, b"new", mode=0o600, overwrite=True)
    assert path.read_bytes() == b"new"
    assert _mode(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["key.pem"]


def test_write_atomic_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileProblem, match=r"directory .* does not exist"):
        fileio.write_atomic(tmp_path / "no" / "key.pem", b"x")


def test_write_atomic_race_on_link_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process creates the file between the check and the link: still refused."""
    path = tmp_path / "key.pem"
    real_link = os.link

    def racing_link(src: str, dst: str) -> None:
        Path(dst).write_bytes(b"theirs")
        real_link(src, dst)

    monkeypatch.setattr(os, "link", racing_link)
    with pytest.raises(OutputExists):
        fileio.write_atomic(path, b"ours")
    assert path.read_bytes() == b"theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["key.pem"]


def test_write_atomic_failure_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(FileProblem, match="No space left on device"):
        fileio.write_atomic(tmp_path / "key.pem", b"x")
    assert list(tmp_path.iterdir()) == []


def test_write_atomic_interrupt_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fileio.write_atomic(tmp_path / "key.pem", b"x")
    assert list(tmp_path.iterdir()) == []


def test_refuse_existing_passes_for_new_path(tmp_path: Path) -> None:
    fileio.refuse_existing(tmp_path / "new")
