#!/usr/bin/env bash
# The peer of the benchmark: the Python reference SCIM server scim2-server
# (PyPI, pinned), in-memory storage, served by waitress (threaded WSGI, HTTP/1.1
# keep-alive) through bench/peer_server.py.
#
#   bash bench/peer.sh --prepare            # only create/update the virtualenv
#   bash bench/peer.sh PORT [TOKEN]         # serve in the foreground on 127.0.0.1:PORT
#
# Base URL: http://127.0.0.1:PORT/bench/v2 (tenant "bench"). With TOKEN, only
# "Authorization: Bearer TOKEN" is accepted; without, every request is.
#
# Environment: PEER_VENV (default bench/.venv), PEER_PYTHON (default python3,
# needs >= 3.11), PEER_THREADS (waitress worker threads, default 8).
set -euo pipefail

SCIM2_SERVER_REQ="scim2-server==0.8.3"
WAITRESS_REQ="waitress==3.0.2"
# Transitive pins, so that a new release does not change the peer under our feet.
EXTRA_PINS=("scim2-models==0.12.3" "pydantic==2.14.3")

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${PEER_VENV:-$HERE/.venv}"
PY_CREATE="${PEER_PYTHON:-python3}"
REQS=("$SCIM2_SERVER_REQ" "$WAITRESS_REQ" "${EXTRA_PINS[@]}")
STAMP="$VENV/.peer-requirements"

if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "${REQS[*]}" ]; then
  echo "peer: preparing virtualenv $VENV (${REQS[*]})" >&2
  if ! "$PY_CREATE" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "peer: $PY_CREATE is older than 3.11 (scim2-server needs >= 3.11); set PEER_PYTHON" >&2
    exit 1
  fi
  [ -x "$VENV/bin/python" ] || "$PY_CREATE" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q "${REQS[@]}" >&2
  printf '%s' "${REQS[*]}" > "$STAMP"
  printf '*\n' > "$VENV/.gitignore"   # keep the venv out of git wherever it lives
fi

if [ "${1:-}" = "--prepare" ]; then exit 0; fi
if [ $# -lt 1 ] || [ $# -gt 2 ]; then sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; fi
PORT="$1"
ARGS=(--hostname 127.0.0.1 --port "$PORT" --tenant bench)
if [ $# -eq 2 ]; then ARGS+=(--bearer-token "$2"); fi
exec "$VENV/bin/python" "$HERE/peer_server.py" "${ARGS[@]}"
