"""ACME load: the whole flow, N certificates, C concurrent workers per driver process, any
directory URL; prints JSON.

Per driver process one account is made; then per certificate:
newOrder -> POST-as-GET each authorization -> POST {} to one challenge (polling the
authorization while it is pending) -> finalize (polling the order while it is processing)
-> POST-as-GET the certificate. The same client logic runs against padlock and Pebble,
so the servers do the same work: unique names (no authorization reuse), a fresh P-256 key
and CSR per certificate, keep-alive HTTPS connections, one nonce chain per worker, badNonce
answered by one retry with the nonce it carries (Pebble refuses 5% of nonces by default).

Reported: certificates/s, p50/p99 latency of one certificate, HTTP requests per
certificate, the driver's CPU per certificate, and, with --server-pid, the server's CPU
per certificate (utime+stime from /proc of that pid and all its descendants, so every
uvicorn worker counts). ``windows`` gives the rate in tenths of the run and ``max_gap_s``
the longest time without a finished certificate, to show a steady run (no stall).

    python bench/acme_load.py --directory https://127.0.0.1:8443/acme/test/directory \\
        --ca-bundle padlock-data/ca/test/root.crt -n 2000 -c 4 --procs 2 --server-pid PID
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import multiprocessing as mp
import os
import secrets
import ssl
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

JOSE = "application/jose+json"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --- /proc ----------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, utime+stime seconds) of one process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks


def tree_cpu(root: int) -> float:
    """CPU seconds used so far by ``root`` and every live descendant."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            found = _stat(int(entry))
            if found is not None:
                parents[int(entry)], cpu[int(entry)] = found
    total, todo, seen = 0.0, [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += cpu.get(pid, 0.0)
        todo.extend(child for child, parent in parents.items() if parent == pid)
    return total


# --- one ACME client per worker thread --------------------------------------------------------


class Stalled(Exception):
    """The server stopped answering (Pebble's store can deadlock under load)."""


@dataclass
class Account:
    key: ec.EllipticCurvePrivateKey
    jwk: dict[str, str]
    kid: str | None = None


class Conn:
    """One keep-alive connection, a nonce chain, and request counting."""

    def __init__(
        self, directory_url: str, context: ssl.SSLContext | None, timeout: float = 30
    ) -> None:
        parts = urlsplit(directory_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.https = parts.scheme == "https"
        self.context = context
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None
        self.nonce: str | None = None
        self.requests = 0
        self.directory: dict[str, Any] = json.loads(self.request("GET", directory_url)[2])

    def _connect(self) -> http.client.HTTPConnection:
        if self.conn is None:
            if self.https:
                self.conn = http.client.HTTPSConnection(
                    self.host, self.port, context=self.context, timeout=self.timeout
                )
            else:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self.conn

    def request(
        self, method: str, url: str, body: bytes | None = None
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        path = urlsplit(url).path or "/"
        headers = {"Content-Type": JOSE} if body is not None else {}
        for attempt in range(2):
            conn = self._connect()
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except TimeoutError:
                raise Stalled(f"no answer to {method} {path} in {self.timeout:g} s") from None
            except (http.client.HTTPException, OSError):
                conn.close()
                self.conn = None
                if attempt:
                    raise
                continue
            self.requests += 1
            nonce = resp.headers.get("Replay-Nonce")
            if nonce:
                self.nonce = nonce
            return resp.status, resp.headers, data
        raise RuntimeError("unreachable")

    def signed(
        self, account: Account, url: str, payload: Any, *, use_jwk: bool = False
    ) -> tuple[int, http.client.HTTPMessage, Any]:
        for _attempt in range(3):
            if self.nonce is None:
                self.request("HEAD", self.directory["newNonce"])
            protected: dict[str, Any] = {"alg": "ES256", "nonce": self.nonce, "url": url}
            self.nonce = None
            if use_jwk or account.kid is None:
                protected["jwk"] = account.jwk
            else:
                protected["kid"] = account.kid
            p64 = b64(json.dumps(protected, separators=(",", ":")).encode())
            body64 = "" if payload is None else b64(json.dumps(payload).encode())
            r, s = decode_dss_signature(
                account.key.sign(f"{p64}.{body64}".encode(), ec.ECDSA(hashes.SHA256()))
            )
            sig = b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
            body = json.dumps({"protected": p64, "payload": body64, "signature": sig}).encode()
            status, headers, data = self.request("POST", url, body)
            ctype = headers.get("Content-Type", "")
            if status == 400 and "problem" in ctype and b"badNonce" in data:
                continue  # retry once with the nonce the refusal carried
            doc = json.loads(data) if "json" in ctype and data else data
            return status, headers, doc
        raise RuntimeError("badNonce three times in a row")


def new_account(conn: Conn) -> Account:
    key = ec.generate_private_key(ec.SECP256R1())
    nums = key.public_key().public_numbers()
    jwk = {
        "kty": "EC",
        "crv": "P-256",
        "x": b64(nums.x.to_bytes(32, "big")),
        "y": b64(nums.y.to_bytes(32, "big")),
    }
    account = Account(key, jwk)
    status, headers, doc = conn.signed(
        account, conn.directory["newAccount"], {"termsOfServiceAgreed": True}, use_jwk=True
    )
    if status not in (200, 201):
        raise RuntimeError(f"newAccount: {status} {doc}")
    account.kid = headers["Location"]
    return account


def _retry_after(headers: http.client.HTTPMessage, default: float) -> float:
    value = headers.get("Retry-After")
    try:
        return min(float(value), 1.0) if value else default
    except ValueError:
        return default


def one_certificate(conn: Conn, account: Account, name: str, poll: float) -> None:
    status, headers, order = conn.signed(
        account, conn.directory["newOrder"], {"identifiers": [{"type": "dns", "value": name}]}
    )
    if status != 201:
        raise RuntimeError(f"newOrder: {status} {order}")
    order_url = headers["Location"]
    for authz_url in order["authorizations"]:
        status, headers, authz = conn.signed(account, authz_url, None)
        if authz["status"] == "valid":
            continue
        chal = next(c for c in authz["challenges"] if c["type"] == "http-01")
        status, headers, chal_doc = conn.signed(account, chal["url"], {})
        if status != 200:
            raise RuntimeError(f"challenge: {status} {chal_doc}")
        if chal_doc.get("status") != "valid":
            for _ in range(600):
                time.sleep(_retry_after(headers, poll))
                status, headers, authz = conn.signed(account, authz_url, None)
                if authz["status"] != "pending":
                    break
            if authz["status"] != "valid":
                raise RuntimeError(f"authorization: {authz}")
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )
    status, headers, order = conn.signed(account, order["finalize"], {"csr": b64(csr)})
    if status != 200:
        raise RuntimeError(f"finalize: {status} {order}")
    for _ in range(600):
        if order["status"] != "processing" and order["status"] != "ready":
            break
        time.sleep(_retry_after(headers, poll))
        status, headers, order = conn.signed(account, order_url, None)
    if order["status"] != "valid":
        raise RuntimeError(f"order: {order}")
    status, headers, pem = conn.signed(account, order["certificate"], None)
    if status != 200 or b"BEGIN CERTIFICATE" not in pem:
        raise RuntimeError(f"certificate: {status}")


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    finished: list[float] = field(default_factory=list)  # wall-clock completion times
    errors: list[str] = field(default_factory=list)
    requests: int = 0
    cpu: float = 0.0


def drive(args: argparse.Namespace, count: int, start_at: float) -> Result:
    """One driver process: an account, ``args.concurrency`` threads, ``count`` certificates."""
    context = None
    if args.directory.startswith("https"):
        context = ssl.create_default_context(cafile=args.ca_bundle)
        if args.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    cpu0 = time.process_time()
    setup = Conn(args.directory, context, args.timeout)
    account = new_account(setup)
    result = Result()
    result.requests += setup.requests
    lock = threading.Lock()
    todo = iter(range(count))
    suffix = args.domain

    stop = threading.Event()

    def worker() -> None:
        conn = Conn(args.directory, context, args.timeout)
        while not stop.is_set():
            with lock:
                nxt = next(todo, None)
            if nxt is None:
                break
            name = f"c{secrets.token_hex(6)}.{suffix}"
            t0 = time.perf_counter()
            try:
                one_certificate(conn, account, name, args.poll)
            except Stalled as exc:
                with lock:
                    result.errors.append(f"stalled: {exc}")
                stop.set()  # the server is stuck: end the run instead of waiting on it
                continue
            except Exception as exc:
                with lock:
                    result.errors.append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            done = time.perf_counter()
            with lock:
                result.latencies.append(done - t0)
                result.finished.append(time.time())
        with lock:
            result.requests += conn.requests

    while time.time() < start_at:  # start every driver process together
        time.sleep(0.005)
    threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.cpu = time.process_time() - cpu0
    return result


def _child(args: argparse.Namespace, count: int, start_at: float, out: Any) -> None:
    r = drive(args, count, start_at)
    out.put((r.latencies, r.finished, r.errors, r.requests, r.cpu))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--directory", required=True, help="the ACME directory URL")
    ap.add_argument("-n", "--certs", type=int, default=1000)
    ap.add_argument("-c", "--concurrency", type=int, default=4, help="threads per process")
    ap.add_argument("--procs", type=int, default=1, help="driver processes")
    ap.add_argument("--server-pid", type=int, help="report this process tree's CPU")
    ap.add_argument("--ca-bundle", help="CA file for an https directory")
    ap.add_argument("--insecure", action="store_true", help="do not verify the server's TLS")
    ap.add_argument("--domain", default="bench.example.com", help="names are c<hex>.DOMAIN")
    ap.add_argument("--poll", type=float, default=0.02, help="seconds between polls")
    ap.add_argument("--label", default="", help="a name for this run in the JSON")
    ap.add_argument(
        "--timeout", type=float, default=30, help="seconds without an answer = a stalled server"
    )
    args = ap.parse_args(argv)

    share = [
        args.certs // args.procs + (1 if i < args.certs % args.procs else 0)
        for i in range(args.procs)
    ]
    start_at = time.time() + 1.5
    server_cpu0 = tree_cpu(args.server_pid) if args.server_pid else None
    wall0 = time.time()
    ctx = mp.get_context("spawn")
    queue: Any = ctx.Queue()
    procs = [ctx.Process(target=_child, args=(args, n, start_at, queue)) for n in share]
    for p in procs:
        p.start()
    results: list[Any] = []
    while len(results) < len(procs):  # a driver that died must not hang the run
        try:
            results.append(queue.get(timeout=1))
        except Exception:  # queue.Empty
            if all(not p.is_alive() for p in procs) and queue.empty():
                print("a driver process failed; see its traceback above", file=sys.stderr)
                return 2
    for p in procs:
        p.join()
    wall1 = time.time()
    server_cpu = (
        tree_cpu(args.server_pid) - server_cpu0
        if args.server_pid and server_cpu0 is not None
        else None
    )

    latencies = [x for r in results for x in r[0]]
    finished = sorted(x for r in results for x in r[1])
    errors = [x for r in results for x in r[2]]
    requests = sum(r[3] for r in results)
    driver_cpu = sum(r[4] for r in results)
    ok = len(latencies)
    begin = min(start_at, finished[0]) if finished else start_at
    seconds = (finished[-1] - begin) if finished else wall1 - wall0
    windows: list[float] = []
    if ok >= 10:
        tenth = max(1, ok // 10)
        edges = [begin] + [finished[min(ok - 1, (i + 1) * tenth - 1)] for i in range(10)]
        windows = [round(tenth / max(edges[i + 1] - edges[i], 1e-9), 1) for i in range(10)]
    gaps = [b - a for a, b in zip([begin, *finished], finished, strict=False)]
    report = {
        "label": args.label,
        "directory": args.directory,
        "procs": args.procs,
        "concurrency": args.concurrency,
        "certs": ok,
        "errors": len(errors),
        "stalled": any(e.startswith("stalled") for e in errors),
        "first_errors": errors[:5],
        "seconds": round(seconds, 3),
        "certs_per_s": round(ok / seconds, 1) if seconds > 0 else 0.0,
        "p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1) if latencies else None,
        "requests_per_cert": round(requests / ok, 2) if ok else None,
        "driver_cpu_ms_per_cert": round(driver_cpu / ok * 1000, 2) if ok else None,
        "server_cpu_ms_per_cert": round(server_cpu / ok * 1000, 2)
        if ok and server_cpu is not None
        else None,
        "windows_certs_per_s": windows,
        "max_gap_s": round(max(gaps), 3) if gaps else None,
    }
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
