#!/usr/bin/env bash
# Cursor pagination and deep pages (docs/benchmarks.md, "Cursor pagination and
# deep pages"): per backend a fresh database bulk-loaded with N users by
# bench/load_users.sh (LOAD_USERS_SPREAD=1: user i last modified i seconds
# after the others' creation), scimd serving it, then one client, one request
# at a time: the last and the middle index pages (startIndex N-99, N/2+1), RFC 9865 cursor pages of
# 100 after the second page, the middle and the end (after a walk there by
# nextCursor), and `filter=meta.lastModified gt T` where T leaves the last
# 1,000 users.
#
#   bash bench/cursor.sh [--users N] [--backends sqlite,postgres] [--duration-secs S] [--no-build] [--out DIR]
#
# Results: DIR (default bench/results): cursor-BACKEND.json and .txt.
# Environment: SCIMD_BENCH_POSTGRES_ADMIN (default postgres://postgres@127.0.0.1:5432/test).
set -euo pipefail
cd "$(dirname "$0")/.."

N=1000000; BACKENDS="sqlite,postgres"; DURATION=5; BUILD=1; OUT="bench/results"
while [ $# -gt 0 ]; do
  case "$1" in
    --users) N="$2"; shift ;;
    --backends) BACKENDS="$2"; shift ;;
    --duration-secs) DURATION="$2"; shift ;;
    --no-build) BUILD=0 ;;
    --out) OUT="$2"; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "cursor.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$N" in ''|*[!0-9]*) echo "cursor.sh: --users must be a number" >&2; exit 2 ;; esac
if [ "$N" -le 1000 ]; then echo "cursor.sh: --users must be more than 1000" >&2; exit 2; fi

PG_ADMIN="${SCIMD_BENCH_POSTGRES_ADMIN:-postgres://postgres@127.0.0.1:5432/test}"
TARGET="${CARGO_TARGET_DIR:-target}"
if [ "$BUILD" = 1 ]; then cargo build --release -p scimd -p scimd-bench; fi
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
WORK="$(mktemp -d)"
mkdir -p "$WORK/bin"
cp "$TARGET/release/scimd" "$TARGET/release/scimd-bench" "$WORK/bin/"
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
# The last 1,000 users were modified after this (load_users.sh spreads them one second apart).
MODIFIED_AFTER="$(python3 -c "import datetime as d; print((d.datetime(2026,1,1)+d.timedelta(seconds=$N-1000)).strftime('%Y-%m-%dT%H:%M:%SZ'))")"

STATUS=0
IFS=',' read -r -a BACKEND_LIST <<< "$BACKENDS"
for backend in "${BACKEND_LIST[@]}"; do
  case "$backend" in
    sqlite) url="sqlite://$WORK/cursor.db" ;;
    postgres)
      db="scimd_cursor_$$"
      psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
      DBS+=("$db")
      url="${PG_ADMIN%/*}/$db"
      ;;
    *) echo "cursor.sh: unknown backend '$backend'" >&2; exit 2 ;;
  esac
  echo "=== $backend: $N users"
  SCIMD_DATABASE_URL="$url" "$BIN" migrate > /dev/null
  SCIMD_DATABASE_URL="$url" "$BIN" tenant create bench > /dev/null
  TOKEN="$(SCIMD_DATABASE_URL="$url" "$BIN" token create --tenant bench --name bench 2> /dev/null)"
  start=$(date +%s.%N)
  LOAD_USERS_SPREAD=1 bash bench/load_users.sh "$url" bench "$N"
  echo "load: $(python3 -c "print(round($(date +%s.%N) - $start, 1))") s"
  port="$(free_port)"
  # The secrets key (which signs cursors) is made in the work directory on first start.
  (cd "$WORK" && SCIMD_DATABASE_URL="$url" exec "$BIN" serve --listen "127.0.0.1:$port" --no-bootstrap \
      --tenant-rate-limit 0 --secrets-key-file "$WORK/secrets-$backend.key") 2>> "$WORK/scimd-$backend.log" &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1 3000); do
    if curl -fs -o /dev/null "http://127.0.0.1:$port/readyz" 2> /dev/null; then break; fi
    sleep 0.01
  done
  rc=0
  SCIMD_BENCH_TOKEN="$TOKEN" "$BENCH" run --base-url "http://127.0.0.1:$port/scim/v2/bench" --label "scimd-$backend" \
      --server-pid "$pid" --existing-users --sample 1000 --concurrency 1 --duration-secs "$DURATION" \
      --scenarios list_page_deep,list_page_middle,cursor_pages,filter_last_modified --modified-after "$MODIFIED_AFTER" \
      --json "$OUT/cursor-$backend.json" > "$OUT/cursor-$backend.txt" || rc=$?
  cat "$OUT/cursor-$backend.txt"
  if [ "$rc" != 0 ]; then echo "cursor.sh: $backend: scenarios with errors (exit $rc)" >&2; STATUS=1; fi
  kill -TERM "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
  rm -f "$WORK/cursor.db"*
done
exit "$STATUS"
