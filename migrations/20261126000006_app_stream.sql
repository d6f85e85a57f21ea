-- The app-wide event stream: logon and logoff events (which belong to no group), one sequence
-- per app over all of an app's events, and the cursor of HTTP callback delivery.
--
-- A membership change numbers its events per group inside its own transaction (the group's row
-- is locked there). Numbering them per app in that transaction would queue every change of an
-- app on one row, so a sequencer numbers committed events afterwards (app_seq), in event_id
-- order, holding the app's app_streams row. Events of one group are committed, and therefore
-- numbered, in their group order.
-- kind: 1..6 group events (see livemsg_domain::events::EventKind), 7 logon, 8 logoff.

ALTER TABLE group_events DROP CONSTRAINT group_events_pkey;
ALTER TABLE group_events ADD COLUMN event_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY;
ALTER TABLE group_events ALTER COLUMN group_pk DROP NOT NULL, ALTER COLUMN seq DROP NOT NULL,
    ALTER COLUMN member_count DROP NOT NULL;
ALTER TABLE group_events ADD CONSTRAINT group_events_group_seq_key UNIQUE (group_pk, seq);
ALTER TABLE group_events
    ADD COLUMN app_seq BIGINT,
    ADD COLUMN session_id TEXT,
    ADD COLUMN reason SMALLINT;
ALTER TABLE group_events DROP CONSTRAINT group_events_kind_check;
ALTER TABLE group_events ADD CONSTRAINT group_events_kind_check CHECK (kind BETWEEN 1 AND 8);
-- Group events have a group, its sequence number and its count; logon and logoff have none.
ALTER TABLE group_events ADD CONSTRAINT group_events_scope_check CHECK (
    CASE WHEN kind IN (7, 8) THEN group_pk IS NULL AND seq IS NULL AND member_count IS NULL
         ELSE group_pk IS NOT NULL AND seq IS NOT NULL AND member_count IS NOT NULL END);

DROP INDEX group_events_app_idx;
CREATE UNIQUE INDEX group_events_app_seq_key ON group_events (app_id, app_seq);
-- The sequencer's work list: small, since rows leave it as they are numbered.
CREATE INDEX group_events_unsequenced_idx ON group_events (app_id, event_id) WHERE app_seq IS NULL;
-- Retention deletes by age.
CREATE INDEX group_events_created_idx ON group_events (created_at);

CREATE TABLE app_streams (
    app_id         TEXT PRIMARY KEY REFERENCES apps (app_id) ON DELETE CASCADE,
    -- the next app_seq the sequencer hands out
    next_seq       BIGINT NOT NULL DEFAULT 1,
    -- callbacks delivered (or given up) through this app_seq
    delivered_seq  BIGINT NOT NULL DEFAULT 0,
    -- the batch in flight, (delivered_seq, batch_end], and its transactionid: a retry resends
    -- exactly this batch under the same id
    batch_end      BIGINT,
    batch_id       TEXT,
    attempts       INTEGER NOT NULL DEFAULT 0,
    retry_at       TIMESTAMPTZ,
    failing_since  TIMESTAMPTZ,
    -- one service instance at a time delivers an app's callbacks
    lease_owner    TEXT,
    lease_until    TIMESTAMPTZ
);
INSERT INTO app_streams (app_id) SELECT app_id FROM apps;
