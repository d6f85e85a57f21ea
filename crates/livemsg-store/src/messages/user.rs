//! User (one-to-one) messages: one stream per app, replayed to the connection tier, which
//! delivers each to the receiver's sessions.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::Row;

use super::partitions::no_partition;
use super::{life_cycle_secs, new_msg_tid, MessageKind, NewUserMessage, Sent, UserMessage};
use crate::{Store, StoreError};

const COLUMNS: &str = "m.app_id, m.seq, m.kind, m.msg_tid, m.msg_type, m.body, m.sender_id,
     m.sender_info, m.receiver_id, m.stored, m.recalled, m.deleter_id, m.deleter_info, m.sent_at";

fn message(row: &PgRow) -> Result<UserMessage, StoreError> {
    Ok(UserMessage {
        app_id: row.try_get("app_id")?,
        seq: row.try_get("seq")?,
        kind: MessageKind::from_i16(row.try_get("kind")?)?,
        msg_tid: row.try_get("msg_tid")?,
        msg_type: row.try_get("msg_type")?,
        body: row.try_get("body")?,
        sender_id: row.try_get("sender_id")?,
        sender_info: row.try_get("sender_info")?,
        receiver_id: row.try_get("receiver_id")?,
        stored: row.try_get("stored")?,
        recalled: row.try_get("recalled")?,
        deleter_id: row.try_get("deleter_id")?,
        deleter_info: row.try_get("deleter_info")?,
        sent_at: row.try_get("sent_at")?,
    })
}

impl Store {
    /// Sends user messages of one app, in order, in one transaction; one result per message.
    /// A receiver that is not logged on fails its message alone (`ReceiverOffline`), as does
    /// a message of a disabled app (`AppDisabled`). A repeated `MsgTid` to the same receiver is
    /// the same message.
    pub async fn send_user_messages(
        &self,
        app_id: &str,
        batch: &[NewUserMessage],
    ) -> Result<Vec<Result<Sent<UserMessage>, StoreError>>, StoreError> {
        match self.try_send_user_messages(app_id, batch).await {
            Err(StoreError::Database(err)) if no_partition(&err) => {
                let now = Utc::now();
                self.ensure_message_partitions(now, now + chrono::Duration::days(200))
                    .await?;
                self.try_send_user_messages(app_id, batch).await
            }
            result => result,
        }
    }

    async fn try_send_user_messages(
        &self,
        app_id: &str,
        batch: &[NewUserMessage],
    ) -> Result<Vec<Result<Sent<UserMessage>, StoreError>>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let app: Option<(bool, i32, DateTime<Utc>)> =
            sqlx::query_as("SELECT disabled, msg_life_cycle, now() FROM apps WHERE app_id = $1")
                .bind(app_id)
                .fetch_optional(&mut *tx)
                .await?;
        let (disabled, life_cycle, now) = app.ok_or(StoreError::AppNotFound)?;
        if disabled {
            return Ok(batch.iter().map(|_| Err(StoreError::AppDisabled)).collect());
        }
        sqlx::query("INSERT INTO user_message_heads (app_id) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(app_id)
            .execute(&mut *tx)
            .await?;
        let mut next_seq: i64 = sqlx::query_scalar(
            "SELECT next_seq FROM user_message_heads WHERE app_id = $1 FOR UPDATE",
        )
        .bind(app_id)
        .fetch_one(&mut *tx)
        .await?;
        let receivers: Vec<&str> = batch.iter().map(|m| m.receiver_id.as_str()).collect();
        let online: std::collections::HashSet<String> = sqlx::query_scalar(
            "SELECT user_id FROM user_presence WHERE app_id = $1 AND user_id = ANY($2) AND online",
        )
        .bind(app_id)
        .bind(&receivers)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
        let (tid_receivers, tids): (Vec<&str>, Vec<&str>) = batch
            .iter()
            .filter_map(|m| Some((m.receiver_id.as_str(), m.msg_tid.as_deref()?)))
            .unzip();
        let mut earlier: std::collections::HashMap<(String, String), UserMessage> =
            Default::default();
        if !tids.is_empty() {
            let rows = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM user_messages m
                 JOIN unnest($2::text[], $3::text[]) AS k(receiver_id, msg_tid)
                   ON m.receiver_id = k.receiver_id AND m.msg_tid = k.msg_tid
                 WHERE m.app_id = $1 AND m.kind = 1"
            ))
            .bind(app_id)
            .bind(&tid_receivers)
            .bind(&tids)
            .fetch_all(&mut *tx)
            .await?;
            for row in rows {
                let found = message(&row)?;
                earlier.insert((found.receiver_id.clone(), found.msg_tid.clone()), found);
            }
        }
        let mut results = Vec::with_capacity(batch.len());
        let mut written = Vec::new();
        for new in batch {
            if let Some(tid) = &new.msg_tid {
                if let Some(found) = earlier.get(&(new.receiver_id.clone(), tid.clone())) {
                    results.push(Ok(Sent {
                        message: found.clone(),
                        repeated: true,
                    }));
                    continue;
                }
            }
            if !online.contains(&new.receiver_id) {
                results.push(Err(StoreError::ReceiverOffline));
                continue;
            }
            let message = UserMessage {
                app_id: app_id.to_owned(),
                seq: next_seq,
                kind: MessageKind::Message,
                msg_tid: new.msg_tid.clone().unwrap_or_else(new_msg_tid),
                msg_type: new.msg_type,
                body: new.body.clone(),
                sender_id: new.sender_id.clone(),
                sender_info: new.sender_info.clone(),
                receiver_id: new.receiver_id.clone(),
                stored: new.stored,
                recalled: false,
                deleter_id: None,
                deleter_info: None,
                sent_at: now,
            };
            next_seq += 1;
            earlier.insert(
                (message.receiver_id.clone(), message.msg_tid.clone()),
                message.clone(),
            );
            written.push(message.clone());
            results.push(Ok(Sent {
                message,
                repeated: false,
            }));
        }
        if !written.is_empty() {
            let lifetime = |stored: bool| {
                let secs = if stored {
                    life_cycle_secs(life_cycle)
                } else {
                    self.limits.replay_window.as_secs_f64()
                };
                now + chrono::Duration::milliseconds((secs * 1000.0) as i64)
            };
            let seqs: Vec<i64> = written.iter().map(|m| m.seq).collect();
            let tids: Vec<&str> = written.iter().map(|m| m.msg_tid.as_str()).collect();
            let types: Vec<i64> = written.iter().map(|m| m.msg_type).collect();
            let bodies: Vec<&str> = written.iter().map(|m| m.body.as_str()).collect();
            let senders: Vec<&str> = written.iter().map(|m| m.sender_id.as_str()).collect();
            let infos: Vec<&str> = written.iter().map(|m| m.sender_info.as_str()).collect();
            let receivers: Vec<&str> = written.iter().map(|m| m.receiver_id.as_str()).collect();
            let stored: Vec<bool> = written.iter().map(|m| m.stored).collect();
            let expires: Vec<DateTime<Utc>> = written.iter().map(|m| lifetime(m.stored)).collect();
            sqlx::query(
                "WITH head AS (
                     UPDATE user_message_heads SET next_seq = $11 WHERE app_id = $1
                 )
                 INSERT INTO user_messages (app_id, seq, kind, msg_tid, msg_type, body, sender_id,
                                            sender_info, receiver_id, stored, sent_at, expires_at)
                 SELECT $1, seq, 1, tid, ty, body, sender, info, receiver, stored, $12, expires
                 FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::text[], $6::text[],
                             $7::text[], $8::text[], $9::boolean[], $10::timestamptz[])
                      AS r(seq, tid, ty, body, sender, info, receiver, stored, expires)",
            )
            .bind(app_id)
            .bind(&seqs)
            .bind(&tids)
            .bind(&types)
            .bind(&bodies)
            .bind(&senders)
            .bind(&infos)
            .bind(&receivers)
            .bind(&stored)
            .bind(&expires)
            .bind(next_seq)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(results)
    }

    /// An app's user-message stream from `from_seq` on (not expired), at most `limit`, and the
    /// stream's next seq.
    pub async fn user_message_stream(
        &self,
        app_id: &str,
        from_seq: i64,
        limit: i64,
    ) -> Result<(Vec<UserMessage>, i64), StoreError> {
        let head: Option<i64> =
            sqlx::query_scalar("SELECT next_seq FROM user_message_heads WHERE app_id = $1")
                .bind(app_id)
                .fetch_optional(&self.pool)
                .await?;
        let head = head.unwrap_or(1);
        if from_seq >= head {
            return Ok((Vec::new(), head));
        }
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM user_messages m
             WHERE m.app_id = $1 AND m.seq >= $2 AND m.expires_at > now()
             ORDER BY m.seq LIMIT $3"
        ))
        .bind(app_id)
        .bind(from_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let messages = rows.iter().map(message).collect::<Result<Vec<_>, _>>()?;
        Ok((messages, head))
    }

    /// The next seq of each of `apps`' user-message streams, for apps that have one.
    pub async fn user_message_heads(
        &self,
        apps: &[String],
    ) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(
            sqlx::query_as(
                "SELECT app_id, next_seq FROM user_message_heads WHERE app_id = ANY($1)",
            )
            .bind(apps)
            .fetch_all(&self.pool)
            .await?,
        )
    }

    /// Recalls a user message sent to `receiver_id`: the stored copy is marked recalled and a
    /// recall entry tells the app's watchers (so the receiver's sessions take it away). Returns
    /// the recall entry, or `None` when there is no such message.
    pub async fn recall_user_message(
        &self,
        app_id: &str,
        receiver_id: &str,
        msg_tid: &str,
        deleter_id: &str,
        deleter_info: &str,
    ) -> Result<Option<UserMessage>, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO user_message_heads (app_id) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(app_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::from_insert(e, StoreError::AppNotFound))?;
        let seq: i64 = sqlx::query_scalar(
            "SELECT next_seq FROM user_message_heads WHERE app_id = $1 FOR UPDATE",
        )
        .bind(app_id)
        .fetch_one(&mut *tx)
        .await?;
        let recalled = sqlx::query(
            "UPDATE user_messages SET recalled = TRUE, deleter_id = $4, deleter_info = $5
             WHERE app_id = $1 AND receiver_id = $2 AND msg_tid = $3 AND kind = 1
               AND NOT recalled AND expires_at > now()
             RETURNING msg_type, sender_id",
        )
        .bind(app_id)
        .bind(receiver_id)
        .bind(msg_tid)
        .bind(deleter_id)
        .bind(deleter_info)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(recalled) = recalled else {
            return Ok(None);
        };
        let msg_type: i64 = recalled.try_get("msg_type")?;
        let sender: String = recalled.try_get("sender_id")?;
        let row = match sqlx::query(&format!(
            "WITH bumped AS (
                 UPDATE user_message_heads SET next_seq = next_seq + 1 WHERE app_id = $1
             )
             INSERT INTO user_messages AS m
                 (app_id, seq, kind, msg_tid, msg_type, body, sender_id, sender_info,
                  receiver_id, stored, deleter_id, deleter_info, sent_at, expires_at)
             VALUES ($1, $2, 2, $3, $4, '', $5, '', $6, FALSE, $7, $8, now(),
                     now() + make_interval(secs => $9))
             RETURNING {COLUMNS}"
        ))
        .bind(app_id)
        .bind(seq)
        .bind(msg_tid)
        .bind(msg_type)
        .bind(&sender)
        .bind(receiver_id)
        .bind(deleter_id)
        .bind(deleter_info)
        .bind(self.limits.replay_window.as_secs_f64())
        .fetch_one(&mut *tx)
        .await
        {
            Err(err) if no_partition(&err) => {
                drop(tx);
                let now = Utc::now();
                self.ensure_message_partitions(now, now + chrono::Duration::days(200))
                    .await?;
                return Box::pin(self.recall_user_message(
                    app_id,
                    receiver_id,
                    msg_tid,
                    deleter_id,
                    deleter_info,
                ))
                .await;
            }
            other => other?,
        };
        let entry = message(&row)?;
        tx.commit().await?;
        Ok(Some(entry))
    }
}
