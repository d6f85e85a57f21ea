//! The app-wide event stream and the state of callback delivery.
//!
//! Membership changes write their events into the outbox (`group_events`) numbered per group.
//! Logon and logoff write theirs with no group. The sequencer ([`sequence_events`]) then numbers
//! every committed event per app (`app_seq`), so an app's stream is one gapless sequence that
//! keeps each group's order. Callback delivery keeps its cursor per app in `app_streams`: one
//! service instance at a time holds an app's lease and sends its batches in order.

use chrono::{DateTime, Utc};
use livemsg_domain::events::EventKind;
use livemsg_domain::{AppId, UserId};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::Row;

use crate::StoreError;

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
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

/// An app whose callbacks this instance now delivers, with its lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackStream {
    /// The app.
    pub app_id: String,
    /// Where its events go.
    pub url: String,
    /// The key its callbacks are signed with.
    pub app_key: String,
    /// How many times the batch in flight has failed.
    pub attempts: i32,
    /// Since when deliveries have failed without a success between.
    pub failing_since: Option<DateTime<Utc>>,
}

/// A batch of an app's events to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackBatch {
    /// The batch's transactionid, the same on every retry.
    pub transaction_id: String,
    /// The last app_seq in the batch.
    pub end: i64,
    /// The events, in app order.
    pub events: Vec<AppEvent>,
}

/// What became of a failed batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailedBatch {
    /// It will be sent again after the backoff; this was failure number `attempts`.
    Retry {
        /// Failures of this batch so far.
        attempts: i32,
    },
    /// The receiver failed for longer than the retry window: `dropped` events (the batch and
    /// whatever else was waiting) were given up.
    GaveUp {
        /// Events given up.
        dropped: i64,
    },
}

const APP_EVENT_COLUMNS: &str = "e.app_seq, e.kind, g.group_id, e.seq, e.user_id, e.user_info,
     e.session_id, e.reason, e.member_count, e.created_at";

fn app_event(row: &PgRow) -> Result<AppEvent, StoreError> {
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
        created_at: row.try_get("created_at")?,
    })
}

/// Writes a logon or logoff event and the user's presence, in one transaction.
pub(crate) async fn presence(
    pool: &PgPool,
    app_id: &AppId,
    user_id: &UserId,
    online: bool,
    session_id: &str,
    reason: Option<i16>,
) -> Result<(), StoreError> {
    let kind = if online {
        EventKind::Logon
    } else {
        EventKind::Logoff
    };
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO user_presence (app_id, user_id, online) VALUES ($1, $2, $3)
         ON CONFLICT (app_id, user_id) DO UPDATE SET online = $3, changed_at = now()",
    )
    .bind(app_id.as_str())
    .bind(user_id.as_str())
    .bind(online)
    .execute(&mut *tx)
    .await
    .map_err(|e| StoreError::from_insert(e, StoreError::AppNotFound))?;
    sqlx::query(
        "INSERT INTO group_events (app_id, kind, user_id, session_id, reason)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(app_id.as_str())
    .bind(kind.as_i16())
    .bind(user_id.as_str())
    .bind(session_id)
    .bind(reason)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Numbers committed events per app: up to `max_apps` apps (skipping those another instance
/// is numbering) and up to `max_events` events each. Returns how many events were numbered.
pub(crate) async fn sequence_events(
    pool: &PgPool,
    max_apps: i64,
    max_events: i64,
) -> Result<u64, StoreError> {
    let mut tx = pool.begin().await?;
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
    let mut total = 0u64;
    for row in numbered {
        total += u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0);
    }
    Ok(total)
}

/// An app's numbered events from `from_seq` on, in order, at most `limit`.
pub(crate) async fn app_events(
    pool: &PgPool,
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
    .fetch_all(pool)
    .await?;
    rows.iter().map(app_event).collect()
}

/// Takes the lease of up to `limit` apps that have a callback URL, events waiting and no
/// retry pending, and that no other instance holds.
pub(crate) async fn claim_callback_streams(
    pool: &PgPool,
    owner: &str,
    lease: std::time::Duration,
    limit: i64,
) -> Result<Vec<CallbackStream>, StoreError> {
    let rows = sqlx::query(
        "WITH claimed AS (
             UPDATE app_streams s
             SET lease_owner = $1, lease_until = now() + make_interval(secs => $2)
             WHERE s.app_id IN (
                 SELECT s2.app_id FROM app_streams s2 JOIN apps a ON a.app_id = s2.app_id
                 WHERE a.event_callback_url <> '' AND NOT a.disabled
                   AND s2.next_seq - 1 > s2.delivered_seq
                   AND (s2.lease_until IS NULL OR s2.lease_until < now())
                   AND (s2.retry_at IS NULL OR s2.retry_at <= now())
                 ORDER BY s2.retry_at NULLS FIRST, s2.app_id
                 LIMIT $3
                 FOR UPDATE OF s2 SKIP LOCKED
             )
             RETURNING s.app_id, s.attempts, s.failing_since
         )
         SELECT c.app_id, c.attempts, c.failing_since, a.event_callback_url, a.app_key
         FROM claimed c JOIN apps a ON a.app_id = c.app_id",
    )
    .bind(owner)
    .bind(lease.as_secs_f64())
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(CallbackStream {
                app_id: row.try_get("app_id")?,
                url: row.try_get("event_callback_url")?,
                app_key: row.try_get("app_key")?,
                attempts: row.try_get("attempts")?,
                failing_since: row.try_get("failing_since")?,
            })
        })
        .collect()
}

/// The batch to send next for an app this instance holds: the one in flight if a send failed
/// (same events, same transactionid), else up to `max_events` new events, recorded as in flight
/// before they are sent. `None` when nothing is waiting or the lease was lost. Renews the lease.
pub(crate) async fn next_callback_batch(
    pool: &PgPool,
    app_id: &str,
    owner: &str,
    lease: std::time::Duration,
    max_events: i64,
) -> Result<Option<CallbackBatch>, StoreError> {
    let mut tx = pool.begin().await?;
    let Some(row) = sqlx::query(
        "UPDATE app_streams SET lease_until = now() + make_interval(secs => $3)
         WHERE app_id = $1 AND lease_owner = $2
         RETURNING delivered_seq, batch_end, batch_id",
    )
    .bind(app_id)
    .bind(owner)
    .bind(lease.as_secs_f64())
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(None);
    };
    let delivered: i64 = row.try_get("delivered_seq")?;
    let in_flight: Option<(i64, String)> = match (
        row.try_get::<Option<i64>, _>("batch_end")?,
        row.try_get::<Option<String>, _>("batch_id")?,
    ) {
        (Some(end), Some(id)) => Some((end, id)),
        _ => None,
    };
    let limit = in_flight
        .as_ref()
        .map_or(max_events, |(end, _)| end - delivered);
    let rows = sqlx::query(&format!(
        "SELECT {APP_EVENT_COLUMNS}
         FROM group_events e LEFT JOIN groups g ON g.group_pk = e.group_pk
         WHERE e.app_id = $1 AND e.app_seq > $2
         ORDER BY e.app_seq LIMIT $3"
    ))
    .bind(app_id)
    .bind(delivered)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let events = rows.iter().map(app_event).collect::<Result<Vec<_>, _>>()?;
    let batch = match (in_flight, events.last()) {
        (_, None) => None,
        (Some((end, transaction_id)), Some(_)) => Some(CallbackBatch {
            transaction_id,
            end,
            events: events.into_iter().filter(|e| e.app_seq <= end).collect(),
        }),
        (None, Some(last)) => {
            let end = last.app_seq;
            let transaction_id = transaction_id();
            sqlx::query("UPDATE app_streams SET batch_end = $2, batch_id = $3 WHERE app_id = $1")
                .bind(app_id)
                .bind(end)
                .bind(&transaction_id)
                .execute(&mut *tx)
                .await?;
            Some(CallbackBatch {
                transaction_id,
                end,
                events,
            })
        }
    };
    tx.commit().await?;
    Ok(batch)
}

/// A transactionid in the shape of Alibaba's (8-4-4-4-12 upper-case hex), random per batch.
fn transaction_id() -> String {
    let random: u128 = rand::random();
    let hex = format!("{random:032X}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Records that the batch ending at `end` was delivered. False if the lease was lost (another
/// instance will send the batch again, under the same transactionid).
pub(crate) async fn batch_delivered(
    pool: &PgPool,
    app_id: &str,
    owner: &str,
    end: i64,
) -> Result<bool, StoreError> {
    let updated = sqlx::query(
        "UPDATE app_streams
         SET delivered_seq = $3, batch_end = NULL, batch_id = NULL, attempts = 0,
             retry_at = NULL, failing_since = NULL
         WHERE app_id = $1 AND lease_owner = $2 AND batch_end = $3",
    )
    .bind(app_id)
    .bind(owner)
    .bind(end)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// Records a failed send of the batch in flight and lets the lease go: the batch is retried
/// after `backoff`, unless the receiver has failed for longer than `retry_for`, in which case
/// everything waiting is given up.
pub(crate) async fn batch_failed(
    pool: &PgPool,
    app_id: &str,
    owner: &str,
    backoff: std::time::Duration,
    retry_for: std::time::Duration,
) -> Result<FailedBatch, StoreError> {
    let row = sqlx::query(
        "UPDATE app_streams s SET
             attempts = CASE WHEN p.gave_up THEN 0 ELSE s.attempts + 1 END,
             failing_since =
                 CASE WHEN p.gave_up THEN NULL ELSE COALESCE(s.failing_since, now()) END,
             retry_at = CASE WHEN p.gave_up THEN NULL
                             ELSE now() + make_interval(secs => $3) END,
             delivered_seq = CASE WHEN p.gave_up THEN s.next_seq - 1 ELSE s.delivered_seq END,
             batch_end = CASE WHEN p.gave_up THEN NULL ELSE s.batch_end END,
             batch_id = CASE WHEN p.gave_up THEN NULL ELSE s.batch_id END,
             lease_owner = NULL, lease_until = NULL
         FROM (SELECT app_id, delivered_seq AS before,
                      failing_since IS NOT NULL
                          AND failing_since <= now() - make_interval(secs => $4) AS gave_up
               FROM app_streams WHERE app_id = $1 AND lease_owner = $2 FOR UPDATE) p
         WHERE s.app_id = p.app_id
         RETURNING p.gave_up, s.attempts, s.delivered_seq - p.before AS dropped",
    )
    .bind(app_id)
    .bind(owner)
    .bind(backoff.as_secs_f64())
    .bind(retry_for.as_secs_f64())
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Ok(FailedBatch::Retry { attempts: 0 });
    };
    Ok(if row.try_get("gave_up")? {
        FailedBatch::GaveUp {
            dropped: row.try_get("dropped")?,
        }
    } else {
        FailedBatch::Retry {
            attempts: row.try_get("attempts")?,
        }
    })
}

/// Lets an app's lease go (nothing more to send for now).
pub(crate) async fn release_callback_stream(
    pool: &PgPool,
    app_id: &str,
    owner: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE app_streams SET lease_owner = NULL, lease_until = NULL
         WHERE app_id = $1 AND lease_owner = $2",
    )
    .bind(app_id)
    .bind(owner)
    .execute(pool)
    .await?;
    Ok(())
}

/// Deletes events older than `retention`, up to `limit`, but never one that still waits for
/// its callback. Returns how many were deleted.
pub(crate) async fn prune_events(
    pool: &PgPool,
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
    .execute(pool)
    .await?
    .rows_affected();
    Ok(deleted)
}

/// How many numbered events wait for their callback, over all apps with a callback URL.
pub(crate) async fn callback_backlog(pool: &PgPool) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT COALESCE(sum(s.next_seq - 1 - s.delivered_seq), 0)::bigint
         FROM app_streams s JOIN apps a ON a.app_id = s.app_id
         WHERE a.event_callback_url <> ''",
    )
    .fetch_one(pool)
    .await?)
}
