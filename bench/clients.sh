#!/usr/bin/env bash
# Wall time of one certificate with each real ACME client, against padlock and against
# Pebble, in the same run. Both servers validate for real (no always-valid switch): names
# resolve to 127.0.0.1 through a loopback DNS server (tests/support/dnsserver.py), and the
# clients answer http-01 on a high port each server is told about (Pebble: httpPort and
# -dnsserver with PEBBLE_VA_NOSLEEP=1; padlock: PADLOCK_VA_*). Accounts are registered
# first, untimed; each timed run is one new name: order, challenge, finalize, download.
#
#   certbot:    certonly --standalone --http-01-port P
#   lego:       run --http --http.port :P
#   dehydrated: --cron --domain NAME, dns-01 through a hook writing TXT records
#
# padlock's directory is the test one by default (like Pebble: no pkilint); give "dv" as the
# second argument for the trusted directory (pkilint before every signature).
#
# Usage: bench/clients.sh [RUNS] [test|dv]   (default 3 test; prints the medians)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
DIRECTORY=${2:-test}
VENV=${PADLOCK_VENV:-.venv}
[ -x "$VENV/bin/python" ] || VENV=/work/venv
PY="$VENV/bin/python"
PADLOCK="$VENV/bin/padlock"
for prog in certbot lego dehydrated pebble; do
  command -v "$prog" >/dev/null || { echo "$prog is not installed (apt-get install $prog)" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/acme-clients.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_https() {
  for _ in $(seq 1 300); do curl -s -o /dev/null --cacert "$2" "$1" && return 0; sleep 0.1; done
  echo "no answer from $1" >&2; return 1
}
now() { date +%s.%N; }

# --- loopback DNS: every name is 127.0.0.1; TXT records from files in $WORK/txt -----------
mkdir -p "$WORK/txt"
"$PY" - "$WORK/txt" >"$WORK/dns.port" <<'EOF' &
import sys, time
from pathlib import Path
sys.path.insert(0, ".")
from tests.support.dnsserver import TestDNS, Zone
dns = TestDNS(Zone(txt_dir=Path(sys.argv[1]))).start()
print(dns.address[1], flush=True)
while True:
    time.sleep(3600)
EOF
PIDS+=("$!")
for _ in $(seq 1 100); do [ -s "$WORK/dns.port" ] && break; sleep 0.1; done
DNS="127.0.0.1:$(cat "$WORK/dns.port")"
HTTP_PORT=$(free_port)
TLS_PORT=$(free_port)

# --- Pebble ---------------------------------------------------------------------------------
PEBBLE_PORT=$(free_port)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -keyout "$WORK/pebble.key" -out "$WORK/pebble.crt" -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
cat >"$WORK/pebble.json" <<EOF
{"pebble": {"listenAddress": "127.0.0.1:$PEBBLE_PORT", "managementListenAddress": "127.0.0.1:$(free_port)",
  "certificate": "$WORK/pebble.crt", "privateKey": "$WORK/pebble.key",
  "httpPort": $HTTP_PORT, "tlsPort": $TLS_PORT, "ocspResponderURL": "", "externalAccountBindingRequired": false}}
EOF
PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 pebble -config "$WORK/pebble.json" -dnsserver "$DNS" \
  >"$WORK/pebble.log" 2>&1 &
PIDS+=("$!")
wait_https "https://127.0.0.1:$PEBBLE_PORT/dir" "$WORK/pebble.crt"

# --- padlock --------------------------------------------------------------------------------
PADLOCK_PORT=$(free_port)
export PADLOCK_CA_PASSPHRASE="clients bench $$"
"$PADLOCK" ca init --data-dir "$WORK/padlock" --base-url http://ca.example.org >/dev/null
PADLOCK_DATA_DIR="$WORK/padlock" PADLOCK_VA_RESOLVER="$DNS" PADLOCK_VA_HTTP_PORT="$HTTP_PORT" \
  PADLOCK_VA_TLS_PORT="$TLS_PORT" \
  "$PADLOCK" serve --tls --port "$PADLOCK_PORT" --log-level warning >"$WORK/padlock.log" 2>&1 &
PIDS+=("$!")
PADLOCK_ROOT="$WORK/padlock/ca/test/root.crt"
wait_https "https://127.0.0.1:$PADLOCK_PORT/healthz" "$PADLOCK_ROOT"

cat >"$WORK/dehydrated-hook.sh" <<EOF
#!/usr/bin/env bash
case "\$1" in
  deploy_challenge) echo "\$4" >> "$WORK/txt/_acme-challenge.\$2" ;;
  clean_challenge) rm -f "$WORK/txt/_acme-challenge.\$2" ;;
esac
exit 0
EOF
chmod +x "$WORK/dehydrated-hook.sh"

# client SERVER NAME: one certificate; the setup (account) happens on the first call, untimed
certbot_run() {  # DIR_URL CAFILE STATE NAME
  REQUESTS_CA_BUNDLE="$2" certbot certonly --standalone --http-01-port "$HTTP_PORT" \
    --non-interactive --agree-tos --register-unsafely-without-email --server "$1" \
    --config-dir "$3/c" --work-dir "$3/w" --logs-dir "$3/l" -d "$4" >/dev/null 2>&1
}
certbot_setup() {
  REQUESTS_CA_BUNDLE="$2" certbot register --non-interactive --agree-tos \
    --register-unsafely-without-email --server "$1" \
    --config-dir "$3/c" --work-dir "$3/w" --logs-dir "$3/l" >/dev/null 2>&1
}
lego_run() {
  LEGO_CA_CERTIFICATES="$2" lego --server "$1" --accept-tos --email bench@example.com \
    --path "$3" --domains "$4" --http --http.port ":$HTTP_PORT" run >/dev/null 2>&1
}
lego_setup() { lego_run "$1" "$2" "$3" "setup-$RANDOM$RANDOM.example.com"; }
dehydrated_config() {
  mkdir -p "$3/base"
  cat >"$3/config" <<EOF
CA="$1"
BASEDIR="$3/base"
CHALLENGETYPE="dns-01"
HOOK="$WORK/dehydrated-hook.sh"
KEY_ALGO="prime256v1"
KEYSIZE="2048"
CURL_OPTS="--cacert $2"
EOF
}
dehydrated_setup() {
  dehydrated_config "$@"
  dehydrated --config "$3/config" --register --accept-terms >/dev/null 2>&1
}
dehydrated_run() { dehydrated --config "$3/config" --cron --domain "$4" >/dev/null 2>&1; }

PADLOCK_PATH=/acme/test/directory
[ "$DIRECTORY" = dv ] && PADLOCK_PATH=/acme/directory
declare -A SERVERS=(
  [padlock]="https://127.0.0.1:$PADLOCK_PORT$PADLOCK_PATH $PADLOCK_ROOT"
  [pebble]="https://127.0.0.1:$PEBBLE_PORT/dir $WORK/pebble.crt"
)
: >"$WORK/times"
for client in certbot lego dehydrated; do
  for server in pebble padlock; do
    read -r url ca <<<"${SERVERS[$server]}"
    state="$WORK/$client-$server"
    mkdir -p "$state"
    "${client}_setup" "$url" "$ca" "$state"
    for run in $(seq 1 "$RUNS"); do
      name="$client-$run-$RANDOM$RANDOM.example.com"
      t0=$(now)
      if "${client}_run" "$url" "$ca" "$state" "$name"; then
        echo "$client $server $(echo "$(now) - $t0" | bc)" >>"$WORK/times"
      else
        echo "$client $server failed" >>"$WORK/times"
      fi
    done
  done
done

"$PY" - "$WORK/times" "$DIRECTORY" <<'EOF'
import json, statistics, sys
from collections import defaultdict
runs = defaultdict(list)
failed = defaultdict(int)
for line in open(sys.argv[1]):
    client, server, value = line.split()
    if value == "failed":
        failed[(client, server)] += 1
    else:
        runs[(client, server)].append(float(value))
out = {"padlock_directory": sys.argv[2]}
for client in ("certbot", "lego", "dehydrated"):
    row = {}
    for server in ("pebble", "padlock"):
        times = runs[(client, server)]
        row[f"{server}_s"] = round(statistics.median(times), 3) if times else None
        row[f"{server}_runs"] = [round(t, 3) for t in times]
        row[f"{server}_failed"] = failed[(client, server)]
    if row["pebble_s"] and row["padlock_s"]:
        row["padlock_at_or_under_pebble"] = row["padlock_s"] <= row["pebble_s"]
    out[client] = row
print(json.dumps(out))
EOF
