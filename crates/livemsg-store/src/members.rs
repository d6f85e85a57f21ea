//! Reading a group's members: pages of the join-ordered user list, and who among some users is
//! in a group.

use std::collections::HashSet;

use livemsg_domain::{AppScope, GroupId, PageSize, PageToken, SortType};
use sqlx::Row;

use crate::records::decode_state;
use crate::scope::BindScope;
use crate::{Store, StoreError};

/// One page of a group's users, ascending, with the group's state; see `list_group_users`.
/// Binds: app id, account id, data center, group id, first position, rows (page size + 1).
/// Public so the benchmark's baseline runs the very statement.
pub const LIST_ASCENDING: &str = "SELECT g.state, m.position, m.user_id, m.user_info
     FROM groups g JOIN apps a ON a.app_id = g.app_id
     LEFT JOIN LATERAL (
         SELECT position, user_id, user_info FROM group_members
         WHERE group_pk = g.group_pk AND position >= $5
         ORDER BY position ASC LIMIT $6
     ) m ON g.state <> 1
     WHERE a.app_id = $1 AND a.account_id = $2 AND a.data_center = $3
       AND g.group_id = $4 AND NOT g.deleted
     ORDER BY m.position ASC";

/// The same, descending.
pub const LIST_DESCENDING: &str = "SELECT g.state, m.position, m.user_id, m.user_info
     FROM groups g JOIN apps a ON a.app_id = g.app_id
     LEFT JOIN LATERAL (
         SELECT position, user_id, user_info FROM group_members
         WHERE group_pk = g.group_pk AND position <= $5
         ORDER BY position DESC LIMIT $6
     ) m ON g.state <> 1
     WHERE a.app_id = $1 AND a.account_id = $2 AND a.data_center = $3
       AND g.group_id = $4 AND NOT g.deleted
     ORDER BY m.position DESC";

/// Which page of a user list to read.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    /// How many users.
    pub size: PageSize,
    /// In which order.
    pub sort: SortType,
    /// Where to continue.
    pub token: PageToken,
}

impl PageRequest {
    /// The first position the scan may return: inclusive lower bound for ascending order,
    /// inclusive upper bound for descending order.
    pub(crate) fn start_position(&self) -> i64 {
        match (self.token.position(), self.sort) {
            (Some(position), _) => position,
            (None, SortType::Ascending) => i64::MIN,
            (None, SortType::Descending) => i64::MAX,
        }
    }
}

/// A page of users and where the next page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPage {
    /// `(user_id, user_info)` in the requested order.
    pub users: Vec<(String, String)>,
    /// The position of the first user not returned; `None` when there is no more.
    pub next: Option<i64>,
}

impl UserPage {
    /// Builds a page from up to `size + 1` rows `(position, user_id, user_info)` in scan
    /// order: the extra row, if present, only tells where the next page starts.
    pub(crate) fn from_rows(mut rows: Vec<(i64, String, String)>, size: PageSize) -> UserPage {
        let size = size.get() as usize;
        let next = rows.get(size).map(|row| row.0);
        rows.truncate(size);
        UserPage {
            users: rows.into_iter().map(|(_, id, info)| (id, info)).collect(),
            next,
        }
    }

    /// The wire token: the next position, or 0 for "no more".
    pub fn next_page_token(&self) -> i64 {
        self.next.unwrap_or(0)
    }
}

impl Store {
    /// One page of a group's users in join order. A super group answers
    /// [`StoreError::SuperGroup`].
    pub async fn list_group_users(
        &self,
        scope: &AppScope,
        group_id: &GroupId,
        page: PageRequest,
    ) -> Result<UserPage, StoreError> {
        // One statement, so the group's state and its members come from one snapshot: a page
        // can never mix a normal group's state with a list cleared by a concurrent upgrade.
        let sql = match page.sort {
            SortType::Ascending => LIST_ASCENDING,
            SortType::Descending => LIST_DESCENDING,
        };
        let rows = sqlx::query(sql)
            .bind_scope(scope)
            .bind(group_id.as_str())
            .bind(page.start_position())
            .bind(i64::from(page.size.get()) + 1)
            .fetch_all(&self.pool)
            .await?;
        let Some(first) = rows.first() else {
            return Err(self.missing_app_or_group(scope).await);
        };
        let state = decode_state(first.try_get("state")?)?;
        state.check_listable().map_err(|_| StoreError::SuperGroup)?;
        let mut members = Vec::with_capacity(rows.len());
        for row in &rows {
            let position: Option<i64> = row.try_get("position")?;
            if let Some(position) = position {
                let user_id: String = row.try_get("user_id")?;
                let user_info: Option<String> = row.try_get("user_info")?;
                members.push((position, user_id, user_info.unwrap_or_default()));
            }
        }
        Ok(UserPage::from_rows(members, page.size))
    }

    /// Which of `user_ids` are members of a group (in any state: super groups keep who is in
    /// them).
    pub async fn members_among(
        &self,
        scope: &AppScope,
        group_id: &GroupId,
        user_ids: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        // One statement: a row per member found, or one row without a user when there is none;
        // only when the group is not found does a second query tell a missing app from a
        // missing group.
        let rows: Vec<Option<String>> = sqlx::query_scalar(
            "SELECT m.user_id FROM groups g JOIN apps a ON a.app_id = g.app_id
             LEFT JOIN group_members m
               ON m.group_pk = g.group_pk AND m.user_id = ANY($5)
             WHERE a.app_id = $1 AND a.account_id = $2 AND a.data_center = $3
               AND g.group_id = $4 AND NOT g.deleted",
        )
        .bind_scope(scope)
        .bind(group_id.as_str())
        .bind(user_ids)
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Err(self.missing_app_or_group(scope).await);
        }
        Ok(rows.into_iter().flatten().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Keyring, MembershipOp, NewApp, NewGroup};
    use livemsg_domain::{
        AccountId, AppId, AppName, DataCenter, GroupInfo, GroupName, UserId, UserInfo,
    };
    use sqlx::PgPool;

    fn rows(positions: &[i64]) -> Vec<(i64, String, String)> {
        positions
            .iter()
            .map(|p| (*p, format!("u{p}"), String::new()))
            .collect()
    }

    #[test]
    fn a_full_page_plus_one_row_points_at_the_next_position() {
        let size = PageSize::new(10).unwrap();
        let page = UserPage::from_rows(rows(&(1..=11).collect::<Vec<_>>()), size);
        assert_eq!(page.users.len(), 10);
        assert_eq!(page.next, Some(11));
        assert_eq!(page.next_page_token(), 11);
    }

    #[test]
    fn the_last_page_answers_token_zero() {
        let size = PageSize::new(10).unwrap();
        let exact = UserPage::from_rows(rows(&(1..=10).collect::<Vec<_>>()), size);
        assert_eq!(exact.users.len(), 10);
        assert_eq!(exact.next_page_token(), 0);
        let empty = UserPage::from_rows(Vec::new(), size);
        assert!(empty.users.is_empty());
        assert_eq!(empty.next, None);
    }

    #[test]
    fn start_positions_follow_the_sort_order() {
        let size = PageSize::new(10).unwrap();
        let req = |sort, token| PageRequest { size, sort, token };
        assert_eq!(
            req(SortType::Ascending, PageToken::START).start_position(),
            i64::MIN
        );
        assert_eq!(
            req(SortType::Descending, PageToken::START).start_position(),
            i64::MAX
        );
        let at7 = PageToken::new(7).unwrap();
        assert_eq!(req(SortType::Descending, at7).start_position(), 7);
    }

    /// The plan of the real list statements, on a table with several large groups: a bounded
    /// seek on `group_members_list_idx` (the position bound in the index condition, a Limit
    /// above it), never a scan of the members. The only sort allowed is the final one over the
    /// at most `page_size + 1` rows the seek returned.
    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn the_list_query_seeks_the_position_index_instead_of_scanning(pool: PgPool) {
        let store = Store::new(pool, DEFAULT_THRESHOLD_FOR_TESTS, Keyring::generate());
        let account = store.create_account("t").await.unwrap();
        let account_id = AccountId::new(account.account_id).unwrap();
        let app = store
            .create_app(NewApp {
                account: account_id,
                app_name: Some(AppName::parse("demo").unwrap()),
                data_center: DataCenter::CnShanghai,
                audit_type: 0,
                audit_url: String::new(),
                event_callback_url: String::new(),
                msg_life_cycle: 0,
            })
            .await
            .unwrap();
        let app_id = AppId::parse(&app.app_id).unwrap();
        let scope = AppScope {
            account: account_id,
            app: app_id.clone(),
            data_center: DataCenter::CnShanghai,
        };
        for g in 0..4 {
            let group_id = GroupId::parse(&format!("g{g}")).unwrap();
            let group = NewGroup {
                group_id: group_id.clone(),
                group_name: GroupName::default(),
                group_info: GroupInfo::default(),
                creator_id: None,
                administrators: Vec::new(),
            };
            store.create_group(&scope, group).await.unwrap();
            let ops: Vec<MembershipOp> = (0..1_500)
                .map(|i| MembershipOp::Join {
                    user_id: UserId::parse(&format!("u{i}")).unwrap(),
                    user_info: UserInfo::default(),
                })
                .collect();
            store
                .apply_to_group(&app_id, &group_id, &ops)
                .await
                .unwrap();
        }
        sqlx::query("ANALYZE").execute(store.pool()).await.unwrap();
        for (sql, bound) in [(LIST_ASCENDING, ">="), (LIST_DESCENDING, "<=")] {
            let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {sql}"))
                .bind(app_id.as_str())
                .bind(account.account_id)
                .bind("cn-shanghai")
                .bind("g2")
                .bind(700_i64)
                .bind(51_i64)
                .fetch_all(store.pool())
                .await
                .unwrap();
            let seek = plan
                .iter()
                .position(|line| line.contains(" using group_members_list_idx"))
                .unwrap_or_else(|| panic!("no index seek in {plan:#?}"));
            assert!(plan[seek - 1].contains("Limit"), "{plan:#?}");
            assert!(
                plan[seek + 1].contains(&format!("\"position\" {bound} ")),
                "{plan:#?}"
            );
            assert!(
                !plan.iter().any(|l| l.contains("Scan on group_members")),
                "{plan:#?}"
            );
            let sorts = plan.iter().filter(|l| l.contains("Sort  ")).count();
            assert!(
                sorts <= 1 && (sorts == 0 || plan[0].starts_with("Sort")),
                "{plan:#?}"
            );
        }
    }

    const DEFAULT_THRESHOLD_FOR_TESTS: i64 = livemsg_domain::DEFAULT_SUPER_GROUP_THRESHOLD;
}
