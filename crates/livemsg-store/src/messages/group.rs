//! Sending group messages: in batches, numbered under their streams' heads, idempotent by
//! MsgTid, counted per type. (Reading and recalling them: [`super::history`].)

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::Row;

use super::checks;
use super::partitions::no_partition;
use super::{
    life_cycle_secs, new_msg_tid, GroupMessage, MessageKind, NewGroupMessage, Sent,
    MAX_TYPES_PER_GROUP,
};
use crate::{Store, StoreError};

pub(super) const COLUMNS: &str =
    "m.seq, m.kind, m.msg_tid, m.msg_type, m.body, m.sender_id, m.sender_info,
     m.weight, m.total_messages, m.stored, m.cached, m.recalled, m.deleter_id, m.deleter_info,
     m.sent_at";

/// Which page of a group's history to read.
#[derive(Debug, Clone, Copy)]
pub struct HistoryQuery {
    /// Oldest first (else newest first).
    pub ascending: bool,
    /// The seq to start at (inclusive); `None`: the beginning (or the end, descending).
    pub from_seq: Option<i64>,
    /// How many messages.
    pub size: i64,
    /// Only this type.
    pub msg_type: Option<i64>,
    /// Sent at or after.
    pub begin: Option<DateTime<Utc>>,
    /// Sent at or before.
    pub end: Option<DateTime<Utc>>,
}

pub(super) fn message(
    row: &PgRow,
    app_id: &str,
    group_id: &str,
) -> Result<GroupMessage, StoreError> {
    Ok(GroupMessage {
        app_id: app_id.to_owned(),
        group_id: group_id.to_owned(),
        seq: row.try_get("seq")?,
        kind: MessageKind::from_i16(row.try_get("kind")?)?,
        msg_tid: row.try_get("msg_tid")?,
        msg_type: row.try_get("msg_type")?,
        body: row.try_get("body")?,
        sender_id: row.try_get("sender_id")?,
        sender_info: row.try_get("sender_info")?,
        weight: row.try_get("weight")?,
        total_messages: row.try_get("total_messages")?,
        stored: row.try_get("stored")?,
        cached: row.try_get("cached")?,
        recalled: row.try_get("recalled")?,
        deleter_id: row.try_get("deleter_id")?,
        deleter_info: row.try_get("deleter_info")?,
        sent_at: row.try_get("sent_at")?,
    })
}

/// A group a send batch writes to.
pub(super) struct Target {
    pub(super) group_pk: i64,
    deleted: bool,
    disabled: bool,
    members: i64,
    life_cycle: f64,
    account: i64,
    data_center: String,
}

/// A group's stream head under the batch's lock, and its type counters.
struct Head {
    next_seq: i64,
    counts: HashMap<i64, i64>,
    changed_counts: HashSet<i64>,
}

#[derive(Default)]
struct Rows {
    pks: Vec<i64>,
    seqs: Vec<i64>,
    tids: Vec<String>,
    types: Vec<i64>,
    bodies: Vec<String>,
    senders: Vec<String>,
    infos: Vec<String>,
    weights: Vec<i64>,
    totals: Vec<i64>,
    stored: Vec<bool>,
    cached: Vec<bool>,
    expires: Vec<DateTime<Utc>>,
}

impl Store {
    /// Sends group messages, in order, in one transaction; one result per message. A message
    /// to a group that does not exist or is deleted fails alone (`GroupNotFound`), as does one
    /// of a disabled app (`AppDisabled`), one to an empty group that requires members
    /// (`GroupEmpty`) and a 31st type (`TooManyMessageTypes`).
    pub async fn send_group_messages(
        &self,
        batch: &[NewGroupMessage],
    ) -> Result<Vec<Result<Sent<GroupMessage>, StoreError>>, StoreError> {
        match self.try_send_group_messages(batch).await {
            Err(StoreError::Database(err)) if no_partition(&err) => {
                let now = Utc::now();
                self.ensure_message_partitions(now, now + chrono::Duration::days(200))
                    .await?;
                self.try_send_group_messages(batch).await
            }
            result => result,
        }
    }

    async fn try_send_group_messages(
        &self,
        batch: &[NewGroupMessage],
    ) -> Result<Vec<Result<Sent<GroupMessage>, StoreError>>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let (apps, groups): (Vec<&str>, Vec<&str>) = batch
            .iter()
            .map(|m| (m.app_id.as_str(), m.group_id.as_str()))
            .unzip();
        let rows = sqlx::query(
            "SELECT g.app_id, g.group_id, g.group_pk, g.deleted, g.member_count, a.disabled,
                    a.msg_life_cycle, a.account_id, a.data_center, now() AS now
             FROM groups g JOIN apps a ON a.app_id = g.app_id
             JOIN (SELECT DISTINCT * FROM unnest($1::text[], $2::text[])) AS k(app_id, group_id)
               ON g.app_id = k.app_id AND g.group_id = k.group_id",
        )
        .bind(&apps)
        .bind(&groups)
        .fetch_all(&mut *tx)
        .await?;
        let mut targets: HashMap<(String, String), Target> = HashMap::new();
        let mut now = Utc::now();
        for row in rows {
            now = row.try_get("now")?;
            targets.insert(
                (row.try_get("app_id")?, row.try_get("group_id")?),
                Target {
                    group_pk: row.try_get("group_pk")?,
                    deleted: row.try_get("deleted")?,
                    disabled: row.try_get("disabled")?,
                    members: row.try_get("member_count")?,
                    life_cycle: life_cycle_secs(row.try_get("msg_life_cycle")?),
                    account: row.try_get("account_id")?,
                    data_center: row.try_get("data_center")?,
                },
            );
        }
        let mut pks: Vec<i64> = targets
            .values()
            .filter(|t| !t.deleted && !t.disabled)
            .map(|t| t.group_pk)
            .collect();
        pks.sort_unstable();
        let mut heads: HashMap<i64, Head> = HashMap::new();
        if !pks.is_empty() {
            // The heads, created on first use, locked (the no-op update locks a row as FOR
            // UPDATE would) and read in one statement, in group_pk order.
            let locked: Vec<(i64, i64)> = sqlx::query_as(
                "INSERT INTO group_message_heads AS h (group_pk)
                 SELECT pk FROM unnest($1::bigint[]) AS u(pk) ORDER BY pk
                 ON CONFLICT (group_pk) DO UPDATE SET next_seq = h.next_seq
                 RETURNING group_pk, next_seq",
            )
            .bind(&pks)
            .fetch_all(&mut *tx)
            .await?;
            for (pk, next_seq) in locked {
                heads.insert(
                    pk,
                    Head {
                        next_seq,
                        counts: HashMap::new(),
                        changed_counts: HashSet::new(),
                    },
                );
            }
            let counts: Vec<(i64, i64, i64)> = sqlx::query_as(
                "SELECT group_pk, msg_type, amount FROM group_message_counts
                 WHERE group_pk = ANY($1)",
            )
            .bind(&pks)
            .fetch_all(&mut *tx)
            .await?;
            for (pk, msg_type, amount) in counts {
                if let Some(head) = heads.get_mut(&pk) {
                    head.counts.insert(msg_type, amount);
                }
            }
        }
        let mutes = checks::mutes(&mut tx, batch, &targets).await?;
        let members = checks::speakers(&mut tx, batch, &targets).await?;
        // Messages sent before under a caller's MsgTid (read under the heads' locks).
        let (tid_pks, tids): (Vec<i64>, Vec<&str>) = batch
            .iter()
            .filter_map(|m| {
                let target = targets.get(&(m.app_id.clone(), m.group_id.clone()))?;
                Some((target.group_pk, m.msg_tid.as_deref()?))
            })
            .unzip();
        let mut earlier: HashMap<(i64, String), GroupMessage> = HashMap::new();
        if !tids.is_empty() {
            let rows = sqlx::query(&format!(
                "SELECT m.group_pk, {COLUMNS} FROM group_messages m
                 JOIN unnest($1::bigint[], $2::text[]) AS k(group_pk, msg_tid)
                   ON m.group_pk = k.group_pk AND m.msg_tid = k.msg_tid
                 WHERE m.kind = 1"
            ))
            .bind(&tid_pks)
            .bind(&tids)
            .fetch_all(&mut *tx)
            .await?;
            for row in rows {
                let pk: i64 = row.try_get("group_pk")?;
                let found = message(&row, "", "")?;
                earlier.insert((pk, found.msg_tid.clone()), found);
            }
        }

        let mut results = Vec::with_capacity(batch.len());
        let mut rows = Rows::default();
        for new in batch {
            let key = (new.app_id.clone(), new.group_id.clone());
            let Some(target) = targets.get(&key) else {
                results.push(Err(StoreError::GroupNotFound));
                continue;
            };
            if let Some((account, data_center)) = &new.scope {
                if *account != target.account || *data_center != target.data_center {
                    // An app of another account, or in another data center, is not there.
                    results.push(Err(StoreError::AppNotFound));
                    continue;
                }
            }
            if target.disabled {
                results.push(Err(StoreError::AppDisabled));
                continue;
            }
            if target.deleted {
                results.push(Err(StoreError::GroupNotFound));
                continue;
            }
            if let Some(tid) = &new.msg_tid {
                if let Some(found) = earlier.get(&(target.group_pk, tid.clone())) {
                    let mut message = found.clone();
                    message.app_id.clone_from(&new.app_id);
                    message.group_id.clone_from(&new.group_id);
                    results.push(Ok(Sent {
                        message,
                        repeated: true,
                    }));
                    continue;
                }
            }
            if new.sender_must_be_member
                && !members.contains(&(target.group_pk, new.sender_id.clone()))
            {
                results.push(Err(StoreError::NotMember));
                continue;
            }
            if new.subject_to_mute {
                if let Some((state, creator, admins)) = mutes.get(&target.group_pk) {
                    if state.mutes(&new.sender_id, creator, admins) {
                        results.push(Err(StoreError::Muted));
                        continue;
                    }
                }
            }
            if new.require_members && target.members == 0 {
                results.push(Err(StoreError::GroupEmpty));
                continue;
            }
            let head = heads
                .get_mut(&target.group_pk)
                .ok_or(StoreError::Corrupt("group_message_heads"))?;
            if !head.counts.contains_key(&new.msg_type)
                && head.counts.len() as i32 >= MAX_TYPES_PER_GROUP
            {
                results.push(Err(StoreError::TooManyMessageTypes(MAX_TYPES_PER_GROUP)));
                continue;
            }
            let total = head.counts.entry(new.msg_type).or_insert(0);
            *total += new.statics_increase;
            let total = *total;
            head.changed_counts.insert(new.msg_type);
            let seq = head.next_seq;
            head.next_seq += 1;
            let msg_tid = new.msg_tid.clone().unwrap_or_else(new_msg_tid);
            let lifetime = if new.stored {
                target.life_cycle
            } else {
                self.limits.replay_window.as_secs_f64()
            };
            let message = GroupMessage {
                app_id: new.app_id.clone(),
                group_id: new.group_id.clone(),
                seq,
                kind: MessageKind::Message,
                msg_tid: msg_tid.clone(),
                msg_type: new.msg_type,
                body: new.body.clone(),
                sender_id: new.sender_id.clone(),
                sender_info: new.sender_info.clone(),
                weight: new.weight,
                total_messages: total,
                stored: new.stored,
                cached: new.cached,
                recalled: false,
                deleter_id: None,
                deleter_info: None,
                sent_at: now,
            };
            // Later messages of the batch with this MsgTid are this one.
            earlier.insert((target.group_pk, msg_tid.clone()), message.clone());
            rows.pks.push(target.group_pk);
            rows.seqs.push(seq);
            rows.tids.push(msg_tid);
            rows.types.push(new.msg_type);
            rows.bodies.push(new.body.clone());
            rows.senders.push(new.sender_id.clone());
            rows.infos.push(new.sender_info.clone());
            rows.weights.push(new.weight);
            rows.totals.push(total);
            rows.stored.push(new.stored);
            rows.cached.push(new.cached);
            rows.expires
                .push(now + chrono::Duration::milliseconds((lifetime * 1000.0) as i64));
            results.push(Ok(Sent {
                message,
                repeated: false,
            }));
        }
        if !rows.pks.is_empty() {
            let (mut head_pks, mut head_seqs, mut count_pks, mut count_types, mut amounts) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for (pk, head) in &heads {
                head_pks.push(*pk);
                head_seqs.push(head.next_seq);
                for msg_type in &head.changed_counts {
                    count_pks.push(*pk);
                    count_types.push(*msg_type);
                    amounts.push(head.counts[msg_type]);
                }
            }
            sqlx::query(
                "WITH heads AS (
                     UPDATE group_message_heads h SET next_seq = u.next_seq
                     FROM unnest($13::bigint[], $14::bigint[]) AS u(group_pk, next_seq)
                     WHERE h.group_pk = u.group_pk AND h.next_seq <> u.next_seq
                 ), counts AS (
                     INSERT INTO group_message_counts (group_pk, msg_type, amount)
                     SELECT * FROM unnest($15::bigint[], $16::bigint[], $17::bigint[])
                     ON CONFLICT (group_pk, msg_type) DO UPDATE SET amount = EXCLUDED.amount
                 )
                 INSERT INTO group_messages
                     (group_pk, seq, kind, msg_tid, msg_type, body, sender_id, sender_info,
                      weight, total_messages, stored, cached, sent_at, expires_at)
                 SELECT pk, seq, 1, tid, ty, body, sender, info, weight, total, stored, cached,
                        $18, expires
                 FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::text[],
                             $6::text[], $7::text[], $8::bigint[], $9::bigint[], $10::boolean[],
                             $11::boolean[], $12::timestamptz[])
                      AS r(pk, seq, tid, ty, body, sender, info, weight, total, stored, cached,
                           expires)",
            )
            .bind(&rows.pks)
            .bind(&rows.seqs)
            .bind(&rows.tids)
            .bind(&rows.types)
            .bind(&rows.bodies)
            .bind(&rows.senders)
            .bind(&rows.infos)
            .bind(&rows.weights)
            .bind(&rows.totals)
            .bind(&rows.stored)
            .bind(&rows.cached)
            .bind(&rows.expires)
            .bind(&head_pks)
            .bind(&head_seqs)
            .bind(&count_pks)
            .bind(&count_types)
            .bind(&amounts)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        if !rows.stored.is_empty() && rows.stored.iter().all(|stored| !stored) {
            // Only messages that are not stored (bullet comments, likes): they live for the
            // replay window only, so their commit does not wait for the disk. A crash can
            // lose the last few hundred milliseconds of them, never a stored message.
            sqlx::query("SET LOCAL synchronous_commit = off")
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(results)
    }
}
