//! The weekly partitions of the message tables: created ahead of need, dropped when their week
//! of expiry has passed.
//!
//! A partition covers one week of `expires_at` (`<table>_w<week>`, week = Unix days / 7). Every
//! message's expiry is known when it is written (its send time plus its lifetime), so a whole
//! partition expires at once: retention detaches it (`DETACH PARTITION ... CONCURRENTLY`, which
//! does not block the sends and reads of the other partitions) and drops it, instead of deleting
//! rows. Creating is serialized by an advisory lock, so instances may all run it.

use chrono::{DateTime, Utc};

use crate::{Store, StoreError};

/// The partitioned message tables.
pub(crate) const TABLES: [&str; 2] = ["group_messages", "user_messages"];

const WEEK_SECS: i64 = 7 * 86_400;

/// The week `t` falls in.
pub(crate) fn week_of(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(WEEK_SECS)
}

fn week_start(week: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(week * WEEK_SECS, 0).unwrap_or_default()
}

/// The week of a partition, from its name.
fn week_of_partition(table: &str, name: &str) -> Option<i64> {
    name.strip_prefix(table)?.strip_prefix("_w")?.parse().ok()
}

/// Whether an insert failed for want of a partition (SQLSTATE 23514, "no partition of relation
/// ... found for row").
pub(crate) fn no_partition(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db)
        if db.code().as_deref() == Some("23514") && db.message().contains("no partition"))
}

impl Store {
    /// Creates the partitions of both message tables for every week from `from` to `to`.
    /// Returns how many were created.
    pub async fn ensure_message_partitions(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<u32, StoreError> {
        let mut tx = self.pool.begin().await?;
        // One creator at a time (key: "livemsg partitions").
        sqlx::query("SELECT pg_advisory_xact_lock(7466105110)")
            .execute(&mut *tx)
            .await?;
        let mut created = 0;
        for table in TABLES {
            let existing: Vec<String> = sqlx::query_scalar(
                "SELECT c.relname::text FROM pg_inherits i
                 JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
                 WHERE p.relname = $1",
            )
            .bind(table)
            .fetch_all(&mut *tx)
            .await?;
            for week in week_of(from)..=week_of(to) {
                let name = format!("{table}_w{week}");
                if existing.contains(&name) {
                    continue;
                }
                let (start, end) = (week_start(week), week_start(week + 1));
                // Names and bounds are made here from numbers, never from input.
                let create = format!(
                    "CREATE TABLE IF NOT EXISTS {name} PARTITION OF {table}
                     FOR VALUES FROM ('{}') TO ('{}')",
                    start.to_rfc3339(),
                    end.to_rfc3339()
                );
                sqlx::query(&create).execute(&mut *tx).await?;
                created += 1;
            }
        }
        tx.commit().await?;
        if created > 0 {
            tracing::info!(created, "message partitions created");
        }
        Ok(created)
    }

    /// Detaches and drops the message partitions whose week ended at or before `now`: every
    /// message in them has expired. Returns the partitions dropped.
    pub async fn drop_expired_message_partitions(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let mut dropped = Vec::new();
        for table in TABLES {
            let children: Vec<String> = sqlx::query_scalar(
                "SELECT c.relname::text FROM pg_inherits i
                 JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
                 WHERE p.relname = $1",
            )
            .bind(table)
            .fetch_all(&self.pool)
            .await?;
            for name in children {
                let Some(week) = week_of_partition(table, &name) else {
                    continue;
                };
                if week_start(week + 1) > now {
                    continue;
                }
                let detach = format!("ALTER TABLE {table} DETACH PARTITION {name} CONCURRENTLY");
                if let Err(err) = sqlx::raw_sql(&detach).execute(&self.pool).await {
                    // An earlier detach that was interrupted is finished instead.
                    tracing::info!(partition = %name, error = %err, "finishing an earlier detach");
                    let finalize = format!("ALTER TABLE {table} DETACH PARTITION {name} FINALIZE");
                    if sqlx::raw_sql(&finalize).execute(&self.pool).await.is_err() {
                        // Another instance detached it meanwhile; it drops it too.
                        continue;
                    }
                }
                sqlx::raw_sql(&format!("DROP TABLE IF EXISTS {name}"))
                    .execute(&self.pool)
                    .await?;
                tracing::info!(partition = %name, "expired message partition dropped");
                dropped.push(name);
            }
        }
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_and_partition_names_agree() {
        let t = DateTime::from_timestamp(1_764_633_600, 0).unwrap(); // 2025-12-02
        let week = week_of(t);
        assert!(week_start(week) <= t && t < week_start(week + 1));
        assert_eq!(
            week_of_partition("group_messages", &format!("group_messages_w{week}")),
            Some(week)
        );
        assert_eq!(
            week_of_partition("group_messages", "user_messages_w1"),
            None
        );
        assert_eq!(
            week_of_partition("group_messages", "group_messages_wx"),
            None
        );
    }
}
