//! The state of callback delivery: each app's cursor in `app_streams`, leased to one service
//! instance at a time, and the batch in flight with its transactionid.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::events::{app_event, AppEvent, APP_EVENT_COLUMNS};
use crate::{Store, StoreError};

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

impl Store {
    /// Takes the lease of up to `limit` apps that have a callback URL, events waiting and no
    /// retry pending, and that no other instance holds.
    pub async fn claim_callback_streams(
        &self,
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
                 JOIN app_sequences q ON q.app_id = s2.app_id
                 WHERE a.event_callback_url <> ''
                   AND q.next_seq - 1 > s2.delivered_seq
                   AND (s2.lease_until IS NULL OR s2.lease_until < now())
                   AND (s2.retry_at IS NULL OR s2.retry_at <= now())
                 ORDER BY s2.retry_at NULLS FIRST, s2.app_id
                 LIMIT $3
                 FOR UPDATE OF s2 SKIP LOCKED
             )
             RETURNING s.app_id, s.attempts, s.failing_since
         )
         SELECT c.app_id, c.attempts, c.failing_since, a.event_callback_url, a.app_key,
                a.app_key_key_id, a.app_key_ciphertext
         FROM claimed c JOIN apps a ON a.app_id = c.app_id",
        )
        .bind(owner)
        .bind(lease.as_secs_f64())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let app_id: String = row.try_get("app_id")?;
                Ok(CallbackStream {
                    url: row.try_get("event_callback_url")?,
                    app_key: crate::records::open_app_key(
                        &self.keyring,
                        &app_id,
                        row.try_get("app_key")?,
                        row.try_get("app_key_key_id")?,
                        row.try_get("app_key_ciphertext")?,
                    )?,
                    attempts: row.try_get("attempts")?,
                    failing_since: row.try_get("failing_since")?,
                    app_id,
                })
            })
            .collect()
    }

    /// The batch to send next for an app this instance holds: the one in flight if a send failed
    /// (same events, same transactionid), else up to `max_events` new events, recorded as in flight
    /// before they are sent. `None` when nothing is waiting or the lease was lost. Renews the lease.
    pub async fn next_callback_batch(
        &self,
        app_id: &str,
        owner: &str,
        lease: std::time::Duration,
        max_events: i64,
    ) -> Result<Option<CallbackBatch>, StoreError> {
        let mut tx = self.pool.begin().await?;
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
                let transaction_id = new_transaction_id();
                sqlx::query(
                    "UPDATE app_streams SET batch_end = $2, batch_id = $3 WHERE app_id = $1",
                )
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

    /// Records that the batch ending at `end` was delivered. False if the lease was lost (another
    /// instance will send the batch again, under the same transactionid).
    pub async fn callback_batch_delivered(
        &self,
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
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(updated == 1)
    }

    /// Records a failed send of the batch in flight and lets the lease go: the batch is retried
    /// after `backoff`, unless the receiver has failed for longer than `retry_for`, in which case
    /// everything waiting is given up.
    pub async fn callback_batch_failed(
        &self,
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
             delivered_seq = CASE WHEN p.gave_up THEN p.head ELSE s.delivered_seq END,
             batch_end = CASE WHEN p.gave_up THEN NULL ELSE s.batch_end END,
             batch_id = CASE WHEN p.gave_up THEN NULL ELSE s.batch_id END,
             lease_owner = NULL, lease_until = NULL
         FROM (SELECT s.app_id, s.delivered_seq AS before, q.next_seq - 1 AS head,
                      s.failing_since IS NOT NULL
                          AND s.failing_since <= now() - make_interval(secs => $4) AS gave_up
               FROM app_streams s JOIN app_sequences q ON q.app_id = s.app_id
               WHERE s.app_id = $1 AND s.lease_owner = $2 FOR UPDATE OF s) p
         WHERE s.app_id = p.app_id
         RETURNING p.gave_up, s.attempts, s.delivered_seq - p.before AS dropped",
        )
        .bind(app_id)
        .bind(owner)
        .bind(backoff.as_secs_f64())
        .bind(retry_for.as_secs_f64())
        .fetch_optional(&self.pool)
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
    pub async fn release_callback_stream(
        &self,
        app_id: &str,
        owner: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE app_streams SET lease_owner = NULL, lease_until = NULL
         WHERE app_id = $1 AND lease_owner = $2",
        )
        .bind(app_id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// How many numbered events wait for their callback, over all apps with a callback URL.
    pub async fn callback_backlog(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COALESCE(sum(q.next_seq - 1 - s.delivered_seq), 0)::bigint
         FROM app_streams s JOIN apps a ON a.app_id = s.app_id
         JOIN app_sequences q ON q.app_id = s.app_id
         WHERE a.event_callback_url <> ''",
        )
        .fetch_one(&self.pool)
        .await?)
    }
}

/// A transactionid in the shape of Alibaba's (8-4-4-4-12 upper-case hex), random per batch.
fn new_transaction_id() -> String {
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
