#!/usr/bin/env bash
# Run the third-party SCIM conformance checkers against a running scimd.
#
#   bash .ci/checkers.sh BASE_URL TOKEN
#   e.g. bash .ci/checkers.sh http://127.0.0.1:8080/scim/v2/default s3cret
#
# Checkers (pinned; see .ci/CHECKERS.md for what each one tests):
#   * scim2-tester 0.5.2  (python-scim), driven by .ci/run_scim2_tester.py
#   * scim-sanity 0.7.4   `scim-sanity probe URL --token T --strict --json-output --i-accept-side-effects`
# Both create, modify and delete Users/Groups on the target and clean up after
# themselves: point them at a throw-away tenant / empty store, never at real data.
#
# Environment:
#   CHECKERS_VENV    virtualenv to create/reuse        (default: .ci/.venv)
#   CHECKERS_PYTHON  interpreter used to create it     (default: python3, needs >= 3.11)
#   CHECKERS_ONLY    subset to run: "scim2-tester", "scim-sanity" (default: both)
#   CHECKERS_ALLOW   extra allow-list entries, one per line, same format as
#                    KNOWN_CHECKER_BUGS below (each MUST carry "# RFC ..." proof)
#   CHECKERS_TRACE   directory: scim2-tester writes every HTTP exchange there
#   SCIM2_TESTER_ARGS extra args for run_scim2_tester.py, e.g.
#                    "--include-tags discovery,crud --resource-types User"
#
# Exit status: 0 when no checker reports an un-allowed failure, 1 otherwise
# (also 1 when a checker could not run or its output could not be parsed).
set -uo pipefail

# ---------------------------------------------------------------------------
# Allow-list of KNOWN CHECKER BUGS (empty by default).
# One entry per line: "<glob> # <RFC 7643/7644 section proving the checker wrong>".
# The glob (fnmatch, case-sensitive) is matched against the failure id, printed
# as the "FAIL <id>" line in the output:
#   scim2-tester/<ResourceType or ->/<check name>: <reason>
#   scim-sanity/<test name>: <message>
# An entry without "# ... RFC ..." is refused. Never allow-list a real scimd bug.
# Example (scim-sanity 0.7.4 fails a PATCH answered 204, which the RFC allows;
# NOT needed for scimd as long as PATCH answers 200 + the resource):
#   'scim-sanity/PATCH /*/{id}*: Expected*got 204* # RFC 7644 §3.5.2: server "MAY return HTTP status code 204 (No Content)" on a successful PATCH'
KNOWN_CHECKER_BUGS=(
)
# ---------------------------------------------------------------------------

SCIM2_TESTER_REQ="scim2-tester[httpx2]==0.5.2"
SCIM_SANITY_REQ="scim-sanity==0.7.4"
# Transitive pins: the verdicts of scim2-tester come from scim2-client/scim2-models
# validation, so a new release of those could change results under our feet.
EXTRA_PINS=("scim2-client==0.13.2" "scim2-models==0.12.3" "httpx2==2.16.2")

usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; }

if [ $# -ne 2 ]; then usage >&2; exit 2; fi
BASE_URL="${1%/}"
TOKEN="$2"

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${CHECKERS_VENV:-$HERE/.venv}"
PY_CREATE="${CHECKERS_PYTHON:-python3}"
ONLY="${CHECKERS_ONLY:-scim2-tester scim-sanity}"

case "$BASE_URL" in
  http://127.*|http://localhost*|http://\[::1\]*|https://127.*|https://localhost*|https://\[::1\]*) ;;
  *) echo "checkers: refusing non-loopback BASE_URL '$BASE_URL' (the checkers create and delete resources)" >&2; exit 2 ;;
esac

# --- virtualenv ------------------------------------------------------------
REQS=("$SCIM2_TESTER_REQ" "$SCIM_SANITY_REQ" "${EXTRA_PINS[@]}")
STAMP="$VENV/.checkers-requirements"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "${REQS[*]}" ]; then
  echo "checkers: preparing virtualenv $VENV (${REQS[*]})"
  if ! "$PY_CREATE" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "checkers: $PY_CREATE is older than 3.11 (scim2-tester needs >= 3.11); set CHECKERS_PYTHON" >&2
    exit 1
  fi
  [ -x "$VENV/bin/python" ] || "$PY_CREATE" -m venv "$VENV" || { echo "checkers: python -m venv failed" >&2; exit 1; }
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q "${REQS[@]}" \
    || { echo "checkers: pip install failed" >&2; exit 1; }
  printf '%s' "${REQS[*]}" > "$STAMP"
  printf '*\n' > "$VENV/.gitignore"   # keep the venv out of git wherever it lives
fi
PY="$VENV/bin/python"

# The checkers only ever talk to loopback: keep any proxy of the environment out.
NOPROXY=(env -u http_proxy -u https_proxy -u HTTP_PROXY -u HTTPS_PROXY -u all_proxy -u ALL_PROXY
         NO_PROXY=127.0.0.1,localhost,::1 no_proxy=127.0.0.1,localhost,::1)

# --- allow-list --------------------------------------------------------------
ALLOW=()
for entry in "${KNOWN_CHECKER_BUGS[@]}"; do ALLOW+=("$entry"); done
if [ -n "${CHECKERS_ALLOW:-}" ]; then
  while IFS= read -r entry; do
    [ -n "${entry//[[:space:]]/}" ] && ALLOW+=("$entry")
  done <<< "$CHECKERS_ALLOW"
fi
for entry in "${ALLOW[@]}"; do
  comment="${entry#*#}"
  if [ "$comment" = "$entry" ] || ! grep -qi 'RFC' <<< "$comment"; then
    echo "checkers: allow-list entry lacks an '# RFC ...' justification: $entry" >&2
    exit 2
  fi
done
ALLOW_ARGS=()
for entry in "${ALLOW[@]}"; do ALLOW_ARGS+=(--allow "$entry"); done

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
declare -A RC
TOTAL_P=0; TOTAL_F=0; TOTAL_S=0

add_counts() {  # summary.json -> adds to totals, echoes "p f s"
  local p f s
  read -r p f s < <("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["passed"], d["failed"], d["skipped"])' "$1") || return 1
  TOTAL_P=$((TOTAL_P + p)); TOTAL_F=$((TOTAL_F + f)); TOTAL_S=$((TOTAL_S + s))
}

# --- scim2-tester ----------------------------------------------------------
if [[ " $ONLY " == *" scim2-tester "* ]]; then
  echo
  echo "=== scim2-tester 0.5.2 -> $BASE_URL"
  TRACE_ARGS=()
  if [ -n "${CHECKERS_TRACE:-}" ]; then mkdir -p "$CHECKERS_TRACE"; TRACE_ARGS=(--trace "$CHECKERS_TRACE/scim2-tester.http.log"); fi
  # shellcheck disable=SC2086
  "${NOPROXY[@]}" "$PY" "$HERE/run_scim2_tester.py" "$BASE_URL" "$TOKEN" \
      --summary-file "$WORK/scim2-tester.json" "${ALLOW_ARGS[@]}" "${TRACE_ARGS[@]}" ${SCIM2_TESTER_ARGS:-}
  RC[scim2-tester]=$?
  if [ ! -s "$WORK/scim2-tester.json" ] || ! add_counts "$WORK/scim2-tester.json"; then
    echo "scim2-tester: did not produce a summary (exit ${RC[scim2-tester]}) -> counted as failed"
    RC[scim2-tester]=1; TOTAL_F=$((TOTAL_F + 1))
  fi
fi

# --- scim-sanity -------------------------------------------------------------
if [[ " $ONLY " == *" scim-sanity "* ]]; then
  echo
  echo "=== scim-sanity 0.7.4 probe (strict) -> $BASE_URL"
  "${NOPROXY[@]}" "$VENV/bin/scim-sanity" probe "$BASE_URL" --token "$TOKEN" \
      --strict --json-output --i-accept-side-effects --timeout 30 \
      > "$WORK/scim-sanity.out" 2> "$WORK/scim-sanity.err"
  sanity_exit=$?
  # Apply the allow-list and print failures; exit status of this step is the verdict.
  "$PY" - "$WORK/scim-sanity.out" "$WORK/scim-sanity.json" "$sanity_exit" "${ALLOW[@]}" <<'PYEOF'
import fnmatch, json, sys
out, summary_path, sanity_exit, allow = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
allow = [(a.partition("#")[0].strip(), a.partition("#")[2].strip()) for a in allow]
raw = open(out, encoding="utf-8", errors="replace").read()
try:
    d = json.loads(raw)
    results = d["results"]
except Exception as exc:
    print(f"scim-sanity: could not parse JSON output ({exc}); exit {sanity_exit}; raw output:")
    print(raw[-4000:])
    sys.exit(1)
counts = {"passed": 0, "failed": 0, "skipped": 0, "warnings": 0, "allowed": 0}
failures, used = [], set()
for r in results:
    st, name, msg = r.get("status"), r.get("name", "?"), r.get("message", "")
    ident = f"scim-sanity/{name}: {msg}"
    if st == "pass":
        counts["passed"] += 1
    elif st == "skip":
        counts["skipped"] += 1
    elif st == "warn":
        counts["warnings"] += 1
        print(f"WARNING  [{r.get('phase', '')}] {name}: {msg}")
    else:  # "fail", "error" and anything unknown
        hit = next((a for a in allow if fnmatch.fnmatchcase(ident, a[0])), None)
        if hit:
            used.add(hit[0]); counts["allowed"] += 1
            print(f"ALLOWED (known checker bug: {hit[1]})  scim-sanity/{name}: {msg}")
        else:
            counts["failed"] += 1
            failures.append({"check": name, "phase": r.get("phase"), "status": st, "reason": msg})
            print(f"FAIL  scim-sanity/{name} [{st}] ({r.get('phase', '')}): {msg}")
for glob, why in allow:
    if glob.startswith("scim-sanity") and glob not in used:
        print(f"note: allow-list entry matched nothing (stale?): {glob}  # {why}")
if sanity_exit not in (0, 1):
    counts["failed"] += 1
    failures.append({"check": "scim-sanity process", "status": "error", "reason": f"exit {sanity_exit}"})
    print(f"FAIL  scim-sanity exited {sanity_exit}")
if counts["passed"] == 0 and counts["failed"] == 0:
    counts["failed"] += 1
    failures.append({"check": "scim-sanity", "status": "error", "reason": "no test passed"})
    print("FAIL  scim-sanity: no test passed at all")
print(f"scim-sanity: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"
      f" ({counts['allowed']} allowed, {counts['warnings']} warnings)")
json.dump({"checker": "scim-sanity", **counts, "failures": failures}, open(summary_path, "w"), indent=1)
sys.exit(1 if counts["failed"] else 0)
PYEOF
  RC[scim-sanity]=$?
  if [ -s "$WORK/scim-sanity.err" ]; then
    echo "--- scim-sanity stderr:"; tail -n 40 "$WORK/scim-sanity.err"
  fi
  if [ ! -s "$WORK/scim-sanity.json" ] || ! add_counts "$WORK/scim-sanity.json"; then
    RC[scim-sanity]=1; TOTAL_F=$((TOTAL_F + 1))
  fi
fi

# --- summary ---------------------------------------------------------------
echo
echo "=== conformance checkers summary ($BASE_URL)"
status=0
for c in scim2-tester scim-sanity; do
  [ -n "${RC[$c]+x}" ] || continue
  if [ "${RC[$c]}" -eq 0 ]; then echo "  $c: OK"; else echo "  $c: FAILED"; status=1; fi
done
echo "checkers: $TOTAL_P passed, $TOTAL_F failed, $TOTAL_S skipped"
exit $status
