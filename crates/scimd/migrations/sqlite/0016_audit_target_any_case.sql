-- The audit trail's `target` filter matches names in any case, as userName
-- uniqueness does (issue 20): the name index is on the lowered name.
DROP INDEX audit_target_name;
CREATE INDEX audit_target_name ON audit (tenant_id, lower(target_name), seq);
