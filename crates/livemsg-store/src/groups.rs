//! Groups: created once per id in an app, described with their state and counters.
//! (Fixed statements, compile-checked with `query!`.)

use crate::records::{decode_state, GroupRecord, NewGroup, StoredState};
use crate::scope::BindScope;
use crate::{Store, StoreError};
use livemsg_domain::{AppId, AppScope, GroupId, GroupState};

/// The outcome of creating a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreateGroupOutcome {
    /// The group existed before this call (nothing was changed).
    pub already_exists: bool,
    /// The existing group is deleted.
    pub already_deleted: bool,
}

impl Store {
    /// Creates a group in an app. Creating an existing group changes nothing and says so.
    pub async fn create_group(
        &self,
        scope: &AppScope,
        group: NewGroup,
    ) -> Result<CreateGroupOutcome, StoreError> {
        let admins: Vec<String> = group
            .administrators
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect();
        let inserted = sqlx::query(
            "INSERT INTO groups (app_id, group_id, group_name, group_info, creator_id, admin_list)
             SELECT app_id, $4, $5, $6, $7, $8 FROM apps
             WHERE app_id = $1 AND account_id = $2 AND data_center = $3
             ON CONFLICT (app_id, group_id) DO NOTHING",
        )
        .bind_scope(scope)
        .bind(group.group_id.as_str())
        .bind(group.group_name.as_str())
        .bind(group.group_info.as_str())
        .bind(group.creator_id.as_ref().map_or("", |c| c.as_str()))
        .bind(&admins)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(CreateGroupOutcome {
                already_exists: false,
                already_deleted: false,
            });
        }
        // Nothing inserted: either the app is not the caller's, or the group exists.
        let existing = self.describe_group(scope, &group.group_id).await?;
        Ok(CreateGroupOutcome {
            already_exists: true,
            already_deleted: existing.deleted,
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
