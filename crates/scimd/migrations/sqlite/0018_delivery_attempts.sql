-- Every try of a delivery, for GET …/deliveries/{id}: when it went out, the
-- receiver's status, how long it took, the first KiB of its answer, the error.
-- Gone with its delivery (and so with its event and its endpoint).
CREATE TABLE delivery_attempts (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_seq INTEGER NOT NULL REFERENCES deliveries(seq) ON DELETE CASCADE,
    at           TEXT NOT NULL,
    status       INTEGER,
    duration_ms  INTEGER NOT NULL,
    answer       TEXT,
    error        TEXT
);
CREATE INDEX delivery_attempts_of ON delivery_attempts (delivery_seq, seq);
-- Deliveries listed by subject (a user's or group's), of any status.
CREATE INDEX deliveries_subject ON deliveries (webhook_id, subject, seq);
