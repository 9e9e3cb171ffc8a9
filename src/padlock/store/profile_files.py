"""The operator's profile files: ``<data dir>/profiles/*.toml`` (docs/ca-operations.md).

On first start the folder is made with a copy of every profile padlock ships, for the
operator to read and edit; from then on a file there replaces the shipped profile of
its name, a new file adds a profile, and ``enabled = false`` withdraws one. Shipped
profiles with no file of their name (one added by a newer padlock) are offered as
shipped. Every file is read and checked at start: a bad one stops the start with its
path, line and reason (:mod:`padlock.pki.profile_model`).
"""

from __future__ import annotations

from pathlib import Path

from padlock.errors import ConfigError
from padlock.fileio import read_bytes, write_atomic
from padlock.pki.profiles import ProfileSet, load_profiles, shipped_texts

FOLDER = "profiles"
MAX_FILE = 64 * 1024  # a profile is a page of TOML
MAX_FILES = 200


def profiles_folder(data_dir: Path) -> Path:
    return data_dir / FOLDER


def read_profiles(data_dir: Path) -> ProfileSet:
    """The CA's profiles: the shipped set merged with the operator's files."""
    folder = profiles_folder(data_dir)
    shipped = shipped_texts()
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o755)
        for name, text in shipped.items():
            write_atomic(folder / f"{name}.toml", text.encode("utf-8"), mode=0o644)
    texts = {name: (text, f"padlock's shipped {name}.toml") for name, text in shipped.items()}
    files = sorted(folder.glob("*.toml"))
    if len(files) > MAX_FILES:
        raise ConfigError(f"{folder} holds {len(files)} profile files; at most {MAX_FILES}.")
    texts.update({path.stem: (_text(path), str(path)) for path in files})
    return load_profiles(texts)


def _text(path: Path) -> str:
    """A profile file's text: at most MAX_FILE bytes (read_bytes refuses more) of UTF-8."""
    data = read_bytes(path, "profile file", limit=MAX_FILE)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}).") from None
