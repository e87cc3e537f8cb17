#!/usr/bin/env bash
# What the audit trail costs (issue 20 item 3, issue 21 item 4), on SQLite and
# PostgreSQL: `scimd-bench run --scenarios seed_users,get_by_id,filter_username,patch_active`
# against a fresh database served by `scimd serve` as shipped and with
# `--no-audit`, for each scimd binary given (e.g. a build before and after a
# change), alternated ROUNDS times. Prints ops/s per scenario and scimd's CPU
# per operation (user+system; on PostgreSQL the database's own CPU is not in it).
#
#   bash bench/audit.sh [--backends sqlite,postgres] [--rounds N] [--secs S] [--smoke] LABEL=BIN [LABEL=BIN ...]
#
# BIN defaults to target/release/scimd (label "head") when none is given; the
# load tool is target/release/scimd-bench (built when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

BACKENDS=""; ROUNDS=2; SECS=5; USERS=2000; BINS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --backends) BACKENDS="$2"; shift ;;
    --rounds) ROUNDS="$2"; shift ;;
    --secs) SECS="$2"; shift ;;
    --smoke) ROUNDS=1; SECS=1; USERS=200 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *=*) BINS+=("$1") ;;
    *) echo "audit.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
PG_ADMIN="${SCIMD_BENCH_POSTGRES_ADMIN:-postgres://postgres@127.0.0.1:5432/test}"
if [ -z "$BACKENDS" ]; then
  BACKENDS=sqlite
  if command -v pg_isready > /dev/null && pg_isready -d "$PG_ADMIN" -q; then BACKENDS=sqlite,postgres; fi
fi
if [ ${#BINS[@]} -eq 0 ]; then
  cargo build --release -p scimd
  BINS=("head=target/release/scimd")
fi
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
ops() { python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
s=next(s for t in d["targets"] for s in t["scenarios"] if s["name"]==sys.argv[2])
us=s.get("server_us_per_op")
print("%d/s" % round(s["ops_per_sec"]) + ("" if us is None else " %.0fus" % us))' "$1" "$2"; }

SCENARIOS=(seed_users get_by_id filter_username patch_active)
n=0
for backend in ${BACKENDS//,/ }; do
  for round in $(seq 1 "$ROUNDS"); do
    for entry in "${BINS[@]}"; do
      label="${entry%%=*}"; bin="${entry#*=}"
      for mode in default no-audit; do
        n=$((n + 1))
        case "$backend" in
          sqlite) url="sqlite://$WORK/db$n.db" ;;
          postgres)
            db="scimd_auditbench_${n}_$$"
            psql "$PG_ADMIN" -qc "CREATE DATABASE $db"
            DBS+=("$db"); url="${PG_ADMIN%/*}/$db" ;;
        esac
        SCIMD_DATABASE_URL="$url" "$bin" tenant create bench > /dev/null 2>&1
        token="$(SCIMD_DATABASE_URL="$url" "$bin" token create --tenant bench --name bench 2> /dev/null)"
        flags=(); [ "$mode" = no-audit ] && flags=(--no-audit)
        port="$(free_port)"
        (cd "$WORK" && SCIMD_DATABASE_URL="$url" SCIMD_LOG=warn exec "$bin" serve --listen "127.0.0.1:$port" \
          --no-bootstrap --tenant-rate-limit 0 "${flags[@]}" 2>> "$WORK/scimd.log") &
        pid=$!; PIDS+=("$pid")
        for _ in $(seq 1 2000); do curl -fs -o /dev/null "http://127.0.0.1:$port/readyz" 2> /dev/null && break; sleep 0.005; done
        "$BENCH" run --base-url "http://127.0.0.1:$port/scim/v2/bench" --token "$token" --server-pid "$pid" \
          --scenarios "$(IFS=,; echo "${SCENARIOS[*]}")" --users "$USERS" --duration-secs "$SECS" \
          --json "$WORK/r$n.json" > "$WORK/r$n.txt" 2>&1 || { cat "$WORK/r$n.txt" >&2; exit 1; }
        kill -TERM "$pid"; wait "$pid" 2> /dev/null || true
        line="$backend round $round $label $mode:"
        for s in "${SCENARIOS[@]}"; do line="$line $s $(ops "$WORK/r$n.json" "$s")"; done
        echo "$line"
      done
    done
  done
done
