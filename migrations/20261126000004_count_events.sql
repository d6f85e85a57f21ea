-- Aggregated member counts of super groups: event kind 6, emitted at most once per interval and
-- only when the count changed since the last report.
ALTER TABLE group_events DROP CONSTRAINT group_events_kind_check;
ALTER TABLE group_events ADD CONSTRAINT group_events_kind_check CHECK (kind BETWEEN 1 AND 6);
ALTER TABLE groups
    ADD COLUMN reported_count BIGINT,
    ADD COLUMN count_reported_at TIMESTAMPTZ;
CREATE INDEX groups_super_idx ON groups (group_pk) WHERE state = 1;
