-- Tenants, tokens, SCIM resources and group memberships (PostgreSQL).
-- The same shape as the SQLite schema; `doc` is JSONB so filters can use
-- PostgreSQL's JSON functions.
CREATE TABLE tenants (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    enabled     BIGINT NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL
);

CREATE TABLE tokens (
    id            BIGSERIAL PRIMARY KEY,
    tenant_id     BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    hash          BYTEA NOT NULL UNIQUE,
    created_at    TEXT NOT NULL,
    expires_at    TEXT,
    revoked_at    TEXT,
    last_used_at  TEXT,
    UNIQUE (tenant_id, name)
);

CREATE TABLE resources (
    seq           BIGSERIAL PRIMARY KEY,
    tenant_id     BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    id            TEXT NOT NULL,
    user_name     TEXT,
    external_id   TEXT,
    display_name  TEXT,
    active        BIGINT,
    doc           JSONB NOT NULL,
    version       BIGINT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (tenant_id, kind, id)
);
CREATE UNIQUE INDEX resources_user_name ON resources (tenant_id, kind, user_name) WHERE user_name IS NOT NULL;
CREATE INDEX resources_external_id ON resources (tenant_id, kind, external_id);
CREATE INDEX resources_display_name ON resources (tenant_id, kind, display_name);

CREATE TABLE members (
    seq          BIGSERIAL PRIMARY KEY,
    tenant_id    BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    group_id     TEXT NOT NULL,
    member_id    TEXT NOT NULL,
    member_type  TEXT,
    display      TEXT,
    ref          TEXT,
    UNIQUE (tenant_id, group_id, member_id)
);
CREATE INDEX members_by_member ON members (tenant_id, member_id);
