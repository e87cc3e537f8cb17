#!/usr/bin/env bash
# A Bulk request of 1,000 user creates against 1,000 single POSTs sent one
# after another (issue 22; docs/benchmarks.md "Bulk: 1,000 creates in one
# request"): per backend a fresh database, `scimd serve`, then
# `scimd-bench run --scenarios singles_create,bulk_create`. Fails when a
# scenario had errors (every Bulk operation must answer 201), never on time.
#
#   bash bench/bulk.sh [--backends sqlite,postgres] [--bin BIN] [--rounds N]
#
# Environment: SCIMD_BENCH_POSTGRES_ADMIN (default postgres://postgres@127.0.0.1:5432/test).
set -euo pipefail
cd "$(dirname "$0")/.."

BACKENDS=""; BIN="$PWD/target/release/scimd"; ROUNDS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --backends) BACKENDS="$2"; shift ;;
    --bin) BIN="$(realpath "$2")"; shift ;;
    --rounds) ROUNDS="$2"; shift ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bulk.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
PG_ADMIN="${SCIMD_BENCH_POSTGRES_ADMIN:-postgres://postgres@127.0.0.1:5432/test}"
if [ -z "$BACKENDS" ]; then
  BACKENDS=sqlite
  if command -v pg_isready > /dev/null && pg_isready -d "$PG_ADMIN" -q; then BACKENDS=sqlite,postgres; fi
fi
[ -x "$BIN" ] || cargo build --release -p scimd
[ -x target/release/scimd-bench ] || cargo build --release -p scimd-bench
BENCH="$PWD/target/release/scimd-bench"
WORK="$(mktemp -d)"
PIDS=(); DBS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2> /dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2> /dev/null || true; done
  for db in "${DBS[@]}"; do psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" 2> /dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

n=0
for backend in ${BACKENDS//,/ }; do
  for round in $(seq 1 "$ROUNDS"); do
    n=$((n + 1))
    case "$backend" in
      sqlite) url="sqlite://$WORK/db$n.db" ;;
      postgres)
        db="scimd_bulkbench_${n}_$$"
        psql "$PG_ADMIN" -qc "CREATE DATABASE $db"
        DBS+=("$db"); url="${PG_ADMIN%/*}/$db" ;;
    esac
    SCIMD_DATABASE_URL="$url" "$BIN" tenant create bench > /dev/null 2>&1
    token="$(SCIMD_DATABASE_URL="$url" "$BIN" token create --tenant bench --name bench 2> /dev/null)"
    port="$(free_port)"
    (cd "$WORK" && SCIMD_DATABASE_URL="$url" SCIMD_LOG=warn exec "$BIN" serve --listen "127.0.0.1:$port" \
      --no-bootstrap --tenant-rate-limit 0 2>> "$WORK/scimd.log") &
    pid=$!; PIDS+=("$pid")
    for _ in $(seq 1 2000); do curl -fs -o /dev/null "http://127.0.0.1:$port/readyz" 2> /dev/null && break; sleep 0.005; done
    "$BENCH" run --base-url "http://127.0.0.1:$port/scim/v2/bench" --token "$token" --server-pid "$pid" \
      --scenarios singles_create,bulk_create > "$WORK/r$n.txt" 2>&1 || { cat "$WORK/r$n.txt" >&2; exit 1; }
    kill -TERM "$pid"; wait "$pid" 2> /dev/null || true
    echo "$backend round $round:"
    grep -E '^(singles|bulk)_create ' "$WORK/r$n.txt"
  done
done
