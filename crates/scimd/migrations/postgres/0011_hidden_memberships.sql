-- Memberships of soft-deleted users (issue 18, VIDIZMO: users are never
-- deleted for good). A soft delete moves the user's rows here from
-- `members`, so no read of groups, member counts, filters, seats or roles
-- has to leave them out; a restore moves back the rows the identity
-- provider has not changed since. A group write that replaces or removes
-- such a member deletes its row here; deleting the group or the user for
-- good deletes them all. Rows are keyed by member (restore, purge) and
-- looked up by group (a group's members replaced or removed).
CREATE TABLE hidden_members (
    tenant_id    BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    member_id    TEXT NOT NULL,
    group_id     TEXT NOT NULL,
    member_type  TEXT,
    display      TEXT,
    ref          TEXT,
    PRIMARY KEY (tenant_id, member_id, group_id)
);
CREATE INDEX hidden_members_by_group ON hidden_members (tenant_id, group_id);
