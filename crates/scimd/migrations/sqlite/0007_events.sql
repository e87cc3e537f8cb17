-- Events (issue 13): what each write changed, written in the write's own
-- transaction (the outbox). The one writer commits batches in order, so the
-- AUTOINCREMENT seq is commit order; AUTOINCREMENT (not a bare rowid) so
-- that seq never goes back after pruning, and a feed cursor stays valid.
-- tx is PostgreSQL's transaction id there; 0 here, where seq alone orders.
CREATE TABLE events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    tx           INTEGER NOT NULL DEFAULT 0,
    tenant_id    INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id           TEXT NOT NULL UNIQUE,
    type         TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    data         TEXT NOT NULL,
    cause        TEXT NOT NULL
);
CREATE INDEX events_feed ON events (tenant_id, tx, seq);
CREATE INDEX events_age ON events (created_at);
