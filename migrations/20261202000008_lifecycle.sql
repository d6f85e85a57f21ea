-- Apps and groups over their whole life: listed in creation order by keyset scans, counted
-- without counting, deleted and recovered with their events in the outbox.

-- Apps in creation order per account and data center: ListLiveMessageApps seeks on
-- (account_id, data_center, app_pk) and reads one page.
ALTER TABLE apps ADD COLUMN app_pk BIGINT GENERATED ALWAYS AS IDENTITY;
ALTER TABLE apps ADD CONSTRAINT apps_app_pk_key UNIQUE (app_pk);
DROP INDEX apps_account_idx;
CREATE INDEX apps_list_idx ON apps (account_id, data_center, app_pk);

-- How many live and deleted groups an app has, kept by every statement that creates, deletes,
-- recovers or purges a group (under the app's row lock): the quota check and TotalCount read
-- one row instead of counting.
ALTER TABLE apps
    ADD COLUMN live_groups BIGINT NOT NULL DEFAULT 0 CHECK (live_groups >= 0),
    ADD COLUMN deleted_groups BIGINT NOT NULL DEFAULT 0 CHECK (deleted_groups >= 0);
UPDATE apps a SET
    live_groups = (SELECT count(*) FROM groups g WHERE g.app_id = a.app_id AND NOT g.deleted),
    deleted_groups = (SELECT count(*) FROM groups g WHERE g.app_id = a.app_id AND g.deleted);

-- Groups in creation order per app (group_pk grows with creation), all of them or by status:
-- the cursor listing seeks on these, the page-number listing skips over them index-only.
CREATE INDEX groups_list_idx ON groups (app_id, group_pk);
CREATE INDEX groups_status_list_idx ON groups (app_id, deleted, group_pk);
-- The purge job's work list: deleted groups by age.
CREATE INDEX groups_purge_idx ON groups (deleted_at) WHERE deleted;

-- The disable sweep finds an app's online users without reading its offline ones.
CREATE INDEX user_presence_online_idx ON user_presence (app_id, user_id) WHERE online;

-- Lifecycle events in the outbox: 9 group deleted, 10 group recovered, 11 group info changed
-- (payload: the new info and administrators), 12 user info changed (user_id, user_info),
-- 13 app disabled, 14 app enabled (app events, in no group).
ALTER TABLE group_events ADD COLUMN payload JSONB;
ALTER TABLE group_events DROP CONSTRAINT group_events_kind_check;
ALTER TABLE group_events ADD CONSTRAINT group_events_kind_check CHECK (kind BETWEEN 1 AND 14);
ALTER TABLE group_events DROP CONSTRAINT group_events_scope_check;
ALTER TABLE group_events ADD CONSTRAINT group_events_scope_check CHECK (
    CASE WHEN kind IN (7, 8, 13, 14) THEN group_pk IS NULL AND seq IS NULL AND member_count IS NULL
         ELSE group_pk IS NOT NULL AND seq IS NOT NULL AND member_count IS NOT NULL END);
