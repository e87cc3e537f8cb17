-- The default roles a user was given when it was created (issue 12: defaults
-- apply at creation only), as a JSON array of [workspace id, role id]. The
-- policy keeps granting them from here, so a later change of a default role
-- or of on_create moves no existing user; an admin re-applies the policy
-- explicitly. Existing users get what the policy granted them until now: the
-- tenant's default when on_create is grant_default.
ALTER TABLE resources ADD COLUMN default_roles TEXT;
UPDATE resources SET default_roles = (
    SELECT json_array(json_array(json_extract(c.doc, '$.policy.default_workspace_id'),
                                 json_extract(c.doc, '$.policy.default_role_id')))
    FROM tenant_configs c
    WHERE c.tenant_id = resources.tenant_id AND json_extract(c.doc, '$.policy.on_create') = 'grant_default'
      AND json_extract(c.doc, '$.policy.default_workspace_id') IS NOT NULL
      AND json_extract(c.doc, '$.policy.default_role_id') IS NOT NULL)
WHERE kind = 'User';
