//! The outbox: every event of an app, numbered per group and per app as it is written, read
//! back by watchers and pruned after its retention.
//!
//! Membership changes write their events into the outbox (`group_events`) numbered per group,
//! under the group's lock. Logon and logoff write theirs with no group. Every event is also
//! numbered in its app's stream (`app_seq`) by the statement that writes it ([`append_events`]),
//! so an app's stream is one gapless sequence that keeps each group's order.

use chrono::{DateTime, Utc};
use livemsg_domain::events::EventKind;
use livemsg_domain::{AppId, GroupId};
use sqlx::postgres::PgRow;
use sqlx::Row;

use crate::records::GroupEvent;
use crate::{Store, StoreError};

/// One event of an app's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppEvent {
    /// The app's sequence number of the event, from 1, without gaps.
    pub app_seq: i64,
    /// What happened.
    pub kind: EventKind,
    /// The group, for group events.
    pub group_id: Option<String>,
    /// The group's sequence number, for group events.
    pub seq: Option<i64>,
    /// The user who entered, left, logged on or off.
    pub user_id: Option<String>,
    /// The user's info on entering.
    pub user_info: Option<String>,
    /// The session the connection tier named on logon or logoff.
    pub session_id: Option<String>,
    /// Why a user logged off (1 normal, 3 timeout, 4 logged on elsewhere).
    pub reason: Option<i16>,
    /// The group's member count after the event, for group events.
    pub member_count: Option<i64>,
    /// For `GroupInfoChanged`: the group's info and administrators as JSON
    /// (`{"groupInfo": ..., "adminList": [...]}`).
    pub payload: Option<String>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

pub(crate) const APP_EVENT_COLUMNS: &str =
    "e.app_seq, e.kind, g.group_id, e.seq, e.user_id, e.user_info,
     e.session_id, e.reason, e.member_count, e.payload::text AS payload, e.created_at";

/// The end of a statement that appends events to the outbox, numbered in their apps' streams:
/// `new_events ({columns}) AS ({rows})` and what numbers them, for a `WITH` list (the caller's
/// own CTEs come before it, and `rows` may read them). `columns` must include `app_id`; `rows`
/// may yield more columns after them (an ordinal, say), which keep their own names. An app's
/// events are numbered in the order `order` (an `ORDER BY` list over those columns), which must
/// keep each group's order.
///
/// The apps' counters (`app_sequences`) are locked in app order and held until the transaction
/// ends, so this must be the transaction's last lock: group rows, presence rows and the app's
/// own row are locked before it. The next writer of an app then numbers after this one and
/// commits after it, which keeps what readers see of a stream a gapless prefix. An app without a
/// counter fails the statement (its events would have no number) rather than losing them.
pub(crate) fn append_events(columns: &str, rows: &str, order: &str) -> String {
    format!(
        "new_events ({columns}) AS ({rows}),
         counts AS (SELECT app_id, count(*) AS n FROM new_events GROUP BY app_id),
         counters AS (
             SELECT q.app_id FROM app_sequences q JOIN counts c ON c.app_id = q.app_id
             ORDER BY q.app_id
             FOR NO KEY UPDATE OF q
         ),
         taken AS (
             UPDATE app_sequences q SET next_seq = q.next_seq + c.n
             FROM counts c JOIN counters l ON l.app_id = c.app_id
             WHERE q.app_id = c.app_id
             RETURNING q.app_id, q.next_seq - c.n AS first_seq
         )
         INSERT INTO group_events ({columns}, app_seq)
         SELECT {columns},
                first_seq - 1 + row_number() OVER (PARTITION BY app_id ORDER BY {order})
         FROM new_events LEFT JOIN taken USING (app_id)"
    )
}

pub(crate) fn app_event(row: &PgRow) -> Result<AppEvent, StoreError> {
    Ok(AppEvent {
        app_seq: row.try_get("app_seq")?,
        kind: EventKind::from_i16(row.try_get("kind")?)
            .ok_or(StoreError::Corrupt("group_events.kind"))?,
        group_id: row.try_get("group_id")?,
        seq: row.try_get("seq")?,
        user_id: row.try_get("user_id")?,
        user_info: row.try_get("user_info")?,
        session_id: row.try_get("session_id")?,
        reason: row.try_get("reason")?,
        member_count: row.try_get("member_count")?,
        payload: row.try_get("payload")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// A group's events from sequence number `from_seq` on, in order, at most `limit`.
    pub async fn group_events(
        &self,
        app_id: &AppId,
        group_id: &GroupId,
        from_seq: i64,
        limit: i64,
    ) -> Result<Vec<GroupEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT e.seq, e.kind, e.user_id, e.user_info, e.member_count,
                    e.payload::text AS payload, e.created_at
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
                    kind: EventKind::from_i16(row.try_get("kind")?)
                        .ok_or(StoreError::Corrupt("group_events.kind"))?,
                    user_id: row.try_get("user_id")?,
                    user_info: row.try_get("user_info")?,
                    member_count: row.try_get("member_count")?,
                    payload: row.try_get("payload")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// An app's numbered events from `from_seq` on, in order, at most `limit`.
    pub async fn app_events(
        &self,
        app_id: &AppId,
        from_seq: i64,
        limit: i64,
    ) -> Result<Vec<AppEvent>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {APP_EVENT_COLUMNS}
         FROM group_events e LEFT JOIN groups g ON g.group_pk = e.group_pk
         WHERE e.app_id = $1 AND e.app_seq >= $2
         ORDER BY e.app_seq LIMIT $3"
        ))
        .bind(app_id.as_str())
        .bind(from_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(app_event).collect()
    }

    /// Deletes events older than `retention`, up to `limit`, but never one that still waits for
    /// its callback. Returns how many were deleted.
    ///
    /// Each app's stream is read from its head on the primary key, at most `limit` events of it:
    /// an app's events are numbered as they are written, so its oldest come first, and an app
    /// whose first `limit` events are all younger than `retention` has nothing to prune. (An
    /// event written a moment before another but numbered after it waits for that one.) Events
    /// still waiting for their callback are the stream's tail, past `delivered_seq`.
    pub async fn prune_events(
        &self,
        retention: std::time::Duration,
        limit: i64,
    ) -> Result<u64, StoreError> {
        let deleted = sqlx::query(
            "DELETE FROM group_events d USING (
                 SELECT head.app_id, head.app_seq
                 FROM app_streams s
                 JOIN apps a ON a.app_id = s.app_id
                 CROSS JOIN LATERAL (
                     SELECT e.app_id, e.app_seq, e.created_at FROM group_events e
                     WHERE e.app_id = s.app_id
                       AND (e.app_seq <= s.delivered_seq OR a.event_callback_url = '')
                     ORDER BY e.app_seq
                     LIMIT $2
                 ) head
                 WHERE head.created_at < now() - make_interval(secs => $1)
                 LIMIT $2
             ) old
             WHERE d.app_id = old.app_id AND d.app_seq = old.app_seq",
        )
        .bind(retention.as_secs_f64())
        .bind(limit)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(deleted)
    }

    /// The seq a group's next event will have (where a watcher that wants no replay starts).
    pub async fn group_event_head(
        &self,
        app_id: &AppId,
        group_id: &GroupId,
    ) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT next_event_seq FROM groups WHERE app_id = $1 AND group_id = $2")
            .bind(app_id.as_str())
            .bind(group_id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::GroupNotFound)
    }

    /// The app_seq an app's next numbered event will have.
    pub async fn app_event_head(&self, app_id: &AppId) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT next_seq FROM app_sequences WHERE app_id = $1")
            .bind(app_id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::AppNotFound)
    }
}
