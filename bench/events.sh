#!/usr/bin/env bash
# Issue 13's benchmark rows (docs/benchmarks.md, "Events, webhooks and the audit trail"),
# on SQLite and PostgreSQL:
#
#   bash bench/events.sh [--smoke] [--backends sqlite,postgres] [--rounds N] [--writes-only] [--out DIR]
#
# 1. Write throughput with events on and off, and with the audit trail on and
#    off: `scimd-bench run --scenarios seed_users,patch_active` against a fresh
#    database served by `scimd serve` (default), `--no-events` and
#    `--no-audit`, the three alternated ROUNDS times (default 2).
# 2. Webhook delivery rate: `scimd-bench events` releases a backlog of N events
#    (default 20,000) to a receiver of its own on loopback and times it.
# 2b. One subject's delivery rate: a group of GROUP members (default 10,000)
#    pushed in one go, its group.member_added events timed to the receiver
#    and their order checked against the feed (`--group-members`).
# 3. The event feed at 1,000,000 events: that many synthetic events are added
#    to the tenant with SQL (scimd stopped), then pages of 100 are timed at
#    cursors spread over the whole feed, with and without a type filter.
#
# --smoke (CI): small sizes, one round; fails only when a step fails, never on time.
# Results: DIR (default bench/results/events): *.txt, *.json, summary.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

SMOKE=0; BACKENDS=""; ROUNDS=2; OUT="bench/results/events"; WRITES_ONLY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) SMOKE=1 ;;
    --backends) BACKENDS="$2"; shift ;;
    --rounds) ROUNDS="$2"; shift ;;
    --writes-only) WRITES_ONLY=1 ;;
    --out) OUT="$2"; shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "events.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

PG_ADMIN="${SCIMD_BENCH_POSTGRES_ADMIN:-postgres://postgres@127.0.0.1:5432/test}"
pg_up() { command -v pg_isready > /dev/null && pg_isready -d "$PG_ADMIN" -q; }
if [ -z "$BACKENDS" ]; then
  BACKENDS=sqlite
  if pg_up; then BACKENDS=sqlite,postgres; fi
fi
if [ "$SMOKE" = 1 ]; then
  USERS=200; SECS=1; DELIVER=500; FEED_EVENTS=20000; PAGES=20; ROUNDS=1; GROUP=300
else
  USERS=2000; SECS=10; DELIVER=20000; FEED_EVENTS=1000000; PAGES=200; GROUP=10000
fi

echo "=== build (release)"
cargo build --release -p scimd -p scimd-bench
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
note() { echo "$*" | tee -a "$SUMMARY"; }

WORK="$(mktemp -d)"
mkdir -p "$WORK/bin"
cp target/release/scimd target/release/scimd-bench "$WORK/bin/"
# Another scimd to measure (a build of an older commit, for before and after).
[ -n "${SCIMD_BENCH_SCIMD:-}" ] && cp "$SCIMD_BENCH_SCIMD" "$WORK/bin/scimd"
BIN="$WORK/bin/scimd"
BENCH="$WORK/bin/scimd-bench"
PIDS=()
DBS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2> /dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2> /dev/null || true; done
  for db in "${DBS[@]}"; do psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" 2> /dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

new_db() {
  local backend="$1" name="$2"
  case "$backend" in
    sqlite) echo "sqlite://$WORK/$name.db" ;;
    postgres)
      local db="scimd_evbench_${name}_$$"
      psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >&2
      DBS+=("$db")
      echo "${PG_ADMIN%/*}/$db"
      ;;
  esac
}

make_tenant() {
  SCIMD_DATABASE_URL="$1" "$BIN" migrate > /dev/null 2>&1
  SCIMD_DATABASE_URL="$1" "$BIN" tenant create bench > /dev/null 2>&1
  TOKEN="$(SCIMD_DATABASE_URL="$1" "$BIN" token create --tenant bench --name bench 2> /dev/null)"
  ADMIN="$(SCIMD_DATABASE_URL="$1" "$BIN" admin-token create --name "bench-$RANDOM$RANDOM" 2> /dev/null)"
}

start_scimd() {
  local url="$1" log="$2"; shift 2
  SCIMD_PORT="$(free_port)"
  (cd "$WORK" && SCIMD_DATABASE_URL="$url" exec "$BIN" serve --listen "127.0.0.1:$SCIMD_PORT" --no-bootstrap \
    --tenant-rate-limit 0 --webhook-allow-private-targets "$@" 2>> "$log") &
  SCIMD_PID=$!
  PIDS+=("$SCIMD_PID")
  for _ in $(seq 1 3000); do
    curl -fs -o /dev/null "http://127.0.0.1:$SCIMD_PORT/readyz" 2> /dev/null && return 0
    kill -0 "$SCIMD_PID" 2> /dev/null || break
    sleep 0.005
  done
  echo "events.sh: scimd did not become ready; its log:" >&2
  tail -n 20 "$log" >&2
  exit 1
}

stop_scimd() {
  kill -TERM "$SCIMD_PID" 2> /dev/null || true
  wait "$SCIMD_PID" 2> /dev/null || true
}

# The ops/s of a scenario in a scimd-bench JSON file.
ops() { python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
print(next(round(s["ops_per_sec"]) for t in d["targets"] for s in t["scenarios"] if s["name"]==sys.argv[2]))' "$1" "$2"; }

# Add N synthetic events to tenant "bench" (scimd stopped).
synthetic_events() {
  local backend="$1" url="$2" n="$3"
  case "$backend" in
    sqlite)
      python3 - "${url#sqlite://}" "$n" << 'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
tid = db.execute("SELECT id FROM tenants WHERE name = 'bench'").fetchone()[0]
db.execute("""WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
  INSERT INTO events (tx, tenant_id, id, type, subject_type, subject_id, created_at, data, cause)
  SELECT 0, ?, 'evt_syn' || i, CASE i % 3 WHEN 0 THEN 'user.updated' WHEN 1 THEN 'access.role_granted' ELSE 'group.member_added' END,
    'user', 'u' || (i % 10000), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), '{"id":"u"}', '{"request_id":null,"actor":{"type":"system"}}'
  FROM n""", (int(sys.argv[2]), tid))
db.commit()
EOF
      ;;
    postgres)
      psql "$url" -qc "INSERT INTO events (tx, tenant_id, id, type, subject_type, subject_id, created_at, data, cause)
        SELECT 1, t.id, 'evt_syn' || i, CASE i % 3 WHEN 0 THEN 'user.updated' WHEN 1 THEN 'access.role_granted' ELSE 'group.member_added' END,
          'user', 'u' || (i % 10000), to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), '{\"id\":\"u\"}',
          '{\"request_id\":null,\"actor\":{\"type\":\"system\"}}'
        FROM tenants t, generate_series(1, $n) i WHERE t.name = 'bench'" -c "ANALYZE events"
      ;;
  esac
}

note "events.sh: $(date -u +%Y-%m-%dT%H:%M:%SZ), scimd $(git rev-parse --short HEAD 2> /dev/null || echo '?'), smoke=$SMOKE, rounds=$ROUNDS"
note "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
IFS=',' read -r -a BACKEND_LIST <<< "$BACKENDS"
for backend in "${BACKEND_LIST[@]}"; do
  echo "=== $backend: writes with events and audit on and off"
  declare -A SEED=() PATCH=()
  for round in $(seq 1 "$ROUNDS"); do
    for mode in default no-events no-audit; do
      url="$(new_db "$backend" "w${round}${mode//-/}")"
      make_tenant "$url"
      flags=()
      [ "$mode" = no-events ] && flags=(--no-events)
      [ "$mode" = no-audit ] && flags=(--no-audit)
      start_scimd "$url" "$WORK/$backend-$mode.log" "${flags[@]}"
      json="$OUT/$backend-writes-$mode-$round.json"
      "$BENCH" run --base-url "http://127.0.0.1:$SCIMD_PORT/scim/v2/bench" --token "$TOKEN" --label "$mode" \
        --scenarios seed_users,patch_active --users "$USERS" --duration-secs "$SECS" --json "$json" \
        > "$OUT/$backend-writes-$mode-$round.txt"
      stop_scimd
      SEED[$mode]+="$(ops "$json" seed_users) "
      PATCH[$mode]+="$(ops "$json" patch_active) "
    done
  done
  for mode in default no-events no-audit; do
    note "[$backend] $mode: POST /Users ${SEED[$mode]}/s; PATCH active ${PATCH[$mode]}/s"
  done
  unset SEED PATCH
  [ "$WRITES_ONLY" = 1 ] && continue

  echo "=== $backend: webhook delivery and the event feed"
  url="$(new_db "$backend" deliver)"
  make_tenant "$url"
  start_scimd "$url" "$WORK/$backend-deliver.log"
  "$BENCH" events --base-url "http://127.0.0.1:$SCIMD_PORT/scim/v2/bench" --token "$TOKEN" \
    --admin-url "http://127.0.0.1:$SCIMD_PORT/admin/v1/tenants/bench" --admin-token "$ADMIN" \
    --deliver "$DELIVER" --feed-pages 0 --json "$OUT/$backend-delivery.json" | tee "$OUT/$backend-delivery.txt"
  note "[$backend] $(cat "$OUT/$backend-delivery.txt")"
  stop_scimd
  url="$(new_db "$backend" group)"
  make_tenant "$url"
  start_scimd "$url" "$WORK/$backend-group.log"
  "$BENCH" events --base-url "http://127.0.0.1:$SCIMD_PORT/scim/v2/bench" --token "$TOKEN" \
    --admin-url "http://127.0.0.1:$SCIMD_PORT/admin/v1/tenants/bench" --admin-token "$ADMIN" \
    --deliver 0 --group-members "$GROUP" --feed-pages 0 --json "$OUT/$backend-group.json" | tee "$OUT/$backend-group.txt"
  note "[$backend] $(cat "$OUT/$backend-group.txt")"
  stop_scimd
  synthetic_events "$backend" "$url" "$FEED_EVENTS"
  start_scimd "$url" "$WORK/$backend-feed.log"
  "$BENCH" events --base-url "http://127.0.0.1:$SCIMD_PORT/scim/v2/bench" --token "$TOKEN" \
    --admin-url "http://127.0.0.1:$SCIMD_PORT/admin/v1/tenants/bench" --admin-token "$ADMIN" \
    --deliver 0 --feed-pages "$PAGES" --json "$OUT/$backend-feed.json" | tee "$OUT/$backend-feed.txt"
  note "[$backend] $(cat "$OUT/$backend-feed.txt")"
  stop_scimd
done
echo "=== summary ($SUMMARY)"
cat "$SUMMARY"
