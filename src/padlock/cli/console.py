"""What every command shares at the console: pass phrases (given, or asked on a terminal),
inputs read from files or stdin, JSON and notes printed."""

from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

from padlock.errors import BadPassphrase
from padlock.fileio import read_bytes

PASSPHRASE_ENV = "PADLOCK_PASSPHRASE"  # noqa: S105 - a variable name, not a secret


class State:
    debug = False


def is_terminal() -> bool:
    return sys.stdin.isatty() and sys.stderr.isatty()


def _from_file(path: Path) -> bytes:
    data = read_bytes(path, "pass phrase file", limit=64 * 1024)
    lines = data.splitlines()
    return lines[0] if lines else b""


def passphrase_given(passphrase_file: Path | None) -> bytes | None:
    """The pass phrase from --passphrase-file or $PADLOCK_PASSPHRASE, if either is set."""
    if passphrase_file is not None:
        return _from_file(passphrase_file)
    env = os.environ.get(PASSPHRASE_ENV)
    if env is not None:
        return env.encode("utf-8", "surrogateescape")  # the bytes as they were set
    return None


def new_passphrase(passphrase_file: Path | None) -> bytes:
    """A pass phrase for a new key: given, or typed twice on a terminal like ``openssl genrsa``."""
    given = passphrase_given(passphrase_file)
    if given is not None:
        return given
    if not is_terminal():
        raise BadPassphrase(
            "No pass phrase for the new key, and no terminal to ask for one.",
            hint=f"Give --passphrase-file FILE or set {PASSPHRASE_ENV};"
            " or --no-encrypt for an unencrypted key.",
        )
    first = getpass.getpass("Enter pass phrase for the new key: ").encode()
    second = getpass.getpass("Verifying - Enter pass phrase: ").encode()
    if first != second:
        raise BadPassphrase("The two pass phrases differ; nothing was written.", hint="Try again.")
    return first


def existing_passphrase(
    passphrase_file: Path | None, encrypted: bool, what: str = "the key"
) -> bytes | None:
    """The pass phrase for an existing encrypted key: given, or asked once on a terminal."""
    given = passphrase_given(passphrase_file)
    if given is not None or not encrypted:
        return given
    if not is_terminal():
        raise BadPassphrase(
            f"{what.capitalize()} is encrypted and no pass phrase was given.",
            hint=f"Give --passphrase-file FILE or set {PASSPHRASE_ENV}.",
        )
    return getpass.getpass(f"Enter pass phrase for {what}: ").encode()


def token_pin_prompt(token_label: str) -> bytes:
    """A token's PIN, typed on a terminal (never echoed, never an argument)."""
    if not is_terminal():
        raise BadPassphrase(
            f"No PIN for the token {token_label!r}, and no terminal to ask for one.",
            hint="Set PADLOCK_HSM_PIN, or PADLOCK_HSM_PIN_FILE to a file holding it,"
            " or give --pin-file.",
        )
    return getpass.getpass(f"PIN of the token {token_label!r}: ").encode()


def read_input(path: Path, what: str) -> bytes:
    if str(path) == "-":
        return sys.stdin.buffer.read()
    return read_bytes(path, what)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=False, default=str) + "\n")


def say(message: str) -> None:
    """Progress and notes go to stderr, so stdout stays clean for pipes."""
    sys.stderr.write(message + "\n")
