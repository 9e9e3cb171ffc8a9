"""REST issuance speed: certificates per second over HTTP from a real ``padlock serve``.

Starts ``padlock serve --workers W`` on a free port of 127.0.0.1 with a fresh data dir
(SQLite by default, ``--database-url`` for PostgreSQL), then drives ``POST /api/v1/requests``
with C concurrent keep-alive connections spread over D driver processes (asyncio, raw
HTTP/1.1, bodies built before the clock starts: every request carries a distinct P-256 CSR).
A request counts when the answer is 201 with ``"state":"issued"``: the certificate was
reserved, linted, signed and committed, and the request recorded, before the answer.

Profiles:

- ``test``: the instant 21-day test certificate (no pkilint: the test hierarchy).
- ``dv``: *dv-pre-validated*, done honestly: one dv request for the name is validated once
  (a TXT record on the bench's own loopback DNS server), then every measured request is a
  new dv request naming it as ``previous_request``, so the name's validation is reused
  (same request lineage, inside the BR 4.2.1 window) and the request is issued in the same
  call: CAA is looked up for the name (one query: the record sits on the name itself) and
  pkilint runs before signing, as for any dv certificate. No setting skips a check.

Reported per profile and concurrency: issued per second, p50/p99 latency of the measured
requests, and the server's CPU ms per certificate (utime+stime of the ``padlock serve``
process and its workers, from /proc/<pid>/stat, over the measured window), and how
many times the server closed a connection after an answer (``reconnects``: the workers
evening out their connections, web/balance.py; the driver reconnects as clients do).
Prints JSON.

The same driver drives cfssl's ``/api/v1/cfssl/sign`` when given ``--cfssl-url`` (see
bench/rest_vs_cfssl.sh, which runs both in one go and prints the ratio).

    python bench/rest_issuance.py [--workers 2] [--concurrency 8,16,32] [--drivers 2]
        [--seconds 8] [--warmup 2] [--profiles test,dv] [--database-url URL]
    python bench/rest_issuance.py --cfssl-url http://127.0.0.1:8888 --cfssl-pid PID
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.dnsserver import TestDNS  # noqa: E402

PADLOCK = Path(sys.executable).parent / "padlock"
CAA_IDENTITY = "bench.padlock.example"
DV_NAME = "www.bench-dv.example.com"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- CPU of a tree


def _stat(pid: int) -> tuple[int, int] | None:
    """(ppid, utime+stime ticks) of a process, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[11]) + int(fields[12])


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds used so far by ``root`` and its descendants that are alive."""
    stats: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            found = _stat(int(entry))
            if found is not None:
                stats[int(entry)] = found
    tree = {root}
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _ticks) in stats.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                changed = True
    return sum(stats[p][1] for p in tree if p in stats) / CLK_TCK


# --------------------------------------------------------------------------- the driver


def make_csrs(n: int, name: str) -> list[str]:
    out = []
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    san = x509.SubjectAlternativeName([x509.DNSName(name)])
    for _ in range(n):
        key = ec.generate_private_key(ec.SECP256R1())
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(subject)
            .add_extension(san, critical=False)
            .sign(key, hashes.SHA256())
        )
        out.append(csr.public_bytes(serialization.Encoding.PEM).decode())
    return out


@dataclass(frozen=True)
class Job:
    host: str
    port: int
    path: str
    kind: str  # test | dv | cfssl
    previous: str | None
    connections: int
    csrs: int
    warmup: float
    seconds: float


def _body(job: Job, csr: str) -> bytes:
    if job.kind == "cfssl":
        doc: dict[str, Any] = {"certificate_request": csr}
    else:
        doc = {"csr": csr, "kind": job.kind, "contact": "bench@example.com"}
        if job.previous:
            doc["previous_request"] = job.previous
    return json.dumps(doc).encode()


def _request(job: Job, body: bytes) -> bytes:
    head = (
        f"POST {job.path} HTTP/1.1\r\nHost: {job.host}:{job.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _ok(job: Job, status: int, body: bytes) -> bool:
    if job.kind == "cfssl":
        return status == 200 and b'"success":true' in body
    return status == 201 and b'"state":"issued"' in body


async def _connection(
    job: Job,
    requests: list[bytes],
    offset: int,
    t_start: float,
    t_stop: float,
    out: dict[str, Any],
) -> None:
    reader, writer = await asyncio.open_connection(job.host, job.port)
    i = offset
    try:
        while True:
            now = time.monotonic()
            if now >= t_stop:
                return
            payload = requests[i % len(requests)]
            i += 1
            sent = time.monotonic()
            writer.write(payload)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            close = False
            for line in head.split(b"\r\n"):
                low = line.lower()
                if low[:15] == b"content-length:":
                    length = int(line[15:])
                elif low[:11] == b"connection:" and b"close" in low:
                    close = True
            body = await reader.readexactly(length)
            done = time.monotonic()
            if close:  # RFC 9112 9.6: the server asks for a new connection (as a client would)
                writer.close()
                out["reconnects"] += 1
                reader, writer = await asyncio.open_connection(job.host, job.port)
            if t_start <= sent and done <= t_stop:
                if _ok(job, status, body):
                    out["ok"] += 1
                    out["latencies"].append(done - sent)
                else:
                    out["errors"] += 1
                    if out["sample"] is None:
                        out["sample"] = f"{status} {body[:300]!r}"
    finally:
        writer.close()


def driver(job: Job, ready: Any, go: Any, start_box: Any, results: Any) -> None:
    name = DV_NAME if job.kind == "dv" else "www.bench.example.com"
    requests = [_request(job, _body(job, csr)) for csr in make_csrs(job.csrs, name)]
    ready.wait()
    go.wait()
    t0 = start_box.value
    t_start, t_stop = t0 + job.warmup, t0 + job.warmup + job.seconds
    out: dict[str, Any] = {"ok": 0, "errors": 0, "reconnects": 0, "latencies": [], "sample": None}

    async def main() -> None:
        await asyncio.gather(
            *(
                _connection(job, requests, k * 997, t_start, t_stop, out)
                for k in range(job.connections)
            )
        )

    asyncio.run(main())
    results.put(out)


def drive(
    url: str,
    path: str,
    kind: str,
    concurrency: int,
    drivers: int,
    warmup: float,
    seconds: float,
    server_pid: int,
    expected_rate: float,
    previous: str | None = None,
) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    drivers = max(1, min(drivers, concurrency))
    per = [concurrency // drivers + (1 if i < concurrency % drivers else 0) for i in range(drivers)]
    csrs = max(200, int(expected_rate * (warmup + seconds) * 1.2 / drivers))
    ctx = mp.get_context("fork")
    ready, go = ctx.Barrier(drivers + 1), ctx.Barrier(drivers + 1)
    start_box = ctx.Value("d", 0.0)
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=driver,
            args=(
                Job(host, port, path, kind, previous, n, csrs, warmup, seconds),
                ready,
                go,
                start_box,
                results,
            ),
        )
        for n in per
    ]
    for p in procs:
        p.start()
    ready.wait(timeout=600)
    t0 = time.monotonic() + 0.2
    start_box.value = t0
    go.wait(timeout=60)
    time.sleep(max(0.0, t0 + warmup - time.monotonic()))
    cpu0 = tree_cpu_seconds(server_pid)
    time.sleep(max(0.0, t0 + warmup + seconds - time.monotonic()))
    cpu1 = tree_cpu_seconds(server_pid)
    outs = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    ok = sum(o["ok"] for o in outs)
    lat = sorted(x for o in outs for x in o["latencies"])
    result: dict[str, Any] = {
        "profile": kind,
        "concurrency": concurrency,
        "drivers": drivers,
        "seconds": seconds,
        "issued": ok,
        "errors": sum(o["errors"] for o in outs),
        "reconnects": sum(o["reconnects"] for o in outs),
        "per_second": round(ok / seconds, 1),
        "p50_ms": round(statistics.median(lat) * 1000, 2) if lat else None,
        "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, 2) if lat else None,
        "server_cpu_ms_per_cert": round((cpu1 - cpu0) * 1000 / ok, 3) if ok else None,
        "server_cpu_share": round((cpu1 - cpu0) / seconds, 2),
    }
    sample = next((o["sample"] for o in outs if o["sample"]), None)
    if sample:
        result["error_sample"] = sample
    return result


# --------------------------------------------------------------------------- padlock serve


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    data: Path, workers: int, dns: TestDNS, database_url: str | None
) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PADLOCK_")}
    env.update(
        PADLOCK_BASE_URL=url,
        PADLOCK_VA_RESOLVER=dns.spec,
        PADLOCK_CAA_IDENTITIES=CAA_IDENTITY,
    )
    if database_url:
        env["PADLOCK_DATABASE_URL"] = database_url
    log = (data.parent / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            str(PADLOCK),
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"padlock serve exited: see {data.parent / 'server.log'}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("padlock serve did not start")


def prevalidate(url: str, dns: TestDNS) -> str:
    """One dv request for DV_NAME, proven by TXT: the lineage every measured request names."""
    (csr,) = make_csrs(1, DV_NAME)
    dns.zone.add_caa(DV_NAME, "issue", CAA_IDENTITY)
    with httpx.Client(base_url=url, timeout=60) as client:
        doc = client.post(
            "/api/v1/requests", json={"csr": csr, "kind": "dv", "contact": "bench@example.com"}
        ).json()
        ch = doc["challenges"][0]
        dns.zone.add_txt(ch["dns_record"], ch["token"])
        done = client.post(f"/api/v1/requests/{doc['id']}/validate").json()
    if done["state"] != "issued":
        raise SystemExit(f"the pre-validation failed: {done.get('problem') or done}")
    return str(doc["id"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--concurrency", default="8,16,32")
    ap.add_argument("--drivers", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--profiles", default="test,dv")
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--cfssl-url", default=None, help="drive cfssl's sign endpoint instead")
    ap.add_argument("--cfssl-pid", type=int, default=0)
    args = ap.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    report: dict[str, Any] = {
        "benchmark": "rest_issuance",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "results": [],
    }
    if args.cfssl_url:
        report["server"] = {"program": "cfssl serve", "storage": "none", "lint": "none"}
        for c in levels:
            report["results"].append(
                drive(
                    args.cfssl_url,
                    "/api/v1/cfssl/sign",
                    "cfssl",
                    c,
                    args.drivers,
                    args.warmup,
                    args.seconds,
                    args.cfssl_pid,
                    5000,
                )
            )
        print(json.dumps(report, indent=2))
        return

    tmp = Path(tempfile.mkdtemp(prefix="padlock-bench-"))
    dns = TestDNS().start()
    proc, url = start_server(tmp / "data", args.workers, dns, args.database_url)
    report["server"] = {
        "program": "padlock serve",
        "workers": args.workers,
        "database": "postgresql" if args.database_url else "sqlite (WAL, synchronous=NORMAL)",
    }
    try:
        previous = prevalidate(url, dns) if "dv" in args.profiles.split(",") else None
        for profile in args.profiles.split(","):
            for c in levels:
                report["results"].append(
                    drive(
                        url,
                        "/api/v1/requests",
                        profile,
                        c,
                        args.drivers,
                        args.warmup,
                        args.seconds,
                        proc.pid,
                        2000 if profile == "test" else 500,
                        previous if profile == "dv" else None,
                    )
                )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        dns.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
