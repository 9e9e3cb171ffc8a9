"""Writing files the safe way: temp file, fsync, then link or rename; never half a file.

Keys get mode 0600 from the moment they exist (the temp file is created 0600).
``os.link`` refuses to replace an existing file atomically, so "never over an
existing file without --force" holds even against a race.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from padlock.errors import FileProblem, OutputExists


def read_bytes(path: Path, what: str = "file", limit: int = 16 * 1024 * 1024) -> bytes:
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except FileNotFoundError:
        raise FileProblem(f"The {what} {str(path)!r} does not exist.") from None
    except IsADirectoryError:
        raise FileProblem(f"The {what} {str(path)!r} is a directory, not a file.") from None
    except PermissionError:
        raise FileProblem(
            f"The {what} {str(path)!r} cannot be read: permission denied.",
            hint="Run as a user who may read it (keys are often readable by root only).",
        ) from None
    except OSError as exc:
        raise FileProblem(f"The {what} {str(path)!r} cannot be read: {exc.strerror}.") from None
    if len(data) > limit:
        raise FileProblem(f"The {what} {str(path)!r} is larger than {limit} bytes.")
    return data


def _exists_error(path: Path) -> OutputExists:
    return OutputExists(
        f"{str(path)!r} exists already; padlock does not overwrite it.",
        hint="Choose another file name, or add --force to replace it.",
    )


def refuse_existing(path: Path) -> None:
    """Raise OutputExists if ``path`` exists (or is a dangling symbolic link)."""
    if path.exists() or path.is_symlink():
        raise _exists_error(path)


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644, overwrite: bool = False) -> None:
    """Write ``data`` to ``path`` whole or not at all."""
    if not overwrite:
        refuse_existing(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise FileProblem(f"The directory {str(directory)!r} does not exist.")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise FileProblem(f"Cannot write in {str(directory)!r}: {exc.strerror}.") from None
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise _exists_error(path) from None
            tmp.unlink()
        _fsync_dir(directory)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise FileProblem(f"Cannot write {str(path)!r}: {exc.strerror}.") from exc
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
