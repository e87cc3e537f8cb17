-- Audit trail (issue 13): one row per SCIM request, refused and
-- unauthenticated ones too, written off the request path by the server's
-- one audit batcher. One batcher per process writes its batches one after
-- another through the one writer, so seq order is commit order and a plain
-- seq cursor never passes a row that commits later. AUTOINCREMENT (not a
-- bare rowid) so that seq never goes back after pruning.
-- tenant_id is NULL for a request to a tenant that does not exist;
-- tenant_name is the tenant as the URL named it. summary and event_ids are
-- JSON arrays of text.
CREATE TABLE audit (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id    INTEGER REFERENCES tenants(id) ON DELETE CASCADE,
    tenant_name  TEXT NOT NULL,
    at           TEXT NOT NULL,
    token_name   TEXT,
    request_id   TEXT NOT NULL,
    method       TEXT NOT NULL,
    route        TEXT NOT NULL,
    target_id    TEXT,
    target_name  TEXT,
    status       INTEGER NOT NULL,
    scim_type    TEXT,
    detail       TEXT,
    latency_us   INTEGER NOT NULL,
    summary      TEXT NOT NULL,
    event_ids    TEXT NOT NULL
);
-- A tenant's trail, newest first; and what support asks most: one user or group.
CREATE INDEX audit_trail ON audit (tenant_id, seq);
CREATE INDEX audit_target_id ON audit (tenant_id, target_id, seq);
CREATE INDEX audit_target_name ON audit (tenant_id, target_name, seq);
-- No index on time: pruning walks from the oldest seq (rows are written
-- about when their requests end), so a write pays no index insert for it.
