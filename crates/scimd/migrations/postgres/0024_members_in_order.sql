-- A group's members are read in stored order (seq): in this index they come
-- out in that order without a sort (the unique index is in member_id order).
CREATE INDEX members_in_order ON members (tenant_id, group_id, seq);
