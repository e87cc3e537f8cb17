-- Lists page by creation order: this index lets a deep startIndex skip rows
-- by reading the index alone, and counts use it too.
CREATE INDEX resources_page ON resources (tenant_id, kind, seq) WHERE deleted_at IS NULL;
