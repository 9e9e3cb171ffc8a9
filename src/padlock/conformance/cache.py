"""Where the kit finds its clients: on PATH (Debian's certbot, lego, dehydrated, node), or
installed into a cache it manages (certbot 5 from PyPI in a venv, the npm acme-client),
with a progress line while it installs and a clear reason when a client cannot be had."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

INSTALL_TIMEOUT_S = 600.0
CERTBOT5_SPEC = "certbot>=5,<6"
ACMEJS_VERSION = "5.4.0"  # acmejs/package.json pins the same


class Unavailable(Exception):
    """A client the kit cannot have; the message says why and what to do."""


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "padlock" / "conformance"


@contextmanager
def _progress(console: Console, what: str) -> Iterator[None]:
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        bar.add_task(what, total=None)
        yield


def _install(args: Sequence[object], what: str, console: Console, cwd: Path | None) -> None:
    with _progress(console, what):
        try:
            proc = subprocess.run(
                [str(a) for a in args], capture_output=True, text=True, cwd=cwd,
                timeout=INSTALL_TIMEOUT_S, check=False, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise Unavailable(f"{what}: no answer in {INSTALL_TIMEOUT_S:.0f} s") from None
        except OSError as exc:
            raise Unavailable(f"{what}: {args[0]} could not run ({exc.strerror})") from None
    if proc.returncode != 0:
        said = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or ["no output"]
        raise Unavailable(f"{what} failed: {said[0][:200]}")


def on_path(name: str) -> Path:
    found = shutil.which(name)
    if found is None:
        raise Unavailable(f"{name} is not on PATH (Debian: apt-get install {name})")
    return Path(found)


def _is_certbot5(program: Path) -> bool:
    try:
        proc = subprocess.run(
            [str(program), "--version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return (proc.stdout + proc.stderr).strip().startswith("certbot 5.")


def certbot5(cache: Path, console: Console) -> Path:
    """certbot 5.x: PADLOCK_CERTBOT5 when it names one, else the cache's venv (made once)."""
    given = os.environ.get("PADLOCK_CERTBOT5")
    if given and _is_certbot5(Path(given)):
        return Path(given)
    venv = cache / "certbot5"
    program = venv / "bin" / "certbot"
    if _is_certbot5(program):
        return program
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    _install([sys.executable, "-m", "venv", venv], "making certbot 5's venv", console, None)
    pip = [venv / "bin" / "pip", "install", "-q", "--disable-pip-version-check", CERTBOT5_SPEC]
    _install(pip, f"installing {CERTBOT5_SPEC} from PyPI into {venv}", console, None)
    if not _is_certbot5(program):
        raise Unavailable(f"{program} is not certbot 5 after pip install {CERTBOT5_SPEC}")
    return program


def acme_client_js(cache: Path, console: Console) -> Path:
    """A directory holding kit.mjs and node_modules/acme-client; node from PATH.
    PADLOCK_ACME_CLIENT_JS may name a directory whose node_modules has it installed."""
    on_path("node")
    home = cache / "acme-client"
    home.mkdir(parents=True, exist_ok=True)
    package = resources.files("padlock.conformance") / "acmejs"
    for name in ("kit.mjs", "package.json"):
        (home / name).write_text(package.joinpath(name).read_text())
    installed = home / "node_modules" / "acme-client" / "package.json"
    given = os.environ.get("PADLOCK_ACME_CLIENT_JS")
    if given and (Path(given) / "node_modules" / "acme-client").is_dir():
        link = home / "node_modules"
        if link.is_symlink() or link.exists():
            shutil.rmtree(link) if not link.is_symlink() else link.unlink()
        link.symlink_to(Path(given).resolve() / "node_modules")
    elif f'"version": "{ACMEJS_VERSION}"' not in _text(installed):
        npm = [on_path("npm"), "install", "--no-audit", "--no-fund", "--silent",
               f"acme-client@{ACMEJS_VERSION}"]  # fmt: skip
        _install(
            npm, f"installing acme-client {ACMEJS_VERSION} from npm into {home}", console, home
        )
    return home


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
