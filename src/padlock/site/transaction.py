"""Change a web server's files as one transaction: undo registered before every change.

Shared by ``padlock apache`` and ``padlock nginx``. A :class:`Plan` is a list of
:class:`FileChange` (write a file, make a symbolic link, remove one); :func:`apply_plan`
runs it like this::

    recover any transaction a crash left in progress (restore its files)
    for each change:  copy what is there now into the backup, record it in the
                      manifest (fsync)  ->  only then make the change (atomic rename)
    configtest  ->  reload  ->  probe the live server
    on ANY failure: restore every file (newest first), reload again, say what failed

The manifest of each transaction lives in ``STATE/backups/<id>/manifest.json``; while it
says ``in-progress`` it is the journal: a ``SIGKILL`` at any point leaves a manifest
that names every file that may have changed and where its old bytes are, so the next
``rollback`` or ``install`` puts them back. ``rollback`` restores the newest committed
transaction. A lock file keeps two padlock runs from interleaving.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import hashlib
import json
import os
import secrets
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from padlock.errors import Conflict, FileProblem, InstallFailed, PadlockError
from padlock.filelock import held

STATE_DIRNAME = ".padlock"
PAUSE_ENV = "PADLOCK_TEST_PAUSE_AT"  # test hook: sleep at a named step (see _pause)
PAUSE_SECONDS_ENV = "PADLOCK_TEST_PAUSE_SECONDS"
LOCK_WAIT_SECONDS = 30.0

IN_PROGRESS = "in-progress"
COMMITTED = "committed"
FAILED = "failed"  # failed and restored
ROLLED_BACK = "rolled-back"
RECOVERED = "recovered"  # was interrupted, restored by a later run


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class FileChange:
    """One path's new state: ``content`` (a file), ``link`` (a symbolic link) or neither
    (removed). ``summary`` replaces the diff for files whose bytes must not be shown."""

    path: Path
    content: bytes | None = None
    link: str | None = None
    mode: int | None = None  # None: keep the mode the file has (0644 for a new one)
    why: str = ""
    summary: str | None = None

    @property
    def removes(self) -> bool:
        return self.content is None and self.link is None


@dataclass(frozen=True)
class Plan:
    server: str  # "apache" or "nginx"
    description: str
    changes: tuple[FileChange, ...]
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def paths(self) -> list[Path]:
        return [c.path for c in self.changes]

    def diff(self) -> str:
        """A unified diff of every change against what is on disk now."""
        return "".join(_diff_one(change) for change in self.changes)


def _current_text(path: Path) -> tuple[str, list[str]]:
    """(kind, lines) of what is at ``path`` now, for the diff."""
    if path.is_symlink():
        return "link", [f"-> {os.readlink(path)}\n"]
    if not path.exists():
        return "absent", []
    try:
        data = path.read_bytes()
    except OSError:
        return "unreadable", []
    return "file", data.decode("utf-8", "replace").splitlines(keepends=True)


def _diff_one(change: FileChange) -> str:
    name = str(change.path)
    kind, old = _current_text(change.path)
    header = f"# {change.why}\n" if change.why else ""
    if change.summary is not None:
        state = "new" if kind == "absent" else "replaced"
        return f"{header}=== {name} ({state}): {change.summary}\n\n"
    if change.link is not None:
        new = [f"-> {change.link}\n"]
    elif change.content is not None:
        new = change.content.decode("utf-8", "replace").splitlines(keepends=True)
    else:
        new = []
    if old == new and kind != "absent":
        return ""
    fromfile = "/dev/null" if kind == "absent" else f"a{name}"
    tofile = "/dev/null" if change.removes else f"b{name}"
    lines = list(difflib.unified_diff(old, new, fromfile, tofile))
    fixed = [
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    ]
    return header + "".join(fixed) + ("\n" if fixed else "")


# --------------------------------------------------------------------------- the server


class ServerControl(Protocol):
    """What a transaction needs from the web server; every call has a bounded timeout."""

    @property
    def label(self) -> str: ...

    def configtest(self) -> None:
        """Raise InstallFailed (with the server's own words) if the configuration is bad."""

    def reload(self) -> None:
        """Graceful reload; starts the server if it is not running."""

    def is_running(self) -> bool: ...

    def stop(self) -> None: ...


Probe = Callable[[], Any]


# --------------------------------------------------------------------------- state on disk


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _sha256(path: Path) -> str | None:
    if path.is_symlink():
        return "link:" + os.readlink(path)
    if not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_file(path: Path, data: bytes, mode: int, owner: tuple[int, int] | None) -> None:
    """Whole or not at all: temp file in the same directory, fsync, rename over."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.padlock-", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            if owner is not None and os.geteuid() == 0:
                os.fchown(fh.fileno(), *owner)
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _make_link(path: Path, target: str) -> None:
    tmp = path.parent / f".{path.name}.padlock-{secrets.token_hex(4)}.tmp"
    os.symlink(target, tmp)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
        _fsync_dir(path.parent)
    elif path.is_dir():
        with contextlib.suppress(OSError):
            path.rmdir()  # only ever a directory padlock made, and only when empty


@dataclass
class Transaction:
    """One transaction's backup directory and manifest (the journal)."""

    directory: Path
    manifest: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.manifest["id"])

    @property
    def status(self) -> str:
        return str(self.manifest["status"])

    @property
    def entries(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self.manifest["entries"]
        return entries

    def save(self) -> None:
        self.manifest["updated"] = _now()
        data = (json.dumps(self.manifest, indent=2) + "\n").encode()
        _write_file(self.directory / "manifest.json", data, 0o600, None)

    def set_status(self, status: str) -> None:
        self.manifest["status"] = status
        self.save()

    # -- undo before change -----------------------------------------------------------------

    def register(self, path: Path, kind: str = "path") -> dict[str, Any]:
        """Record how ``path`` is now (a copy of its bytes, or that it is absent), durably,
        before anything changes it."""
        path = Path(os.path.abspath(path))
        for known in self.entries:
            if known["path"] == str(path):
                return known
        index = len(self.entries) + 1
        entry: dict[str, Any] = {"path": str(path), "kind": kind}
        if path.is_symlink():
            entry["before"] = "link"
            entry["link"] = os.readlink(path)
        elif path.is_file():
            st = path.stat()
            backup = f"{index:04d}"
            shutil.copyfile(path, self.directory / "files" / backup, follow_symlinks=False)
            os.chmod(self.directory / "files" / backup, 0o600)
            with open(self.directory / "files" / backup, "rb") as fh:
                os.fsync(fh.fileno())
            entry.update(
                before="file",
                backup=backup,
                mode=stat.S_IMODE(st.st_mode),
                uid=st.st_uid,
                gid=st.st_gid,
            )
        elif path.is_dir():
            entry["before"] = "dir"
        elif path.exists():
            raise FileProblem(f"{path} is neither a file, a link nor a directory; padlock stops.")
        else:
            entry["before"] = "absent"
        self.entries.append(entry)
        self.save()
        return entry

    def note_after(self, path: Path) -> None:
        path = Path(os.path.abspath(path))
        for entry in self.entries:
            if entry["path"] == str(path):
                entry["after"] = _sha256(path)
        self.save()

    def change(self, change: FileChange) -> None:
        """Register the undo of ``change`` (and of every directory it needs), then make it."""
        missing: list[Path] = []
        parent = Path(os.path.abspath(change.path)).parent
        while not parent.exists():
            missing.append(parent)
            parent = parent.parent
        for directory in reversed(missing):
            self.register(directory, kind="dir")
            directory.mkdir(mode=0o755)
            self.note_after(directory)
        entry = self.register(change.path)
        owner = (entry["uid"], entry["gid"]) if entry.get("before") == "file" else None
        if change.removes:
            _remove(change.path)
        elif change.link is not None:
            if change.path.exists() and not change.path.is_symlink() and change.path.is_dir():
                raise FileProblem(f"{change.path} is a directory; padlock will not replace it.")
            _make_link(change.path, change.link)
        else:
            assert change.content is not None
            if change.path.is_symlink():
                change.path.unlink()  # a link where a file goes: the manifest has the link
            mode = change.mode
            if mode is None:
                mode = entry["mode"] if entry.get("before") == "file" else 0o644
            _write_file(change.path, change.content, mode, owner)
        self.note_after(change.path)

    # -- undo ---------------------------------------------------------------------------------

    def changed_since(self) -> list[str]:
        """Files whose state differs from what this transaction left (edited by hand since)."""
        out = []
        for entry in self.entries:
            if entry.get("kind") == "dir" or "after" not in entry:
                continue
            if _sha256(Path(entry["path"])) != entry["after"]:
                out.append(entry["path"])
        return out

    def restore(self) -> list[str]:
        """Put every registered path back as it was, newest first. Returns what failed."""
        failures: list[str] = []
        for entry in reversed(self.entries):
            path = Path(entry["path"])
            try:
                before = entry["before"]
                if before == "file":
                    data = (self.directory / "files" / entry["backup"]).read_bytes()
                    if path.is_symlink() or path.is_dir():
                        _remove(path)
                    _write_file(path, data, entry["mode"], (entry["uid"], entry["gid"]))
                elif before == "link":
                    if path.is_dir() and not path.is_symlink():
                        raise FileProblem(f"{path} became a directory")
                    _make_link(path, entry["link"])
                elif before == "absent":
                    _remove(path)
                # "dir": it was there before; nothing to put back
            except (OSError, PadlockError) as exc:
                failures.append(f"{path}: {exc}")
        return failures


class StateDir:
    """``CONFIG_ROOT/.padlock``: backups (one directory per transaction) and the lock."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.backups = root / "backups"

    @classmethod
    def under(cls, config_root: Path) -> StateDir:
        return cls(config_root / STATE_DIRNAME)

    def ensure(self) -> None:
        try:
            self.backups.mkdir(parents=True, exist_ok=True)
            os.chmod(self.root, 0o700)
        except OSError as exc:
            raise FileProblem(
                f"Cannot make padlock's state directory {self.root}: {exc.strerror}.",
                hint="Run as the user who owns the web server's configuration (root).",
            ) from None

    @contextlib.contextmanager
    def locked(self, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
        """One padlock run at a time on this configuration (a dead run lets go)."""
        self.ensure()
        lock = self.root / "lock"

        def busy() -> Conflict:
            return Conflict(
                f"Another padlock run holds {lock}.", hint="Wait for it to finish, then try again."
            )

        with held(lock, wait=wait, pause=0.1, busy=busy):
            yield

    def begin(self, server: str, description: str, extra: dict[str, Any]) -> Transaction:
        self.ensure()
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        directory = self.backups / f"{stamp}-{secrets.token_hex(3)}"
        (directory / "files").mkdir(parents=True, mode=0o700)
        os.chmod(directory, 0o700)
        tx = Transaction(
            directory,
            {
                "id": directory.name,
                "server": server,
                "description": description,
                "status": IN_PROGRESS,
                "created": _now(),
                "pid": os.getpid(),
                "entries": [],
                **extra,
            },
        )
        tx.save()
        _fsync_dir(self.backups)
        return tx

    def transactions(self) -> list[Transaction]:
        """Every transaction with a readable manifest, oldest first."""
        out: list[Transaction] = []
        if not self.backups.is_dir():
            return out
        for directory in sorted(self.backups.iterdir()):
            try:
                manifest = json.loads((directory / "manifest.json").read_text())
            except (OSError, ValueError):
                continue  # a crash before the first manifest write: nothing was changed
            out.append(Transaction(directory, manifest))
        return out


# --------------------------------------------------------------------------- running a plan


def _pause(step: str) -> None:
    """Test hook: with PADLOCK_TEST_PAUSE_AT=<step>, say so on stderr and sleep (bounded),
    so a test can SIGKILL padlock at exactly that step."""
    if os.environ.get(PAUSE_ENV) != step:
        return
    sys.stderr.write(f"padlock: test hook: paused at {step}\n")
    sys.stderr.flush()
    time.sleep(min(float(os.environ.get(PAUSE_SECONDS_ENV, "60")), 600.0))


@dataclass(frozen=True)
class Recovery:
    transaction: str
    failures: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    transaction: str
    backup_dir: Path
    changed: tuple[str, ...]
    probe: Any = None
    recovered: tuple[Recovery, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


def recover_interrupted(state: StateDir) -> list[Recovery]:
    """Restore every transaction a crash left ``in-progress`` (newest first)."""
    done = []
    for tx in reversed(state.transactions()):
        if tx.status != IN_PROGRESS:
            continue
        failures = tx.restore()
        tx.manifest["recovery_failures"] = failures
        tx.set_status(RECOVERED if not failures else FAILED)
        done.append(Recovery(tx.id, tuple(failures)))
    return done


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _settle(control: ServerControl, was_running: bool) -> str:
    """After a restore: load the restored configuration the way the server ran before."""
    try:
        control.configtest()
    except PadlockError as exc:
        return (
            " The restored configuration does not pass the configtest either:"
            f" {_sentence(exc.message)}"
        )
    try:
        if was_running:
            control.reload()
            return f" {control.label} was reloaded with the restored configuration."
        if control.is_running():
            control.stop()
            return f" {control.label} was not running before, and is stopped again."
    except PadlockError as exc:
        return (
            f" Reloading {control.label} with the restored configuration failed:"
            f" {_sentence(exc.message)}"
        )
    return ""


def apply_plan(
    state: StateDir,
    plan: Plan,
    control: ServerControl,
    probe: Probe,
    extra: dict[str, Any] | None = None,
    say: Callable[[str], None] = lambda _m: None,
) -> Outcome:
    """Run ``plan`` as one transaction; raise InstallFailed after restoring on any failure."""
    with state.locked():
        recovered = recover_interrupted(state)
        for rec in recovered:
            say(f"Restored the files of interrupted transaction {rec.transaction}.")
        if recovered:
            for rec in recovered:
                if rec.failures:
                    raise InstallFailed(
                        f"An earlier padlock run was interrupted and its files could not all be"
                        f" restored: {'; '.join(rec.failures)}.",
                        hint=f"Restore them by hand from {state.backups / rec.transaction}.",
                    )
            _settle(control, control.is_running())
        try:
            control.configtest()
        except PadlockError as exc:
            raise InstallFailed(
                f"The configuration fails {control.label}'s configtest before any change:"
                f" {exc.message} Nothing was changed.",
                hint="Fix the configuration first (padlock will not build on a broken one).",
            ) from None
        was_running = control.is_running()
        tx = state.begin(plan.server, plan.description, extra or {})
        step = "write"
        try:
            for change in plan.changes:
                tx.change(change)
            _pause("after-write")
            step = "configtest"
            control.configtest()
            _pause("after-configtest")
            step = "reload"
            control.reload()
            _pause("after-reload")
            step = "probe"
            result = probe()
        except (PadlockError, OSError) as exc:
            message = _sentence(exc.message if isinstance(exc, PadlockError) else str(exc))
            failures = tx.restore()
            tx.manifest["failed_step"] = step
            tx.manifest["error"] = message
            tx.set_status(FAILED)
            if failures:
                raise InstallFailed(
                    f"The {step} step failed: {message} Restoring the files failed too:"
                    f" {'; '.join(failures)}.",
                    hint=f"The old files are in {tx.directory / 'files'}; see manifest.json there.",
                ) from None
            settled = _settle(control, was_running)
            raise InstallFailed(
                f"The {step} step failed: {message} Every file was restored.{settled}",
                hint=f"Nothing of this attempt remains; its record is {tx.directory}.",
            ) from None
        tx.set_status(COMMITTED)
        return Outcome(
            transaction=tx.id,
            backup_dir=tx.directory,
            changed=tuple(e["path"] for e in tx.entries),
            probe=result,
            recovered=tuple(recovered),
        )


@dataclass(frozen=True)
class RollbackOutcome:
    transaction: str | None
    restored: tuple[str, ...]
    recovered: tuple[Recovery, ...]
    message: str


def rollback(
    state: StateDir,
    control: ServerControl,
    *,
    force: bool = False,
    probe: Callable[[Transaction], Any] | None = None,
) -> RollbackOutcome:
    """Undo an interrupted transaction if there is one, else the newest committed one."""
    with state.locked():
        was_running = control.is_running()
        recovered = recover_interrupted(state)
        if recovered:
            bad = [f for r in recovered for f in r.failures]
            settled = _settle(control, was_running)
            if bad:
                raise InstallFailed(
                    f"Restoring an interrupted transaction failed: {'; '.join(bad)}.",
                    hint=f"See the manifests under {state.backups}.",
                )
            return RollbackOutcome(
                recovered[0].transaction,
                (),
                tuple(recovered),
                "Restored the files of an interrupted padlock run." + settled,
            )
        committed = [tx for tx in state.transactions() if tx.status == COMMITTED]
        if not committed:
            raise Conflict(
                f"There is nothing to roll back: no completed install is recorded in {state.root}.",
            )
        tx = committed[-1]
        edited = tx.changed_since()
        if edited and not force:
            raise Conflict(
                f"These files changed after padlock's install {tx.id}: {', '.join(edited)}.",
                hint="Rolling back would overwrite those edits; add --force to do it anyway.",
            )
        failures = tx.restore()
        if failures:
            tx.manifest["rollback_failures"] = failures
            tx.set_status(FAILED)
            raise InstallFailed(
                f"Rolling back {tx.id} failed for: {'; '.join(failures)}.",
                hint=f"The old files are in {tx.directory / 'files'}.",
            )
        tx.set_status(ROLLED_BACK)
        settled = _settle(control, was_running)
        if probe is not None:
            probe(tx)
        return RollbackOutcome(
            tx.id,
            tuple(e["path"] for e in tx.entries),
            (),
            f"Restored the files changed by {tx.id} ({tx.manifest.get('description', '')})."
            + settled,
        )


def snapshot(paths: Sequence[Path]) -> dict[str, str | None]:
    """The state of some paths (content hash or link target), for before/after comparison."""
    return {str(p): _sha256(p) for p in paths}
