-- The default role a user was given when it was created (issue 12: defaults
-- apply at creation only). The policy keeps granting it from here, so a later
-- change of the tenant's default role or of on_create moves no existing user;
-- an admin re-applies the policy explicitly. Existing users get what the
-- policy granted them until now: the tenant's default when on_create is
-- grant_default.
ALTER TABLE resources ADD COLUMN default_workspace_id TEXT;
ALTER TABLE resources ADD COLUMN default_role_id TEXT;
UPDATE resources r SET
    default_workspace_id = c.doc::jsonb #>> '{policy,default_workspace_id}',
    default_role_id = c.doc::jsonb #>> '{policy,default_role_id}'
FROM tenant_configs c
WHERE c.tenant_id = r.tenant_id AND r.kind = 'User' AND c.doc::jsonb #>> '{policy,on_create}' = 'grant_default';
