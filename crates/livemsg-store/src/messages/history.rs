//! Reading and recalling group messages: the history, the stream replayed to watchers, the
//! recent list, recalls and the per-type counters.

use chrono::Utc;
use livemsg_domain::{AppScope, GroupId};
use sqlx::Row;

use super::group::{message, HistoryQuery, COLUMNS};
use super::partitions::no_partition;
use super::GroupMessage;
use crate::scope::BindScope;
use crate::{Store, StoreError};

/// The statement of a history page, oldest or newest first. Binds: app id, account id, data
/// center, group id, first seq, type (or NULL), sent from (or NULL), sent until (or NULL),
/// rows. Public so the benchmark's baseline runs the very statement.
pub fn history_sql(ascending: bool) -> String {
    let (cmp, order) = if ascending {
        (">=", "ASC")
    } else {
        ("<=", "DESC")
    };
    format!(
        "SELECT {COLUMNS} FROM group_messages m
         WHERE m.group_pk = (SELECT g.group_pk FROM groups g JOIN apps a ON a.app_id = g.app_id
                             WHERE a.app_id = $1 AND a.account_id = $2
                               AND a.data_center = $3 AND g.group_id = $4)
           AND m.seq {cmp} $5 AND m.kind = 1 AND m.stored AND NOT m.recalled
           AND m.expires_at > now()
           AND ($6::bigint IS NULL OR m.msg_type = $6)
           AND ($7::timestamptz IS NULL OR m.sent_at >= $7)
           AND ($8::timestamptz IS NULL OR m.sent_at <= $8)
         ORDER BY m.seq {order} LIMIT $9"
    )
}

impl Store {
    /// A page of a group's history: stored messages that are not recalled nor expired, in seq
    /// order from `query.from_seq`, and the seq of the next one, if any. Deleted groups keep
    /// their history until they are purged.
    pub async fn list_group_messages(
        &self,
        scope: &AppScope,
        group_id: &GroupId,
        query: &HistoryQuery,
    ) -> Result<(Vec<GroupMessage>, Option<i64>), StoreError> {
        let start = if query.ascending {
            query.from_seq.unwrap_or(i64::MIN)
        } else {
            query.from_seq.unwrap_or(i64::MAX)
        };
        let rows = sqlx::query(&history_sql(query.ascending))
            .bind_scope(scope)
            .bind(group_id.as_str())
            .bind(start)
            .bind(query.msg_type)
            .bind(query.begin)
            .bind(query.end)
            .bind(query.size + 1)
            .fetch_all(&self.pool)
            .await?;
        if rows.is_empty() {
            // Nothing to list, or no such group of the caller's.
            self.describe_group(scope, group_id).await?;
        }
        let mut messages = rows
            .iter()
            .map(|row| message(row, scope.app.as_str(), group_id.as_str()))
            .collect::<Result<Vec<_>, _>>()?;
        let next = (messages.len() as i64 > query.size).then(|| messages[query.size as usize].seq);
        messages.truncate(query.size as usize);
        Ok((messages, next))
    }

    /// A group's stream from `from_seq` on (messages and recalls that have not expired), at
    /// most `limit`, and the stream's next seq (one past the last ever written).
    pub async fn group_message_stream(
        &self,
        app_id: &str,
        group_id: &str,
        from_seq: i64,
        limit: i64,
    ) -> Result<(Vec<GroupMessage>, i64), StoreError> {
        let pk: Option<(i64, Option<i64>)> = sqlx::query_as(
            "SELECT g.group_pk, h.next_seq FROM groups g
             LEFT JOIN group_message_heads h ON h.group_pk = g.group_pk
             WHERE g.app_id = $1 AND g.group_id = $2",
        )
        .bind(app_id)
        .bind(group_id)
        .fetch_optional(&self.pool)
        .await?;
        let (pk, head) = pk.ok_or(StoreError::GroupNotFound)?;
        let head = head.unwrap_or(1);
        if from_seq >= head {
            return Ok((Vec::new(), head));
        }
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM group_messages m
             WHERE m.group_pk = $1 AND m.seq >= $2 AND m.expires_at > now()
             ORDER BY m.seq LIMIT $3"
        ))
        .bind(pk)
        .bind(from_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let messages = rows
            .iter()
            .map(|row| message(row, app_id, group_id))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((messages, head))
    }

    /// The next seq of each of `groups`' streams (`(app_id, group_id)`), for groups that have
    /// one.
    pub async fn group_message_heads(
        &self,
        groups: &[(String, String)],
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        let (apps, ids): (Vec<&str>, Vec<&str>) =
            groups.iter().map(|(a, g)| (a.as_str(), g.as_str())).unzip();
        Ok(sqlx::query_as(
            "SELECT g.app_id, g.group_id, h.next_seq FROM groups g
             JOIN unnest($1::text[], $2::text[]) AS k(app_id, group_id)
               ON g.app_id = k.app_id AND g.group_id = k.group_id
             JOIN group_message_heads h ON h.group_pk = g.group_pk",
        )
        .bind(&apps)
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?)
    }

    /// A group's recent messages: the last `limit` cacheable ones that are not recalled, oldest
    /// first.
    pub async fn recent_group_messages(
        &self,
        app_id: &str,
        group_id: &str,
        limit: i64,
    ) -> Result<Vec<GroupMessage>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM group_messages m
             WHERE m.group_pk = (SELECT group_pk FROM groups WHERE app_id = $1 AND group_id = $2)
               AND m.kind = 1 AND m.cached AND NOT m.recalled AND m.expires_at > now()
             ORDER BY m.seq DESC LIMIT $3"
        ))
        .bind(app_id)
        .bind(group_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut messages = rows
            .iter()
            .map(|row| message(row, app_id, group_id))
            .collect::<Result<Vec<_>, _>>()?;
        messages.reverse();
        Ok(messages)
    }

    /// Recalls a group message: it leaves the history and the recent list, and a recall entry
    /// (with the next seq) tells the group's watchers. Returns the recall entry, or `None` when
    /// the group has no such message (or it was recalled already). Works on deleted groups.
    pub async fn recall_group_message(
        &self,
        scope: &AppScope,
        group_id: &GroupId,
        msg_tid: &str,
        deleter_id: &str,
        deleter_info: &str,
    ) -> Result<Option<GroupMessage>, StoreError> {
        match self
            .try_recall(scope, group_id, msg_tid, deleter_id, deleter_info)
            .await
        {
            Err(StoreError::Database(err)) if no_partition(&err) => {
                let now = Utc::now();
                self.ensure_message_partitions(now, now + chrono::Duration::days(200))
                    .await?;
                self.try_recall(scope, group_id, msg_tid, deleter_id, deleter_info)
                    .await
            }
            result => result,
        }
    }

    async fn try_recall(
        &self,
        scope: &AppScope,
        group_id: &GroupId,
        msg_tid: &str,
        deleter_id: &str,
        deleter_info: &str,
    ) -> Result<Option<GroupMessage>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let pk: Option<i64> = sqlx::query_scalar(
            "SELECT g.group_pk FROM groups g JOIN apps a ON a.app_id = g.app_id
             WHERE a.app_id = $1 AND a.account_id = $2 AND a.data_center = $3
               AND g.group_id = $4",
        )
        .bind_scope(scope)
        .bind(group_id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(pk) = pk else {
            drop(tx);
            return Err(self.missing_app_or_group(scope).await);
        };
        sqlx::query(
            "INSERT INTO group_message_heads (group_pk) VALUES ($1) ON CONFLICT DO NOTHING",
        )
        .bind(pk)
        .execute(&mut *tx)
        .await?;
        let seq: i64 = sqlx::query_scalar(
            "SELECT next_seq FROM group_message_heads WHERE group_pk = $1 FOR UPDATE",
        )
        .bind(pk)
        .fetch_one(&mut *tx)
        .await?;
        let recalled = sqlx::query(
            "UPDATE group_messages SET recalled = TRUE, deleter_id = $3, deleter_info = $4
             WHERE group_pk = $1 AND msg_tid = $2 AND kind = 1 AND NOT recalled
               AND expires_at > now()
             RETURNING msg_type",
        )
        .bind(pk)
        .bind(msg_tid)
        .bind(deleter_id)
        .bind(deleter_info)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(recalled) = recalled else {
            return Ok(None);
        };
        let msg_type: i64 = recalled.try_get("msg_type")?;
        let row = sqlx::query(&format!(
            "WITH bumped AS (
                 UPDATE group_message_heads SET next_seq = next_seq + 1 WHERE group_pk = $1
             )
             INSERT INTO group_messages AS m
                 (group_pk, seq, kind, msg_tid, msg_type, body, sender_id, sender_info, weight,
                  total_messages, stored, cached, deleter_id, deleter_info, sent_at, expires_at)
             VALUES ($1, $2, 2, $3, $4, '', $5, $6, 1, 0, FALSE, FALSE, $5, $6, now(),
                     now() + make_interval(secs => $7))
             RETURNING {COLUMNS}"
        ))
        .bind(pk)
        .bind(seq)
        .bind(msg_tid)
        .bind(msg_type)
        .bind(deleter_id)
        .bind(deleter_info)
        .bind(self.limits.replay_window.as_secs_f64())
        .fetch_one(&mut *tx)
        .await?;
        let entry = message(&row, scope.app.as_str(), group_id.as_str())?;
        tx.commit().await?;
        Ok(Some(entry))
    }

    /// `MsgAmount`: each message type's counter in a group.
    pub async fn message_amounts(
        &self,
        group_pk_of: (&str, &str),
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT c.msg_type, c.amount FROM group_message_counts c
             JOIN groups g ON g.group_pk = c.group_pk
             WHERE g.app_id = $1 AND g.group_id = $2 ORDER BY c.msg_type",
        )
        .bind(group_pk_of.0)
        .bind(group_pk_of.1)
        .fetch_all(&self.pool)
        .await?)
    }
}
