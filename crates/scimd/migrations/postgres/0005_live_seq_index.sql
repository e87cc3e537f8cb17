-- PostgreSQL does not take `deleted_at IS NULL` for an equality, so the
-- (tenant_id, kind, deleted_at, seq) index did not give rows in seq order:
-- a page of an unfiltered list walked the primary key and filtered a whole
-- table (500 ms for the last page of 1,000,000 users). A partial index in
-- seq order serves pages and counts by an index-only scan. (SQLite keeps the
-- plain index: it re-prepares statements over partial indexes.)
CREATE INDEX resources_live_seq ON resources (tenant_id, kind, seq) WHERE deleted_at IS NULL;
