-- Partial indexes (`WHERE user_name IS NOT NULL`, `WHERE deleted_at IS NULL`)
-- made SQLite re-prepare statements on resources whenever a bound value
-- changed (it re-checks whether the values imply the index's condition), which
-- cost more than the queries. Plain indexes serve the same look-ups; unique
-- indexes treat NULLs as distinct, so userName uniqueness is unchanged.
DROP INDEX resources_user_name;
CREATE UNIQUE INDEX resources_user_name_unique ON resources (tenant_id, kind, user_name);
DROP INDEX resources_page;
-- deleted_at is in the index so that skipping rows for a deep page never reads the table.
CREATE INDEX resources_page_all ON resources (tenant_id, kind, deleted_at, seq);
