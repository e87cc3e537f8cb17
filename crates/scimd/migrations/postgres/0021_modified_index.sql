-- `filter=meta.lastModified gt "…"` is how products and importers poll for
-- changes; without an index each poll read every row of the tenant. Partial
-- on live rows, as resources_live_seq (0005): PostgreSQL does not take
-- `deleted_at IS NULL` for an equality, so the column would not help in the
-- key. Lists emit `tenant_id = ? AND kind = ? AND deleted_at IS NULL` and the
-- range on updated_at; (updated_at, seq) gives pages, counts (index-only) and
-- sortBy=meta.lastModified with its seq tiebreak straight from the index.
CREATE INDEX resources_modified ON resources (tenant_id, kind, updated_at, seq) WHERE deleted_at IS NULL;
