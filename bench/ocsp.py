"""OCSP responses per second over HTTP, and the time to build a large CRL. Prints JSON.

    python bench/ocsp.py [--certs 2000] [--clients 16] [--seconds 10] [--workers 1 2]
                         [--crl-sizes 100000 1000000]

The OCSP part makes a CA in a temporary data dir, issues ``--certs`` test certificates
in-process (revoking 10%), starts ``padlock serve`` on 127.0.0.1 with each ``--workers``
count, asks once for every serial (the responses get pre-signed and cached), then drives
the responder with ``--clients`` keep-alive connections for ``--seconds``, each sending
pre-built OCSP request DERs (a mix: 85% good, 10% revoked, 5% never issued) over raw
sockets. The driver runs in this process, on the same 2 cores as the server.

The CRL part times ``crl_builder`` + signing with the issuing CA (the work the CA does
for every CRL) with N revoked entries, and the same through ``CrlService.regenerate``
(read the N rows from SQLite, build, sign, store).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

PASSPHRASE = b"bench pass phrase"
PADLOCK = Path(sys.executable).parent / "padlock"
DER = serialization.Encoding.DER


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_ca(data: Path, base_url: str, certs: int) -> tuple[list[bytes], dict[str, int]]:
    """A CA with ``certs`` test certificates (10% revoked); the pool of OCSP request DERs."""
    from padlock.ca.issuance import IssuancePolicy, Issuer, IssueRequest
    from padlock.ca.revocation import Revoker
    from padlock.ca.signer import create_authority, load_issuing_signers
    from padlock.pki.crl_ocsp import issuer_hashes
    from padlock.pki.profiles import Hierarchy
    from padlock.store import open_store
    from padlock.store.revocation import RevocationRepository

    now = dt.datetime.now(dt.UTC)
    create_authority(data / "ca", name="bench", passphrase=PASSPHRASE, now=now, base_url=base_url)
    signers = load_issuing_signers(data / "ca", PASSPHRASE)
    store = open_store(f"sqlite:///{(data / 'padlock.db').resolve()}")
    issuer = Issuer(store, signers, IssuancePolicy(base_url))
    revoker = Revoker(RevocationRepository(store))
    issuing = signers[Hierarchy.TEST].certificate
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.example.com")])
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(name)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("www.example.com")]), False)
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    good: list[int] = []
    revoked: list[int] = []
    for n in range(certs):
        serial = issuer.issue(IssueRequest(csr, "test")).record.serial
        if n % 10 == 0:
            revoker.revoke(serial, "superseded", "bench")
            revoked.append(serial)
        else:
            good.append(serial)
    store.close()
    name_hash, key_hash = issuer_hashes(issuing)["sha1"]

    def request(serial: int) -> bytes:
        return (
            ocsp.OCSPRequestBuilder()
            .add_certificate_by_hash(name_hash, key_hash, serial, hashes.SHA1())  # noqa: S303
            .build()
            .public_bytes(DER)
        )

    unknown = [secrets.randbits(127) | 1 << 126 for _ in range(max(1, certs // 20))]
    pool = [request(s) for s in good[: int(certs * 0.85)]]
    pool += [request(s) for s in revoked]
    pool += [request(s) for s in unknown]
    random.Random(7).shuffle(pool)
    return pool, {"good": len(good), "revoked": len(revoked), "unknown": len(unknown)}


def _http_request(der: bytes) -> bytes:
    return (
        b"POST /ocsp/test-issuing HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/ocsp-request\r\nContent-Length: "
        + str(len(der)).encode()
        + b"\r\n\r\n"
        + der
    )


async def _drive(port: int, pool: list[bytes], clients: int, seconds: float) -> dict[str, float]:
    wires = [_http_request(d) for d in pool]
    counts = {"ok": 0, "bad": 0}
    latencies: list[float] = []

    async def client(offset: int, deadline: float) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = offset
        try:
            while time.monotonic() < deadline:
                wire = wires[i % len(wires)]
                i += clients
                started = time.perf_counter()
                writer.write(wire)
                head = await reader.readuntil(b"\r\n\r\n")
                lower = head.lower()
                at = lower.index(b"content-length:") + 15
                length = int(lower[at : lower.index(b"\r\n", at)])
                body = await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                if b"\r\nconnection: close" in lower:  # a new connection, as clients do
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                if head.startswith(b"HTTP/1.1 200") and body[:1] == b"\x30":
                    counts["ok"] += 1
                else:
                    counts["bad"] += 1
        finally:
            writer.close()

    deadline = time.monotonic() + seconds
    started = time.monotonic()
    await asyncio.gather(*(client(n, deadline) for n in range(clients)))
    elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "responses_per_s": round(counts["ok"] / elapsed, 1),
        "errors": counts["bad"],
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2) if latencies else 0.0,
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2) if latencies else 0.0,
    }


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (uvicorn workers), from /proc."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def bench_ocsp(
    data: Path,
    pool: list[bytes],
    workers: int,
    clients: int,
    seconds: float,
    server: str = "serve",
    python_path: str | None = None,
) -> dict[str, object]:
    import httpx

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PADLOCK_")}
    env.update(
        PADLOCK_DATA_DIR=str(data),
        PADLOCK_CA_PASSPHRASE=PASSPHRASE.decode(),
        PADLOCK_BASE_URL=url,
    )
    if python_path:  # e.g. a directory holding httptools and uvloop, which uvicorn then uses
        env["PYTHONPATH"] = python_path
    log = (data / f"{server}-{workers}.log").open("wb")
    proc = subprocess.Popen(
        [str(PADLOCK), server, "--host", "127.0.0.1", "--port", str(port), "--data-dir",
         str(data), "--workers", str(workers), "--log-level", "warning"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("padlock serve did not start; see " + str(log.name))
            time.sleep(0.2)
        # Every worker answers each serial once: responses get signed, stored and cached.
        asyncio.run(_drive(port, pool, workers * 4, max(2.0, len(pool) / 500)))
        cpu_before = _cpu_seconds(proc.pid)
        result = asyncio.run(_drive(port, pool, clients, seconds))
        cpu = _cpu_seconds(proc.pid) - cpu_before
        served = result["responses_per_s"] * seconds
        result["server_cpu_us_per_response"] = round(cpu / served * 1e6, 1) if served else None
        import importlib.util

        fast = python_path or importlib.util.find_spec("httptools") is not None
        http = "httptools+uvloop" if fast else "h11+asyncio"
        return {
            "server": f"padlock {server}",
            "http": http,
            "workers": workers,
            "clients": clients,
            "seconds": seconds,
            **result,
        }
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def bench_crl(sizes: list[int]) -> list[dict[str, object]]:
    from padlock.ca.revocation import CrlService
    from padlock.ca.signer import create_authority, load_issuing_signers
    from padlock.pki.crl_ocsp import RevokedEntry, crl_builder, crl_times
    from padlock.pki.profiles import Hierarchy

    results: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        now = dt.datetime.now(dt.UTC)
        create_authority(
            data / "ca",
            name="bench",
            passphrase=PASSPHRASE,
            now=now,
            base_url="http://ca.example.com",
        )
        signer = load_issuing_signers(data / "ca", PASSPHRASE)[Hierarchy.TEST]
        reasons = ["unspecified", "keyCompromise", "superseded", "cessationOfOperation"]
        for size in sizes:
            entries = [
                RevokedEntry(secrets.randbits(127) | 1 << 126, now, reasons[n % 4])
                for n in range(size)
            ]
            this_update, next_update = crl_times(now, 7)
            started = time.perf_counter()
            builder = crl_builder(signer.certificate, 1, this_update, next_update, entries)
            der = signer.sign_crl(builder).public_bytes(DER)
            elapsed = time.perf_counter() - started
            results.append(
                {"entries": size, "build_and_sign_s": round(elapsed, 2), "der_bytes": len(der)}
            )
            del entries, builder, der
        for size in sizes:
            results.append(_crl_from_database(data, signer, size, CrlService))
    return results


def _crl_from_database(data: Path, signer: object, size: int, service: type) -> dict[str, object]:
    """CrlService.regenerate with ``size`` revoked rows in SQLite: read + build + sign + store."""
    import json as _json

    from padlock.store import open_store
    from padlock.store.revocation import RevocationRepository

    store = open_store(f"sqlite:///{data / f'crl-{size}.db'}")
    now = dt.datetime.now(dt.UTC)
    stamp = now.replace(tzinfo=None).isoformat(" ", "microseconds")
    later = (now + dt.timedelta(days=30)).replace(tzinfo=None).isoformat(" ", "microseconds")
    rows = [
        (format(secrets.randbits(127) | 1 << 126, "x"), "test", "test-issuing", "test", None,
         "revoked", "CN=x", _json.dumps(["x"]), stamp, later, stamp, stamp, stamp, "superseded",
         "sha256:x", b"tbs", b"der", "ab")
        for _ in range(size)
    ]  # fmt: skip
    raw = store.engine.raw_connection()
    try:
        raw.driver_connection.executemany(  # type: ignore[union-attr]
            "INSERT INTO certificates (serial, hierarchy, issuer, profile, request_id, state,"
            " subject, names, not_before, not_after, reserved_at, issued_at, revoked_at,"
            " revocation_reason, key_fingerprint, tbs_der, der, sha256)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    finally:
        raw.close()
    crls = service(RevocationRepository(store), [signer])
    started = time.perf_counter()
    crl = crls.regenerate("test-issuing", now)
    elapsed = time.perf_counter() - started
    store.close()
    return {"entries": crl.entries, "regenerate_from_sqlite_s": round(elapsed, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--certs", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--crl-sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument(
        "--servers", nargs="+", default=["serve", "ocsp-responder"], help="padlock commands"
    )
    parser.add_argument(
        "--fast-http-path",
        help="Also run with this PYTHONPATH (a directory with httptools and uvloop installed).",
    )
    args = parser.parse_args()
    report: dict[str, object] = {"machine_cores": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        started = time.perf_counter()
        pool, mix = make_ca(data, "http://127.0.0.1", args.certs)
        report["setup"] = {"certificates": mix, "seconds": round(time.perf_counter() - started, 1)}
        paths = [None, args.fast_http_path] if args.fast_http_path else [None]
        report["ocsp"] = [
            bench_ocsp(data, pool, w, args.clients, args.seconds, server, path)
            for path in paths
            for server in args.servers
            for w in args.workers
        ]
    if args.crl_sizes:
        report["crl"] = bench_crl(args.crl_sizes)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
