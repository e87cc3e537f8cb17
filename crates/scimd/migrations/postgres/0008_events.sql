-- Events (issue 13): what each write changed, written in the write's own
-- transaction (the outbox). Writers of one tenant run side by side on
-- several replicas, so a sequence number taken during a transaction is not
-- commit order: an event numbered 7 may commit before one numbered 6. tx is
-- the writing transaction's id (pg_current_xact_id); the feed orders by
-- (tx, seq) and shows only transactions older than every one still open
-- (pg_snapshot_xmin), so a cursor never passes an event that commits later.
-- A dense per-tenant counter would do the same by serialising every write
-- of a tenant on one row.
CREATE TABLE events (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tx           BIGINT NOT NULL,
    tenant_id    BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
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
