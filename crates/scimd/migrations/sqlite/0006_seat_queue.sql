-- Seats that never fight the identity provider (issue 12): a user who wants
-- a licence type whose seats ran out waits for it, in order, and every freed
-- seat goes to the longest-waiting user. assigned_at orders the holders when
-- a limit is lowered by force (the newest wait first).
ALTER TABLE licence_assignments ADD COLUMN waiting_since TEXT;
ALTER TABLE licence_assignments ADD COLUMN assigned_at TEXT;
UPDATE licence_assignments SET waiting_since = '1970-01-01T00:00:00.000Z' WHERE wanted_type_id IS NOT NULL;
CREATE INDEX licence_assignments_waiting ON licence_assignments (tenant_id, wanted_type_id, waiting_since);
