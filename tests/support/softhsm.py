"""A SoftHSM2 token of a test's own: its configuration and token directory in a temporary
place (``SOFTHSM2_CONF``), initialized with ``softhsm2-util --init-token``.

SoftHSM2 is Debian's softhsm2 (.ci/run installs it); a missing program or module fails the
test, it is never a skip. The PIN goes to padlock in a file or the environment, as the
operator gives it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

MODULES = ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so")
PIN = "246810"
SO_PIN = "13579111"


def module_path() -> str:
    """The SoftHSM2 PKCS#11 module; the test fails when it is not installed."""
    for path in MODULES:
        if Path(path).exists():
            return path
    pytest.fail("SoftHSM2 is not installed (apt-get install softhsm2; .ci/run installs it).")


@dataclass
class SoftHsm:
    """One token directory (any number of tokens), and the environment that points at it."""

    root: Path
    module: str
    label: str = "padlock-ca"

    @property
    def conf(self) -> Path:
        return self.root / "softhsm2.conf"

    @property
    def env(self) -> dict[str, str]:
        return {"SOFTHSM2_CONF": str(self.conf)}

    @property
    def pin_file(self) -> Path:
        path = self.root / "pin"
        if not path.exists():
            path.write_text(PIN + "\n")
            path.chmod(0o600)
        return path

    def init_token(self, label: str | None = None) -> str:
        label = label or self.label
        util = shutil.which("softhsm2-util")
        if util is None:
            pytest.fail("softhsm2-util is not installed (apt-get install softhsm2).")
        done = subprocess.run(
            [util, "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", SO_PIN],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return label

    def remove_tokens(self) -> None:
        """The token is gone (an HSM unplugged): its directory emptied."""
        for entry in (self.root / "tokens").iterdir():
            shutil.rmtree(entry)

    def inspect(self, script: str) -> subprocess.CompletedProcess[str]:
        """Run python-pkcs11 ``script`` in a process of its own (SoftHSM2 reads its
        configuration once per process), with ``lib``, ``token`` and ``session`` open."""
        prelude = (
            "import pkcs11\n"
            "from pkcs11 import Attribute, ObjectClass\n"
            "from pkcs11 import exceptions as p11\n"
            f"lib = pkcs11.lib({self.module!r})\n"
            f"token = lib.get_token(token_label={self.label!r})\n"
            f"session = token.open(user_pin={PIN!r})\n"
        )
        return subprocess.run(
            [sys.executable, "-c", prelude + script],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def make_softhsm(root: Path) -> SoftHsm:
    """A SoftHSM2 configuration in ``root`` with one initialized token."""
    (root / "tokens").mkdir(parents=True)
    hsm = SoftHsm(root, module_path())
    hsm.conf.write_text(
        f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    hsm.init_token()
    return hsm
