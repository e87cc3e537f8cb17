#!/usr/bin/env bash
# Bulk-load N users into a scimd database, for the benchmark's scale runs
# (1,000,000 users through POST would take most of an hour of durable commits).
#
#   bash bench/load_users.sh DATABASE_URL TENANT N
#   bash bench/load_users.sh DATABASE_URL 'PREFIX%' N    (N users in every tenant whose name starts with PREFIX)
#   e.g. bash bench/load_users.sh sqlite:///tmp/b.db bench 1000000
#        bash bench/load_users.sh postgres://postgres@127.0.0.1:5432/scimd_bench bench 1000000
#
# The database must be migrated and the tenant created (scimd migrate; scimd
# tenant create TENANT). Rows are written as scimd writes a POSTed user (the
# same document, the same indexed columns), with userName
# bulk-I@bench.example, externalId ext-bulk-I@bench.example and a fixed id
# derived from I. It writes the `resources` table of migration 0001 directly:
# if that table changes, change this script with it. With LOAD_USERS_SPREAD=1
# user I was last modified I seconds after the others' creation (for
# `meta.lastModified` polls); otherwise all at that moment.
set -euo pipefail
if [ $# -ne 3 ]; then sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; fi
SPREAD="${LOAD_USERS_SPREAD:-0}"
case "$SPREAD" in 0|1) ;; *) echo "load_users: LOAD_USERS_SPREAD must be 0 or 1" >&2; exit 2 ;; esac
URL="$1"; TENANT="$2"; N="$3"
case "$N" in ''|*[!0-9]*) echo "load_users: N must be a number" >&2; exit 2 ;; esac
# A tenant name, or a prefix ending in % (tenant names hold no % or _, so LIKE matches exactly these).
case "$TENANT" in ''|*[!A-Za-z0-9%-]*|*%?*) echo "load_users: bad tenant name (a name, or a prefix ending in %)" >&2; exit 2 ;; esac
NOW="2026-01-01T00:00:00.000Z"

case "$URL" in
  sqlite:*)
    FILE="${URL#sqlite:}"; FILE="${FILE#//}"; FILE="${FILE%%\?*}"
    python3 - "$FILE" "$TENANT" "$N" "$NOW" "$SPREAD" <<'PY'
import sqlite3, sys
path, tenant, n, now, spread = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5] == "1"
updated = "strftime('%Y-%m-%dT%H:%M:%fZ', ?, '+' || i || ' seconds')" if spread else "?"
db = sqlite3.connect(path, isolation_level=None)
db.execute("PRAGMA journal_mode = WAL")
tids = [tid for (tid,) in db.execute("SELECT id FROM tenants WHERE name LIKE ? ORDER BY id", (tenant,))]
if not tids:
    sys.exit(f"load_users: no tenant '{tenant}' in {path}")
db.execute("BEGIN IMMEDIATE")
for tid in tids:
  db.execute(
    f"""
    WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?)
    INSERT INTO resources (tenant_id, kind, id, user_name, external_id, display_name, active, doc, version,
                           created_at, updated_at)
    SELECT ?, 'User', printf('%08x-0000-7000-8000-%012x', i, i), 'bulk-' || i || '@bench.example',
           'ext-bulk-' || i || '@bench.example', 'given' || i || ' family' || i, 1,
           json_object('active', json('true'), 'displayName', 'Given' || i || ' Family' || i,
                       'emails', json_array(json_object('primary', json('true'), 'type', 'work',
                                                        'value', 'bulk-' || i || '@bench.example')),
                       'externalId', 'ext-bulk-' || i || '@bench.example',
                       'name', json_object('familyName', 'Family' || i, 'formatted', 'Given' || i || ' Family' || i,
                                           'givenName', 'Given' || i),
                       'schemas', json_array('urn:ietf:params:scim:schemas:core:2.0:User'),
                       'userName', 'bulk-' || i || '@bench.example'),
           1, ?, {updated}
    FROM s
    """,
    (n, tid, now, now),
  )
db.execute("COMMIT")
db.execute("ANALYZE")
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
(count,) = db.execute("SELECT COUNT(*) FROM resources WHERE kind = 'User' AND tenant_id IN (SELECT id FROM tenants WHERE name LIKE ?)", (tenant,)).fetchone()
print(f"load_users: {count} users in {len(tids)} tenant(s) '{tenant}' ({path})")
PY
    ;;
  postgres:*|postgresql:*)
    psql "$URL" -v ON_ERROR_STOP=1 -qAt -v tenant="$TENANT" -v n="$N" -v now="$NOW" -v spread="$SPREAD" <<'SQL'
-- The kept counts (migration 0023) are added once for the whole load: their
-- per-row trigger, fired a million times in one transaction on one counter
-- row, is quadratic (every update of a row walks the versions this
-- transaction made of it).
BEGIN;
ALTER TABLE resources DISABLE TRIGGER resources_counted_insert;
INSERT INTO resources (tenant_id, kind, id, user_name, external_id, display_name, active, doc, version,
                       created_at, updated_at)
SELECT t.id, 'User', lpad(to_hex(i), 8, '0') || '-0000-7000-8000-' || lpad(to_hex(i), 12, '0'),
       'bulk-' || i || '@bench.example', 'ext-bulk-' || i || '@bench.example', 'given' || i || ' family' || i, 1,
       jsonb_build_object('active', true, 'displayName', 'Given' || i || ' Family' || i,
                          'emails', jsonb_build_array(jsonb_build_object('primary', true, 'type', 'work',
                                                                         'value', 'bulk-' || i || '@bench.example')),
                          'externalId', 'ext-bulk-' || i || '@bench.example',
                          'name', jsonb_build_object('familyName', 'Family' || i,
                                                     'formatted', 'Given' || i || ' Family' || i,
                                                     'givenName', 'Given' || i),
                          'schemas', jsonb_build_array('urn:ietf:params:scim:schemas:core:2.0:User'),
                          'userName', 'bulk-' || i || '@bench.example'),
       1, :'now',
       CASE WHEN :spread = 1
            THEN to_char((:'now')::timestamptz AT TIME ZONE 'UTC' + i * interval '1 second',
                         'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
            ELSE :'now' END
FROM tenants t, generate_series(1, :n) AS i
WHERE t.name LIKE :'tenant';
ALTER TABLE resources ENABLE TRIGGER resources_counted_insert;
INSERT INTO resource_counts AS c (tenant_id, shard, users)
SELECT t.id, -1, :n FROM tenants t WHERE t.name LIKE :'tenant'
ON CONFLICT (tenant_id, shard) DO UPDATE SET users = c.users + EXCLUDED.users;
COMMIT;
VACUUM ANALYZE resources;
SELECT 'load_users: ' || COUNT(*) || ' users in tenant(s) ''' || :'tenant' || '''' FROM resources r
  JOIN tenants t ON t.id = r.tenant_id WHERE t.name LIKE :'tenant' AND r.kind = 'User';
SQL
    ;;
  *) echo "load_users: unsupported database URL (sqlite:// or postgres://)" >&2; exit 2 ;;
esac
