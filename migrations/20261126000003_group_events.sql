-- The outbox of membership events: written in the same transaction as the change it describes,
-- numbered per group without gaps, each carrying the group's absolute member count.
-- kind: 1 user entered, 2 user left, 3 became super, 4 closed, 5 reopened
-- (see livemsg_domain::events::EventKind).

ALTER TABLE groups ADD COLUMN next_event_seq BIGINT NOT NULL DEFAULT 1;

CREATE TABLE group_events (
    group_pk      BIGINT NOT NULL REFERENCES groups (group_pk) ON DELETE CASCADE,
    seq           BIGINT NOT NULL,
    app_id        TEXT NOT NULL,
    kind          SMALLINT NOT NULL CHECK (kind BETWEEN 1 AND 5),
    user_id       TEXT,
    user_info     TEXT,
    member_count  BIGINT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (group_pk, seq)
);
CREATE INDEX group_events_app_idx ON group_events (app_id, created_at);
