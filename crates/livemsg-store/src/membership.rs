//! Joins, leaves and pages of group members.
//!
//! Every change runs in one transaction that begins by locking the group's row
//! (`SELECT ... FOR UPDATE`). Concurrent changes to one group therefore queue on that lock,
//! and each sees the count, the next join position and the state its predecessor committed:
//! no read-then-write race, no drift, and exactly one transition to super. Changes to
//! different groups never wait for each other.

use livemsg_domain::events::{events_of, EventKind};
use livemsg_domain::{
    AppId, GroupId, GroupState, MembershipChange, PageSize, PageToken, SortType, UserId, UserInfo,
};
use sqlx::postgres::PgPool;
use sqlx::Row;

use crate::records::decode_state;
use crate::StoreError;

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

/// Which page of a user list to read.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    /// How many users.
    pub size: PageSize,
    /// In which order.
    pub sort: SortType,
    /// Where to continue.
    pub token: PageToken,
}

impl PageRequest {
    /// The first position the scan may return: inclusive lower bound for ascending order,
    /// inclusive upper bound for descending order.
    pub(crate) fn start_position(&self) -> i64 {
        match (self.token.position(), self.sort) {
            (Some(position), _) => position,
            (None, SortType::Ascending) => i64::MIN,
            (None, SortType::Descending) => i64::MAX,
        }
    }
}

/// A page of users and where the next page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPage {
    /// `(user_id, user_info)` in the requested order.
    pub users: Vec<(String, String)>,
    /// The position of the first user not returned; `None` when there is no more.
    pub next: Option<i64>,
}

impl UserPage {
    /// Builds a page from up to `size + 1` rows `(position, user_id, user_info)` in scan
    /// order: the extra row, if present, only tells where the next page starts.
    pub(crate) fn from_rows(mut rows: Vec<(i64, String, String)>, size: PageSize) -> UserPage {
        let size = size.get() as usize;
        let next = rows.get(size).map(|row| row.0);
        rows.truncate(size);
        UserPage {
            users: rows.into_iter().map(|(_, id, info)| (id, info)).collect(),
            next,
        }
    }

    /// The wire token: the next position, or 0 for "no more".
    pub fn next_page_token(&self) -> i64 {
        self.next.unwrap_or(0)
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

/// Events to append to the outbox, as columns for one `INSERT ... SELECT FROM unnest(...)`.
#[derive(Default)]
struct Outbox {
    seqs: Vec<i64>,
    kinds: Vec<i16>,
    users: Vec<Option<String>>,
    infos: Vec<Option<String>>,
    counts: Vec<i64>,
}

/// Applies `ops` to one group in one transaction and returns what each did.
pub(crate) async fn apply(
    pool: &PgPool,
    threshold: i64,
    app_id: &AppId,
    group_id: &GroupId,
    ops: &[MembershipOp],
) -> Result<Vec<MembershipChange>, StoreError> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query(
        "SELECT group_pk, state, member_count, next_position, total_joins, next_event_seq
         FROM groups
         WHERE app_id = $1 AND group_id = $2 AND NOT deleted
         FOR UPDATE",
    )
    .bind(app_id.as_str())
    .bind(group_id.as_str())
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(StoreError::GroupNotFound)?;
    let mut group = LockedGroup {
        group_pk: row.try_get("group_pk")?,
        state: decode_state(row.try_get("state")?)?,
        member_count: row.try_get("member_count")?,
        next_position: row.try_get("next_position")?,
        total_joins: row.try_get("total_joins")?,
        next_event_seq: row.try_get("next_event_seq")?,
    };
    let initial = (group.state, group.member_count, group.next_position);

    let mut changes = Vec::with_capacity(ops.len());
    let mut outbox = Outbox::default();
    for op in ops {
        let before = group.state;
        let (changed, joined, user_id, user_info) = match op {
            MembershipOp::Join { user_id, user_info } => (
                join(&mut tx, &mut group, threshold, user_id, user_info).await?,
                true,
                user_id,
                Some(user_info.as_str()),
            ),
            MembershipOp::Leave { user_id } => (
                leave(&mut tx, &mut group, user_id).await?,
                false,
                user_id,
                None,
            ),
        };
        let change = MembershipChange {
            before,
            after: group.state,
            member_count: group.member_count,
            changed,
        };
        for kind in events_of(&change, joined) {
            let personal = matches!(kind, EventKind::UserEntered | EventKind::UserLeft);
            outbox.seqs.push(group.next_event_seq);
            outbox.kinds.push(kind.as_i16());
            outbox
                .users
                .push(personal.then(|| user_id.as_str().to_owned()));
            outbox
                .infos
                .push(user_info.filter(|_| personal).map(str::to_owned));
            outbox.counts.push(group.member_count);
            group.next_event_seq += 1;
        }
        changes.push(change);
    }

    if (group.state, group.member_count, group.next_position) != initial {
        sqlx::query(
            "UPDATE groups SET state = $2, member_count = $3, next_position = $4, total_joins = $5,
                               next_event_seq = $6,
                               reported_count = CASE WHEN $7 THEN $3 ELSE reported_count END,
                               count_reported_at =
                                   CASE WHEN $7 THEN now() ELSE count_reported_at END
             WHERE group_pk = $1",
        )
        .bind(group.group_pk)
        .bind(group.state.as_i16())
        .bind(group.member_count)
        .bind(group.next_position)
        .bind(group.total_joins)
        .bind(group.next_event_seq)
        // The upgrade's own event carries the count: the next count report is due only when
        // it changes after that.
        .bind(changes.iter().any(MembershipChange::became_super))
        .execute(&mut *tx)
        .await?;
    }
    if !outbox.seqs.is_empty() {
        // The outbox: in this transaction, so a change that commits has its events and one
        // that rolls back has none.
        sqlx::query(
            "INSERT INTO group_events (group_pk, seq, app_id, kind, user_id, user_info, member_count)
             SELECT $1, seq, $2, kind, user_id, user_info, member_count
             FROM unnest($3::bigint[], $4::smallint[], $5::text[], $6::text[], $7::bigint[])
                  AS e(seq, kind, user_id, user_info, member_count)",
        )
        .bind(group.group_pk)
        .bind(app_id.as_str())
        .bind(&outbox.seqs)
        .bind(&outbox.kinds)
        .bind(&outbox.users)
        .bind(&outbox.infos)
        .bind(&outbox.counts)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(changes)
}

async fn join(
    tx: &mut sqlx::PgConnection,
    group: &mut LockedGroup,
    threshold: i64,
    user_id: &UserId,
    user_info: &UserInfo,
) -> Result<bool, StoreError> {
    let inserted = if group.state == GroupState::Super {
        // A super group keeps who is in it (so joins stay idempotent) but no ordered list.
        sqlx::query(
            "INSERT INTO group_members (group_pk, user_id) VALUES ($1, $2)
             ON CONFLICT (group_pk, user_id) DO NOTHING",
        )
        .bind(group.group_pk)
        .bind(user_id.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1
    } else {
        // A repeated join keeps its position and only updates the user info. `xmax = 0`
        // tells a fresh insert from an update of the existing row.
        sqlx::query(
            "INSERT INTO group_members (group_pk, user_id, position, user_info)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (group_pk, user_id) DO UPDATE SET user_info = EXCLUDED.user_info
             RETURNING (xmax = 0) AS inserted",
        )
        .bind(group.group_pk)
        .bind(user_id.as_str())
        .bind(group.next_position)
        .bind(user_info.as_str())
        .fetch_one(&mut *tx)
        .await?
        .try_get::<bool, _>("inserted")?
    };
    if !inserted {
        return Ok(false);
    }
    if group.state != GroupState::Super {
        group.next_position += 1;
    }
    group.member_count += 1;
    group.total_joins += 1;
    let after = group.state.after_join(group.member_count, threshold);
    if after == GroupState::Super && group.state != GroupState::Super {
        // The upgrade: the join-ordered list is cleared in this same transaction.
        sqlx::query(
            "UPDATE group_members SET position = NULL, user_info = NULL
             WHERE group_pk = $1 AND position IS NOT NULL",
        )
        .bind(group.group_pk)
        .execute(&mut *tx)
        .await?;
        tracing::info!(
            group.pk = group.group_pk,
            members = group.member_count,
            "group became super"
        );
    }
    group.state = after;
    Ok(true)
}

async fn leave(
    tx: &mut sqlx::PgConnection,
    group: &mut LockedGroup,
    user_id: &UserId,
) -> Result<bool, StoreError> {
    let deleted = sqlx::query("DELETE FROM group_members WHERE group_pk = $1 AND user_id = $2")
        .bind(group.group_pk)
        .bind(user_id.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if deleted == 0 {
        return Ok(false);
    }
    group.member_count -= 1;
    group.state = group.state.after_leave(group.member_count);
    Ok(true)
}

/// Appends a `MemberCount` event for every super group whose count changed since its last
/// report, if that report is at least `interval` old. Safe to run from several instances at
/// once: a group is locked while reported (others skip it), and a fresh report makes it not due.
pub(crate) async fn report_super_group_counts(
    pool: &PgPool,
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
    .execute(pool)
    .await?
    .rows_affected();
    Ok(reported)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(positions: &[i64]) -> Vec<(i64, String, String)> {
        positions
            .iter()
            .map(|p| (*p, format!("u{p}"), String::new()))
            .collect()
    }

    #[test]
    fn a_full_page_plus_one_row_points_at_the_next_position() {
        let size = PageSize::new(10).unwrap();
        let page = UserPage::from_rows(rows(&(1..=11).collect::<Vec<_>>()), size);
        assert_eq!(page.users.len(), 10);
        assert_eq!(page.next, Some(11));
        assert_eq!(page.next_page_token(), 11);
    }

    #[test]
    fn the_last_page_answers_token_zero() {
        let size = PageSize::new(10).unwrap();
        let exact = UserPage::from_rows(rows(&(1..=10).collect::<Vec<_>>()), size);
        assert_eq!(exact.users.len(), 10);
        assert_eq!(exact.next_page_token(), 0);
        let empty = UserPage::from_rows(Vec::new(), size);
        assert!(empty.users.is_empty());
        assert_eq!(empty.next, None);
    }

    #[test]
    fn start_positions_follow_the_sort_order() {
        let size = PageSize::new(10).unwrap();
        let req = |sort, token| PageRequest { size, sort, token };
        assert_eq!(
            req(SortType::Ascending, PageToken::START).start_position(),
            i64::MIN
        );
        assert_eq!(
            req(SortType::Descending, PageToken::START).start_position(),
            i64::MAX
        );
        let at7 = PageToken::new(7).unwrap();
        assert_eq!(req(SortType::Descending, at7).start_position(), 7);
    }
}
