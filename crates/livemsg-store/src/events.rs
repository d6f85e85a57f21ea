//! The outbox: every event of an app, numbered per group as it is written and per app by the
//! sequencer, read back by watchers and pruned after its retention.
//!
//! Membership changes write their events into the outbox (`group_events`) numbered per group.
//! Logon and logoff write theirs with no group. The sequencer ([`Store::sequence_events`]) then
//! numbers every committed event per app (`app_seq`), so an app's stream is one gapless sequence
//! that keeps each group's order.

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

    /// Numbers committed events per app: up to `max_apps` apps (skipping those another instance
    /// is numbering) and up to `max_events` events each. Returns how many events were numbered.
    pub async fn sequence_events(&self, max_apps: i64, max_events: i64) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Lock first, number after: the numbering statement then reads with a snapshot taken
        // after the locks were granted, so it sees everything an earlier holder numbered.
        let apps: Vec<String> = sqlx::query_scalar(
            "SELECT s.app_id FROM app_streams s
         WHERE s.app_id IN (SELECT DISTINCT app_id FROM group_events WHERE app_seq IS NULL)
         ORDER BY s.app_id
         LIMIT $1
         FOR UPDATE SKIP LOCKED",
        )
        .bind(max_apps)
        .fetch_all(&mut *tx)
        .await?;
        if apps.is_empty() {
            return Ok(0);
        }
        let numbered = sqlx::query(
            "WITH todo AS (
             SELECT e.event_id, s.app_id,
                    s.next_seq - 1 + row_number() OVER (PARTITION BY s.app_id ORDER BY e.event_id)
                        AS app_seq
             FROM app_streams s CROSS JOIN LATERAL (
                 SELECT event_id FROM group_events
                 WHERE app_id = s.app_id AND app_seq IS NULL
                 ORDER BY event_id LIMIT $2
             ) e
             WHERE s.app_id = ANY($1)
         ), numbered AS (
             UPDATE group_events g SET app_seq = t.app_seq
             FROM todo t WHERE g.event_id = t.event_id
             RETURNING g.app_id
         )
         UPDATE app_streams s SET next_seq = s.next_seq + c.n
         FROM (SELECT app_id, count(*) AS n FROM numbered GROUP BY app_id) c
         WHERE s.app_id = c.app_id
         RETURNING c.n",
        )
        .bind(&apps)
        .bind(max_events)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        self.wrote_events();
        let mut total = 0u64;
        for row in numbered {
            total += u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0);
        }
        Ok(total)
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
    pub async fn prune_events(
        &self,
        retention: std::time::Duration,
        limit: i64,
    ) -> Result<u64, StoreError> {
        let deleted = sqlx::query(
            "DELETE FROM group_events WHERE event_id IN (
             SELECT e.event_id FROM group_events e
             JOIN app_streams s ON s.app_id = e.app_id
             JOIN apps a ON a.app_id = e.app_id
             WHERE e.created_at < now() - make_interval(secs => $1)
               AND e.app_seq IS NOT NULL
               AND (e.app_seq <= s.delivered_seq OR a.event_callback_url = '')
             ORDER BY e.created_at
             LIMIT $2)",
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
        sqlx::query_scalar("SELECT next_seq FROM app_streams WHERE app_id = $1")
            .bind(app_id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::AppNotFound)
    }
}
