//! Moderation: each group's mute state (mute-all with its exempt users, and users muted one by
//! one), changed under the group's row lock and written into the group's message stream as a
//! mute-change entry under the stream's head lock, so that it is ordered with the messages.

use livemsg_domain::{AppScope, GroupId};
use sqlx::Row;

use crate::messages::GroupMessage;
use crate::scope::BindScope;
use crate::{Store, StoreError};

/// A group's mute state (`ImGroupMuteStatus`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MuteState {
    /// The whole group is muted (but for `exempt`).
    pub mute_all: bool,
    /// Users muted one by one, whatever `mute_all` says.
    pub muted: Vec<String>,
    /// Users who may speak while `mute_all` is on.
    pub exempt: Vec<String>,
}

impl MuteState {
    /// Whether `user` may not speak: never the creator or an administrator; otherwise a user
    /// muted one by one, or anyone not exempt while the whole group is muted.
    pub fn mutes(&self, user: &str, creator: &str, admins: &[String]) -> bool {
        if user == creator || admins.iter().any(|a| a == user) {
            return false;
        }
        self.muted.iter().any(|m| m == user)
            || (self.mute_all && !self.exempt.iter().any(|e| e == user))
    }

    /// The state as the mute-change entry carries it (the client's `mutechange`).
    pub fn to_json(&self, group_id: &str) -> String {
        serde_json::json!({
            "groupId": group_id,
            "muteAll": self.mute_all,
            "muteUserList": self.muted,
            "whiteUserList": self.exempt,
        })
        .to_string()
    }
}

/// A change of a group's mute state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MuteChange {
    /// `BanLiveMessageGroup`: mute everyone; `Some` replaces the exempt users.
    Ban { except: Option<Vec<String>> },
    /// `UnbanLiveMessageGroup`: lift the mute-all, and with it the exemptions; users muted one
    /// by one stay muted.
    Unban,
    /// `AddLiveMessageGroupBand`: mute these users.
    Add(Vec<String>),
    /// `RemoveLiveMessageGroupBand`: unmute these users.
    Remove(Vec<String>),
    /// `ModifyLiveMessageGroupBand`: set the parts given.
    Set {
        mute_all: Option<bool>,
        muted: Option<Vec<String>>,
        exempt: Option<Vec<String>>,
    },
}

fn union(list: &mut Vec<String>, users: &[String]) {
    for user in users {
        if !list.contains(user) {
            list.push(user.clone());
        }
    }
}

impl MuteChange {
    fn apply(&self, state: &MuteState) -> MuteState {
        let mut next = state.clone();
        match self {
            MuteChange::Ban { except } => {
                next.mute_all = true;
                if let Some(except) = except {
                    next.exempt = Vec::new();
                    union(&mut next.exempt, except);
                }
            }
            MuteChange::Unban => {
                next.mute_all = false;
                next.exempt.clear();
            }
            MuteChange::Add(users) => union(&mut next.muted, users),
            MuteChange::Remove(users) => next.muted.retain(|m| !users.contains(m)),
            MuteChange::Set {
                mute_all,
                muted,
                exempt,
            } => {
                if let Some(mute_all) = mute_all {
                    next.mute_all = *mute_all;
                }
                if let Some(muted) = muted {
                    next.muted = Vec::new();
                    union(&mut next.muted, muted);
                }
                if let Some(exempt) = exempt {
                    next.exempt = Vec::new();
                    union(&mut next.exempt, exempt);
                }
            }
        }
        next
    }
}

impl Store {
    /// A live group's mute state.
    pub async fn mute_state(
        &self,
        scope: &AppScope,
        group_id: &GroupId,
    ) -> Result<MuteState, StoreError> {
        let row: Option<(bool, Vec<String>, Vec<String>)> = sqlx::query_as(
            "SELECT g.mute_all, g.muted_users, g.exempt_users
             FROM groups g JOIN apps a ON a.app_id = g.app_id
             WHERE a.app_id = $1 AND a.account_id = $2 AND a.data_center = $3
               AND g.group_id = $4 AND NOT g.deleted",
        )
        .bind_scope(scope)
        .bind(group_id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let Some((mute_all, muted, exempt)) = row else {
            return Err(self.missing_app_or_group(scope).await);
        };
        Ok(MuteState {
            mute_all,
            muted,
            exempt,
        })
    }

    /// Changes a live group's mute state; a list may hold at most `max_list` users
    /// (`MuteListFull`). When the state changes, a mute-change entry goes into the group's
    /// message stream in the same transaction. Returns the new state and that entry.
    pub async fn change_mutes(
        &self,
        scope: &AppScope,
        group_id: &GroupId,
        change: &MuteChange,
        max_list: usize,
    ) -> Result<(MuteState, Option<GroupMessage>), StoreError> {
        match self
            .try_change_mutes(scope, group_id, change, max_list)
            .await
        {
            Err(StoreError::Database(err)) if crate::messages::partitions::no_partition(&err) => {
                let now = chrono::Utc::now();
                self.ensure_message_partitions(now, now + chrono::Duration::days(200))
                    .await?;
                self.try_change_mutes(scope, group_id, change, max_list)
                    .await
            }
            result => result,
        }
    }

    async fn try_change_mutes(
        &self,
        scope: &AppScope,
        group_id: &GroupId,
        change: &MuteChange,
        max_list: usize,
    ) -> Result<(MuteState, Option<GroupMessage>), StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "SELECT g.group_pk, g.mute_all, g.muted_users, g.exempt_users, a.disabled
             FROM groups g JOIN apps a ON a.app_id = g.app_id
             WHERE a.app_id = $1 AND a.account_id = $2 AND a.data_center = $3
               AND g.group_id = $4 AND NOT g.deleted
             FOR NO KEY UPDATE OF g",
        )
        .bind_scope(scope)
        .bind(group_id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            drop(tx);
            return Err(self.missing_app_or_group(scope).await);
        };
        if row.try_get::<bool, _>("disabled")? {
            return Err(StoreError::AppDisabled);
        }
        let pk: i64 = row.try_get("group_pk")?;
        let state = MuteState {
            mute_all: row.try_get("mute_all")?,
            muted: row.try_get("muted_users")?,
            exempt: row.try_get("exempt_users")?,
        };
        let next = change.apply(&state);
        if next.muted.len() > max_list || next.exempt.len() > max_list {
            return Err(StoreError::MuteListFull(max_list));
        }
        if next == state {
            return Ok((next, None));
        }
        let entry = self
            .write_mute_change(&mut tx, scope, group_id, pk, &next)
            .await?;
        tx.commit().await?;
        Ok((next, Some(entry)))
    }

    async fn write_mute_change(
        &self,
        tx: &mut sqlx::PgConnection,
        scope: &AppScope,
        group_id: &GroupId,
        pk: i64,
        next: &MuteState,
    ) -> Result<GroupMessage, StoreError> {
        sqlx::query(
            "UPDATE groups SET mute_all = $2, muted_users = $3, exempt_users = $4
             WHERE group_pk = $1",
        )
        .bind(pk)
        .bind(next.mute_all)
        .bind(&next.muted)
        .bind(&next.exempt)
        .execute(&mut *tx)
        .await?;
        // The stream's head, after the group's row (sends take the head and read the group).
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO group_message_heads AS h (group_pk) VALUES ($1)
             ON CONFLICT (group_pk) DO UPDATE SET next_seq = h.next_seq
             RETURNING next_seq",
        )
        .bind(pk)
        .fetch_one(&mut *tx)
        .await?;
        let body = next.to_json(group_id.as_str());
        let inserted = sqlx::query(
            "WITH bumped AS (
                 UPDATE group_message_heads SET next_seq = next_seq + 1 WHERE group_pk = $1
             )
             INSERT INTO group_messages
                 (group_pk, seq, kind, msg_tid, msg_type, body, sender_id, sender_info, weight,
                  total_messages, stored, cached, sent_at, expires_at)
             VALUES ($1, $2, 3, '', 0, $3, '', '', 1, 0, FALSE, FALSE, now(),
                     now() + make_interval(secs => $4))
             RETURNING sent_at",
        )
        .bind(pk)
        .bind(seq)
        .bind(&body)
        .bind(self.limits.replay_window.as_secs_f64())
        .fetch_one(&mut *tx)
        .await?;
        Ok(GroupMessage {
            app_id: scope.app.to_string(),
            group_id: group_id.to_string(),
            seq,
            kind: crate::messages::MessageKind::MuteChange,
            msg_tid: String::new(),
            msg_type: 0,
            body,
            sender_id: String::new(),
            sender_info: String::new(),
            weight: 1,
            total_messages: 0,
            stored: false,
            cached: false,
            recalled: false,
            deleter_id: None,
            deleter_info: None,
            sent_at: inserted.try_get("sent_at")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn who_is_muted_follows_the_documented_rule() {
        let state = MuteState {
            mute_all: true,
            muted: users(&["spammer", "vip"]),
            exempt: users(&["vip", "guest"]),
        };
        let admins = users(&["mod"]);
        // Individual mutes win over the exemptions; creator and administrators are never muted.
        assert!(state.mutes("spammer", "host", &admins));
        assert!(state.mutes("vip", "host", &admins));
        assert!(!state.mutes("guest", "host", &admins));
        assert!(state.mutes("anyone", "host", &admins));
        assert!(!state.mutes("host", "host", &admins));
        assert!(!state.mutes("mod", "host", &admins));
        let open = MuteState {
            mute_all: false,
            ..state
        };
        assert!(!open.mutes("anyone", "host", &admins));
        assert!(open.mutes("spammer", "host", &admins));
    }

    #[test]
    fn changes_apply_as_the_operations_say() {
        let start = MuteState {
            mute_all: false,
            muted: users(&["a"]),
            exempt: Vec::new(),
        };
        let banned = MuteChange::Ban {
            except: Some(users(&["x", "x"])),
        }
        .apply(&start);
        assert_eq!(
            (banned.mute_all, banned.exempt.clone()),
            (true, users(&["x"]))
        );
        // A plain re-ban keeps the exemptions; an unban clears them, not the individual mutes.
        let again = MuteChange::Ban { except: None }.apply(&banned);
        assert_eq!(again.exempt, users(&["x"]));
        let unbanned = MuteChange::Unban.apply(&again);
        assert_eq!(
            (
                unbanned.mute_all,
                unbanned.muted.clone(),
                unbanned.exempt.clone()
            ),
            (false, users(&["a"]), Vec::new())
        );
        let added = MuteChange::Add(users(&["b", "a"])).apply(&unbanned);
        assert_eq!(added.muted, users(&["a", "b"]));
        let removed = MuteChange::Remove(users(&["a", "zz"])).apply(&added);
        assert_eq!(removed.muted, users(&["b"]));
        let set = MuteChange::Set {
            mute_all: Some(true),
            muted: None,
            exempt: Some(users(&["e"])),
        }
        .apply(&removed);
        assert_eq!(
            (set.mute_all, set.muted.clone(), set.exempt.clone()),
            (true, users(&["b"]), users(&["e"]))
        );
    }
}
