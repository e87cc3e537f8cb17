-- Tenants, tokens, SCIM resources and group memberships.
CREATE TABLE tenants (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    enabled     INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL
);

CREATE TABLE tokens (
    id            INTEGER PRIMARY KEY,
    tenant_id     INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    hash          BLOB NOT NULL UNIQUE,
    created_at    TEXT NOT NULL,
    expires_at    TEXT,
    revoked_at    TEXT,
    last_used_at  TEXT,
    UNIQUE (tenant_id, name)
);

-- One row per User or Group. `seq` gives lists a stable order; the indexed
-- columns mirror attributes of `doc` that filters use most.
CREATE TABLE resources (
    seq           INTEGER PRIMARY KEY,
    tenant_id     INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    id            TEXT NOT NULL,
    user_name     TEXT,            -- lower-cased userName (users only)
    external_id   TEXT,
    display_name  TEXT,            -- lower-cased displayName
    active        INTEGER,
    doc           TEXT NOT NULL,   -- the resource without id, meta and members
    version       INTEGER NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (tenant_id, kind, id)
);
CREATE UNIQUE INDEX resources_user_name ON resources (tenant_id, kind, user_name) WHERE user_name IS NOT NULL;
CREATE INDEX resources_external_id ON resources (tenant_id, kind, external_id);
CREATE INDEX resources_display_name ON resources (tenant_id, kind, display_name);

-- Group membership: one row per member, never rewritten wholesale.
CREATE TABLE members (
    seq          INTEGER PRIMARY KEY,
    tenant_id    INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    group_id     TEXT NOT NULL,
    member_id    TEXT NOT NULL,
    member_type  TEXT,
    display      TEXT,
    ref          TEXT,
    UNIQUE (tenant_id, group_id, member_id)
);
CREATE INDEX members_by_member ON members (tenant_id, member_id);
