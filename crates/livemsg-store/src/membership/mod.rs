//! Joins, leaves and pages of group members.
//!
//! Every change runs in a transaction that begins by locking the rows of the groups it touches
//! (`SELECT ... FOR NO KEY UPDATE`, which leaves new rows that refer to the group, such as
//! messages, free to be written). Concurrent changes to one group therefore queue on that lock,
//! and each sees the count, the next join position, the state and the members its predecessor
//! committed: no read-then-write race, no drift, and exactly one transition to super. Changes to
//! different groups never wait for each other.
//!
//! Under the lock, a batch is worked out in memory from the members it touches (read in one
//! query) and written set-wise: one statement deletes, inserts and updates every member row and
//! updates every group, and a last one appends every event, numbered in its app's stream. A batch
//! costs six round trips and one commit, however many changes it carries.

use livemsg_domain::events::EventKind;
use std::collections::HashSet;
use std::sync::LazyLock;

use livemsg_domain::{AppId, GroupId, MembershipChange, UserId, UserInfo};
use sqlx::Row;

use crate::records::decode_state;

mod plan;

use crate::{Store, StoreError};
use plan::{apply_locked, LockedGroup, Writes};

/// One membership change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembershipOp {
    /// Add the user (or update its user info if it is already a member).
    Join {
        /// Who joins.
        user_id: UserId,
        /// Its extension data, shown in the user list.
        user_info: UserInfo,
    },
    /// Remove the user, if it is a member.
    Leave {
        /// Who leaves.
        user_id: UserId,
    },
    /// Remove the user, if it is a member, as a leave, and say it was a kick (`Kicked`).
    Kick {
        /// Who is kicked out.
        user_id: UserId,
    },
}

impl MembershipOp {
    /// The user the change is about.
    pub fn user_id(&self) -> &UserId {
        match self {
            MembershipOp::Join { user_id, .. }
            | MembershipOp::Leave { user_id }
            | MembershipOp::Kick { user_id } => user_id,
        }
    }
}

/// The joins and leaves of one group, for [`Store::apply_to_groups`].
#[derive(Debug, Clone, Copy)]
pub struct GroupOps<'a> {
    /// The app.
    pub app_id: &'a AppId,
    /// The group; each group at most once per call.
    pub group_id: &'a GroupId,
    /// Its changes, in order.
    pub ops: &'a [MembershipOp],
}

/// The set-wise writes of a batch: member rows deleted and written, groups updated. Member rows
/// deleted and written are disjoint sets, so no row is modified twice.
const WRITE_BATCH: &str = "WITH deleted AS (
         DELETE FROM group_members m
         USING unnest($8::bigint[], $9::text[]) AS d(group_pk, user_id)
         WHERE m.group_pk = d.group_pk AND m.user_id = d.user_id
     ), written AS (
         INSERT INTO group_members (group_pk, user_id, position, user_info)
         SELECT * FROM unnest($10::bigint[], $11::text[], $12::bigint[], $13::text[])
         ON CONFLICT (group_pk, user_id) DO UPDATE
         SET position = COALESCE(EXCLUDED.position, group_members.position),
             user_info = EXCLUDED.user_info
     )
     UPDATE groups g
     SET state = u.state, member_count = u.member_count,
         next_position = u.next_position, total_joins = u.total_joins,
         next_event_seq = u.next_event_seq,
         reported_count = CASE WHEN u.became_super THEN u.member_count ELSE g.reported_count END,
         count_reported_at = CASE WHEN u.became_super THEN now() ELSE g.count_reported_at END
     FROM unnest($1::bigint[], $2::smallint[], $3::bigint[], $4::bigint[],
                 $5::bigint[], $6::bigint[], $7::boolean[])
          AS u(group_pk, state, member_count, next_position, total_joins,
               next_event_seq, became_super)
     WHERE g.group_pk = u.group_pk";

/// The batch's events, numbered in their apps' streams: a statement of its own, the batch's
/// last, so that the apps' counters are held only for it and the commit (the writes above can
/// take a millisecond, and another batch of the same app would wait for them too).
static APPEND_BATCH_EVENTS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH {}",
        crate::events::append_events(
            "group_pk, seq, app_id, kind, user_id, user_info, member_count",
            "SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::smallint[],
                                  $5::text[], $6::text[], $7::bigint[])",
            "group_pk, seq",
        )
    )
});

impl Store {
    /// Applies one change to one group (alone in its transaction) and returns what it did.
    pub async fn apply_one(
        &self,
        app_id: &AppId,
        group_id: &GroupId,
        op: MembershipOp,
    ) -> Result<MembershipChange, StoreError> {
        let mut changes = self
            .apply_to_group(app_id, group_id, std::slice::from_ref(&op))
            .await?;
        Ok(changes.remove(0))
    }

    /// Applies several joins and leaves to one group in one transaction, in order, and returns
    /// what each did.
    pub async fn apply_to_group(
        &self,
        app_id: &AppId,
        group_id: &GroupId,
        ops: &[MembershipOp],
    ) -> Result<Vec<MembershipChange>, StoreError> {
        let batch = [GroupOps {
            app_id,
            group_id,
            ops,
        }];
        self.apply_to_groups(&batch)
            .await?
            .pop()
            .unwrap_or(Err(StoreError::GroupNotFound))
    }

    /// Applies the changes of several groups in one transaction (one commit for all) and returns,
    /// per group in the order given, what each change did, or `GroupNotFound` for a group that does
    /// not exist (the others are applied all the same).
    ///
    /// The groups' rows are locked in one statement, in `group_pk` order, so two transactions over
    /// overlapping groups queue instead of deadlocking. Their new states are written in one more
    /// statement and all their events in a last one, whatever the number of changes.
    ///
    /// A group of a disabled app takes no join: a group whose changes include one is answered
    /// `AppDisabled` (and nothing of it is applied); leaves still go through.
    pub async fn apply_to_groups(
        &self,
        batch: &[GroupOps<'_>],
    ) -> Result<Vec<Result<Vec<MembershipChange>, StoreError>>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let results = self.apply_in(&mut tx, batch).await?;
        // The outbox is in this transaction: a change that commits has its events, and one that
        // rolls back has none.
        tx.commit().await?;
        let changed = results
            .iter()
            .flatten()
            .any(|changes| changes.iter().any(|c| c.changed));
        if changed {
            self.wrote_events();
        }
        Ok(results)
    }

    /// [`Store::apply_to_groups`] inside the caller's transaction.
    pub(crate) async fn apply_in(
        &self,
        tx: &mut sqlx::PgConnection,
        batch: &[GroupOps<'_>],
    ) -> Result<Vec<Result<Vec<MembershipChange>, StoreError>>, StoreError> {
        let threshold = self.super_group_threshold;
        let (apps, groups): (Vec<&str>, Vec<&str>) = batch
            .iter()
            .map(|g| (g.app_id.as_str(), g.group_id.as_str()))
            .unzip();
        let rows = sqlx::query(
            "SELECT g.app_id, g.group_id, g.group_pk, g.state, g.member_count, g.next_position,
                g.total_joins, g.next_event_seq, a.disabled
         FROM groups g
         JOIN unnest($1::text[], $2::text[]) AS k(app_id, group_id)
           ON g.app_id = k.app_id AND g.group_id = k.group_id
         JOIN apps a ON a.app_id = g.app_id
         WHERE NOT g.deleted
         ORDER BY g.group_pk
         FOR NO KEY UPDATE OF g",
        )
        .bind(&apps)
        .bind(&groups)
        .fetch_all(&mut *tx)
        .await?;
        let mut locked = std::collections::HashMap::with_capacity(rows.len());
        let mut disabled = HashSet::new();
        for row in rows {
            let key: (String, String) = (row.try_get("app_id")?, row.try_get("group_id")?);
            if row.try_get::<bool, _>("disabled")? {
                disabled.insert(key.clone());
            }
            locked.insert(
                key,
                LockedGroup {
                    group_pk: row.try_get("group_pk")?,
                    state: decode_state(row.try_get("state")?)?,
                    member_count: row.try_get("member_count")?,
                    next_position: row.try_get("next_position")?,
                    total_joins: row.try_get("total_joins")?,
                    next_event_seq: row.try_get("next_event_seq")?,
                },
            );
        }

        // A disabled app's groups take no join: such a group fails alone, untouched.
        let mut refused = HashSet::new();
        for entry in batch {
            let key = (entry.app_id.to_string(), entry.group_id.to_string());
            let joins = entry
                .ops
                .iter()
                .any(|op| matches!(op, MembershipOp::Join { .. }));
            if joins && disabled.contains(&key) {
                locked.remove(&key);
                refused.insert(key);
            }
        }

        // The members the batch touches, as they are now (the group locks keep them so).
        let (mut touched_pks, mut touched_users) = (Vec::new(), Vec::new());
        for entry in batch {
            let key = (entry.app_id.to_string(), entry.group_id.to_string());
            if let Some(group) = locked.get(&key) {
                for op in entry.ops {
                    touched_pks.push(group.group_pk);
                    touched_users.push(op.user_id().as_str());
                }
            }
        }
        let mut present: HashSet<(i64, String)> = HashSet::new();
        if !touched_pks.is_empty() {
            let rows = sqlx::query(
                "SELECT m.group_pk, m.user_id FROM group_members m
             JOIN unnest($1::bigint[], $2::text[]) AS k(group_pk, user_id)
               ON m.group_pk = k.group_pk AND m.user_id = k.user_id",
            )
            .bind(&touched_pks)
            .bind(&touched_users)
            .fetch_all(&mut *tx)
            .await?;
            for row in rows {
                present.insert((row.try_get("group_pk")?, row.try_get("user_id")?));
            }
        }

        let mut results = Vec::with_capacity(batch.len());
        let mut writes = Writes::default();
        for entry in batch {
            let key = (entry.app_id.to_string(), entry.group_id.to_string());
            let Some(group) = locked.get_mut(&key) else {
                results.push(Err(if refused.contains(&key) {
                    StoreError::AppDisabled
                } else {
                    StoreError::GroupNotFound
                }));
                continue;
            };
            results.push(Ok(apply_locked(
                group,
                threshold,
                entry,
                &present,
                &mut writes,
            )));
        }

        if !writes.cleared_pks.is_empty() {
            // The upgrade: the join-ordered list is cleared in this same transaction. (Rows the
            // batch writes below are written cleared already.)
            sqlx::query(
                "UPDATE group_members SET position = NULL, user_info = NULL
             WHERE group_pk = ANY($1) AND position IS NOT NULL",
            )
            .bind(&writes.cleared_pks)
            .execute(&mut *tx)
            .await?;
        }
        if !writes.pks.is_empty() || !writes.upsert_pks.is_empty() || !writes.deleted_pks.is_empty()
        {
            sqlx::query(WRITE_BATCH)
                .bind(&writes.pks)
                .bind(&writes.states)
                .bind(&writes.counts)
                .bind(&writes.positions)
                .bind(&writes.joins)
                .bind(&writes.next_seqs)
                .bind(&writes.became_super)
                .bind(&writes.deleted_pks)
                .bind(&writes.deleted_users)
                .bind(&writes.upsert_pks)
                .bind(&writes.upsert_users)
                .bind(&writes.upsert_positions)
                .bind(&writes.upsert_infos)
                .execute(&mut *tx)
                .await?;
        }
        if !writes.event_pks.is_empty() {
            sqlx::query(&APPEND_BATCH_EVENTS)
                .bind(&writes.event_pks)
                .bind(&writes.event_seqs)
                .bind(&writes.event_apps)
                .bind(&writes.event_kinds)
                .bind(&writes.event_users)
                .bind(&writes.event_infos)
                .bind(&writes.event_counts)
                .execute(&mut *tx)
                .await?;
        }
        Ok(results)
    }
}

/// Appends a `MemberCount` event for every super group whose count changed since its last
/// report, if that report is at least `interval` old. The event is stamped with the same time as
/// `count_reported_at` (the transaction's), so reports a receiver sees are `interval` apart by
/// their own timestamps too, not only by the store's. Safe to run from several instances at
/// once: a group is locked while reported (others skip it), and a fresh report makes it not due.
impl Store {
    pub async fn report_super_group_counts(
        &self,
        interval: std::time::Duration,
    ) -> Result<u64, StoreError> {
        let reported = sqlx::query(&format!(
            "WITH due AS (
             SELECT group_pk, app_id, member_count, next_event_seq FROM groups
             WHERE is_super AND member_count IS DISTINCT FROM reported_count
               AND (count_reported_at IS NULL
                    OR count_reported_at <= now() - make_interval(secs => $1))
             ORDER BY group_pk
             FOR UPDATE SKIP LOCKED
             LIMIT 1000
         ), bumped AS (
             UPDATE groups g
             SET next_event_seq = g.next_event_seq + 1,
                 reported_count = d.member_count,
                 count_reported_at = now()
             FROM due d WHERE g.group_pk = d.group_pk
         ), {}",
            crate::events::append_events(
                "group_pk, seq, app_id, kind, member_count, created_at",
                "SELECT group_pk, next_event_seq, app_id, $2::smallint, member_count, now()
                 FROM due",
                "group_pk",
            )
        ))
        .bind(interval.as_secs_f64())
        .bind(EventKind::MemberCount.as_i16())
        .execute(&self.pool)
        .await?
        .rows_affected();
        if reported > 0 {
            self.wrote_events();
        }
        Ok(reported)
    }
}
