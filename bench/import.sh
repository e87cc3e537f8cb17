#!/usr/bin/env bash
# The import benchmark (docs/benchmarks.md, "Import"): `scimd import` of a
# CSV of N users into a fresh tenant, timed, on SQLite and PostgreSQL; then
# the same file again (every row unchanged), then an export of them all.
#
#   bash bench/import.sh [--smoke] [--users N] [--backends sqlite,postgres] [--bin PATH]
#
# --smoke: 2,000 users (CI runs this; it fails only when a row fails, never on time).
# Environment: SCIMD_BENCH_POSTGRES_ADMIN (default postgres://postgres@127.0.0.1:5432/test).
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=100000; BACKENDS="sqlite,postgres"; BIN="$PWD/target/release/scimd"
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) USERS=2000 ;;
    --users) USERS="$2"; shift ;;
    --backends) BACKENDS="$2"; shift ;;
    --bin) BIN="$2"; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
PG_ADMIN="${SCIMD_BENCH_POSTGRES_ADMIN:-postgres://postgres@127.0.0.1:5432/test}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

python3 - "$USERS" > "$WORK/users.csv" <<'PY'
import sys
n = int(sys.argv[1])
print("userName,name.givenName,name.familyName,emails,active,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department")
for i in range(n):
    print(f"user{i:06d}@import.example,Given{i},Family{i},user{i:06d}@import.example,true,Dept{i % 50}")
PY

seconds() { python3 -c 'import time; print(time.monotonic())'; }
run_one() {
  local name="$1" url="$2" t0 t1 t2 t3
  export SCIMD_DATABASE_URL="$url"
  "$BIN" tenant create imports > /dev/null 2>&1
  t0="$(seconds)"
  "$BIN" import --tenant imports "$WORK/users.csv" 2> "$WORK/$name-import.txt"
  t1="$(seconds)"
  "$BIN" import --tenant imports "$WORK/users.csv" 2> "$WORK/$name-again.txt"
  t2="$(seconds)"
  "$BIN" export --tenant imports > "$WORK/$name-export.jsonl" 2> /dev/null
  t3="$(seconds)"
  local exported
  exported="$(wc -l < "$WORK/$name-export.jsonl")"
  [ "$exported" -eq "$USERS" ] || { echo "$name: exported $exported users, not $USERS" >&2; exit 1; }
  grep -q " $USERS unchanged" "$WORK/$name-again.txt" || { cat "$WORK/$name-again.txt" >&2; exit 1; }
  python3 - "$name" "$USERS" "$t0" "$t1" "$t2" "$t3" "$(cat "$WORK/$name-import.txt")" <<'PY'
import sys
name, n, t0, t1, t2, t3, summary = sys.argv[1], int(sys.argv[2]), *map(float, sys.argv[3:7]), sys.argv[7]
print(f"{name:9} {n:>8,} users: import {t1 - t0:6.1f} s ({n / (t1 - t0):7,.0f}/s), "
      f"again (all unchanged) {t2 - t1:6.1f} s, export {t3 - t2:5.1f} s | {summary.splitlines()[0]}")
PY
}

IFS=',' read -ra LIST <<< "$BACKENDS"
for b in "${LIST[@]}"; do
  case "$b" in
    sqlite) run_one sqlite "sqlite://$WORK/import.db" ;;
    postgres)
      db="scimd_import_$$"
      psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
      run_one postgres "${PG_ADMIN%/*}/$db"
      psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"
      ;;
    *) echo "unknown backend $b" >&2; exit 2 ;;
  esac
done
