-- Audit trail (issue 13): one row per SCIM request, refused and
-- unauthenticated ones too, written off the request path by each process's
-- one audit batcher, a batch at a time. Replicas each have a batcher, so
-- each batch also takes a transaction-level advisory lock before it inserts
-- (store/audit.rs): batches of all replicas then commit one after another,
-- in the order of their seq numbers, and a plain seq cursor never passes a
-- row that commits later. Events need (tx, seq) because provisioning writes
-- run side by side; audit batches are few (about one a second per replica)
-- and can wait for each other.
-- tenant_id is NULL for a request to a tenant that does not exist;
-- tenant_name is the tenant as the URL named it. summary and event_ids are
-- JSON arrays of text.
CREATE TABLE audit (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    BIGINT REFERENCES tenants(id) ON DELETE CASCADE,
    tenant_name  TEXT NOT NULL,
    at           TEXT NOT NULL,
    token_name   TEXT,
    request_id   TEXT NOT NULL,
    method       TEXT NOT NULL,
    route        TEXT NOT NULL,
    target_id    TEXT,
    target_name  TEXT,
    status       BIGINT NOT NULL,
    scim_type    TEXT,
    detail       TEXT,
    latency_us   BIGINT NOT NULL,
    summary      TEXT NOT NULL,
    event_ids    TEXT NOT NULL
);
-- A tenant's trail, newest first; and what support asks most: one user or group.
CREATE INDEX audit_trail ON audit (tenant_id, seq);
CREATE INDEX audit_target_id ON audit (tenant_id, target_id, seq);
CREATE INDEX audit_target_name ON audit (tenant_id, target_name, seq);
-- No index on time: pruning walks from the oldest seq (rows are written
-- about when their requests end), so a write pays no index insert for it.
