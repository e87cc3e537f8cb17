-- Server-wide facts kept with the data (issue 20). `secrets_key_fingerprint`:
-- a SHA-256 of the key webhook secrets are sealed with (never the key), so a
-- replica started with another key is refused instead of failing to sign.
CREATE TABLE server_settings (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
