//! The Postgres repository of livemsg.
//!
//! [`Store`] owns a connection pool and exposes one async method per thing livemsg does with
//! its data. SQL is written out in plain sight next to the code that runs it. Two properties
//! matter most and are tested against a real Postgres:
//!
//! * Membership is exact under concurrency. Every change to a group's members runs in one
//!   transaction that first locks the group's row, so the member count, the join positions and
//!   the normal -> super -> closed transitions ([`livemsg_domain::GroupState`]) are computed
//!   without a read-then-write race, and a group turns super exactly once however many joins
//!   race at the threshold.
//! * Listing is a keyset scan. Members carry a join position; a page is a seek on the
//!   `(group_pk, position)` index followed by at most `page_size + 1` rows, so its cost does
//!   not grow with the group or the table.

pub mod crypto;
mod error;
mod events;
mod identity;
mod ids;
mod membership;
mod records;

use livemsg_domain::{AppId, DataCenter, GroupId, GroupState, UserId};
use sqlx::postgres::PgPool;
use sqlx::Row;

pub use crypto::Keyring;
pub use error::StoreError;
pub use events::{AppEvent, CallbackBatch, CallbackStream, FailedBatch};
pub use membership::{GroupOps, MembershipOp, PageRequest, UserPage};
pub use records::{
    AccessKey, Account, AppRecord, GroupEvent, GroupRecord, NewApp, NewGroup, RamUser, ResolvedKey,
};

/// The schema migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// One page of a group's users, ascending, with the group's state; see `list_group_users`.
/// Binds: app id, account id, data center, group id, first position, rows (page size + 1).
/// Public so the benchmark's baseline runs the very statement.
pub const LIST_ASCENDING: &str = "SELECT g.state, m.position, m.user_id, m.user_info
     FROM groups g JOIN apps a ON a.app_id = g.app_id
     LEFT JOIN LATERAL (
         SELECT position, user_id, user_info FROM group_members
         WHERE group_pk = g.group_pk AND position >= $5
         ORDER BY position ASC LIMIT $6
     ) m ON g.state <> 1
     WHERE a.app_id = $1 AND a.account_id = $2 AND a.data_center = $3
       AND g.group_id = $4 AND NOT g.deleted
     ORDER BY m.position ASC";

/// The same, descending.
pub const LIST_DESCENDING: &str = "SELECT g.state, m.position, m.user_id, m.user_info
     FROM groups g JOIN apps a ON a.app_id = g.app_id
     LEFT JOIN LATERAL (
         SELECT position, user_id, user_info FROM group_members
         WHERE group_pk = g.group_pk AND position <= $5
         ORDER BY position DESC LIMIT $6
     ) m ON g.state <> 1
     WHERE a.app_id = $1 AND a.account_id = $2 AND a.data_center = $3
       AND g.group_id = $4 AND NOT g.deleted
     ORDER BY m.position DESC";

/// The Postgres repository.
#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
    super_group_threshold: i64,
    keyring: Keyring,
}

/// The outcome of creating a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreateGroupOutcome {
    /// The group existed before this call (nothing was changed).
    pub already_exists: bool,
    /// The existing group is deleted.
    pub already_deleted: bool,
}

impl Store {
    /// A store over `pool`; a group with more than `super_group_threshold` members becomes a
    /// super group; AccessKey secrets are sealed with `keyring`.
    pub fn new(pool: PgPool, super_group_threshold: i64, keyring: Keyring) -> Self {
        Store {
            pool,
            super_group_threshold,
            keyring,
        }
    }

    /// The pool, for health checks and shutdown.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Creates an app with a fresh id, AppKey and AppSign.
    pub async fn create_app(&self, app: NewApp) -> Result<AppRecord, StoreError> {
        loop {
            let app_id = ids::app_id();
            // The app and its event stream's row, in one statement.
            let row = sqlx::query_as::<_, AppRecord>(
                "WITH app AS (
                     INSERT INTO apps (app_id, account_id, app_name, app_key, app_sign,
                                       data_center, audit_type, audit_url, event_callback_url,
                                       msg_life_cycle)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                     ON CONFLICT (app_id) DO NOTHING
                     RETURNING *
                 ), stream AS (
                     INSERT INTO app_streams (app_id) SELECT app_id FROM app
                 )
                 SELECT * FROM app",
            )
            .bind(&app_id)
            .bind(app.account_id)
            .bind(app.app_name.as_ref().map_or("", |n| n.as_str()))
            .bind(ids::app_key())
            .bind(ids::app_sign())
            .bind(app.data_center.as_str())
            .bind(app.audit_type)
            .bind(&app.audit_url)
            .bind(&app.event_callback_url)
            .bind(app.msg_life_cycle)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| StoreError::from_insert(e, StoreError::AccountNotFound))?;
            if let Some(row) = row {
                return Ok(row);
            }
        }
    }

    /// Finds an app of `account_id` in `data_center`. An app of another account, or in another
    /// data center, is not found.
    pub async fn find_app(
        &self,
        account_id: i64,
        app_id: &AppId,
        data_center: DataCenter,
    ) -> Result<AppRecord, StoreError> {
        sqlx::query_as::<_, AppRecord>(
            "SELECT * FROM apps WHERE app_id = $1 AND account_id = $2 AND data_center = $3",
        )
        .bind(app_id.as_str())
        .bind(account_id)
        .bind(data_center.as_str())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::AppNotFound)
    }

    /// Sets the event callback URL of an app of `account_id` (empty disables callbacks).
    pub async fn set_event_callback_url(
        &self,
        account_id: i64,
        app_id: &AppId,
        data_center: DataCenter,
        url: &str,
    ) -> Result<AppRecord, StoreError> {
        // Callbacks turned on start from now: events from before, when nobody listened, are
        // not sent. (The stream's row is locked by the update, so the sequencer cannot move it
        // in between.)
        sqlx::query_as::<_, AppRecord>(
            "WITH app AS (
                 UPDATE apps SET event_callback_url = $4, modified_at = now()
                 WHERE app_id = $1 AND account_id = $2 AND data_center = $3
                 RETURNING *, (SELECT event_callback_url = '' FROM apps WHERE app_id = $1)
                     AS was_off
             ), stream AS (
                 UPDATE app_streams s
                 SET delivered_seq = s.next_seq - 1, batch_end = NULL, batch_id = NULL,
                     attempts = 0, retry_at = NULL, failing_since = NULL
                 FROM app WHERE s.app_id = app.app_id AND app.was_off AND $4 <> ''
             )
             SELECT * FROM app",
        )
        .bind(app_id.as_str())
        .bind(account_id)
        .bind(data_center.as_str())
        .bind(url)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::AppNotFound)
    }

    /// Creates a group in an app of `account_id`. Creating an existing group changes nothing
    /// and says so.
    pub async fn create_group(
        &self,
        account_id: i64,
        app_id: &AppId,
        data_center: DataCenter,
        group: NewGroup,
    ) -> Result<CreateGroupOutcome, StoreError> {
        let admins: Vec<String> = group
            .administrators
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect();
        let inserted = sqlx::query(
            "INSERT INTO groups (app_id, group_id, group_name, group_info, creator_id, admin_list)
             SELECT app_id, $4, $5, $6, $7, $8 FROM apps
             WHERE app_id = $1 AND account_id = $2 AND data_center = $3
             ON CONFLICT (app_id, group_id) DO NOTHING",
        )
        .bind(app_id.as_str())
        .bind(account_id)
        .bind(data_center.as_str())
        .bind(group.group_id.as_str())
        .bind(group.group_name.as_str())
        .bind(group.group_info.as_str())
        .bind(group.creator_id.as_ref().map_or("", |c| c.as_str()))
        .bind(&admins)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(CreateGroupOutcome {
                already_exists: false,
                already_deleted: false,
            });
        }
        // Nothing inserted: either the app is not the caller's, or the group exists.
        let existing = self
            .describe_group(account_id, app_id, data_center, &group.group_id)
            .await;
        match existing {
            Ok(record) => Ok(CreateGroupOutcome {
                already_exists: true,
                already_deleted: record.deleted,
            }),
            Err(err) => Err(err),
        }
    }

    /// Reads a group of an app of `account_id`.
    pub async fn describe_group(
        &self,
        account_id: i64,
        app_id: &AppId,
        data_center: DataCenter,
        group_id: &GroupId,
    ) -> Result<GroupRecord, StoreError> {
        let row = sqlx::query_as::<_, GroupRecord>(
            "SELECT g.group_id, g.group_name, g.group_info, g.creator_id, g.admin_list, g.state,
                    g.member_count, g.total_joins, g.deleted, g.deleted_at, g.deletor, g.created_at
             FROM groups g JOIN apps a ON a.app_id = g.app_id
             WHERE a.app_id = $1 AND a.account_id = $2 AND a.data_center = $3
               AND g.group_id = $4",
        )
        .bind(app_id.as_str())
        .bind(account_id)
        .bind(data_center.as_str())
        .bind(group_id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => Ok(row),
            None => Err(self
                .missing_app_or_group(account_id, app_id, data_center)
                .await),
        }
    }

    /// Tells which of an app or a group a failed lookup did not find.
    async fn missing_app_or_group(
        &self,
        account_id: i64,
        app_id: &AppId,
        data_center: DataCenter,
    ) -> StoreError {
        match self.find_app(account_id, app_id, data_center).await {
            Ok(_) => StoreError::GroupNotFound,
            Err(err) => err,
        }
    }

    /// One page of a group's users in join order. A super group answers
    /// [`StoreError::SuperGroup`].
    pub async fn list_group_users(
        &self,
        account_id: i64,
        app_id: &AppId,
        data_center: DataCenter,
        group_id: &GroupId,
        page: PageRequest,
    ) -> Result<UserPage, StoreError> {
        // One statement, so the group's state and its members come from one snapshot: a page
        // can never mix a normal group's state with a list cleared by a concurrent upgrade.
        let sql = match page.sort {
            livemsg_domain::SortType::Ascending => LIST_ASCENDING,
            livemsg_domain::SortType::Descending => LIST_DESCENDING,
        };
        let start = page.start_position();
        let rows = sqlx::query(sql)
            .bind(app_id.as_str())
            .bind(account_id)
            .bind(data_center.as_str())
            .bind(group_id.as_str())
            .bind(start)
            .bind(i64::from(page.size.get()) + 1)
            .fetch_all(&self.pool)
            .await?;
        let Some(first) = rows.first() else {
            return Err(self
                .missing_app_or_group(account_id, app_id, data_center)
                .await);
        };
        let state = records::decode_state(first.try_get("state")?)?;
        state.check_listable().map_err(|_| StoreError::SuperGroup)?;
        let mut members = Vec::with_capacity(rows.len());
        for row in &rows {
            let position: Option<i64> = row.try_get("position")?;
            if let Some(position) = position {
                let user_id: String = row.try_get("user_id")?;
                let user_info: Option<String> = row.try_get("user_info")?;
                members.push((position, user_id, user_info.unwrap_or_default()));
            }
        }
        Ok(UserPage::from_rows(members, page.size))
    }

    /// Records that a user logged on (its presence and a logon event, in one transaction).
    /// `session_id` names the connection, as the connection tier knows it (may be empty).
    pub async fn logon(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        session_id: &str,
    ) -> Result<(), StoreError> {
        events::presence(&self.pool, app_id, user_id, true, session_id, None).await
    }

    /// Records that a user logged off (its presence and a logoff event with `reason`, in one
    /// transaction), then removes it from every group of the app it was in, all the leaves (with
    /// their events) in one more transaction. Returns the groups left.
    pub async fn logoff(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        session_id: &str,
        reason: i16,
    ) -> Result<Vec<String>, StoreError> {
        events::presence(&self.pool, app_id, user_id, false, session_id, Some(reason)).await?;
        let groups: Vec<String> = sqlx::query_scalar(
            "SELECT g.group_id FROM group_members m JOIN groups g ON g.group_pk = m.group_pk
             WHERE g.app_id = $1 AND m.user_id = $2 AND NOT g.deleted ORDER BY g.group_pk",
        )
        .bind(app_id.as_str())
        .bind(user_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        let group_ids = groups
            .iter()
            .map(|g| GroupId::parse(g).map_err(|_| StoreError::Corrupt("groups.group_id")))
            .collect::<Result<Vec<_>, _>>()?;
        // Every leave in one transaction (each with its events), like any batch.
        let leave = [MembershipOp::Leave {
            user_id: user_id.clone(),
        }];
        let batch: Vec<GroupOps<'_>> = group_ids
            .iter()
            .map(|group_id| GroupOps {
                app_id,
                group_id,
                ops: &leave,
            })
            .collect();
        let results = self.apply_to_groups(&batch).await?;
        let mut left = Vec::with_capacity(groups.len());
        for (group, result) in groups.into_iter().zip(results) {
            match result {
                Ok(changes) if changes.iter().any(|c| c.changed) => left.push(group),
                Ok(_) | Err(StoreError::GroupNotFound) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(left)
    }

    /// Which of `user_ids` are logged on in an app of `account_id`.
    pub async fn online_among(
        &self,
        account_id: i64,
        app_id: &AppId,
        data_center: DataCenter,
        user_ids: &[String],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        // One statement: a row per online user, or one row without a user when there is
        // none; no row at all when the app is not the caller's.
        let rows: Vec<Option<String>> = sqlx::query_scalar(
            "SELECT p.user_id FROM apps a
             LEFT JOIN user_presence p
               ON p.app_id = a.app_id AND p.user_id = ANY($4) AND p.online
             WHERE a.app_id = $1 AND a.account_id = $2 AND a.data_center = $3",
        )
        .bind(app_id.as_str())
        .bind(account_id)
        .bind(data_center.as_str())
        .bind(user_ids)
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Err(StoreError::AppNotFound);
        }
        Ok(rows.into_iter().flatten().collect())
    }

    /// Which of `user_ids` are members of a group of an app of `account_id` (in any state:
    /// super groups keep who is in them).
    pub async fn members_among(
        &self,
        account_id: i64,
        app_id: &AppId,
        data_center: DataCenter,
        group_id: &GroupId,
        user_ids: &[String],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        // One statement, as for `online_among`; only when the group is not found does a
        // second query tell a missing app from a missing group.
        let rows: Vec<Option<String>> = sqlx::query_scalar(
            "SELECT m.user_id FROM groups g JOIN apps a ON a.app_id = g.app_id
             LEFT JOIN group_members m
               ON m.group_pk = g.group_pk AND m.user_id = ANY($5)
             WHERE a.app_id = $1 AND a.account_id = $2 AND a.data_center = $3
               AND g.group_id = $4 AND NOT g.deleted",
        )
        .bind(app_id.as_str())
        .bind(account_id)
        .bind(data_center.as_str())
        .bind(group_id.as_str())
        .bind(user_ids)
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Err(self
                .missing_app_or_group(account_id, app_id, data_center)
                .await);
        }
        Ok(rows.into_iter().flatten().collect())
    }

    /// Adds a user to a group (idempotent: a repeated join only updates the user info).
    pub async fn join_group(
        &self,
        app_id: &AppId,
        group_id: &GroupId,
        user_id: &livemsg_domain::UserId,
        user_info: &livemsg_domain::UserInfo,
    ) -> Result<livemsg_domain::MembershipChange, StoreError> {
        let op = MembershipOp::Join {
            user_id: user_id.clone(),
            user_info: user_info.clone(),
        };
        self.apply_to_group(app_id, group_id, std::slice::from_ref(&op))
            .await
            .map(|mut changes| changes.remove(0))
    }

    /// Removes a user from a group (idempotent: leaving a group one is not in changes nothing).
    pub async fn leave_group(
        &self,
        app_id: &AppId,
        group_id: &GroupId,
        user_id: &livemsg_domain::UserId,
    ) -> Result<livemsg_domain::MembershipChange, StoreError> {
        let op = MembershipOp::Leave {
            user_id: user_id.clone(),
        };
        self.apply_to_group(app_id, group_id, std::slice::from_ref(&op))
            .await
            .map(|mut changes| changes.remove(0))
    }

    /// Applies several joins and leaves to one group in one transaction, in order, and returns
    /// what each did.
    pub async fn apply_to_group(
        &self,
        app_id: &AppId,
        group_id: &GroupId,
        ops: &[MembershipOp],
    ) -> Result<Vec<livemsg_domain::MembershipChange>, StoreError> {
        membership::apply(
            &self.pool,
            self.super_group_threshold,
            app_id,
            group_id,
            ops,
        )
        .await
    }

    /// Applies the changes of several groups in one transaction (one commit); per group, in the
    /// order given, what each change did or `GroupNotFound`. Each group at most once.
    pub async fn apply_to_groups(
        &self,
        batch: &[GroupOps<'_>],
    ) -> Result<Vec<Result<Vec<livemsg_domain::MembershipChange>, StoreError>>, StoreError> {
        membership::apply_groups(&self.pool, self.super_group_threshold, batch).await
    }

    /// Reports the member count of every super group whose count changed, at most once per
    /// `interval` per group; returns how many reports were written.
    pub async fn report_super_group_counts(
        &self,
        interval: std::time::Duration,
    ) -> Result<u64, StoreError> {
        membership::report_super_group_counts(&self.pool, interval).await
    }

    /// A group's events from sequence number `from_seq` on, in order, at most `limit`.
    pub async fn group_events(
        &self,
        app_id: &AppId,
        group_id: &GroupId,
        from_seq: i64,
        limit: i64,
    ) -> Result<Vec<GroupEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT e.seq, e.kind, e.user_id, e.user_info, e.member_count, e.created_at
             FROM group_events e JOIN groups g ON g.group_pk = e.group_pk
             WHERE g.app_id = $1 AND g.group_id = $2 AND e.seq >= $3
             ORDER BY e.seq LIMIT $4",
        )
        .bind(app_id.as_str())
        .bind(group_id.as_str())
        .bind(from_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(GroupEvent {
                    seq: row.try_get("seq")?,
                    kind: livemsg_domain::events::EventKind::from_i16(row.try_get("kind")?)
                        .ok_or(StoreError::Corrupt("group_events.kind"))?,
                    user_id: row.try_get("user_id")?,
                    user_info: row.try_get("user_info")?,
                    member_count: row.try_get("member_count")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Numbers committed events in their app's stream (up to `max_apps` apps and `max_events`
    /// events each per call); returns how many were numbered. Safe from several instances.
    pub async fn sequence_events(&self, max_apps: i64, max_events: i64) -> Result<u64, StoreError> {
        events::sequence_events(&self.pool, max_apps, max_events).await
    }

    /// An app's events from app sequence number `from_seq` on, in order, at most `limit`.
    pub async fn app_events(
        &self,
        app_id: &AppId,
        from_seq: i64,
        limit: i64,
    ) -> Result<Vec<AppEvent>, StoreError> {
        events::app_events(&self.pool, app_id, from_seq, limit).await
    }

    /// Whether an app exists (in any account).
    pub async fn app_exists(&self, app_id: &AppId) -> Result<bool, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM apps WHERE app_id = $1)")
                .bind(app_id.as_str())
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Takes the callback lease of up to `limit` apps with events waiting; see
    /// [`CallbackStream`].
    pub async fn claim_callback_streams(
        &self,
        owner: &str,
        lease: std::time::Duration,
        limit: i64,
    ) -> Result<Vec<CallbackStream>, StoreError> {
        events::claim_callback_streams(&self.pool, owner, lease, limit).await
    }

    /// The next batch to send for a leased app, recorded as in flight; renews the lease.
    pub async fn next_callback_batch(
        &self,
        app_id: &str,
        owner: &str,
        lease: std::time::Duration,
        max_events: i64,
    ) -> Result<Option<CallbackBatch>, StoreError> {
        events::next_callback_batch(&self.pool, app_id, owner, lease, max_events).await
    }

    /// Records a delivered batch; false if the lease was lost meanwhile.
    pub async fn callback_batch_delivered(
        &self,
        app_id: &str,
        owner: &str,
        end: i64,
    ) -> Result<bool, StoreError> {
        events::batch_delivered(&self.pool, app_id, owner, end).await
    }

    /// Records a failed send and lets the lease go; see [`FailedBatch`].
    pub async fn callback_batch_failed(
        &self,
        app_id: &str,
        owner: &str,
        backoff: std::time::Duration,
        retry_for: std::time::Duration,
    ) -> Result<FailedBatch, StoreError> {
        events::batch_failed(&self.pool, app_id, owner, backoff, retry_for).await
    }

    /// Lets an app's callback lease go.
    pub async fn release_callback_stream(
        &self,
        app_id: &str,
        owner: &str,
    ) -> Result<(), StoreError> {
        events::release_callback_stream(&self.pool, app_id, owner).await
    }

    /// Deletes events older than `retention` that no callback waits for (up to `limit`).
    pub async fn prune_events(
        &self,
        retention: std::time::Duration,
        limit: i64,
    ) -> Result<u64, StoreError> {
        events::prune_events(&self.pool, retention, limit).await
    }

    /// Events waiting for their callback, over all apps.
    pub async fn callback_backlog(&self) -> Result<i64, StoreError> {
        events::callback_backlog(&self.pool).await
    }

    /// The exact member count and the state of a group.
    pub async fn group_count(
        &self,
        app_id: &AppId,
        group_id: &GroupId,
    ) -> Result<(i64, GroupState), StoreError> {
        let row = sqlx::query(
            "SELECT member_count, state FROM groups
             WHERE app_id = $1 AND group_id = $2 AND NOT deleted",
        )
        .bind(app_id.as_str())
        .bind(group_id.as_str())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::GroupNotFound)?;
        Ok((
            row.try_get("member_count")?,
            records::decode_state(row.try_get("state")?)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use livemsg_domain::{AppName, GroupInfo, GroupName, UserId, UserInfo};

    /// The plan of the real list statements, on a table with several large groups: a bounded
    /// seek on `group_members_list_idx` (the position bound in the index condition, a Limit
    /// above it), never a scan of the members. The only sort allowed is the final one over the
    /// at most `page_size + 1` rows the seek returned.
    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn the_list_query_seeks_the_position_index_instead_of_scanning(pool: PgPool) {
        let store = Store::new(pool, DEFAULT_THRESHOLD_FOR_TESTS, Keyring::generate());
        let account = store.create_account("t").await.unwrap();
        let app = store
            .create_app(NewApp {
                account_id: account.account_id,
                app_name: Some(AppName::parse("demo").unwrap()),
                data_center: DataCenter::CnShanghai,
                audit_type: 0,
                audit_url: String::new(),
                event_callback_url: String::new(),
                msg_life_cycle: 0,
            })
            .await
            .unwrap();
        let app_id = AppId::parse(&app.app_id).unwrap();
        for g in 0..4 {
            let group_id = GroupId::parse(&format!("g{g}")).unwrap();
            let group = NewGroup {
                group_id: group_id.clone(),
                group_name: GroupName::default(),
                group_info: GroupInfo::default(),
                creator_id: None,
                administrators: Vec::new(),
            };
            store
                .create_group(account.account_id, &app_id, DataCenter::CnShanghai, group)
                .await
                .unwrap();
            let ops: Vec<MembershipOp> = (0..1_500)
                .map(|i| MembershipOp::Join {
                    user_id: UserId::parse(&format!("u{i}")).unwrap(),
                    user_info: UserInfo::default(),
                })
                .collect();
            store
                .apply_to_group(&app_id, &group_id, &ops)
                .await
                .unwrap();
        }
        sqlx::query("ANALYZE").execute(store.pool()).await.unwrap();
        for (sql, bound) in [(LIST_ASCENDING, ">="), (LIST_DESCENDING, "<=")] {
            let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {sql}"))
                .bind(app_id.as_str())
                .bind(account.account_id)
                .bind("cn-shanghai")
                .bind("g2")
                .bind(700_i64)
                .bind(51_i64)
                .fetch_all(store.pool())
                .await
                .unwrap();
            let seek = plan
                .iter()
                .position(|line| line.contains(" using group_members_list_idx"))
                .unwrap_or_else(|| panic!("no index seek in {plan:#?}"));
            assert!(plan[seek - 1].contains("Limit"), "{plan:#?}");
            assert!(
                plan[seek + 1].contains(&format!("\"position\" {bound} ")),
                "{plan:#?}"
            );
            assert!(
                !plan.iter().any(|l| l.contains("Scan on group_members")),
                "{plan:#?}"
            );
            let sorts = plan.iter().filter(|l| l.contains("Sort  ")).count();
            assert!(
                sorts <= 1 && (sorts == 0 || plan[0].starts_with("Sort")),
                "{plan:#?}"
            );
        }
    }

    const DEFAULT_THRESHOLD_FOR_TESTS: i64 = livemsg_domain::DEFAULT_SUPER_GROUP_THRESHOLD;
}
