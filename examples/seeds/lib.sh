# Shared by the seed recipes in this directory: HTTP calls to the admin API
# and to SCIM (shaped like Okta's requests), JSON look-ups and assertions.
# Sourced by each script with its arguments:
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
# Needs bash, curl and python3 only.
set -uo pipefail

if [ $# -ne 4 ]; then
  echo "usage: bash $0 BASE_URL ADMIN_TOKEN SCIM_TOKEN TENANT   (a fresh, empty tenant)" >&2
  exit 2
fi
BASE="${1%/}" ADMIN_TOKEN="$2" SCIM_TOKEN="$3" TENANT="$4"
ADM="$BASE/admin/v1/tenants/$TENANT"   # the admin API of the tenant
SCIM="$BASE/scim/v2/$TENANT"           # its SCIM base URL, as pasted into Okta
USER_SCHEMA='urn:ietf:params:scim:schemas:core:2.0:User'
GROUP_SCHEMA='urn:ietf:params:scim:schemas:core:2.0:Group'
PATCH_OP='"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]'
PASSED=0 FAILED=0 GAPS=0 STATUS="" BODY="" ID=""
OUT="$(mktemp)"
trap 'rm -f "$OUT"' EXIT

# call TOKEN CONTENT_TYPE METHOD URL [BODY]: sets STATUS and BODY.
call() {
  local args=(-s -o "$OUT" -w '%{http_code}' -X "$3" -H "Authorization: Bearer $1"
    -H 'Accept: application/scim+json, application/json' -H 'User-Agent: Okta SCIM Client 1.0.0')
  [ $# -ge 5 ] && args+=(-H "Content-Type: $2" --data-binary "$5")
  STATUS="$(curl "${args[@]}" "$4")" || STATUS="${STATUS:-000}"
  BODY="$(cat "$OUT")"
}
adm() { call "$ADMIN_TOKEN" application/json "$@"; }   # adm METHOD URL [BODY]
scim() { call "$SCIM_TOKEN" application/scim+json "$@"; }  # scim METHOD URL [BODY]

# js EXPR: a Python expression over the last answer's JSON `d`; strings print
# bare (newlines as \n), None as null, the rest as compact JSON. One python3
# runs beside the script and answers every js call, so a check costs no start
# (call js at the top level or in $(...), not in a ( ) subshell or a pipeline,
# where bash does not pass the coprocess on).
coproc JSPY { python3 -I -S -c '
import json, sys
while True:
    head = sys.stdin.buffer.readline()
    if not head:
        break
    n, m = map(int, head.split())
    expr, raw = sys.stdin.buffer.read(n).decode(), sys.stdin.buffer.read(m).decode()
    try: d = json.loads(raw or "null")
    except ValueError: d = None
    try: v = eval(expr)
    except Exception as e: v = "<%s: %s>" % (type(e).__name__, e)
    v = v if isinstance(v, str) else json.dumps(v, sort_keys=True, separators=(",", ":"))
    sys.stdout.write(v.replace("\n", "\\n") + "\n")
    sys.stdout.flush()'
}
js() {
  local LC_ALL=C line   # byte lengths
  printf '%d %d\n%s%s' "${#1}" "${#BODY}" "$1" "$BODY" >&"${JSPY[1]}"
  IFS= read -r line <&"${JSPY[0]}"
  printf '%s\n' "$line"
}
# sorted_words WORD...: the words sorted, space-separated.
sorted_words() {
  local BODY
  BODY="$(printf '"%s",' "$@")" && BODY="[${BODY%,}]"
  js '" ".join(sorted(d))'
}
# urlenc TEXT: TEXT percent-encoded for a query string (ASCII).
urlenc() {
  local s="$1" out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c="${s:i:1}"
    case "$c" in [a-zA-Z0-9._~-]) out+="$c" ;; *) out+="$(printf '%%%02X' "'$c")" ;; esac
  done
  echo "$out"
}

# id_of_answer: the "id" of the last answer, or "".
id_of_answer() { js '(d.get("id") if isinstance(d, dict) else None) or ""'; }

# recipe METHOD PATH BODY: one line of the README recipe, against the tenant's
# admin API; sets ID to the created item's id. A refused line is a failure.
recipe() {
  adm "$1" "$ADM/$2" "$3"
  ID="$(id_of_answer)"
  echo "# recipe: $1 $2 $3 -> $STATUS"
  case "$STATUS" in 2??) ;; *) FAILED=$((FAILED + 1)); echo "FAIL - README recipe line '$1 $2 $3': $STATUS $BODY" ;; esac
}

# expect PROMISE GOT WANT
expect() {
  if [ "$2" = "$3" ]; then PASSED=$((PASSED + 1)); echo "ok - $1"
  else FAILED=$((FAILED + 1)); echo "FAIL - $1: saw '$2', wanted '$3'"; fi
}
# expect_match PROMISE GOT GLOB: GOT matches the shell pattern GLOB.
expect_match() {
  # shellcheck disable=SC2053
  if [[ "$2" == $3 ]]; then PASSED=$((PASSED + 1)); echo "ok - $1"
  else FAILED=$((FAILED + 1)); echo "FAIL - $1: saw '$2', wanted '$3'"; fi
}
# known_gap PROMISE GOT WANT: a promise scimd does not keep yet (see the
# report in the script); it is shown but not counted as failed.
known_gap() {
  if [ "$2" = "$3" ]; then PASSED=$((PASSED + 1)); echo "ok - $1 (the known gap is fixed: make it an expect)"
  else GAPS=$((GAPS + 1)); echo "KNOWN GAP - $1: saw '$2', wanted '$3'"; fi
}
finish() {
  echo "$PASSED passed, $FAILED failed"
  [ "$GAPS" -eq 0 ] || echo "($GAPS known gaps, not counted)"
  [ "$FAILED" -eq 0 ]
  exit
}

# status_and EXPR: "STATUS value" of the last answer, e.g. "409 uniqueness".
status_and() { echo "$STATUS $(js "$1")"; }

# roles USER_ID: the user's roles from /access, sorted, as
# "workspace/role (default|manual|group NAME)" joined by ", "; "none" if none.
roles() {
  adm GET "$ADM/users/$1/access"
  js '", ".join(sorted("%s/%s (%s)" % (r["workspace"]["name"], r["role"]["name"],
      "group " + r["from"]["group"]["name"] if r["source"].startswith("group:") else r["source"])
      for r in d["roles"])) or "none"'
}
# licence USER_ID: "held CAL / waiting for CAL" from /access ("-" for none).
licence() {
  adm GET "$ADM/users/$1/access"
  js '"%s / waiting for %s" % (((d.get("licence") or {}).get("type") or {}).get("name") or "-",
      ((d.get("waiting") or {}).get("for") or {}).get("name") or "-")'
}

# --- What Okta sends (shared/idp-requests.md, section 1) ---------------------
# okta_create_user USERNAME GIVEN FAMILY: POST /Users as Okta does; ID = new id.
okta_create_user() {
  scim POST "$SCIM/Users" "{\"schemas\":[\"$USER_SCHEMA\"],\"userName\":\"$1\",
    \"name\":{\"givenName\":\"$2\",\"familyName\":\"$3\"},
    \"emails\":[{\"primary\":true,\"value\":\"$1\",\"type\":\"work\"}],\"displayName\":\"$2 $3\",
    \"locale\":\"en-US\",\"externalId\":\"00u$RANDOM$RANDOM\",\"groups\":[],\"password\":\"1mz050nq\",\"active\":true}"
  ID="$(id_of_answer)"
}
# okta_test_credentials: "Test API Credentials" (a first page of users); an
# expect that it answers 200 with a ListResponse.
okta_test_credentials() {
  scim GET "$SCIM/Users?startIndex=1&count=2"
  expect "Okta's Test API Credentials gets a ListResponse (200)" \
    "$(status_and '"ListResponse" in d["schemas"][0] and isinstance(d["totalResults"], int)')" "200 true"
}
# okta_set_active USER_ID true|false: OIN (de)activation, a PATCH without a path.
okta_set_active() {
  scim PATCH "$SCIM/Users/$1" "{$PATCH_OP,\"Operations\":[{\"op\":\"replace\",\"value\":{\"active\":$2}}]}"
}
# okta_push_group NAME: Push Groups; ID = the group's id.
okta_push_group() {
  scim POST "$SCIM/Groups" "{\"schemas\":[\"$GROUP_SCHEMA\"],\"displayName\":\"$1\",\"members\":[]}"
  ID="$(id_of_answer)"
}
# okta_add_member GROUP_ID USER_ID [DISPLAY] / okta_remove_member GROUP_ID USER_ID
okta_add_member() {
  scim PATCH "$SCIM/Groups/$1" \
    "{$PATCH_OP,\"Operations\":[{\"op\":\"add\",\"path\":\"members\",\"value\":[{\"value\":\"$2\",\"display\":\"${3:-$2}\"}]}]}"
}
okta_remove_member() {
  scim PATCH "$SCIM/Groups/$1" \
    "{$PATCH_OP,\"Operations\":[{\"op\":\"remove\",\"path\":\"members[value eq \\\"$2\\\"]\"}]}"
}
# okta_rename_group GROUP_ID NAME: Okta's rename repeats the read-only id.
okta_rename_group() {
  scim PATCH "$SCIM/Groups/$1" \
    "{$PATCH_OP,\"Operations\":[{\"op\":\"replace\",\"value\":{\"id\":\"$1\",\"displayName\":\"$2\"}}]}"
}
# count_users USERNAME: how many users SCIM finds by Okta's existence check.
count_users() {
  scim GET "$SCIM/Users?filter=$(urlenc "userName eq \"$1\"")&startIndex=1&count=100"
  js 'd["totalResults"]'
}
