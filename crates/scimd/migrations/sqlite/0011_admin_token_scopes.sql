-- Admin tokens get a scope and an expiry (issue 19): `tenant_id` NULL is an
-- operator token (every tenant, and tenants themselves); otherwise the token
-- reaches that one tenant. Names are unique within a scope, so two tenants'
-- admins may both call a token "console". Tokens made before are operator
-- tokens. SQLite cannot drop the old inline UNIQUE (name): the table is rebuilt.
CREATE TABLE admin_tokens_scoped (
    id            INTEGER PRIMARY KEY,
    tenant_id     INTEGER REFERENCES tenants(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    hash          BLOB NOT NULL UNIQUE,
    created_at    TEXT NOT NULL,
    expires_at    TEXT,
    revoked_at    TEXT,
    last_used_at  TEXT
);
INSERT INTO admin_tokens_scoped (id, tenant_id, name, hash, created_at, expires_at, revoked_at, last_used_at)
    SELECT id, NULL, name, hash, created_at, NULL, revoked_at, last_used_at FROM admin_tokens;
DROP TABLE admin_tokens;
ALTER TABLE admin_tokens_scoped RENAME TO admin_tokens;
CREATE UNIQUE INDEX admin_tokens_name ON admin_tokens (COALESCE(tenant_id, 0), name);
