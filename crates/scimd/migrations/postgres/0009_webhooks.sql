-- Webhooks (issue 13). An endpoint reads its tenant's events from its own
-- cursor (cursor_tx, cursor_seq) and turns each it wants into a delivery;
-- writes never look at webhooks. Its secrets are sealed with the server's
-- key (ChaCha20-Poly1305): they must be used to sign, so they cannot be
-- hashes. During a rotation the old secret signs too, until old_secret_until.
CREATE TABLE webhooks (
    id               TEXT PRIMARY KEY,
    tenant_id        BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    url              TEXT NOT NULL,
    event_types      TEXT NOT NULL,
    secret           TEXT NOT NULL,
    old_secret       TEXT,
    old_secret_until TEXT,
    created_at       TEXT NOT NULL,
    cursor_tx        BIGINT NOT NULL DEFAULT 0,
    cursor_seq       BIGINT NOT NULL DEFAULT 0,
    -- Epoch milliseconds before which nothing is sent (the endpoint asked us to slow down).
    paused_until     BIGINT NOT NULL DEFAULT 0,
    failing_since    TEXT,
    disabled_at      TEXT,
    disabled_reason  TEXT
);
CREATE INDEX webhooks_tenant ON webhooks (tenant_id);

-- One event for one endpoint. Deliveries of an endpoint are created in
-- event order, so seq orders them; a delivery is sent only when no earlier
-- pending one has its subject (in order per subject per endpoint): that
-- one is marked ready, and when it is done (delivered or given up) the
-- next of its subject is, so finding what to send never scans a backlog. A lease
-- (leased_until, epoch ms) keeps a delivery with one sender at a time; it
-- lapses when that sender dies.
CREATE TABLE deliveries (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    webhook_id      TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_seq       BIGINT NOT NULL REFERENCES events(seq) ON DELETE CASCADE,
    subject         TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    ready           BIGINT NOT NULL DEFAULT 0,
    next_at         BIGINT NOT NULL,
    leased_until    BIGINT NOT NULL DEFAULT 0,
    last_status     BIGINT,
    last_error      TEXT,
    last_attempt_at TEXT,
    delivered_at    TEXT,
    created_at      TEXT NOT NULL
);
CREATE INDEX deliveries_pending ON deliveries (webhook_id, subject, seq) WHERE status = 'pending';
CREATE INDEX deliveries_due ON deliveries (next_at) WHERE status = 'pending' AND ready = 1;
CREATE INDEX deliveries_by_status ON deliveries (webhook_id, status, seq);
CREATE INDEX deliveries_event ON deliveries (event_seq);
