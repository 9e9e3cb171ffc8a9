"""Multi-perspective issuance corroboration (BR 3.2.2.9) with real network positions.

The "internet" is a network namespace of the test's own: its loopback holds the applicant's
web server (lego's own http-01 responder at APPLICANT) and an attacker's (ATTACKER, which
does not know the token); ``padlock serve`` and lego run there too. Each remote perspective
is a real ``padlock perspective serve`` process in a namespace of its own, wired to the
internet by a veth pair (TEST-NET-2 addresses), with its own DNS view (a TestDNS server on
that namespace's loopback) and its own route to the applicant's web server. A perspective
whose DNS view is hijacked sends the http-01 request to the attacker.

Shown through lego (Debian's package) against padlock's ACME server: all agree -> issued;
one hijacked -> issued, the dissent recorded (``padlock ca show``); two hijacked -> refused,
naming them; a perspective down -> a failure; a perspective whose answer is not signed by
its configured key -> refused. Nothing leaves the machine: no namespace has a route out.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509

from padlock.ca.mpic.signing import public_key, unseal
from tests.interop.conftest import (
    PADLOCK,
    PASSPHRASE,
    Padlock,
    program,
    run,
    start_padlock,
    stop_padlock,
)
from tests.support import netns
from tests.support.dnsserver import TestDNS, Zone
from tests.support.httpfiles import FileServer
from tests.support.padlock_server import Launched, launch

APPLICANT = "203.0.113.10"  # TEST-NET-3: the applicant's web server
ATTACKER = "203.0.113.66"  # the attacker's, where a hijacked DNS view points
# name, RIR, latitude, longitude of the three remote perspectives
PLACES = [
    ("fra", "RIPE NCC", 50.11, 8.68),
    ("iad", "ARIN", 38.95, -77.45),
    ("sin", "APNIC", 1.35, 103.99),
]


@dataclass
class Perspective:
    name: str
    namespace: str
    address: str
    dns: TestDNS
    key_dir: Path
    port: int = 0
    proc: Launched | None = None


@dataclass
class World:
    internet: str
    padlock: Padlock
    perspectives: dict[str, Perspective]
    config: list[dict[str, object]]
    ca_key: str
    env: dict[str, str]
    root: Path
    logs: list[Path] = field(default_factory=list)

    def hijack(self, *names: str) -> None:
        for name in names:
            self.perspectives[name].dns.zone.default_a = ATTACKER

    def heal(self) -> None:
        for p in self.perspectives.values():
            p.dns.zone.default_a = APPLICANT


def _serve_perspective(world_root: Path, p: Perspective, ca_key: str) -> None:
    """``padlock perspective serve`` in its namespace, on its address (the same port again
    after a restart: the CA's configuration names it)."""
    env = {**os.environ, "PADLOCK_VA_RESOLVER": p.dns.spec, "PADLOCK_VA_HTTP_PORT": "80"}
    args = [PADLOCK, "perspective", "serve", "--dir", p.key_dir, "--name", p.name]
    args += ["--ca-key", ca_key, "--host", p.address, "--port", str(p.port)]
    with netns.inside(p.namespace):
        p.proc = launch(args, env=env, log=world_root / f"perspective-{p.name}.log")
    p.port = p.proc.port


def _perspectives(
    stack: ExitStack, internet: str, root: Path, ca_key: str
) -> dict[str, Perspective]:
    found: dict[str, Perspective] = {}
    for i, (name, _rir, _lat, _lon) in enumerate(PLACES):
        ns = stack.enter_context(netns.namespace([]))
        near, far = f"198.51.100.{4 * i + 1}", f"198.51.100.{4 * i + 2}"
        stack.enter_context(netns.linked(internet, near, ns, far))
        netns.route(ns, "203.0.113.0/24", near)
        with netns.inside(ns):
            dns = TestDNS(Zone(default_a=APPLICANT)).start()
        stack.callback(dns.stop)
        key_dir = root / f"key-{name}"
        run([PADLOCK, "perspective", "init", "--dir", str(key_dir)])
        p = Perspective(name, ns, far, dns, key_dir)
        _serve_perspective(root, p, ca_key)
        stack.callback(lambda p=p: p.proc.stop() if p.proc else None)
        found[name] = p
    return found


def _config(root: Path, perspectives: dict[str, Perspective]) -> list[dict[str, object]]:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from padlock.ca.mpic.signing import public_text

    config = []
    for name, rir, lat, lon in PLACES:
        p = perspectives[name]
        pem = (p.key_dir / "perspective.key").read_bytes()
        key = load_pem_private_key(pem, None).public_key()
        config.append(
            {
                "name": name,
                "url": f"http://{p.address}:{p.port}",
                "key": public_text(key),  # type: ignore[arg-type]
                "rir": rir,
                "latitude": lat,
                "longitude": lon,
            }
        )
    (root / "perspectives.json").write_text(json.dumps({"perspectives": config}))
    return config


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("mpic")
    data = root / "data"
    env = {"PADLOCK_CA_PASSPHRASE": PASSPHRASE, "PADLOCK_DATA_DIR": str(data)}
    with ExitStack() as stack:
        internet = stack.enter_context(netns.namespace([APPLICANT, ATTACKER]))
        run([PADLOCK, "ca", "init", "--data-dir", str(data), "--base-url", "http://ca.example.org"],
            env=env)  # fmt: skip
        ca_key = run([PADLOCK, "perspective", "ca-key"], env=env).stdout.strip()
        perspectives = _perspectives(stack, internet, root, ca_key)
        config = _config(root, perspectives)
        with netns.inside(internet):
            dns = TestDNS(Zone(default_a=APPLICANT)).start()
            attacker = FileServer(port=80, host=ATTACKER).start()
            extra = {
                "PADLOCK_MPIC_PERSPECTIVES": str(root / "perspectives.json"),
                "PADLOCK_VA_HTTP_PORT": "80",
                "PADLOCK_MPIC_DEADLINE": "20",
            }
            server = start_padlock(root, dns, root, extra_env=extra, data_dir=data)
        stack.callback(dns.stop)
        stack.callback(attacker.stop)
        stack.callback(stop_padlock, server)
        yield World(internet, server, perspectives, config, ca_key, env, root)


def _lego(world: World, name: str) -> subprocess.CompletedProcess[str]:
    """lego run for ``name`` over http-01, its responder on the applicant's address."""
    work = world.root / f"lego-{name}"
    args = [program("lego"), "--server", world.padlock.directory, "--accept-tos"]
    args += ["--email", "webmaster@example.com", "--path", str(work), "--domains", name]
    args += ["--http", "--http.port", f"{APPLICANT}:80", "run"]
    env = {**os.environ, "LEGO_CA_CERTIFICATES": str(world.padlock.test_root)}
    with netns.inside(world.internet):
        return subprocess.run(
            args, capture_output=True, text=True, env=env, timeout=180, check=False
        )


def _issued(world: World, name: str) -> dict[str, object]:
    """lego got a certificate for ``name``: what ``padlock ca show --json`` says of it."""
    proc = _lego(world, name)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    pem = (world.root / f"lego-{name}" / "certificates" / f"{name}.crt").read_bytes()
    serial = format(x509.load_pem_x509_certificates(pem)[0].serial_number, "x")
    show = run([PADLOCK, "ca", "show", serial, "--json"], env=world.env)
    shown: dict[str, object] = json.loads(show.stdout)
    return shown


def _corroboration(shown: dict[str, object]) -> dict[str, object]:
    """The corroboration record of the one validation, with the certificate's serial."""
    (validation,) = shown["validations"]  # type: ignore[misc]
    (record,) = [e for e in validation["evidence"] if e["method"] == "mpic"]
    return {**record, "serial": shown["serial"]}


def _refused(world: World, name: str) -> str:
    proc = _lego(world, name)
    assert proc.returncode != 0, proc.stdout[-2000:]
    return proc.stdout + proc.stderr


def _name() -> str:
    return f"shop-{secrets.token_hex(4)}.example.com"


def test_mpic_all_agree_issued(world: World) -> None:
    record = _corroboration(_issued(world, _name()))
    assert record["ok"] is True and record["dissenting"] == []
    assert sorted(record["corroborating"]) == ["fra", "iad", "sin"]  # type: ignore[type-var]
    # each perspective's evidence is signed by its own key, and it fetched the applicant
    for seen, configured in zip(record["perspectives"], world.config, strict=True):  # type: ignore[call-overload]
        key = public_key(str(configured["key"]), "key")
        payload, _sent = unseal(seen["signed"], key, "evidence")
        http = payload["results"][-1]["evidence"]
        assert payload["perspective"] == seen["name"] and http["addresses"] == [APPLICANT]


def test_mpic_one_hijacked_issued_dissent_recorded(world: World) -> None:
    world.hijack("sin")
    try:
        record = _corroboration(_issued(world, _name()))
    finally:
        world.heal()
    assert record["ok"] is True and record["dissenting"] == ["sin"]
    shown = run([PADLOCK, "ca", "show", str(record["serial"])], env=world.env).stdout
    assert "sin (APNIC): DISSENTS" in shown and "fra (RIPE NCC): agrees" in shown
    (sin,) = [p for p in record["perspectives"] if p["name"] == "sin"]  # type: ignore[attr-defined]
    assert sin["ok"] is False and "HTTP 404" in sin["detail"]
    assert sin["results"][-1]["evidence"]["addresses"] == [ATTACKER]


def test_mpic_two_hijacked_refused_naming_them(world: World) -> None:
    world.hijack("sin", "iad")
    try:
        out = _refused(world, _name())
    finally:
        world.heal()
    assert "Multi-perspective corroboration refused issuance (BR 3.2.2.9)" in out
    assert "2 of 3 remote perspectives did not corroborate" in out
    assert "sin (APNIC)" in out and "iad (ARIN)" in out and "fra (" not in out


def test_mpic_perspective_down_is_a_failure(world: World) -> None:
    fra = world.perspectives["fra"]
    assert fra.proc is not None
    fra.proc.stop()
    try:
        record = _corroboration(_issued(world, _name()))
        assert record["dissenting"] == ["fra"]
        world.hijack("sin")
        out = _refused(world, _name())
    finally:
        world.heal()
        _serve_perspective(world.root, fra, world.ca_key)
    assert "fra (RIPE NCC)" in out and "cannot be reached" in out and "sin (APNIC)" in out


def test_mpic_answer_not_signed_by_its_key_refused(world: World) -> None:
    iad = world.perspectives["iad"]
    assert iad.proc is not None
    iad.proc.stop()
    impostor = world.root / "key-impostor"
    run([PADLOCK, "perspective", "init", "--dir", str(impostor)])
    original, iad.key_dir = iad.key_dir, impostor
    _serve_perspective(world.root, iad, world.ca_key)  # same place, another key
    try:
        out = _refused(world, _name())
    finally:
        iad.proc.stop()
        iad.key_dir = original
        _serve_perspective(world.root, iad, world.ca_key)
    assert "an answer not signed by its perspective's key came back" in out
    assert "iad (ARIN): The answer of perspective iad is not signed by the key" in out
