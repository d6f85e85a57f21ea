//! Listing an account's apps and an app's groups in creation order.
//!
//! The forward listings are keyset scans: a page seeks to the cursor's key on
//! `apps_list_idx (account_id, data_center, app_pk)` or on `groups_list_idx (app_id, group_pk)`
//! (`groups_status_list_idx (app_id, deleted, group_pk)` under a status filter) and reads at
//! most one row more than it returns, whatever the number of apps or groups. The extra row's
//! key is where the next page starts. The page-number listing skips `(page - 1) * size` entries
//! of the same indexes without reading the table (an index-only scan), then reads the page's
//! rows; its `TotalCount` is read from the app's counters.

use livemsg_domain::{AppScope, GroupStatus, NumberedPage, SortType};

use crate::records::{AppRecord, AppRow, GroupRecord};
use crate::scope::BindScope;
use crate::{Store, StoreError};

/// How many apps a page of `ListLiveMessageApps` holds.
pub const APPS_PAGE: i64 = 50;
/// How many groups a page of `ListLiveMessageGroups` holds.
pub const GROUPS_PAGE: i64 = 100;

/// A page of apps and the key of the next one, if any.
#[derive(Debug, Clone)]
pub struct AppPage {
    /// The apps, in the requested order.
    pub apps: Vec<AppRecord>,
    /// The key of the first app not returned.
    pub next: Option<i64>,
}

/// A page of groups and the key of the next one, if any.
#[derive(Debug, Clone)]
pub struct GroupPage {
    /// The groups, in the requested order.
    pub groups: Vec<GroupRecord>,
    /// The key of the first group not returned.
    pub next: Option<i64>,
}

/// A numbered page of groups and how many groups the filter matches in all.
#[derive(Debug, Clone)]
pub struct NumberedGroups {
    /// The groups of the page, in the requested order (empty past the end).
    pub groups: Vec<GroupRecord>,
    /// How many groups match the filter.
    pub total: i64,
}

#[derive(sqlx::FromRow)]
struct KeyedApp {
    app_pk: i64,
    #[sqlx(flatten)]
    app: AppRow,
}

#[derive(sqlx::FromRow)]
struct KeyedGroup {
    group_pk: i64,
    #[sqlx(flatten)]
    group: GroupRecord,
}

const GROUP_COLUMNS: &str = "g.group_pk, g.group_id, g.group_name, g.group_info, g.creator_id,
     g.admin_list, g.state, g.member_count, g.total_joins, g.deleted, g.deleted_at, g.deletor,
     g.created_at";

/// The comparison and order of a scan from a key, and the key that starts it.
fn direction(sort: SortType, key: Option<i64>) -> (&'static str, &'static str, i64) {
    match sort {
        SortType::Ascending => (">=", "ASC", key.unwrap_or(i64::MIN)),
        SortType::Descending => ("<=", "DESC", key.unwrap_or(i64::MAX)),
    }
}

/// The condition a status filter adds (a literal, so the planner picks the status index).
fn status_filter(status: GroupStatus) -> &'static str {
    match status.deleted() {
        None => "",
        Some(false) => "AND NOT g.deleted",
        Some(true) => "AND g.deleted",
    }
}

/// The `ListLiveMessageGroups` statement for an order and a filter. Binds: app id, account id,
/// data center, first key, rows. Public so the plan test reads the very statement.
pub fn list_groups_sql(sort: SortType, status: GroupStatus) -> String {
    let (cmp, order, _) = direction(sort, None);
    let filter = status_filter(status);
    format!(
        "SELECT {GROUP_COLUMNS}
         FROM apps a JOIN groups g ON g.app_id = a.app_id
         WHERE a.app_id = $1 AND a.account_id = $2 AND a.data_center = $3
           {filter} AND g.group_pk {cmp} $4
         ORDER BY g.group_pk {order} LIMIT $5"
    )
}

/// The `ListLiveMessageGroupByPage` statement for an order and a filter. Binds: app id,
/// offset, rows. Public so the plan test reads the very statement.
pub fn groups_by_page_sql(sort: SortType, status: GroupStatus) -> String {
    let (_, order, _) = direction(sort, None);
    let filter = status_filter(status);
    format!(
        "SELECT {GROUP_COLUMNS}
         FROM (SELECT g.group_pk FROM groups g WHERE g.app_id = $1 {filter}
               ORDER BY g.group_pk {order} OFFSET $2 LIMIT $3) page
         JOIN groups g ON g.group_pk = page.group_pk
         ORDER BY g.group_pk {order}"
    )
}

impl Store {
    /// A page of an account's apps in one data center, in creation order, from the app with
    /// key `from` (the beginning when `None`).
    pub async fn list_apps(
        &self,
        account: i64,
        data_center: &str,
        sort: SortType,
        from: Option<i64>,
    ) -> Result<AppPage, StoreError> {
        let (cmp, order, start) = direction(sort, from);
        let rows: Vec<KeyedApp> = sqlx::query_as(&format!(
            "SELECT * FROM apps
             WHERE account_id = $1 AND data_center = $2 AND app_pk {cmp} $3
             ORDER BY app_pk {order} LIMIT $4"
        ))
        .bind(account)
        .bind(data_center)
        .bind(start)
        .bind(APPS_PAGE + 1)
        .fetch_all(&self.pool)
        .await?;
        let (rows, next) = split_page(rows, APPS_PAGE, |r| r.app_pk);
        let apps = rows
            .into_iter()
            .map(|r| r.app.open(&self.keyring))
            .collect::<Result<_, _>>()?;
        Ok(AppPage { apps, next })
    }

    /// A page of an app's groups matching `status`, in creation order, from the group with key
    /// `from` (the beginning when `None`).
    pub async fn list_groups(
        &self,
        scope: &AppScope,
        sort: SortType,
        status: GroupStatus,
        from: Option<i64>,
    ) -> Result<GroupPage, StoreError> {
        let (_, _, start) = direction(sort, from);
        let rows: Vec<KeyedGroup> = sqlx::query_as(&list_groups_sql(sort, status))
            .bind_scope(scope)
            .bind(start)
            .bind(GROUPS_PAGE + 1)
            .fetch_all(&self.pool)
            .await?;
        if rows.is_empty() {
            // An empty page: of an app with nothing (more) to list, or of no app of the caller's.
            self.find_app(scope).await?;
        }
        let (rows, next) = split_page(rows, GROUPS_PAGE, |r| r.group_pk);
        Ok(GroupPage {
            groups: rows.into_iter().map(|r| r.group).collect(),
            next,
        })
    }

    /// A numbered page of an app's groups matching `status`, in creation order, and how many
    /// match (both read in one snapshot).
    pub async fn list_groups_by_page(
        &self,
        scope: &AppScope,
        sort: SortType,
        status: GroupStatus,
        page: NumberedPage,
    ) -> Result<NumberedGroups, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let counts: Option<(i64, i64)> = sqlx::query_as(
            "SELECT live_groups, deleted_groups FROM apps
             WHERE app_id = $1 AND account_id = $2 AND data_center = $3",
        )
        .bind_scope(scope)
        .fetch_optional(&mut *tx)
        .await?;
        let (live, deleted) = counts.ok_or(StoreError::AppNotFound)?;
        let total = match status {
            GroupStatus::All => live + deleted,
            GroupStatus::Live => live,
            GroupStatus::Deleted => deleted,
        };
        let groups: Vec<KeyedGroup> = if page.offset() >= total {
            Vec::new()
        } else {
            sqlx::query_as(&groups_by_page_sql(sort, status))
                .bind(scope.app.as_str())
                .bind(page.offset())
                .bind(i64::from(page.size()))
                .fetch_all(&mut *tx)
                .await?
        };
        tx.commit().await?;
        Ok(NumberedGroups {
            groups: groups.into_iter().map(|r| r.group).collect(),
            total,
        })
    }
}

/// Cuts `size + 1` rows to `size`, returning the key of the extra row as the next page's start.
fn split_page<T>(mut rows: Vec<T>, size: i64, key: impl Fn(&T) -> i64) -> (Vec<T>, Option<i64>) {
    let size = size as usize;
    let next = rows.get(size).map(key);
    rows.truncate(size);
    (rows, next)
}
