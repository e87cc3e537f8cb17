#!/usr/bin/env bash
# Cost per operation as users grow (docs/benchmarks.md, "Cost per operation as
# users grow"): per tenant size a fresh database bulk-loaded by
# bench/load_users.sh, scimd serving it, and `scimd-bench run --existing-users`
# (GET by id, filter userName eq, a page of 100, PATCH active, then POST of
# --posts new users); then one chart per backend, x = users, y = server CPU
# time per operation, one line per scenario (flat lines: the cost does not
# grow with the tenant).
#
#   bash bench/scale.sh [--sizes 10000,100000,1000000] [--max-users N] [--backends sqlite,postgres]
#                       [--duration-secs S] [--sample N] [--posts N] [--debug] [--no-build] [--out DIR]
#
# --max-users N: leave out the sizes above N.
# --sample N: users sampled at each size (the same count at every size; 10,000 fit
#   the SQLite read cache, so GET and filter show the cached path at every size).
# --debug: build and measure debug binaries (the chart's title says so).
# --no-build: use target/{release,debug}/ as they are.
# Results: DIR (default bench/results): scale-BACKEND-N.json, .txt, and scale-BACKEND.svg.
#
# Environment: SCIMD_BENCH_POSTGRES_ADMIN (default postgres://postgres@127.0.0.1:5432/test);
#   PostgreSQL is measured too when it is reachable there (or named in --backends).
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES="10000,100000,1000000"; MAX_USERS=""; BACKENDS=""; DURATION=10; SAMPLE=10000; POSTS=2000
PROFILE=release; BUILD=1; OUT="bench/results"
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) SIZES="$2"; shift ;;
    --max-users) MAX_USERS="$2"; shift ;;
    --backends) BACKENDS="$2"; shift ;;
    --duration-secs) DURATION="$2"; shift ;;
    --sample) SAMPLE="$2"; shift ;;
    --posts) POSTS="$2"; shift ;;
    --debug) PROFILE=debug ;;
    --no-build) BUILD=0 ;;
    --out) OUT="$2"; shift ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "scale.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

PG_ADMIN="${SCIMD_BENCH_POSTGRES_ADMIN:-postgres://postgres@127.0.0.1:5432/test}"
pg_up() { command -v pg_isready > /dev/null && pg_isready -d "$PG_ADMIN" -q; }
if [ -z "$BACKENDS" ]; then
  BACKENDS=sqlite
  if pg_up; then BACKENDS=sqlite,postgres; else echo "scale.sh: PostgreSQL is not reachable: SQLite only" >&2; fi
fi
IFS=',' read -r -a SIZE_LIST <<< "$SIZES"
KEPT=()
for n in "${SIZE_LIST[@]}"; do
  case "$n" in ''|*[!0-9]*) echo "scale.sh: bad size '$n'" >&2; exit 2 ;; esac
  if [ -z "$MAX_USERS" ] || [ "$n" -le "$MAX_USERS" ]; then KEPT+=("$n"); fi
done
if [ ${#KEPT[@]} -eq 0 ]; then echo "scale.sh: no size left under --max-users $MAX_USERS" >&2; exit 2; fi

TARGET="${CARGO_TARGET_DIR:-target}"
if [ "$BUILD" = 1 ]; then
  if [ "$PROFILE" = release ]; then cargo build --release -p scimd -p scimd-bench; else cargo build -p scimd -p scimd-bench; fi
fi
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
WORK="$(mktemp -d)"
mkdir -p "$WORK/bin"
# Run copies, so that a rebuild during the run does not change the binaries measured.
cp "$TARGET/$PROFILE/scimd" "$TARGET/$PROFILE/scimd-bench" "$WORK/bin/"
BIN="$WORK/bin/scimd"
BENCH="$WORK/bin/scimd-bench"
COMMIT="$(git rev-parse --short HEAD 2> /dev/null || echo '?')$(git diff --quiet HEAD -- crates 2> /dev/null || echo ' (with uncommitted changes)')"
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

# As in run.sh: a fresh database, tenant "bench" and its token, scimd serving it.
new_db() {
  case "$1" in
    sqlite) echo "sqlite://$WORK/$2.db" ;;
    postgres)
      local db="scimd_scale_${2}_$$"
      psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >&2
      DBS+=("$db")
      echo "${PG_ADMIN%/*}/$db"
      ;;
    *) echo "scale.sh: unknown backend '$1'" >&2; exit 2 ;;
  esac
}
make_tenant() {
  SCIMD_DATABASE_URL="$1" "$BIN" migrate > /dev/null 2>&1
  SCIMD_DATABASE_URL="$1" "$BIN" tenant create bench > /dev/null 2>&1
  TOKEN="$(SCIMD_DATABASE_URL="$1" "$BIN" token create --tenant bench --name bench 2> /dev/null)"
}
start_scimd() {
  SCIMD_PORT="$(free_port)"
  SCIMD_DATABASE_URL="$1" "$BIN" serve --listen "127.0.0.1:$SCIMD_PORT" --no-bootstrap --tenant-rate-limit 0 2>> "$2" &
  SCIMD_PID=$!
  PIDS+=("$SCIMD_PID")
  for _ in $(seq 1 3000); do
    if curl -fs -o /dev/null "http://127.0.0.1:$SCIMD_PORT/readyz" 2> /dev/null; then return 0; fi
    kill -0 "$SCIMD_PID" 2> /dev/null || break
    sleep 0.005
  done
  echo "scale.sh: scimd did not become ready; its log:" >&2
  tail -n 20 "$2" >&2
  exit 1
}

STATUS=0
IFS=',' read -r -a BACKEND_LIST <<< "$BACKENDS"
for backend in "${BACKEND_LIST[@]}"; do
  files=()
  for n in "${KEPT[@]}"; do
    echo "=== $backend: $n users"
    url="$(new_db "$backend" "u$n")"
    make_tenant "$url"
    bash bench/load_users.sh "$url" bench "$n"
    start_scimd "$url" "$WORK/scimd-$backend-$n.log"
    rc=0
    SCIMD_BENCH_TOKEN="$TOKEN" "$BENCH" run --base-url "http://127.0.0.1:$SCIMD_PORT/scim/v2/bench" \
        --label "scimd-$backend" --server-pid "$SCIMD_PID" --existing-users --sample "$SAMPLE" \
        --scenarios get_by_id,filter_username,list_page_100,patch_active,seed_users --users "$POSTS" \
        --duration-secs "$DURATION" --run-id "scale$n" \
        --json "$OUT/scale-$backend-$n.json" > "$OUT/scale-$backend-$n.txt" || rc=$?
    cat "$OUT/scale-$backend-$n.txt"
    if [ "$rc" != 0 ]; then echo "scale.sh: $backend at $n users: scenarios with errors (exit $rc)" >&2; STATUS=1; fi
    kill -TERM "$SCIMD_PID" 2> /dev/null || true
    wait "$SCIMD_PID" 2> /dev/null || true
    if [ "$backend" = sqlite ]; then rm -f "$WORK/u$n.db"*; fi
    files+=(--json "$OUT/scale-$backend-$n.json")
  done
  title="scimd-$backend: cost per operation as users grow · $(date -u +%Y-%m-%d) · scimd $COMMIT · $PROFILE build"
  "$BENCH" chart --scale "${files[@]}" --out "$OUT/scale-$backend.svg" --title "$title"
  echo "chart: $OUT/scale-$backend.svg"
done
exit "$STATUS"
