-- Reads are audited as counts (issue 21): per tenant, minute, token, method,
-- route and status, how many requests and how long they took. A read's full
-- row cost every GET an insert through the one writer; writes and refusals
-- keep their rows in `audit`. Replicas add to the same counts (upsert).
CREATE TABLE audit_reads (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id        INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    minute           TEXT NOT NULL,
    token_name       TEXT NOT NULL,
    method           TEXT NOT NULL,
    route            TEXT NOT NULL,
    status           INTEGER NOT NULL,
    requests         INTEGER NOT NULL,
    latency_us_total INTEGER NOT NULL,
    latency_us_max   INTEGER NOT NULL,
    UNIQUE (tenant_id, minute, token_name, method, route, status)
);
