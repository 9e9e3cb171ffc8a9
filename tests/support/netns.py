"""A Linux network namespace of the test's own, holding addresses the host does not have.

Public IP addresses can only be validated where they are local: the namespace's loopback
carries them, and a thread that enters it (``setns(2)`` on the calling thread only, through
libc) sees only that namespace's network, as do the threads it starts. Nothing leaves the
machine: the namespace has no other interface. Needs root (CAP_SYS_ADMIN), as CI runs.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

CLONE_NEWNET = 0x40000000


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


@contextmanager
def namespace(addresses: Sequence[str]) -> Iterator[str]:
    """A fresh namespace whose loopback holds ``addresses`` (and 127.0.0.1, ::1); its name."""
    name = f"padlock-test-{secrets.token_hex(4)}"
    _ip("netns", "add", name)
    try:
        _ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
        for address in addresses:
            prefix = "128" if ":" in address else "32"
            _ip("netns", "exec", name, "ip", "addr", "add", f"{address}/{prefix}", "dev", "lo")
        yield name
    finally:
        _ip("netns", "del", name)


@contextmanager
def inside(name: str) -> Iterator[None]:
    """The calling thread in namespace ``name`` (threads started meanwhile stay there)."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(target)
        os.close(home)


@contextmanager
def linked(a: str, a_address: str, b: str, b_address: str) -> Iterator[None]:
    """A veth pair between namespaces ``a`` and ``b``, each end holding its address (/30),
    both up: a wire of the test's own between two network positions."""
    tag = secrets.token_hex(3)
    end_a, end_b = f"pl{tag}a", f"pl{tag}b"
    _ip("link", "add", end_a, "netns", a, "type", "veth", "peer", "name", end_b, "netns", b)
    try:
        for ns, end, address in ((a, end_a, a_address), (b, end_b, b_address)):
            _ip("-n", ns, "addr", "add", f"{address}/30", "dev", end)
            _ip("-n", ns, "link", "set", end, "up")
        yield
    finally:
        subprocess.run(
            ["ip", "-n", a, "link", "del", end_a], capture_output=True, timeout=30, check=False
        )


def route(name: str, prefix: str, via: str) -> None:
    """In namespace ``name``, reach ``prefix`` through ``via`` (a linked neighbour)."""
    _ip("-n", name, "route", "add", prefix, "via", via)
