#!/usr/bin/env bash
# Property-based tests of the admin API against its own OpenAPI document:
# schemathesis (pinned, in a virtualenv this script makes) reads
# GET /admin/v1/openapi.json from a fresh server and sends it generated
# requests, valid and not; the run fails on any server error (5xx) and on
# any answer the document does not allow (a status it does not list, another
# content type, a body that does not match its schema).
#
#   bash .ci/schemathesis.sh BIN        e.g. bash .ci/schemathesis.sh target/release/scimd
#
# The server runs on a free loopback port with a new SQLite database, one
# tenant `acme` (every `{tenant}` of the run) and an operator token.
#
# Environment:
#   SCHEMATHESIS_VENV          virtualenv to create/reuse (default: target/schemathesis-venv)
#   SCHEMATHESIS_PYTHON        interpreter that creates it (default: python3)
#   SCHEMATHESIS_MAX_EXAMPLES  test cases per operation and phase (default: 40)
#   SCHEMATHESIS_SEED          the run's seed (default: fixed, so that CI runs the same cases each time)
#   SCHEMATHESIS_DATABASE_URL  an empty database to serve instead (default: a new SQLite file)
set -euo pipefail

SCHEMATHESIS_REQ="schemathesis==4.32.5"

if [ $# -ne 1 ]; then sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; fi
BIN="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SCHEMATHESIS_VENV:-$ROOT/target/schemathesis-venv}"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-40}"
SEED="${SCHEMATHESIS_SEED:-20261207}"

# --- virtualenv ------------------------------------------------------------
STAMP="$VENV/.requirements"
if [ ! -x "$VENV/bin/schemathesis" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$SCHEMATHESIS_REQ" ]; then
  echo "schemathesis: preparing virtualenv $VENV ($SCHEMATHESIS_REQ)"
  [ -x "$VENV/bin/python" ] || "${SCHEMATHESIS_PYTHON:-python3}" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q "$SCHEMATHESIS_REQ"
  printf '%s' "$SCHEMATHESIS_REQ" > "$STAMP"
fi

# --- a fresh server ----------------------------------------------------------
WORK="$(mktemp -d)"
SERVER=""
finish() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
  rm -rf "$WORK"
}
trap finish EXIT
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export SCIMD_DATABASE_URL="${SCHEMATHESIS_DATABASE_URL:-sqlite://$WORK/scimd.db}"
# Webhook secrets need a key; the run's own, thrown away with the database.
export SCIMD_SECRETS_KEY_FILE="$WORK/secrets.key"
"$BIN" serve --listen "127.0.0.1:$PORT" --no-bootstrap > "$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" > /dev/null 2>&1 && break
  sleep 0.1
done
"$BIN" tenant create acme > /dev/null
TOKEN="$("$BIN" admin-token create --name schemathesis-operator 2> /dev/null)"
# What the run may revoke: its own token, listed by GET /admin/v1/admin-tokens,
# would otherwise be revoked by a stateful scenario (list, then delete what was
# listed) and every later request would be 401.
"$BIN" admin-token create --name schemathesis-decoy > /dev/null 2>&1

# Every `{tenant}` is the tenant made above, so that requests reach the
# handlers (tenants the run makes itself are reached by POST and GET /tenants).
# Deleting it is safe: DELETE asks for its name again in the body, which
# generated bodies do not send, and the run cannot delete what it never names.
cat > "$WORK/schemathesis.toml" <<'EOF'
[parameters]
"path.tenant" = "acme"

[[operations]]
include-operation-id = "revoke_admin_token"
parameters = { "path.name" = "schemathesis-decoy" }
EOF

echo "schemathesis: $SCHEMATHESIS_REQ against http://127.0.0.1:$PORT/admin/v1/openapi.json ($MAX_EXAMPLES examples, seed $SEED)"
cd "$WORK"
status=0
"$VENV/bin/schemathesis" --config-file "$WORK/schemathesis.toml" --no-color run \
  "http://127.0.0.1:$PORT/admin/v1/openapi.json" \
  --header "Authorization: Bearer $TOKEN" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "$MAX_EXAMPLES" --seed "$SEED" --workers 2 \
  --generation-database none --request-timeout 30 || status=$?

# The server outlived the run, and nothing panicked on the way.
if ! kill -0 "$SERVER" 2>/dev/null; then
  echo "schemathesis: the server died during the run" >&2
  tail -n 20 "$WORK/server.log" >&2
  exit 1
fi
if grep -q "panicked" "$WORK/server.log"; then
  echo "schemathesis: the server panicked during the run" >&2
  grep -m 5 "panicked" "$WORK/server.log" >&2
  exit 1
fi
# The run's tenant and token lasted to the end, so every operation was tried for real.
if ! curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/admin/v1/tenants/acme"; then
  echo "schemathesis: the run's tenant or admin token did not last the run (see the config above)" >&2
  exit 1
fi
if [ "$status" -ne 0 ]; then
  echo "schemathesis: the admin API contradicts its OpenAPI document, or failed (exit $status)" >&2
  exit "$status"
fi
echo "schemathesis: passed"
