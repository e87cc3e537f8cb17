-- Who sent each audited request (issue 20): the client's address and its
-- User-Agent, on SCIM rows and on the admin API's changes.
ALTER TABLE audit ADD COLUMN client_addr TEXT;
ALTER TABLE audit ADD COLUMN user_agent TEXT;
