-- The default roles a user was given when it was created (issue 12: defaults
-- apply at creation only), as a JSON array of [workspace id, role id]. The
-- policy keeps granting them from here, so a later change of a default role
-- or of on_create moves no existing user; an admin re-applies the policy
-- explicitly. Existing users get what the policy granted them until now: the
-- tenant's default when on_create is grant_default.
ALTER TABLE resources ADD COLUMN default_roles TEXT;
UPDATE resources r SET default_roles = jsonb_build_array(jsonb_build_array(
        c.doc::jsonb #>> '{policy,default_workspace_id}', c.doc::jsonb #>> '{policy,default_role_id}'))::text
FROM tenant_configs c
WHERE c.tenant_id = r.tenant_id AND r.kind = 'User' AND c.doc::jsonb #>> '{policy,on_create}' = 'grant_default'
  AND c.doc::jsonb #>> '{policy,default_workspace_id}' IS NOT NULL
  AND c.doc::jsonb #>> '{policy,default_role_id}' IS NOT NULL;
