-- The web console (issue 19): sessions, and portal links that start one.
-- A session's cookie and a link's code are kept only as their SHA-256.
-- A session opened with an admin token ends when the token is revoked or
-- deleted; `tenant_id` NULL is an operator's session.
CREATE TABLE console_sessions (
    id              BIGSERIAL PRIMARY KEY,
    hash            BYTEA NOT NULL UNIQUE,
    tenant_id       BIGINT REFERENCES tenants(id) ON DELETE CASCADE,
    admin_token_id  BIGINT REFERENCES admin_tokens(id) ON DELETE CASCADE,
    label           TEXT NOT NULL,
    return_url      TEXT,
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- A single-use link a product's backend asks for (WorkOS's Admin Portal
-- model): it opens a session of one tenant, within minutes, once.
CREATE TABLE portal_links (
    id          BIGSERIAL PRIMARY KEY,
    hash        BYTEA NOT NULL UNIQUE,
    tenant_id   BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    return_url  TEXT,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
);
CREATE INDEX portal_links_expiry ON portal_links (expires_at);
