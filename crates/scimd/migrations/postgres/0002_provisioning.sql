-- Provisioning policy: admin tokens, each tenant's configuration (one JSON
-- document: workspaces, roles, licence types, group mappings, policy), and
-- the roles and licences users hold, with where each came from.
CREATE TABLE admin_tokens (
    id            BIGSERIAL PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    hash          BYTEA NOT NULL UNIQUE,
    created_at    TEXT NOT NULL,
    revoked_at    TEXT,
    last_used_at  TEXT
);

CREATE TABLE tenant_configs (
    tenant_id  BIGINT PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    doc        TEXT NOT NULL,
    version    BIGINT NOT NULL
);

CREATE TABLE role_assignments (
    seq           BIGSERIAL PRIMARY KEY,
    tenant_id     BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL,
    workspace_id  TEXT NOT NULL,
    role_id       TEXT NOT NULL,
    source        TEXT NOT NULL,   -- default | group:<group id> | manual
    UNIQUE (tenant_id, user_id, workspace_id, role_id, source)
);
CREATE INDEX role_assignments_by_role ON role_assignments (tenant_id, role_id);

-- One row per user that holds a licence, or was refused one for want of seats
-- (licence_type_id NULL, wanted_type_id set).
CREATE TABLE licence_assignments (
    tenant_id        BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id          TEXT NOT NULL,
    licence_type_id  TEXT,
    wanted_type_id   TEXT,
    source           TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX licence_assignments_by_type ON licence_assignments (tenant_id, licence_type_id);

-- Who owns a user (1: the identity provider, through SCIM) and soft deletion.
ALTER TABLE resources ADD COLUMN scim_managed BIGINT NOT NULL DEFAULT 1;
ALTER TABLE resources ADD COLUMN deleted_at TEXT;
