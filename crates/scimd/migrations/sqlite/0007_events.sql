-- Events (issue 13): what each write changed, written in the write's own
-- transaction (the outbox). The one writer commits batches in order, so the
-- AUTOINCREMENT seq is commit order; AUTOINCREMENT (not a bare rowid) so
-- that seq never goes back after pruning, and a feed cursor stays valid.
-- tx is PostgreSQL's transaction id there; 0 here, where seq alone orders.
CREATE TABLE events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    tx           INTEGER NOT NULL DEFAULT 0,
    tenant_id    INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id           TEXT NOT NULL,
    type         TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    data         TEXT NOT NULL,
    cause        TEXT NOT NULL
);
CREATE INDEX events_feed ON events (tenant_id, tx, seq);
-- No index on id or created_at: each would cost every write an index
-- insert. Pruning walks from the oldest seq (time order, near enough), and
-- ids are uuid v7, unique without an index checking them.
