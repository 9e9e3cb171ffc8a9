"""Multi-perspective corroboration's cost (BR 3.2.2.9): dv certificates over ACME with five
remote perspectives against none, in the same run; prints JSON.

Starts, on 127.0.0.1: unbound (Debian's) answering every name under the bench's domain
with 127.0.0.1 and every other name from its own empty root (``local-zone: "." static``:
no query leaves the machine), nginx (Debian's) serving the applicants' webroot, five real
``padlock perspective serve`` processes that look up names in that unbound and fetch from
that nginx, and two ``padlock serve`` processes over fresh data dirs, alike but for
``PADLOCK_MPIC_PERSPECTIVES`` (five perspectives, or none). Each certificate is the whole
dv flow on the trusted directory (/acme: CAA and pkilint before signing): newOrder ->
authorization -> http-01 (the key authorization written to the webroot, then POST {} and
polls) -> finalize -> certificate. With perspectives, every validation asks all five
(signed requests, signed evidence: CAA and http-01 from each) while this VA checks, and
waits for them.

The two servers run in turns, ROUNDS times (other load on the machine hits both alike),
C threads each with keep-alive connections, unique names (no authorization reuse).
Reported per setting: certificates/s and p50 latency (medians over the rounds), the CPU
per certificate of the CA's processes and of the perspectives' (from /proc), and
``ratio`` = the MPIC rate over the plain rate (the goal: >= 0.8).

    python bench/mpic.py [--certs 40] [--concurrency 4] [--rounds 3]

On one machine the perspectives share its cores with the CA and the driver; deployed, each
stands on a host of its own.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from acme_load import Account, Conn, b64, new_account, tree_cpu  # noqa: E402
from tests.support.padlock_server import Launched, launch  # noqa: E402
from tests.support.ports import free_port  # noqa: E402

PADLOCK = str(Path(sys.executable).parent / "padlock")
PASSPHRASE = "mpic bench pass phrase"  # noqa: S105 - the bench's throwaway CA
UNBOUND = shutil.which("unbound") or "/usr/sbin/unbound"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
RESOLVER_PORT = free_port()  # for unbound and nginx, which bind ports they are given
HTTP_PORT = free_port()
DOMAIN = "bench-mpic.example.com"
PLACES = [
    ("fra", "RIPE NCC", 50.11, 8.68),
    ("iad", "ARIN", 38.95, -77.45),
    ("sin", "APNIC", 1.35, 103.99),
    ("gru", "LACNIC", -23.43, -46.47),
    ("jnb", "AFRINIC", -26.14, 28.24),
]


def thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638 of an EC key."""
    members = {k: jwk[k] for k in ("crv", "kty", "x", "y")}
    return b64(
        hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest()
    )


def _poll(conn: Conn, account: Account, url: str, done: set[str], poll: float) -> dict[str, Any]:
    for _ in range(600):  # bounded: 600 polls
        _status, _headers, doc = conn.signed(account, url, None)
        if doc["status"] in done:
            return dict(doc)
        time.sleep(poll)
    raise RuntimeError(f"{url} never left {doc['status']}")


def one_certificate(conn: Conn, account: Account, webroot: Path, name: str, poll: float) -> None:
    """The dv flow for ``name`` by http-01."""
    ident = {"identifiers": [{"type": "dns", "value": name}]}
    status, headers, order = conn.signed(account, conn.directory["newOrder"], ident)
    if status != 201:
        raise RuntimeError(f"newOrder: {status} {order}")
    order_url = headers["Location"]
    (authz_url,) = order["authorizations"]
    _s, _h, authz = conn.signed(account, authz_url, None)
    chal = next(c for c in authz["challenges"] if c["type"] == "http-01")
    (webroot / ".well-known" / "acme-challenge" / chal["token"]).write_text(
        f"{chal['token']}.{thumbprint(account.jwk)}"
    )
    conn.signed(account, chal["url"], {})
    authz = _poll(conn, account, authz_url, {"valid", "invalid"}, poll)
    if authz["status"] != "valid":
        raise RuntimeError(f"authorization: {authz}")
    key = ec.generate_private_key(ec.SECP256R1())
    san = x509.SubjectAlternativeName([x509.DNSName(name)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
    der = csr.add_extension(san, critical=False).sign(key, hashes.SHA256())
    body = {"csr": b64(der.public_bytes(serialization.Encoding.DER))}
    status, _h, order = conn.signed(account, order["finalize"], body)
    if status != 200:
        raise RuntimeError(f"finalize: {status} {order}")
    order = _poll(conn, account, order_url, {"valid", "invalid"}, poll)
    if order["status"] != "valid":
        raise RuntimeError(f"order: {order}")
    status, _h, pem = conn.signed(account, order["certificate"], None)
    if status != 200 or b"BEGIN CERTIFICATE" not in pem:
        raise RuntimeError(f"certificate: {status}")


def drive(directory: str, webroot: Path, certs: int, threads: int, poll: float) -> dict[str, Any]:
    """``certs`` certificates over ``threads`` keep-alive connections: rate and latency."""
    setup = Conn(directory, None)
    account = new_account(setup)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    todo = iter(range(certs))

    def worker() -> None:
        conn = Conn(directory, None)
        while True:
            with lock:
                if next(todo, None) is None:
                    return
            t0 = time.perf_counter()
            try:
                one_certificate(conn, account, webroot, f"c{secrets.token_hex(6)}.{DOMAIN}", poll)
            except Exception as exc:
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            with lock:
                latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=900)
    seconds = time.perf_counter() - start
    return {
        "certs": len(latencies),
        "errors": errors[:3],
        "certs_per_s": len(latencies) / seconds if seconds else 0.0,
        "p50_ms": statistics.median(latencies) * 1000 if latencies else None,
    }


def _perspectives(work: Path, va: dict[str, str], ca_key: str) -> tuple[list[Launched], Path]:
    """Five perspective processes and the file that names them."""
    from padlock.ca.mpic.signing import RequestKey, public_text

    env = {**os.environ, **va}
    started, entries = [], []
    for name, rir, lat, lon in PLACES:
        key_dir = work / f"p-{name}"
        subprocess.run([PADLOCK, "perspective", "init", "--dir", str(key_dir)], check=True,
                       capture_output=True, timeout=60)  # fmt: skip
        args = [PADLOCK, "perspective", "serve", "--dir", key_dir, "--name", name]
        args += ["--ca-key", ca_key, "--port", "0"]
        p = launch(args, env=env, log=work / f"p-{name}.log")
        started.append(p)
        key = RequestKey.from_pem((key_dir / "perspective.key").read_bytes(), name)
        entries.append({"name": name, "url": p.url, "key": public_text(key.public), "rir": rir,
                        "latitude": lat, "longitude": lon})  # fmt: skip
    path = work / "perspectives.json"
    path.write_text(json.dumps({"perspectives": entries}))
    return started, path


def _serve(work: Path, label: str, va: dict[str, str], mpic: Path | None) -> Launched:
    data = work / label
    env = {**os.environ, **va, "PADLOCK_CA_PASSPHRASE": PASSPHRASE, "PADLOCK_DATA_DIR":
           str(data), "PADLOCK_BASE_URL": "http://127.0.0.1:0",
           "PADLOCK_REVOCATION_TICK": "3600"}  # fmt: skip
    env.pop("PADLOCK_MPIC_PERSPECTIVES", None)
    if mpic is not None:
        env["PADLOCK_MPIC_PERSPECTIVES"] = str(mpic)
    args = [PADLOCK, "serve", "--port", "0", "--log-level", "warning"]
    return launch(args, env=env, log=work / f"{label}.log")


def _cpu(server: Launched, perspectives: list[Launched]) -> tuple[float, float]:
    """CPU seconds so far of the CA's process tree and of all perspectives' trees."""
    return tree_cpu(server.proc.pid), sum(tree_cpu(p.proc.pid) for p in perspectives)


def _unbound(work: Path) -> subprocess.Popen[bytes]:
    """unbound on RESOLVER_PORT: the bench's names are 127.0.0.1, nothing else exists."""
    conf = work / "unbound.conf"
    conf.write_text(
        "server:\n"
        f"  interface: 127.0.0.1\n  port: {RESOLVER_PORT}\n  do-ip6: no\n"
        f'  username: ""\n  chroot: ""\n  directory: "{work}"\n'
        f'  pidfile: "{work}/unbound.pid"\n  use-syslog: no\n  num-threads: 2\n'
        '  local-zone: "." static\n'
        f'  local-zone: "{DOMAIN}." redirect\n  local-data: "{DOMAIN}. 1 IN A 127.0.0.1"\n'
    )
    return subprocess.Popen([UNBOUND, "-d", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip


def _nginx(work: Path) -> subprocess.Popen[bytes]:
    """nginx on HTTP_PORT serving the webroot to any Host."""
    (work / "www" / ".well-known" / "acme-challenge").mkdir(parents=True)
    work.chmod(0o755)
    conf = work / "nginx.conf"
    conf.write_text(
        f"daemon off;\nworker_processes 1;\npid {work}/nginx.pid;\n"
        f"error_log {work}/nginx.log;\nevents {{ worker_connections 512; }}\n"
        f"http {{ access_log off; client_body_temp_path {work}/nb; proxy_temp_path {work}/np;"
        f" fastcgi_temp_path {work}/nf; uwsgi_temp_path {work}/nu; scgi_temp_path {work}/ns;"
        f" server {{ listen 127.0.0.1:{HTTP_PORT}; root {work}/www;"
        " default_type text/plain; } }\n"
    )
    return subprocess.Popen([NGINX, "-c", str(conf), "-p", str(work)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def _wait_ready(work: Path) -> None:
    """Until unbound answers and nginx serves (bounded)."""
    import dns.message
    import dns.query
    import httpx

    (work / "www" / "ready").write_text("ok")
    for _ in range(300):
        try:
            query = dns.message.make_query(f"x.{DOMAIN}.", "A")
            dns.query.udp(query, "127.0.0.1", timeout=0.5, port=RESOLVER_PORT)
            if httpx.get(f"http://127.0.0.1:{HTTP_PORT}/ready", timeout=1).text == "ok":
                return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"unbound or nginx did not start: {work}")


def _ca_init(work: Path, label: str) -> str:
    """A CA for one server; its request key (the same CA key signs nothing else)."""
    env = {**os.environ, "PADLOCK_CA_PASSPHRASE": PASSPHRASE}
    data = str(work / label)
    subprocess.run([PADLOCK, "ca", "init", "--data-dir", data, "--base-url",
                    "http://ca.example.org"], env=env, check=True, capture_output=True,
                   timeout=120)  # fmt: skip
    out = subprocess.run([PADLOCK, "perspective", "ca-key", "--data-dir", data], env=env,
                         check=True, capture_output=True, text=True, timeout=60)  # fmt: skip
    return out.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--certs", type=int, default=40, help="certificates per setting and round")
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--poll", type=float, default=0.02)
    ap.add_argument("--warmup", type=int, default=8, help="uncounted certificates per server")
    args = ap.parse_args(argv)
    runs: dict[str, list[dict[str, Any]]] = {"none": [], "mpic5": []}
    with tempfile.TemporaryDirectory(prefix="padlock-mpic-bench-") as tmp:
        work = Path(tmp)
        helpers = [_unbound(work), _nginx(work)]
        servers: list[Launched] = []
        va = {"PADLOCK_VA_RESOLVER": f"127.0.0.1:{RESOLVER_PORT}",
              "PADLOCK_VA_HTTP_PORT": str(HTTP_PORT)}  # fmt: skip
        try:
            _wait_ready(work)
            _ca_init(work, "none")
            ca_key = _ca_init(work, "mpic5")
            perspectives, path = _perspectives(work, va, ca_key)
            servers += perspectives
            plain = _serve(work, "none", va, None)
            servers.append(plain)
            mpic = _serve(work, "mpic5", va, path)
            servers.append(mpic)
            for server in (plain, mpic):  # warm both (first connections, caches), uncounted
                drive(f"{server.url}/acme/directory", work / "www", args.warmup,
                      args.concurrency, args.poll)  # fmt: skip
            for _round in range(args.rounds):
                for label, server in (("none", plain), ("mpic5", mpic)):
                    before = _cpu(server, perspectives)
                    found = drive(f"{server.url}/acme/directory", work / "www", args.certs,
                                  args.concurrency, args.poll)  # fmt: skip
                    spent = [b - a for a, b in zip(before, _cpu(server, perspectives), strict=True)]
                    done = max(1, found["certs"])
                    found["ca_cpu_ms_per_cert"] = spent[0] / done * 1000
                    found["perspectives_cpu_ms_per_cert"] = spent[1] / done * 1000
                    runs[label].append(found)
                    print(json.dumps({"setting": label, **found}), file=sys.stderr)
        finally:
            for server in servers:
                server.stop()
            for helper in helpers:
                helper.terminate()
                helper.wait(timeout=30)
    summary = {
        label: {
            "certs_per_s": round(statistics.median(r["certs_per_s"] for r in found), 2),
            "p50_ms": round(statistics.median(r["p50_ms"] or 0 for r in found), 1),
            "ca_cpu_ms_per_cert": round(
                statistics.median(r["ca_cpu_ms_per_cert"] for r in found), 1
            ),
            "perspectives_cpu_ms_per_cert": round(
                statistics.median(r["perspectives_cpu_ms_per_cert"] for r in found), 1
            ),
            "errors": sum(len(r["errors"]) for r in found),
        }
        for label, found in runs.items()
    }
    base = summary["none"]["certs_per_s"]
    report = {
        "bench": "mpic",
        "certs_per_setting_and_round": args.certs,
        "concurrency": args.concurrency,
        "rounds": args.rounds,
        "perspectives": len(PLACES),
        **summary,
        "ratio": round(summary["mpic5"]["certs_per_s"] / base, 3) if base else None,
    }
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")
    return 0 if all(v["errors"] == 0 for v in summary.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
