-- Every try of a delivery, for GET …/deliveries/{id}: when it went out, the
-- receiver's status, how long it took, the first KiB of its answer, the error.
-- Gone with its delivery (and so with its event and its endpoint).
CREATE TABLE delivery_attempts (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_seq BIGINT NOT NULL REFERENCES deliveries(seq) ON DELETE CASCADE,
    at           TEXT NOT NULL,
    status       BIGINT,
    duration_ms  BIGINT NOT NULL,
    answer       TEXT,
    error        TEXT
);
CREATE INDEX delivery_attempts_of ON delivery_attempts (delivery_seq, seq);
-- Deliveries listed by subject (a user's or group's), of any status.
CREATE INDEX deliveries_subject ON deliveries (webhook_id, subject, seq);
