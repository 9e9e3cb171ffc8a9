#!/usr/bin/env bash
# padlock's ACME server beside Pebble (Let's Encrypt's test server, Go, in memory), same load,
# same run: bench/acme_load.py drives the full flow (newOrder -> authz -> challenge ->
# finalize -> download) against
#   1. Pebble 2.4 from Debian, PEBBLE_VA_ALWAYS_VALID=1 PEBBLE_VA_NOSLEEP=1 (and
#      PEBBLE_WFE_NONCEREJECT=0: by default Pebble refuses 5% of good nonces on purpose);
#   2. padlock's test directory (/acme/test: durable SQLite, padlock's structural checks,
#      no pkilint), with PADLOCK_INSECURE_VA_ALWAYS_VALID=1 - the equivalent switch;
#   3. padlock's trusted directory (/acme: dv, pkilint before every signature), with the
#      second flag PADLOCK_INSECURE_VA_ALWAYS_VALID_TRUSTED=1.
# Both servers speak HTTPS on 127.0.0.1; the drivers keep connections alive.
# padlock's revocation upkeep (CRL refresh, OCSP pre-signing of each new certificate, work
# Pebble does not do) is deferred for the run (PADLOCK_REVOCATION_TICK=3600).
#
# Usage: bench/acme_vs_pebble.sh [CERTS] [THREADS] [PROCS] [WORKERS] [ROUNDS]
#   CERTS per run (default 3000), THREADS per driver process (4), driver PROCS (2),
#   padlock uvicorn WORKERS (1), ROUNDS (3): Pebble and padlock's test directory run in
#   turns ROUNDS times (other load on the machine hits both alike), the dv directory once
#   per round. Prints one JSON line per run, then a summary of the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
CERTS=${1:-3000}
THREADS=${2:-4}
PROCS=${3:-2}
WORKERS=${4:-1}
ROUNDS=${5:-3}
VENV=${PADLOCK_VENV:-.venv}
[ -x "$VENV/bin/python" ] || VENV=/work/venv
PY="$VENV/bin/python"
PADLOCK="$VENV/bin/padlock"

if ! command -v pebble >/dev/null 2>&1; then
  echo "installing Debian's pebble" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pebble >/dev/null
fi

WORK=$(mktemp -d /tmp/acme-vs-pebble.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_https() {  # URL CAFILE
  for _ in $(seq 1 300); do
    curl -s -o /dev/null --cacert "$2" "$1" && return 0
    sleep 0.1
  done
  echo "no answer from $1" >&2
  return 1
}

# --- Pebble (started afresh for every round: in long runs its store deadlocks) ---------------
PEBBLE_PORT=$(free_port)
PEBBLE_MGMT=$(free_port)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -keyout "$WORK/pebble.key" -out "$WORK/pebble.crt" -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
cat >"$WORK/pebble.json" <<EOF
{"pebble": {"listenAddress": "127.0.0.1:$PEBBLE_PORT", "managementListenAddress": "127.0.0.1:$PEBBLE_MGMT",
  "certificate": "$WORK/pebble.crt", "privateKey": "$WORK/pebble.key",
  "httpPort": 5002, "tlsPort": 5001, "ocspResponderURL": "", "externalAccountBindingRequired": false}}
EOF
PEBBLE_PID=""
start_pebble() {
  if [ -n "$PEBBLE_PID" ]; then kill "$PEBBLE_PID" 2>/dev/null || true; wait "$PEBBLE_PID" 2>/dev/null || true; fi
  PEBBLE_VA_ALWAYS_VALID=1 PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 \
    pebble -config "$WORK/pebble.json" >>"$WORK/pebble.log" 2>&1 &
  PEBBLE_PID=$!
  PIDS+=("$PEBBLE_PID")
  wait_https "https://127.0.0.1:$PEBBLE_PORT/dir" "$WORK/pebble.crt"
  "$PY" bench/acme_load.py --directory "https://127.0.0.1:$PEBBLE_PORT/dir" \
    --ca-bundle "$WORK/pebble.crt" -n 100 -c "$THREADS" >/dev/null  # warm-up
}

# --- padlock --------------------------------------------------------------------------------
PADLOCK_PORT=$(free_port)
export PADLOCK_CA_PASSPHRASE="bench pass phrase $$"
"$PADLOCK" ca init --data-dir "$WORK/padlock" --base-url http://ca.example.org >/dev/null
PADLOCK_DATA_DIR="$WORK/padlock" \
  PADLOCK_INSECURE_VA_ALWAYS_VALID=1 PADLOCK_INSECURE_VA_ALWAYS_VALID_TRUSTED=1 \
  PADLOCK_ACME_ORDERS_PER_HOUR=0 PADLOCK_REVOCATION_TICK=3600 \
  "$PADLOCK" serve --tls --port "$PADLOCK_PORT" --workers "$WORKERS" --log-level warning \
  >"$WORK/padlock.log" 2>&1 &
PADLOCK_PID=$!
PIDS+=("$PADLOCK_PID")
ROOT="$WORK/padlock/ca/test/root.crt"
wait_https "https://127.0.0.1:$PADLOCK_PORT/healthz" "$ROOT"
grep -q "WITHOUT ANY CHECK" "$WORK/padlock.log" || sleep 1

load() {  # LABEL DIRECTORY CAFILE PID
  "$PY" bench/acme_load.py --label "$1" --directory "$2" --ca-bundle "$3" --server-pid "$4" \
    -n "$CERTS" -c "$THREADS" --procs "$PROCS" | tee -a "$WORK/results.jsonl" || true
}

# A short warm-up (caches, pools, pkilint's validators, connections).
"$PY" bench/acme_load.py --directory "https://127.0.0.1:$PADLOCK_PORT/acme/test/directory" \
  --ca-bundle "$ROOT" -n 100 -c "$THREADS" >/dev/null

for _round in $(seq 1 "$ROUNDS"); do
  start_pebble
  load pebble "https://127.0.0.1:$PEBBLE_PORT/dir" "$WORK/pebble.crt" "$PEBBLE_PID"
  load padlock-test "https://127.0.0.1:$PADLOCK_PORT/acme/test/directory" "$ROOT" "$PADLOCK_PID"
  load padlock-dv "https://127.0.0.1:$PADLOCK_PORT/acme/directory" "$ROOT" "$PADLOCK_PID"
done

"$PY" - "$WORK/results.jsonl" <<'EOF'
import json, statistics, sys
from collections import defaultdict
runs = defaultdict(list)
for r in map(json.loads, open(sys.argv[1])):
    runs[r["label"]].append(r)
def median(label, key):
    return statistics.median(r[key] for r in runs[label])
def ratio(a, b):
    return round(a / b, 2) if a and b else None
summary = {"summary": "medians over rounds; ratios are padlock / pebble"}
for label in ("pebble", "padlock-test", "padlock-dv"):
    summary[label] = {
        key: median(label, key)
        for key in ("certs_per_s", "server_cpu_ms_per_cert", "p50_ms", "p99_ms", "requests_per_cert")
    }
    summary[label]["errors"] = sum(r["errors"] for r in runs[label])
    summary[label]["stalled_runs"] = sum(1 for r in runs[label] if r.get("stalled"))
for label in ("padlock-test", "padlock-dv"):
    summary[f"{label}_certs_per_s_ratio"] = ratio(
        summary[label]["certs_per_s"], summary["pebble"]["certs_per_s"]
    )
    summary[f"{label}_server_cpu_ratio"] = ratio(
        summary[label]["server_cpu_ms_per_cert"], summary["pebble"]["server_cpu_ms_per_cert"]
    )
print(json.dumps(summary))
EOF
