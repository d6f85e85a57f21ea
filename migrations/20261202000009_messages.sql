-- Messages: group messages and user (one-to-one) messages, each numbered in its stream without
-- gaps, kept in tables partitioned by expiry so that retention drops whole partitions.
--
-- Every message is written, whatever its storage flag: the rows are the durable record the
-- streams replay from. `stored` says whether the history lists it (kept for the app's
-- MsgLifeCycle); a message that is not stored expires after the replay window. Partitions are
-- weeks of `expires_at`, named `<table>_w<week>` (week = days since 1970-01-01 / 7); the service
-- creates them ahead of need and drops those whose week has passed (see livemsg_store's
-- `messages::partitions`). No partition exists until the first message needs one.

-- The head of a group's message stream: locked by a send batch to number its messages, kept
-- apart from the group's row so that messages never wait for joins and leaves.
CREATE TABLE group_message_heads (
    group_pk    BIGINT PRIMARY KEY REFERENCES groups (group_pk) ON DELETE CASCADE,
    -- the next seq to hand out
    next_seq    BIGINT NOT NULL DEFAULT 1
);

-- MsgAmount: per group and type, the sum of StaticsIncrease (at most 30 types per group).
CREATE TABLE group_message_counts (
    group_pk  BIGINT NOT NULL REFERENCES groups (group_pk) ON DELETE CASCADE,
    msg_type  BIGINT NOT NULL,
    amount    BIGINT NOT NULL,
    PRIMARY KEY (group_pk, msg_type)
);

-- kind: 1 message, 2 recall (msg_tid names the recalled message; never listed).
CREATE TABLE group_messages (
    group_pk        BIGINT NOT NULL REFERENCES groups (group_pk) ON DELETE CASCADE,
    seq             BIGINT NOT NULL,
    kind            SMALLINT NOT NULL CHECK (kind IN (1, 2)),
    msg_tid         TEXT NOT NULL,
    msg_type        BIGINT NOT NULL,
    body            TEXT NOT NULL,
    sender_id       TEXT NOT NULL,
    sender_info     TEXT NOT NULL,
    weight          BIGINT NOT NULL,
    total_messages  BIGINT NOT NULL,
    stored          BOOLEAN NOT NULL,
    cached          BOOLEAN NOT NULL,
    recalled        BOOLEAN NOT NULL DEFAULT FALSE,
    deleter_id      TEXT,
    deleter_info    TEXT,
    sent_at         TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL
) PARTITION BY RANGE (expires_at);
-- The stream and the history: a seek to (group_pk, seq) in each partition.
CREATE INDEX group_messages_seq_idx ON group_messages (group_pk, seq);
-- A caller's MsgTid: the same message when sent again, and what a recall names.
CREATE INDEX group_messages_tid_idx ON group_messages (group_pk, msg_tid);

-- The head of an app's user-message stream.
CREATE TABLE user_message_heads (
    app_id    TEXT PRIMARY KEY REFERENCES apps (app_id) ON DELETE CASCADE,
    next_seq  BIGINT NOT NULL DEFAULT 1
);

-- kind: 1 message, 2 recall (msg_tid names the recalled message).
CREATE TABLE user_messages (
    app_id        TEXT NOT NULL REFERENCES apps (app_id) ON DELETE CASCADE,
    seq           BIGINT NOT NULL,
    kind          SMALLINT NOT NULL CHECK (kind IN (1, 2)),
    msg_tid       TEXT NOT NULL,
    msg_type      BIGINT NOT NULL,
    body          TEXT NOT NULL,
    sender_id     TEXT NOT NULL,
    sender_info   TEXT NOT NULL,
    receiver_id   TEXT NOT NULL,
    stored        BOOLEAN NOT NULL,
    recalled      BOOLEAN NOT NULL DEFAULT FALSE,
    deleter_id    TEXT,
    deleter_info  TEXT,
    sent_at       TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL
) PARTITION BY RANGE (expires_at);
CREATE INDEX user_messages_seq_idx ON user_messages (app_id, seq);
CREATE INDEX user_messages_tid_idx ON user_messages (app_id, receiver_id, msg_tid);
