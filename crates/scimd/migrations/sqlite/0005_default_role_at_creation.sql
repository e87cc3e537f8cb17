-- The default role a user was given when it was created (issue 12: defaults
-- apply at creation only). The policy keeps granting it from here, so a later
-- change of the tenant's default role or of on_create moves no existing user;
-- an admin re-applies the policy explicitly. Existing users get what the
-- policy granted them until now: the tenant's default when on_create is
-- grant_default.
ALTER TABLE resources ADD COLUMN default_workspace_id TEXT;
ALTER TABLE resources ADD COLUMN default_role_id TEXT;
UPDATE resources SET
    default_workspace_id = (SELECT json_extract(c.doc, '$.policy.default_workspace_id') FROM tenant_configs c
                            WHERE c.tenant_id = resources.tenant_id
                            AND json_extract(c.doc, '$.policy.on_create') = 'grant_default'),
    default_role_id = (SELECT json_extract(c.doc, '$.policy.default_role_id') FROM tenant_configs c
                       WHERE c.tenant_id = resources.tenant_id
                       AND json_extract(c.doc, '$.policy.on_create') = 'grant_default')
WHERE kind = 'User';
