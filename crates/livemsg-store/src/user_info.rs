//! Changing a user's info in every group of an app the user is in (`ModifyLiveMessageUserInfo`).

use std::collections::HashSet;

use livemsg_domain::events::EventKind;
use livemsg_domain::{AppScope, GroupState, UserId, UserInfo};

use crate::records::decode_state;
use crate::scope::BindScope;
use crate::{Store, StoreError};

/// Where a user's info was changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfoOutcome {
    /// The live groups the user is in, by creation: in a normal group the member list now shows
    /// the new info; a super group keeps no list, so there is nothing to change.
    pub groups: Vec<String>,
}

impl Store {
    /// Sets `user_id`'s info in every live group of the app it is in, in one transaction that
    /// locks those groups, and appends `UserInfoChanged` to each normal group where the info
    /// changed. A user in no group changes nothing.
    pub async fn modify_user_info(
        &self,
        scope: &AppScope,
        user_id: &UserId,
        info: &UserInfo,
    ) -> Result<UserInfoOutcome, StoreError> {
        let mut tx = self.pool.begin().await?;
        let disabled: Option<bool> = sqlx::query_scalar(
            "SELECT disabled FROM apps WHERE app_id = $1 AND account_id = $2 AND data_center = $3",
        )
        .bind_scope(scope)
        .fetch_optional(&mut *tx)
        .await?;
        if disabled.ok_or(StoreError::AppNotFound)? {
            return Err(StoreError::AppDisabled);
        }
        // The user's groups, locked in group_pk order (as membership batches lock them).
        let locked: Vec<(i64, String, i16)> = sqlx::query_as(
            "SELECT g.group_pk, g.group_id, g.state FROM groups g
             WHERE g.group_pk IN (
                 SELECT m.group_pk FROM group_members m WHERE m.user_id = $2)
               AND g.app_id = $1 AND NOT g.deleted
             ORDER BY g.group_pk FOR NO KEY UPDATE OF g",
        )
        .bind(scope.app.as_str())
        .bind(user_id.as_str())
        .fetch_all(&mut *tx)
        .await?;
        if locked.is_empty() {
            return Ok(UserInfoOutcome::default());
        }
        let pks: Vec<i64> = locked.iter().map(|(pk, _, _)| *pk).collect();
        // Under the locks the membership is settled: the user may have left meanwhile.
        let present: HashSet<i64> = sqlx::query_scalar(
            "SELECT group_pk FROM group_members WHERE group_pk = ANY($1) AND user_id = $2",
        )
        .bind(&pks)
        .bind(user_id.as_str())
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
        let mut normal = Vec::new();
        let mut groups = Vec::new();
        for (pk, group_id, state) in locked {
            if !present.contains(&pk) {
                continue;
            }
            if decode_state(state)? != GroupState::Super {
                normal.push(pk);
            }
            groups.push(group_id);
        }
        sqlx::query(&format!(
            "WITH changed AS (
                 UPDATE group_members SET user_info = $3
                 WHERE group_pk = ANY($1) AND user_id = $2 AND user_info IS DISTINCT FROM $3
                 RETURNING group_pk
             ), bumped AS (
                 UPDATE groups g SET next_event_seq = g.next_event_seq + 1
                 FROM changed c WHERE g.group_pk = c.group_pk
                 RETURNING g.group_pk, g.next_event_seq - 1 AS seq, g.member_count
             ), {}",
            crate::events::append_events(
                "group_pk, seq, app_id, kind, user_id, user_info, member_count",
                "SELECT group_pk, seq, $4::text, $5::smallint, $2::text, $3::text, member_count
                 FROM bumped",
                "group_pk",
            )
        ))
        .bind(&normal)
        .bind(user_id.as_str())
        .bind(info.as_str())
        .bind(scope.app.as_str())
        .bind(EventKind::UserInfoChanged.as_i16())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.wrote_events();
        Ok(UserInfoOutcome { groups })
    }
}
