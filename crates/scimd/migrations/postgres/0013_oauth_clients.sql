-- OAuth 2.0 client credentials for SCIM (issue 19): a tenant's clients,
-- each with a secret kept only as its SHA-256. The access tokens a client
-- is given are SCIM tokens of its tenant with a short expiry, kept in
-- `tokens` and marked with their client, so that SCIM requests check them
-- exactly as any token; revoking or deleting the client ends them.
CREATE TABLE oauth_clients (
    id              BIGSERIAL PRIMARY KEY,
    tenant_id       BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    client_id       TEXT NOT NULL UNIQUE,
    secret_hash     BYTEA NOT NULL,
    created_at      TEXT NOT NULL,
    revoked_at      TEXT,
    last_issued_at  TEXT,
    UNIQUE (tenant_id, name)
);
ALTER TABLE tokens ADD COLUMN oauth_client_id BIGINT REFERENCES oauth_clients(id) ON DELETE CASCADE;
CREATE INDEX tokens_by_oauth_client ON tokens (oauth_client_id) WHERE oauth_client_id IS NOT NULL;
