#!/usr/bin/env bash
# The benchmark (docs/benchmarks.md): scimd beside the bare route of its HTTP
# stack and the Python reference server scim2-server, on SQLite and PostgreSQL,
# then scimd alone at scale (a tenant of --scale-users users).
#
#   bash bench/run.sh [--smoke] [--backends sqlite,postgres] [--no-peer] [--no-compare] [--no-scale] [--no-abuse]
#                     [--scale-users N] [--out DIR] [-- EXTRA scimd-bench compare FLAGS]
#
# Phase 1, per backend: a fresh database, `scimd tenant create` / `token create`,
#   `scimd serve`, a fresh peer (bench/peer.sh), then `scimd-bench compare`:
#   the bare route (/healthz), scimd and the peer, one after the other, in one run.
# Phase 2, per backend: a fresh database bulk-loaded with --scale-users users
#   (bench/load_users.sh), scimd's startup time on it, latency at concurrency 1
#   (GET by id, filter userName eq, the last page), throughput at concurrency 32,
#   one group filled to 100,000 members, and scimd's resident memory.
# Phase 3, per backend: `scimd-bench abuse` against scimd with its default
#   limits but a tenant rate of 200/s in bursts of 400 (so the flood meets it),
#   two tenants: huge attributes and PATCHes, a large writer beside
#   another tenant's small writes, idle and dripping connections, big bodies,
#   bad-token and rate-limited floods (--no-abuse skips it).
#
# --smoke: seconds and small sizes, every scenario, both phases (CI runs this:
#   it fails only when a scenario had errors, never on time).
# Results: DIR (default bench/results, git-ignored): *.txt tables, *.json, summary.txt,
#   and per backend a chart of the comparison, BACKEND-compare.svg (ops/s per scenario, log scale).
#   bench/scale.sh draws the second chart (cost per operation at 10k, 100k, 1M users).
#
# Environment: SCIMD_BENCH_POSTGRES_ADMIN (default postgres://postgres@127.0.0.1:5432/test),
#   a server where the script may create and drop databases.
set -euo pipefail
cd "$(dirname "$0")/.."

SMOKE=0; PEER=1; COMPARE=1; SCALE=1; ABUSE=1; BACKENDS=""; SCALE_USERS=""; OUT="bench/results"; EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) SMOKE=1 ;;
    --no-peer) PEER=0 ;;
    --no-compare) COMPARE=0 ;;
    --no-scale) SCALE=0 ;;
    --no-abuse) ABUSE=0 ;;
    --backends) BACKENDS="$2"; shift ;;
    --scale-users) SCALE_USERS="$2"; shift ;;
    --out) OUT="$2"; shift ;;
    --) shift; EXTRA=("$@"); break ;;
    -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

PG_ADMIN="${SCIMD_BENCH_POSTGRES_ADMIN:-postgres://postgres@127.0.0.1:5432/test}"
pg_up() { command -v pg_isready > /dev/null && pg_isready -d "$PG_ADMIN" -q; }
if [ -z "$BACKENDS" ]; then
  BACKENDS=sqlite
  if pg_up; then BACKENDS=sqlite,postgres; else echo "run.sh: PostgreSQL is not reachable: SQLite only" >&2; fi
fi
if [ "$SMOKE" = 1 ]; then
  SCALE_USERS="${SCALE_USERS:-3000}"
  COMPARE_ARGS=(--smoke)
  SCALE_LAT_ARGS=(--duration-secs 1 --sample 500)
  SCALE_TPUT_ARGS=(--duration-secs 1 --sample 2000 --group-sizes 10,1000 --member-ops 10)
else
  SCALE_USERS="${SCALE_USERS:-1000000}"
  # Same users and sizes on scimd and the peer, so every ratio compares like with like.
  COMPARE_ARGS=(--users 10000 --group-sizes 10,1000,10000 --peer-group-sizes 10,1000,10000 --duration-secs 10)
  SCALE_LAT_ARGS=(--duration-secs 5 --sample 10000)
  SCALE_TPUT_ARGS=(--duration-secs 10 --sample 100000 --group-sizes 10,10000,100000 --member-ops 200)
fi

echo "=== build (release)"
cargo build --release -p scimd -p scimd-bench
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
note() { echo "$*" | tee -a "$SUMMARY"; }

WORK="$(mktemp -d)"
# Run copies, so that a rebuild during the run does not change the binaries measured.
mkdir -p "$WORK/bin"
cp target/release/scimd target/release/scimd-bench "$WORK/bin/"
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
now_ms() { date +%s%3N; }
mem() { # VmRSS and VmHWM (peak) of a process, in MiB
  awk '/^VmRSS:/ {r=$2} /^VmHWM:/ {h=$2} END {printf "rss %.1f MiB, peak %.1f MiB", r/1024, h/1024}' "/proc/$1/status"
}

# A fresh database for BACKEND; prints its URL.
new_db() {
  local backend="$1" name="$2"
  case "$backend" in
    sqlite) echo "sqlite://$WORK/$name.db" ;;
    postgres)
      local db="scimd_bench_${name}_$$"
      psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >&2
      DBS+=("$db")
      echo "${PG_ADMIN%/*}/$db"
      ;;
    *) echo "run.sh: unknown backend '$backend'" >&2; exit 2 ;;
  esac
}

# Tenant "bench" and a token (in TOKEN) on DB_URL.
make_tenant() {
  SCIMD_DATABASE_URL="$1" "$BIN" migrate > /dev/null 2>&1
  SCIMD_DATABASE_URL="$1" "$BIN" tenant create bench > /dev/null 2>&1
  TOKEN="$(SCIMD_DATABASE_URL="$1" "$BIN" token create --tenant bench --name bench 2> /dev/null)"
}

# Serve DB_URL; sets SCIMD_PID, SCIMD_PORT and STARTUP_MS (exec to /readyz answering 200).
# Further arguments go to `scimd serve`; without any, the tenant rate limit is
# off (phases 1 and 2 measure capacity, and one tenant drives all of it).
start_scimd() {
  local url="$1" log="$2"; shift 2
  local extra=("$@")
  if [ ${#extra[@]} -eq 0 ]; then extra=(--tenant-rate-limit 0); fi
  SCIMD_PORT="$(free_port)"
  local t0; t0="$(now_ms)"
  SCIMD_DATABASE_URL="$url" "$BIN" serve --listen "127.0.0.1:$SCIMD_PORT" --no-bootstrap "${extra[@]}" 2>> "$log" &
  SCIMD_PID=$!
  PIDS+=("$SCIMD_PID")
  for _ in $(seq 1 3000); do
    if curl -fs -o /dev/null "http://127.0.0.1:$SCIMD_PORT/readyz" 2> /dev/null; then
      STARTUP_MS=$(($(now_ms) - t0))
      return 0
    fi
    kill -0 "$SCIMD_PID" 2> /dev/null || break
    sleep 0.005
  done
  echo "run.sh: scimd did not become ready; its log:" >&2
  tail -n 20 "$log" >&2
  exit 1
}

stop_pid() {
  kill -TERM "$1" 2> /dev/null || true
  wait "$1" 2> /dev/null || true
}

# A fresh peer; sets PEER_PID, PEER_PORT, PEER_TOKEN.
start_peer() {
  PEER_PORT="$(free_port)"
  PEER_TOKEN="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
  bash bench/peer.sh "$PEER_PORT" "$PEER_TOKEN" > "$WORK/peer.log" 2>&1 &
  PEER_PID=$!
  PIDS+=("$PEER_PID")
  for _ in $(seq 1 600); do
    if curl -fs -o /dev/null -H "Authorization: Bearer $PEER_TOKEN" \
        "http://127.0.0.1:$PEER_PORT/bench/v2/ServiceProviderConfig" 2> /dev/null; then
      return 0
    fi
    kill -0 "$PEER_PID" 2> /dev/null || break
    sleep 0.1
  done
  echo "run.sh: the peer did not start; its log:" >&2
  tail -n 20 "$WORK/peer.log" >&2
  exit 1
}

STATUS=0
IFS=',' read -r -a BACKEND_LIST <<< "$BACKENDS"
if [ "$PEER" = 1 ] && [ "$COMPARE" = 1 ]; then
  echo "=== peer: scim2-server virtualenv"
  bash bench/peer.sh --prepare
fi

COMMIT="$(git rev-parse --short HEAD 2> /dev/null || echo '?')$(git diff --quiet HEAD -- crates 2> /dev/null || echo ' (with uncommitted changes)')"
note "scimd-bench run: $(date -u +%Y-%m-%dT%H:%M:%SZ), scimd $COMMIT, smoke=$SMOKE"
VERSIONS="$(rustc --version)"
if pg_up; then VERSIONS="$VERSIONS; PostgreSQL $(psql "$PG_ADMIN" -Atc 'SHOW server_version')"; fi
if [ -x bench/.venv/bin/python ]; then
  VERSIONS="$VERSIONS; $(bench/.venv/bin/python -c 'import importlib.metadata as m, sys
print("scim2-server", m.version("scim2-server"), "on waitress", m.version("waitress"), "and Python", sys.version.split()[0])')"
fi
note "versions: $VERSIONS"
note "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(free -g | awk '/^Mem:/ {print $2}') GiB, load average $(cut -d' ' -f1-3 /proc/loadavg)"

for backend in "${BACKEND_LIST[@]}"; do
  if [ "$COMPARE" = 1 ]; then
    echo "=== phase 1 ($backend): bare route, scimd, peer"
    url="$(new_db "$backend" compare)"
    make_tenant "$url"
    start_scimd "$url" "$WORK/scimd-$backend.log"
    note "[$backend] scimd startup on an empty database: ${STARTUP_MS} ms"
    args=(--scimd-url "http://127.0.0.1:$SCIMD_PORT/scim/v2/bench" --scimd-label "scimd-$backend"
          --scimd-pid "$SCIMD_PID" --bare-url "http://127.0.0.1:$SCIMD_PORT/healthz")
    if [ "$PEER" = 1 ]; then
      start_peer
      args+=(--peer-url "http://127.0.0.1:$PEER_PORT/bench/v2" --peer-pid "$PEER_PID")
    fi
    title="scimd-$backend vs $([ "$PEER" = 1 ] && echo 'peer and ')bare route · $(date -u +%Y-%m-%d) · scimd $COMMIT · release build"
    if [ "$SMOKE" = 1 ]; then title="$title · smoke sizes"; fi
    rc=0
    SCIMD_BENCH_TOKEN="$TOKEN" PEER_BENCH_TOKEN="${PEER_TOKEN:-}" "$BENCH" compare "${args[@]}" "${COMPARE_ARGS[@]}" \
        "${EXTRA[@]}" --json "$OUT/compare-$backend.json" --chart "$OUT/$backend-compare.svg" --title "$title" \
        > "$OUT/compare-$backend.txt" || rc=$?
    cat "$OUT/compare-$backend.txt"
    note "[$backend] scimd memory after the comparison: $(mem "$SCIMD_PID")"
    if [ "$rc" != 0 ]; then note "[$backend] comparison: scenarios with errors (exit $rc)"; STATUS=1; fi
    stop_pid "$SCIMD_PID"
    if [ "$PEER" = 1 ]; then stop_pid "$PEER_PID"; fi
  fi

  if [ "$SCALE" = 1 ]; then
    echo "=== phase 2 ($backend): scimd with $SCALE_USERS users in one tenant"
    url="$(new_db "$backend" scale)"
    make_tenant "$url"
    t0="$(now_ms)"
    bash bench/load_users.sh "$url" bench "$SCALE_USERS"
    note "[$backend] bulk load of $SCALE_USERS users: $(($(now_ms) - t0)) ms"
    start_scimd "$url" "$WORK/scimd-scale-$backend.log"
    note "[$backend] scimd startup with $SCALE_USERS users: ${STARTUP_MS} ms; $(mem "$SCIMD_PID")"
    base="http://127.0.0.1:$SCIMD_PORT/scim/v2/bench"
    rc=0
    SCIMD_BENCH_TOKEN="$TOKEN" "$BENCH" run --base-url "$base" --label "scimd-$backend-scale-c1" --server-pid "$SCIMD_PID" \
        --existing-users --concurrency 1 --scenarios get_by_id,filter_username,list_page_deep \
        "${SCALE_LAT_ARGS[@]}" --json "$OUT/scale-latency-$backend.json" > "$OUT/scale-latency-$backend.txt" || rc=$?
    cat "$OUT/scale-latency-$backend.txt"
    SCIMD_BENCH_TOKEN="$TOKEN" "$BENCH" run --base-url "$base" --label "scimd-$backend-scale" --server-pid "$SCIMD_PID" \
        --existing-users --concurrency 32 \
        --scenarios get_by_id,filter_username,patch_active,list_page_100,group_fill,member_add_remove,group_get_excluded_members \
        "${SCALE_TPUT_ARGS[@]}" --json "$OUT/scale-$backend.json" > "$OUT/scale-$backend.txt" || rc=$?
    cat "$OUT/scale-$backend.txt"
    note "[$backend] scimd memory after the scale runs: $(mem "$SCIMD_PID")"
    if [ "$rc" != 0 ]; then note "[$backend] scale runs: scenarios with errors (exit $rc)"; STATUS=1; fi
    stop_pid "$SCIMD_PID"
    start_scimd "$url" "$WORK/scimd-scale-$backend.log"
    note "[$backend] scimd restart with $SCALE_USERS users: ${STARTUP_MS} ms; $(mem "$SCIMD_PID")"
    stop_pid "$SCIMD_PID"
  fi

  if [ "$ABUSE" = 1 ]; then
    echo "=== phase 3 ($backend): abuse, scimd with its default limits (tenant rate 200/s, bursts of 400)"
    url="$(new_db "$backend" abuse)"
    make_tenant "$url"
    SCIMD_DATABASE_URL="$url" "$BIN" tenant create other > /dev/null 2>&1
    OTHER_TOKEN="$(SCIMD_DATABASE_URL="$url" "$BIN" token create --tenant other --name bench 2> /dev/null)"
    abuse_serve=(--tenant-rate-limit 200 --tenant-rate-burst 400)
    abuse_args=()
    if [ "$SMOKE" = 1 ]; then abuse_serve+=(--header-read-timeout 2); abuse_args+=(--smoke); fi
    start_scimd "$url" "$WORK/scimd-abuse-$backend.log" "${abuse_serve[@]}"
    rc=0
    SCIMD_BENCH_TOKEN="$TOKEN" SCIMD_BENCH_OTHER_TOKEN="$OTHER_TOKEN" "$BENCH" abuse \
        --base-url "http://127.0.0.1:$SCIMD_PORT/scim/v2/bench" \
        --other-base-url "http://127.0.0.1:$SCIMD_PORT/scim/v2/other" --server-pid "$SCIMD_PID" "${abuse_args[@]}" \
        --json "$OUT/abuse-$backend.json" > "$OUT/abuse-$backend.txt" || rc=$?
    cat "$OUT/abuse-$backend.txt"
    note "[$backend] scimd memory after the abuse runs: $(mem "$SCIMD_PID")"
    if [ "$rc" != 0 ]; then note "[$backend] abuse: a 5xx or a dead server (exit $rc)"; STATUS=1; fi
    t0="$(now_ms)"
    stop_pid "$SCIMD_PID"
    note "[$backend] scimd stopped $(($(now_ms) - t0)) ms after SIGTERM"
  fi
done

echo "=== summary ($SUMMARY)"
cat "$SUMMARY"
if [ "$STATUS" != 0 ]; then echo "bench: some scenarios had errors" >&2; fi
exit "$STATUS"
