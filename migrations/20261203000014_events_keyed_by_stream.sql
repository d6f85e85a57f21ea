-- The outbox is keyed by its app streams' numbers, and pruned from each stream's head.
--
-- Every event has had its app's number (`app_id`, `app_seq`, unique and NOT NULL) since it is
-- written; the surrogate `event_id` and its primary key index, and the `created_at` index that
-- retention read, were two more index entries for every event. Join/leave churn writes two
-- events per change (a join into an empty group also reopens it, a leave of its last member
-- also closes it), so these were four of the change's dozen or so row and index writes.
-- Retention now reads each app's stream from its head on the primary key: an app's events are
-- numbered in the order they are written, so its oldest events come first (BENCHMARKS.md).
ALTER TABLE group_events DROP CONSTRAINT group_events_pkey;
ALTER TABLE group_events DROP COLUMN event_id;
ALTER INDEX group_events_app_seq_key RENAME TO group_events_pkey;
ALTER TABLE group_events ADD CONSTRAINT group_events_pkey PRIMARY KEY USING INDEX group_events_pkey;
DROP INDEX group_events_created_idx;
