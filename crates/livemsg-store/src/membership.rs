//! Joins, leaves and pages of group members.
//!
//! Every change runs in a transaction that begins by locking the rows of the groups it touches
//! (`SELECT ... FOR UPDATE`). Concurrent changes to one group therefore queue on that lock,
//! and each sees the count, the next join position, the state and the members its predecessor
//! committed: no read-then-write race, no drift, and exactly one transition to super. Changes to
//! different groups never wait for each other.
//!
//! Under the lock, a batch is worked out in memory from the members it touches (read in one
//! query) and written set-wise: one statement deletes, inserts and updates every member row,
//! updates every group and appends every event. A batch costs five round trips and one commit,
//! however many changes it carries.

use livemsg_domain::events::{events_of, EventKind};
use std::collections::{HashMap, HashSet};

use livemsg_domain::{AppId, GroupId, GroupState, MembershipChange, UserId, UserInfo};
use sqlx::Row;

use crate::records::decode_state;
use crate::{Store, StoreError};

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
}

impl MembershipOp {
    /// The user the change is about.
    pub fn user_id(&self) -> &UserId {
        match self {
            MembershipOp::Join { user_id, .. } | MembershipOp::Leave { user_id } => user_id,
        }
    }
}

/// The locked state of one group inside a membership transaction.
struct LockedGroup {
    group_pk: i64,
    state: GroupState,
    member_count: i64,
    next_position: i64,
    total_joins: i64,
    next_event_seq: i64,
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

/// The new state of every changed group and the events to append, as columns for one
/// `UPDATE ... FROM unnest(...)` and one `INSERT ... SELECT FROM unnest(...)`.
#[derive(Default)]
struct Writes {
    deleted_pks: Vec<i64>,
    deleted_users: Vec<String>,
    upsert_pks: Vec<i64>,
    upsert_users: Vec<String>,
    upsert_positions: Vec<Option<i64>>,
    upsert_infos: Vec<Option<String>>,
    cleared_pks: Vec<i64>,
    pks: Vec<i64>,
    states: Vec<i16>,
    counts: Vec<i64>,
    positions: Vec<i64>,
    joins: Vec<i64>,
    next_seqs: Vec<i64>,
    became_super: Vec<bool>,
    event_pks: Vec<i64>,
    event_apps: Vec<String>,
    event_seqs: Vec<i64>,
    event_kinds: Vec<i16>,
    event_users: Vec<Option<String>>,
    event_infos: Vec<Option<String>>,
    event_counts: Vec<i64>,
}

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
    /// overlapping groups queue instead of deadlocking. Their new states and all their events are
    /// written in one more statement: a batch of `k` joins costs `k + 4` round trips, not `5k`.
    pub async fn apply_to_groups(
        &self,
        batch: &[GroupOps<'_>],
    ) -> Result<Vec<Result<Vec<MembershipChange>, StoreError>>, StoreError> {
        let threshold = self.super_group_threshold;
        let mut tx = self.pool.begin().await?;
        let (apps, groups): (Vec<&str>, Vec<&str>) = batch
            .iter()
            .map(|g| (g.app_id.as_str(), g.group_id.as_str()))
            .unzip();
        let rows = sqlx::query(
            "SELECT g.app_id, g.group_id, g.group_pk, g.state, g.member_count, g.next_position,
                g.total_joins, g.next_event_seq
         FROM groups g
         JOIN unnest($1::text[], $2::text[]) AS k(app_id, group_id)
           ON g.app_id = k.app_id AND g.group_id = k.group_id
         WHERE NOT g.deleted
         ORDER BY g.group_pk
         FOR UPDATE OF g",
        )
        .bind(&apps)
        .bind(&groups)
        .fetch_all(&mut *tx)
        .await?;
        let mut locked = std::collections::HashMap::with_capacity(rows.len());
        for row in rows {
            let key: (String, String) = (row.try_get("app_id")?, row.try_get("group_id")?);
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
                results.push(Err(StoreError::GroupNotFound));
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
            // Member rows deleted and written are disjoint sets, so no row is modified twice.
            sqlx::query(
                "WITH deleted AS (
                 DELETE FROM group_members m
                 USING unnest($15::bigint[], $16::text[]) AS d(group_pk, user_id)
                 WHERE m.group_pk = d.group_pk AND m.user_id = d.user_id
             ), written AS (
                 INSERT INTO group_members (group_pk, user_id, position, user_info)
                 SELECT * FROM unnest($17::bigint[], $18::text[], $19::bigint[], $20::text[])
                 ON CONFLICT (group_pk, user_id) DO UPDATE
                 SET position = COALESCE(EXCLUDED.position, group_members.position),
                     user_info = EXCLUDED.user_info
             ), updated AS (
                 UPDATE groups g
                 SET state = u.state, member_count = u.member_count,
                     next_position = u.next_position, total_joins = u.total_joins,
                     next_event_seq = u.next_event_seq,
                     reported_count =
                         CASE WHEN u.became_super THEN u.member_count ELSE g.reported_count END,
                     count_reported_at =
                         CASE WHEN u.became_super THEN now() ELSE g.count_reported_at END
                 FROM unnest($1::bigint[], $2::smallint[], $3::bigint[], $4::bigint[],
                             $5::bigint[], $6::bigint[], $7::boolean[])
                      AS u(group_pk, state, member_count, next_position, total_joins,
                           next_event_seq, became_super)
                 WHERE g.group_pk = u.group_pk
             )
             INSERT INTO group_events
                 (group_pk, seq, app_id, kind, user_id, user_info, member_count)
             SELECT * FROM unnest($8::bigint[], $9::bigint[], $10::text[], $11::smallint[],
                                  $12::text[], $13::text[], $14::bigint[])",
            )
            .bind(&writes.pks)
            .bind(&writes.states)
            .bind(&writes.counts)
            .bind(&writes.positions)
            .bind(&writes.joins)
            .bind(&writes.next_seqs)
            .bind(&writes.became_super)
            .bind(&writes.event_pks)
            .bind(&writes.event_seqs)
            .bind(&writes.event_apps)
            .bind(&writes.event_kinds)
            .bind(&writes.event_users)
            .bind(&writes.event_infos)
            .bind(&writes.event_counts)
            .bind(&writes.deleted_pks)
            .bind(&writes.deleted_users)
            .bind(&writes.upsert_pks)
            .bind(&writes.upsert_users)
            .bind(&writes.upsert_positions)
            .bind(&writes.upsert_infos)
            .execute(&mut *tx)
            .await?;
        }
        // The outbox is in this transaction: a change that commits has its events, and one that
        // rolls back has none.
        tx.commit().await?;
        Ok(results)
    }
}

/// A touched member of a group, as the batch leaves it.
struct Member {
    /// Whether it was a member before the batch.
    was: bool,
    /// Whether it is one now.
    is: bool,
    /// Whether its row must be written (joined, rejoined or new user info).
    write: bool,
    /// Its join position if the batch gave it one (`None`: keep the stored one, or none in a
    /// super group).
    position: Option<i64>,
    info: Option<String>,
}

/// Works out one group's changes on its locked row, in memory, collecting what to write.
/// `present` holds the touched `(group_pk, user_id)` pairs that are members before the batch.
fn apply_locked(
    group: &mut LockedGroup,
    threshold: i64,
    entry: &GroupOps<'_>,
    present: &HashSet<(i64, String)>,
    writes: &mut Writes,
) -> Vec<MembershipChange> {
    let snapshot = |g: &LockedGroup| {
        (
            g.state,
            g.member_count,
            g.next_position,
            g.total_joins,
            g.next_event_seq,
        )
    };
    let initial = snapshot(group);
    // Touched members in order of first touch, so the writes are deterministic.
    let mut order: Vec<&str> = Vec::new();
    let mut members: HashMap<&str, Member> = HashMap::new();
    let mut changes = Vec::with_capacity(entry.ops.len());
    for op in entry.ops {
        let user = op.user_id().as_str();
        let before = group.state;
        let member = members.entry(user).or_insert_with(|| {
            order.push(user);
            let was = present.contains(&(group.group_pk, user.to_owned()));
            Member {
                was,
                is: was,
                write: false,
                position: None,
                info: None,
            }
        });
        let (changed, joined, user_info) = match op {
            MembershipOp::Join { user_info, .. } if member.is => {
                // A repeated join keeps its position and only updates the user info; a super
                // group keeps no info.
                if group.state != GroupState::Super {
                    member.write = true;
                    member.info = Some(user_info.as_str().to_owned());
                }
                (false, true, Some(user_info.as_str()))
            }
            MembershipOp::Join { user_info, .. } => {
                member.is = true;
                member.write = true;
                if group.state == GroupState::Super {
                    member.position = None;
                    member.info = None;
                } else {
                    member.position = Some(group.next_position);
                    member.info = Some(user_info.as_str().to_owned());
                    group.next_position += 1;
                }
                group.member_count += 1;
                group.total_joins += 1;
                let after = group.state.after_join(group.member_count, threshold);
                if after == GroupState::Super && group.state != GroupState::Super {
                    // The upgrade clears the list, the members touched so far included.
                    writes.cleared_pks.push(group.group_pk);
                    for m in members.values_mut() {
                        m.position = None;
                        m.info = None;
                    }
                    tracing::info!(
                        group.pk = group.group_pk,
                        members = group.member_count,
                        "group became super"
                    );
                }
                group.state = after;
                (true, true, Some(user_info.as_str()))
            }
            MembershipOp::Leave { .. } if member.is => {
                member.is = false;
                member.write = false;
                member.position = None;
                member.info = None;
                group.member_count -= 1;
                group.state = group.state.after_leave(group.member_count);
                (true, false, None)
            }
            MembershipOp::Leave { .. } => (false, false, None),
        };
        let change = MembershipChange {
            before,
            after: group.state,
            member_count: group.member_count,
            changed,
        };
        for kind in events_of(&change, joined) {
            let personal = matches!(kind, EventKind::UserEntered | EventKind::UserLeft);
            writes.event_pks.push(group.group_pk);
            writes.event_apps.push(entry.app_id.to_string());
            writes.event_seqs.push(group.next_event_seq);
            writes.event_kinds.push(kind.as_i16());
            writes.event_users.push(personal.then(|| user.to_owned()));
            writes
                .event_infos
                .push(user_info.filter(|_| personal).map(str::to_owned));
            writes.event_counts.push(group.member_count);
            group.next_event_seq += 1;
        }
        changes.push(change);
    }
    for user in order {
        let member = &members[user];
        if member.was && !member.is {
            writes.deleted_pks.push(group.group_pk);
            writes.deleted_users.push(user.to_owned());
        } else if member.is && member.write {
            writes.upsert_pks.push(group.group_pk);
            writes.upsert_users.push(user.to_owned());
            writes.upsert_positions.push(member.position);
            writes.upsert_infos.push(member.info.clone());
        }
    }
    if snapshot(group) != initial {
        writes.pks.push(group.group_pk);
        writes.states.push(group.state.as_i16());
        writes.counts.push(group.member_count);
        writes.positions.push(group.next_position);
        writes.joins.push(group.total_joins);
        writes.next_seqs.push(group.next_event_seq);
        // The upgrade's own event carries the count: the next count report is due only when
        // it changes after that.
        writes
            .became_super
            .push(changes.iter().any(MembershipChange::became_super));
    }
    changes
}

/// Appends a `MemberCount` event for every super group whose count changed since its last
/// report, if that report is at least `interval` old. Safe to run from several instances at
/// once: a group is locked while reported (others skip it), and a fresh report makes it not due.
impl Store {
    pub async fn report_super_group_counts(
        &self,
        interval: std::time::Duration,
    ) -> Result<u64, StoreError> {
        let reported = sqlx::query(
            "WITH due AS (
             SELECT group_pk, app_id, member_count, next_event_seq FROM groups
             WHERE state = 1 AND member_count IS DISTINCT FROM reported_count
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
         )
         INSERT INTO group_events (group_pk, seq, app_id, kind, member_count)
         SELECT group_pk, next_event_seq, app_id, $2, member_count FROM due",
        )
        .bind(interval.as_secs_f64())
        .bind(EventKind::MemberCount.as_i16())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(reported)
    }
}
