-- Admin tokens get a scope and an expiry (issue 19): `tenant_id` NULL is an
-- operator token (every tenant, and tenants themselves); otherwise the token
-- reaches that one tenant. Names are unique within a scope, so two tenants'
-- admins may both call a token "console". Tokens made before are operator tokens.
ALTER TABLE admin_tokens ADD COLUMN tenant_id BIGINT REFERENCES tenants(id) ON DELETE CASCADE;
ALTER TABLE admin_tokens ADD COLUMN expires_at TEXT;
ALTER TABLE admin_tokens DROP CONSTRAINT admin_tokens_name_key;
CREATE UNIQUE INDEX admin_tokens_name ON admin_tokens (COALESCE(tenant_id, 0), name);
