-- `filter=meta.lastModified gt "…"` is how products and importers poll for
-- changes; without an index each poll read every row of the tenant. Lists
-- emit `tenant_id = ? AND kind = ? AND deleted_at IS NULL` (SQLite takes the
-- IS NULL for an equality) and then the range on updated_at, which this index
-- answers in updated_at order for pages, counts and sortBy=meta.lastModified.
-- The rowid (seq) ends every entry, so ties come out in stored order. Plain,
-- not partial: SQLite re-prepares statements over partial indexes (0004).
CREATE INDEX resources_modified ON resources (tenant_id, kind, deleted_at, updated_at);
