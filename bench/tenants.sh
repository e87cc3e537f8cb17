#!/usr/bin/env bash
# Scale the way a SaaS vendor grows (issue 21 item 7; docs/benchmarks.md,
# "Many tenants, and one very large tenant"): per backend a fresh database with
# TENANTS tenants (made through the admin API, one SCIM token each) of USERS
# users each (bench/load_users.sh), then `scimd serve` started cold: the time
# to /readyz and its resident memory, memory after one request in every tenant
# (the per-tenant overhead), and GET by id, filter userName eq and a page of
# 100 at concurrency 1 in random tenants (bench/tenants.py probe).
#
#   bash bench/tenants.sh [--tenants N] [--users N] [--requests N] [--backends sqlite,postgres] [--no-build] [--bin PATH] [--out DIR]
#
# Defaults: 10,000 tenants of 1,000 users; `--tenants 1 --users 10000000` is
# the one very large tenant. `--bin` serves another build (implies --no-build).
# Results: DIR (default bench/results): tenants-BACKEND-TxU.json.
# Environment: SCIMD_BENCH_POSTGRES_ADMIN (default postgres://postgres@127.0.0.1:5432/test).
set -euo pipefail
cd "$(dirname "$0")/.."

TENANTS=10000; USERS=1000; REQUESTS=2000; BACKENDS="sqlite,postgres"; BUILD=1; OUT="bench/results"; SERVE_BIN=""
while [ $# -gt 0 ]; do
  case "$1" in
    --tenants) TENANTS="$2"; shift ;;
    --users) USERS="$2"; shift ;;
    --requests) REQUESTS="$2"; shift ;;
    --backends) BACKENDS="$2"; shift ;;
    --no-build) BUILD=0 ;;
    --bin) SERVE_BIN="$2"; BUILD=0; shift ;;
    --out) OUT="$2"; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "tenants.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
for v in "$TENANTS" "$USERS" "$REQUESTS"; do
  case "$v" in ''|*[!0-9]*|0) echo "tenants.sh: --tenants, --users and --requests must be positive numbers" >&2; exit 2 ;; esac
done
if [ "$TENANTS" -gt 99999 ]; then echo "tenants.sh: at most 99,999 tenants" >&2; exit 2; fi

PG_ADMIN="${SCIMD_BENCH_POSTGRES_ADMIN:-postgres://postgres@127.0.0.1:5432/test}"
TARGET="${CARGO_TARGET_DIR:-target}"
if [ "$BUILD" = 1 ]; then cargo build --release -p scimd; fi
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
WORK="$(mktemp -d)"
cp "${SERVE_BIN:-$TARGET/release/scimd}" "$WORK/scimd"
BIN="$WORK/scimd"
PIDS=(); DBS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2> /dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2> /dev/null || true; done
  for db in "${DBS[@]}"; do psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" 2> /dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
since() { python3 -c "print(round($(now) - $1, 3))"; }
# Starts scimd on $url; sets pid and port, and ready_s (spawn to the first 200 of /readyz).
serve() {
  port="$(free_port)"
  local start; start="$(now)"
  (cd "$WORK" && SCIMD_DATABASE_URL="$url" SCIMD_LOG=warn exec "$BIN" serve --listen "127.0.0.1:$port" --no-bootstrap \
      --tenant-rate-limit 0 --secrets-key-file "$WORK/secrets.key") 2>> "$WORK/scimd.log" &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1 30000); do
    if curl -fs -o /dev/null "http://127.0.0.1:$port/readyz" 2> /dev/null; then break; fi
    sleep 0.002
  done
  ready_s="$(since "$start")"
}
stop() { kill -TERM "$pid" 2> /dev/null || true; wait "$pid" 2> /dev/null || true; }

IFS=',' read -r -a BACKEND_LIST <<< "$BACKENDS"
for backend in "${BACKEND_LIST[@]}"; do
  case "$backend" in
    sqlite) url="sqlite://$WORK/tenants.db" ;;
    postgres)
      db="scimd_tenants_$$"
      psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
      DBS+=("$db")
      url="${PG_ADMIN%/*}/$db"
      ;;
    *) echo "tenants.sh: unknown backend '$backend'" >&2; exit 2 ;;
  esac
  echo "=== $backend: $TENANTS tenants of $USERS users"
  SCIMD_DATABASE_URL="$url" "$BIN" migrate > /dev/null
  admin="$(SCIMD_DATABASE_URL="$url" "$BIN" admin-token create --name bench 2> /dev/null)"
  serve
  python3 bench/tenants.py make "http://127.0.0.1:$port" "$admin" "$TENANTS" "$WORK/tokens"
  stop
  start="$(now)"
  bash bench/load_users.sh "$url" 't%' "$USERS"
  echo "load: $(since "$start") s"
  serve
  echo "cold start to ready: $ready_s s"
  result="$OUT/tenants-$backend-${TENANTS}x$USERS.json"
  python3 bench/tenants.py probe "http://127.0.0.1:$port" "$WORK/tokens" "$USERS" "$REQUESTS" "$pid" "$result.tmp" > /dev/null
  python3 - "$result.tmp" "$result" "$ready_s" "$backend" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
r = {"backend": sys.argv[4], "startup_to_ready_s": float(sys.argv[3]), **r}
json.dump(r, open(sys.argv[2], "w"), indent=2)
s = r["scenarios"]
print(f"startup {r['startup_to_ready_s']} s; RSS ready {r['rss_ready_kib'] // 1024} MiB, after one request in each of "
      f"{r['tenants']} tenants {r['rss_after_every_tenant_kib'] // 1024} MiB ({r['per_tenant_kib']} KiB a tenant; "
      f"first touch of all {r['first_touch_of_every_tenant_s']} s), at the end {r['rss_end_kib'] // 1024} MiB")
for k, v in s.items():
    print(f"  {k}: p50 {v['p50_ms']} ms, p99 {v['p99_ms']} ms, max {v['max_ms']} ms ({v['requests']} requests)")
PY
  rm -f "$result.tmp"
  stop
  rm -f "$WORK"/tenants.db*
done
