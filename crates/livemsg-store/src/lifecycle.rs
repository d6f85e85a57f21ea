//! A group's life after creation: deleted (its members removed, each with its leave event),
//! recovered within the recovery window, purged after it.
//!
//! Every step locks the app's row first and the group's row second, the order the membership
//! batches (which lock group rows only) cannot invert, and keeps the app's live and deleted
//! group counters in the same transaction.

use livemsg_domain::events::EventKind;
use livemsg_domain::{AppId, AppScope, GroupId, MembershipChange, UserId};

use crate::membership::{GroupOps, MembershipOp};
use crate::scope::lock_app;
use crate::{Store, StoreError};

/// What deleting a group did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// The group was deleted; this many members were removed first.
    Deleted {
        /// Members removed (each with its leave event in a normal group).
        removed: usize,
    },
    /// The group was deleted already; nothing changed.
    AlreadyDeleted,
    /// The app has no such group; nothing changed.
    Unknown,
}

/// What recovering a group did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoverOutcome {
    /// The group is live again, with no members.
    Recovered,
    /// The group was not deleted; nothing changed.
    NotDeleted,
}

impl Store {
    /// Deletes a group: removes every member (with the events a leave has: `UserLeft` per user
    /// of a normal group, then `Closed`), marks the group deleted with `operator` as its
    /// deletor, and appends `GroupDeleted`, all in one transaction. The group stays readable and
    /// listable as deleted, and its id taken, until it is purged.
    pub async fn delete_group(
        &self,
        scope: &AppScope,
        group_id: &GroupId,
        operator: Option<&UserId>,
    ) -> Result<DeleteOutcome, StoreError> {
        let mut tx = self.pool.begin().await?;
        let app = lock_app(&mut tx, scope).await?;
        if app.disabled {
            return Err(StoreError::AppDisabled);
        }
        let deleted: Option<bool> = sqlx::query_scalar(
            "SELECT deleted FROM groups WHERE app_id = $1 AND group_id = $2 FOR NO KEY UPDATE",
        )
        .bind(scope.app.as_str())
        .bind(group_id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        match deleted {
            None => return Ok(DeleteOutcome::Unknown),
            Some(true) => return Ok(DeleteOutcome::AlreadyDeleted),
            Some(false) => {}
        }
        let removed = self.evict_in(&mut tx, &scope.app, group_id).await?;
        sqlx::query(&format!(
            "WITH deleted AS (
                 UPDATE groups SET deleted = TRUE, deleted_at = now(), deletor = $3,
                                   next_event_seq = next_event_seq + 1
                 WHERE app_id = $1 AND group_id = $2
                 RETURNING group_pk, next_event_seq - 1 AS seq, member_count
             ), counted AS (
                 UPDATE apps SET live_groups = live_groups - 1,
                                 deleted_groups = deleted_groups + 1
                 WHERE app_id = $1
             ), {}",
            crate::events::append_events(
                "group_pk, seq, app_id, kind, member_count",
                "SELECT group_pk, seq, $1::text, $4::smallint, member_count FROM deleted",
                "seq",
            )
        ))
        .bind(scope.app.as_str())
        .bind(group_id.as_str())
        .bind(operator.map_or("", |o| o.as_str()))
        .bind(EventKind::GroupDeleted.as_i16())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.wrote_events();
        tracing::info!(app.id = %scope.app, group.id = %group_id, removed, "group deleted");
        Ok(DeleteOutcome::Deleted { removed })
    }

    /// Recovers a deleted group within the recovery window: live again, with no members (they
    /// were removed on deletion), `GroupRecovered` appended. A group deleted longer ago than the
    /// window, or never known, is `GroupNotFound`; one that is not deleted is left as it is.
    /// The group must fit the app's quota of live groups (`TooManyGroups`).
    pub async fn recover_group(
        &self,
        scope: &AppScope,
        group_id: &GroupId,
    ) -> Result<RecoverOutcome, StoreError> {
        let mut tx = self.pool.begin().await?;
        let app = lock_app(&mut tx, scope).await?;
        if app.disabled {
            return Err(StoreError::AppDisabled);
        }
        let row: Option<(bool, bool)> = sqlx::query_as(
            "SELECT deleted, deleted AND deleted_at < now() - make_interval(secs => $3)
             FROM groups WHERE app_id = $1 AND group_id = $2 FOR NO KEY UPDATE",
        )
        .bind(scope.app.as_str())
        .bind(group_id.as_str())
        .bind(self.limits.recovery_window.as_secs_f64())
        .fetch_optional(&mut *tx)
        .await?;
        match row {
            None | Some((_, true)) => return Err(StoreError::GroupNotFound),
            Some((false, _)) => return Ok(RecoverOutcome::NotDeleted),
            Some((true, false)) => {}
        }
        if app.live_groups >= self.limits.groups_per_app {
            return Err(StoreError::TooManyGroups {
                quota: self.limits.groups_per_app,
                recovering: true,
            });
        }
        sqlx::query(&format!(
            "WITH recovered AS (
                 UPDATE groups SET deleted = FALSE, deleted_at = NULL, deletor = '',
                                   next_event_seq = next_event_seq + 1
                 WHERE app_id = $1 AND group_id = $2
                 RETURNING group_pk, next_event_seq - 1 AS seq, member_count
             ), counted AS (
                 UPDATE apps SET live_groups = live_groups + 1,
                                 deleted_groups = deleted_groups - 1
                 WHERE app_id = $1
             ), {}",
            crate::events::append_events(
                "group_pk, seq, app_id, kind, member_count",
                "SELECT group_pk, seq, $1::text, $3::smallint, member_count FROM recovered",
                "seq",
            )
        ))
        .bind(scope.app.as_str())
        .bind(group_id.as_str())
        .bind(EventKind::GroupRecovered.as_i16())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.wrote_events();
        Ok(RecoverOutcome::Recovered)
    }

    /// Removes groups deleted longer ago than the recovery window, with everything that hangs
    /// off them (events, and messages when they are kept), at most `limit` per call. Returns
    /// how many were removed. Their ids can be created again.
    pub async fn purge_deleted_groups(&self, limit: i64) -> Result<u64, StoreError> {
        let window = self.limits.recovery_window.as_secs_f64();
        let apps: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT app_id FROM (
                 SELECT app_id FROM groups
                 WHERE deleted AND deleted_at < now() - make_interval(secs => $1)
                 ORDER BY deleted_at LIMIT $2
             ) due",
        )
        .bind(window)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut purged = 0;
        for app_id in apps {
            // The app's row first (see the module), then its due groups.
            let mut tx = self.pool.begin().await?;
            sqlx::query("SELECT 1 FROM apps WHERE app_id = $1 FOR NO KEY UPDATE")
                .bind(&app_id)
                .execute(&mut *tx)
                .await?;
            let n: i64 = sqlx::query_scalar(
                "WITH gone AS (
                     DELETE FROM groups WHERE group_pk IN (
                         SELECT group_pk FROM groups
                         WHERE app_id = $1 AND deleted
                           AND deleted_at < now() - make_interval(secs => $2)
                         ORDER BY deleted_at LIMIT $3
                         FOR UPDATE SKIP LOCKED)
                     RETURNING group_pk
                 ), events AS (
                     -- The outbox has no foreign key to cascade through (see its migration).
                     DELETE FROM group_events e USING gone WHERE e.group_pk = gone.group_pk
                 ), counted AS (
                     UPDATE apps SET deleted_groups = deleted_groups - (SELECT count(*) FROM gone)
                     WHERE app_id = $1
                 )
                 SELECT count(*) FROM gone",
            )
            .bind(&app_id)
            .bind(window)
            .bind(limit)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            purged += n as u64;
        }
        Ok(purged)
    }

    /// Removes every member of a live group, inside the caller's transaction, as ordinary
    /// leaves in join order. Returns how many left.
    pub(crate) async fn evict_in(
        &self,
        tx: &mut sqlx::PgConnection,
        app_id: &AppId,
        group_id: &GroupId,
    ) -> Result<usize, StoreError> {
        // The group's row first: its members cannot change while they are read and removed.
        let members: Vec<String> = sqlx::query_scalar(
            "WITH locked AS (
                 SELECT group_pk FROM groups
                 WHERE app_id = $1 AND group_id = $2 AND NOT deleted FOR NO KEY UPDATE
             )
             SELECT m.user_id FROM group_members m JOIN locked l ON l.group_pk = m.group_pk
             ORDER BY m.position NULLS LAST, m.user_id",
        )
        .bind(app_id.as_str())
        .bind(group_id.as_str())
        .fetch_all(&mut *tx)
        .await?;
        if members.is_empty() {
            return Ok(0);
        }
        let leaves = members
            .iter()
            .map(|m| {
                Ok(MembershipOp::Leave {
                    user_id: UserId::parse(m)
                        .map_err(|_| StoreError::Corrupt("group_members.user_id"))?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let batch = [GroupOps {
            app_id,
            group_id,
            ops: &leaves,
        }];
        let mut results = self.apply_in(tx, &batch).await?;
        let changes: Vec<MembershipChange> = results.pop().unwrap_or(Ok(Vec::new()))?;
        Ok(changes.iter().filter(|c| c.changed).count())
    }
}
