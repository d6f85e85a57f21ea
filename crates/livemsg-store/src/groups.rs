//! Groups: created once per id in an app within its quota, described with their state and
//! counters, their info and administrators changed.
//! (Fixed statements, compile-checked with `query!`.)

use crate::records::{decode_state, GroupRecord, NewGroup, StoredState};
use crate::scope::{lock_app, BindScope};
use crate::{Store, StoreError};
use livemsg_domain::events::EventKind;
use livemsg_domain::{AppId, AppScope, GroupId, GroupInfo, GroupState, UserId};

/// What `ModifyLiveMessageGroup` changes: each part that is `Some`.
#[derive(Debug, Clone, Default)]
pub struct GroupChanges {
    /// The new group info.
    pub group_info: Option<GroupInfo>,
    /// The new administrators (at most three; empty clears them).
    pub administrators: Option<Vec<UserId>>,
}

/// The outcome of creating a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreateGroupOutcome {
    /// The group existed before this call (nothing was changed).
    pub already_exists: bool,
    /// The existing group is deleted.
    pub already_deleted: bool,
}

impl Store {
    /// Creates a group in an app. Creating an existing group changes nothing and says so (a
    /// deleted group's id stays taken until the group is purged). A new group must fit the app's
    /// quota of live groups (`TooManyGroups`), and a disabled app creates none (`AppDisabled`).
    /// The app's row is locked for the count, so concurrent creations cannot pass the quota
    /// together.
    pub async fn create_group(
        &self,
        scope: &AppScope,
        group: NewGroup,
    ) -> Result<CreateGroupOutcome, StoreError> {
        let mut tx = self.pool.begin().await?;
        let app = lock_app(&mut tx, scope).await?;
        if app.disabled {
            return Err(StoreError::AppDisabled);
        }
        let existing: Option<bool> =
            sqlx::query_scalar("SELECT deleted FROM groups WHERE app_id = $1 AND group_id = $2")
                .bind(scope.app.as_str())
                .bind(group.group_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(deleted) = existing {
            return Ok(CreateGroupOutcome {
                already_exists: true,
                already_deleted: deleted,
            });
        }
        if app.live_groups >= self.limits.groups_per_app {
            return Err(StoreError::TooManyGroups {
                quota: self.limits.groups_per_app,
                recovering: false,
            });
        }
        let admins: Vec<String> = group
            .administrators
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect();
        sqlx::query(
            "WITH created AS (
                 INSERT INTO groups (app_id, group_id, group_name, group_info, creator_id,
                                     admin_list)
                 VALUES ($1, $2, $3, $4, $5, $6)
             )
             UPDATE apps SET live_groups = live_groups + 1 WHERE app_id = $1",
        )
        .bind(scope.app.as_str())
        .bind(group.group_id.as_str())
        .bind(group.group_name.as_str())
        .bind(group.group_info.as_str())
        .bind(group.creator_id.as_ref().map_or("", |c| c.as_str()))
        .bind(&admins)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(CreateGroupOutcome {
            already_exists: false,
            already_deleted: false,
        })
    }

    /// Reads a group of an app.
    pub async fn describe_group(
        &self,
        scope: &AppScope,
        group_id: &GroupId,
    ) -> Result<GroupRecord, StoreError> {
        let row = sqlx::query!(
            "SELECT g.group_id, g.group_name, g.group_info, g.creator_id, g.admin_list, g.state,
                    g.member_count, g.total_joins, g.deleted, g.deleted_at, g.deletor, g.created_at
             FROM groups g JOIN apps a ON a.app_id = g.app_id
             WHERE a.app_id = $1 AND a.account_id = $2 AND a.data_center = $3
               AND g.group_id = $4",
            scope.app.as_str(),
            scope.account.get(),
            scope.data_center.as_str(),
            group_id.as_str(),
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Err(self.missing_app_or_group(scope).await);
        };
        Ok(GroupRecord {
            group_id: row.group_id,
            group_name: row.group_name,
            group_info: row.group_info,
            creator_id: row.creator_id,
            admin_list: row.admin_list,
            state: StoredState(decode_state(row.state)?),
            member_count: row.member_count,
            total_joins: row.total_joins,
            deleted: row.deleted,
            deleted_at: row.deleted_at,
            deletor: row.deletor,
            created_at: row.created_at,
        })
    }

    /// Changes a live group's info and administrators (each kept when `None`). A change is in
    /// the group's events (`GroupInfoChanged`, with the info and administrators as they now are)
    /// in the same transaction. Returns whether anything changed.
    pub async fn modify_group(
        &self,
        scope: &AppScope,
        group_id: &GroupId,
        changes: GroupChanges,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row: Option<(i64, String, Vec<String>, i64, i64, bool)> = sqlx::query_as(
            "SELECT g.group_pk, g.group_info, g.admin_list, g.member_count, g.next_event_seq,
                    a.disabled
             FROM groups g JOIN apps a ON a.app_id = g.app_id
             WHERE a.app_id = $1 AND a.account_id = $2 AND a.data_center = $3
               AND g.group_id = $4 AND NOT g.deleted
             FOR NO KEY UPDATE OF g",
        )
        .bind_scope(scope)
        .bind(group_id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((group_pk, info, admins, member_count, seq, disabled)) = row else {
            drop(tx);
            return Err(self.missing_app_or_group(scope).await);
        };
        if disabled {
            return Err(StoreError::AppDisabled);
        }
        let new_info = changes
            .group_info
            .map_or(info.clone(), |i| i.as_str().to_owned());
        let new_admins: Vec<String> = changes.administrators.map_or(admins.clone(), |list| {
            list.iter().map(|a| a.as_str().to_owned()).collect()
        });
        if new_info == info && new_admins == admins {
            return Ok(false);
        }
        let payload = serde_json::json!({ "groupInfo": new_info, "adminList": new_admins });
        sqlx::query(&format!(
            "WITH changed AS (
                 UPDATE groups SET group_info = $2, admin_list = $3,
                                   next_event_seq = next_event_seq + 1
                 WHERE group_pk = $1
             ), {}",
            crate::events::append_events(
                "group_pk, seq, app_id, kind, member_count, payload",
                "VALUES ($1::bigint, $4::bigint, $5::text, $6::smallint, $7::bigint, $8::jsonb)",
                "seq",
            )
        ))
        .bind(group_pk)
        .bind(&new_info)
        .bind(&new_admins)
        .bind(seq)
        .bind(scope.app.as_str())
        .bind(EventKind::GroupInfoChanged.as_i16())
        .bind(member_count)
        .bind(payload.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.wrote_events();
        Ok(true)
    }

    /// The exact member count and the state of a group.
    pub async fn group_count(
        &self,
        app_id: &AppId,
        group_id: &GroupId,
    ) -> Result<(i64, GroupState), StoreError> {
        let row = sqlx::query!(
            "SELECT member_count, state FROM groups
             WHERE app_id = $1 AND group_id = $2 AND NOT deleted",
            app_id.as_str(),
            group_id.as_str(),
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::GroupNotFound)?;
        Ok((row.member_count, decode_state(row.state)?))
    }
}
