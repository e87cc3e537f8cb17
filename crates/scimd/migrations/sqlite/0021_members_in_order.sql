-- A group's members are read in stored order (seq). The unique index is in
-- member_id order, so a read of a big group sorted every member and looked
-- each one up in the table at random; in this index they come out in seq
-- order, and their rows are visited in table order. 10,000 members: GET
-- 8.95 -> 7.09 ms p50 (release, quiet machine).
CREATE INDEX members_in_order ON members (tenant_id, group_id, seq);
