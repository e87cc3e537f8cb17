-- A webhook endpoint's own settings (issue 20): a description for the people
-- who run it, and how many of its deliveries may be in flight at once (the
-- sender's per-endpoint limit; 32 was the one limit for every endpoint).
ALTER TABLE webhooks
    ADD COLUMN description TEXT NOT NULL DEFAULT '' CHECK (char_length(description) <= 500),
    ADD COLUMN max_in_flight BIGINT NOT NULL DEFAULT 32 CHECK (max_in_flight BETWEEN 1 AND 64);
