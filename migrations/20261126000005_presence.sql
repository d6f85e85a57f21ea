-- Whether each user of an app is logged on, as the connection tier reports it.
CREATE TABLE user_presence (
    app_id      TEXT NOT NULL REFERENCES apps (app_id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL,
    online      BOOLEAN NOT NULL,
    changed_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (app_id, user_id)
);

-- Finding every group a user is in (for logoff) without scanning the members.
CREATE INDEX group_members_user_idx ON group_members (user_id);
