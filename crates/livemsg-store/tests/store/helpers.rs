//! What the store tests share: a fixture with an account and an app, and short spellings of
//! ids, scopes, joins and pages.

pub(crate) use std::collections::{HashMap, HashSet};

pub(crate) use livemsg_domain::{
    AccountId, AppId, AppName, AppScope, DataCenter, GroupId, GroupInfo, GroupName, GroupState,
    MembershipChange, PageSize, PageToken, SortType, UserId, UserInfo,
};
pub(crate) use livemsg_store::{
    Keyring, Limits, MembershipOp, NewApp, NewGroup, PageRequest, Store, StoreError,
};
pub(crate) use sqlx::PgPool;

/// The scope of `app_id` for `account_id` in `data_center`.
pub(crate) fn scope_of(account_id: i64, app_id: &AppId, data_center: DataCenter) -> AppScope {
    AppScope {
        account: AccountId::new(account_id).unwrap(),
        app: app_id.clone(),
        data_center,
    }
}

/// Single joins and leaves, each alone in its transaction, as the tests spell them.
#[allow(async_fn_in_trait)]
pub(crate) trait Joins {
    async fn join_group(
        &self,
        app_id: &AppId,
        group_id: &GroupId,
        user_id: &UserId,
        user_info: &UserInfo,
    ) -> Result<MembershipChange, StoreError>;
    async fn leave_group(
        &self,
        app_id: &AppId,
        group_id: &GroupId,
        user_id: &UserId,
    ) -> Result<MembershipChange, StoreError>;
}

impl Joins for Store {
    async fn join_group(
        &self,
        app_id: &AppId,
        group_id: &GroupId,
        user_id: &UserId,
        user_info: &UserInfo,
    ) -> Result<MembershipChange, StoreError> {
        let op = MembershipOp::Join {
            user_id: user_id.clone(),
            user_info: user_info.clone(),
        };
        self.apply_one(app_id, group_id, op).await
    }

    async fn leave_group(
        &self,
        app_id: &AppId,
        group_id: &GroupId,
        user_id: &UserId,
    ) -> Result<MembershipChange, StoreError> {
        let op = MembershipOp::Leave {
            user_id: user_id.clone(),
        };
        self.apply_one(app_id, group_id, op).await
    }
}

pub(crate) const THRESHOLD: i64 = 2_000;

pub(crate) struct Fixture {
    pub store: Store,
    pub account_id: i64,
    pub app_id: AppId,
}

/// A pool of one connection to the test's database, set up as livemsg's own pools are.
pub(crate) async fn one_connection_pool(admin: &PgPool) -> PgPool {
    livemsg_store::pool_options()
        .max_connections(1)
        .connect_with((*admin.connect_options()).clone())
        .await
        .unwrap()
}

pub(crate) async fn fixture(pool: PgPool, threshold: i64) -> Fixture {
    let store = Store::new(pool, threshold, Keyring::generate());
    let account = store.create_account("test").await.unwrap();
    let app = store
        .create_app(new_app(account.account_id, DataCenter::CnShanghai))
        .await
        .unwrap();
    let app_id = AppId::parse(&app.app_id).unwrap();
    Fixture {
        store,
        account_id: account.account_id,
        app_id,
    }
}

pub(crate) fn new_app(account_id: i64, data_center: DataCenter) -> NewApp {
    NewApp {
        account: AccountId::new(account_id).unwrap(),
        app_name: Some(AppName::parse("demo").unwrap()),
        data_center,
        audit_type: 0,
        audit_url: String::new(),
        event_callback_url: String::new(),
        msg_life_cycle: 0,
    }
}

pub(crate) fn new_group(id: &str) -> NewGroup {
    NewGroup {
        group_id: GroupId::parse(id).unwrap(),
        group_name: GroupName::parse("name").unwrap(),
        group_info: GroupInfo::parse("info").unwrap(),
        creator_id: Some(UserId::parse("creator").unwrap()),
        administrators: vec![UserId::parse("admin1").unwrap()],
    }
}

pub(crate) fn uid(s: impl AsRef<str>) -> UserId {
    UserId::parse(s.as_ref()).unwrap()
}

pub(crate) fn join(user: impl AsRef<str>) -> MembershipOp {
    MembershipOp::Join {
        user_id: uid(user),
        user_info: UserInfo::parse("").unwrap(),
    }
}

/// A fixture whose store enforces `limits`.
pub(crate) async fn fixture_with(pool: PgPool, threshold: i64, limits: Limits) -> Fixture {
    let mut f = fixture(pool, threshold).await;
    f.store = f.store.with_limits(limits);
    f
}

impl Fixture {
    /// The fixture app's scope.
    pub(crate) fn scope(&self) -> AppScope {
        scope_of(self.account_id, &self.app_id, DataCenter::CnShanghai)
    }

    /// Every event of a group, in order.
    pub(crate) async fn events(&self, group: &GroupId) -> Vec<livemsg_store::GroupEvent> {
        self.store
            .group_events(&self.app_id, group, 1, 10_000)
            .await
            .unwrap()
    }

    /// The app's live and deleted group counters.
    pub(crate) async fn counters(&self) -> (i64, i64) {
        sqlx::query_as("SELECT live_groups, deleted_groups FROM apps WHERE app_id = $1")
            .bind(self.app_id.as_str())
            .fetch_one(self.store.pool())
            .await
            .unwrap()
    }

    /// Sets the app's callback URL.
    pub(crate) async fn callbacks_to(&self, url: &str) {
        self.store
            .set_event_callback_url(
                &scope_of(self.account_id, &self.app_id, DataCenter::CnShanghai),
                url,
            )
            .await
            .unwrap();
    }

    /// Joins users `u{i}` for every `i` in `users` to `group`, one by one.
    pub(crate) async fn join_each(&self, group: &GroupId, users: std::ops::Range<usize>) {
        for i in users {
            self.store
                .join_group(
                    &self.app_id,
                    group,
                    &uid(format!("u{i}")),
                    &UserInfo::parse("").unwrap(),
                )
                .await
                .unwrap();
        }
    }

    /// Another app of the fixture's account, in the same data center.
    pub(crate) async fn another_app(&self) -> AppId {
        let app = self
            .store
            .create_app(new_app(self.account_id, DataCenter::CnShanghai))
            .await
            .unwrap();
        AppId::parse(&app.app_id).unwrap()
    }

    pub(crate) async fn group(&self, id: &str) -> GroupId {
        self.store
            .create_group(
                &scope_of(self.account_id, &self.app_id, DataCenter::CnShanghai),
                new_group(id),
            )
            .await
            .unwrap();
        GroupId::parse(id).unwrap()
    }

    pub(crate) async fn seed(&self, group: &GroupId, users: impl IntoIterator<Item = String>) {
        let ops: Vec<_> = users.into_iter().map(join).collect();
        self.store
            .apply_to_group(&self.app_id, group, &ops)
            .await
            .unwrap();
    }

    pub(crate) async fn page(
        &self,
        group: &GroupId,
        sort: SortType,
        token: i64,
        size: i64,
    ) -> Result<livemsg_store::UserPage, StoreError> {
        self.store
            .list_group_users(
                &scope_of(self.account_id, &self.app_id, DataCenter::CnShanghai),
                group,
                PageRequest {
                    size: PageSize::new(size).unwrap(),
                    sort,
                    token: PageToken::new(token).unwrap(),
                },
            )
            .await
    }

    /// Every user, following tokens from the first page to the last.
    pub(crate) async fn traverse(&self, group: &GroupId, sort: SortType) -> Vec<String> {
        let mut users = Vec::new();
        let mut token = 0;
        loop {
            let page = self.page(group, sort, token, 10).await.unwrap();
            users.extend(page.users.iter().map(|(u, _)| u.clone()));
            token = page.next_page_token();
            if token == 0 {
                return users;
            }
        }
    }

    /// The count of member rows, to check the stored count never drifts from them.
    pub(crate) async fn member_rows(&self, group: &GroupId) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM group_members m JOIN groups g USING (group_pk)
             WHERE g.app_id = $1 AND g.group_id = $2",
        )
        .bind(self.app_id.as_str())
        .bind(group.as_str())
        .fetch_one(self.store.pool())
        .await
        .unwrap()
    }
}

pub(crate) fn kinds(
    events: &[livemsg_store::GroupEvent],
) -> Vec<livemsg_domain::events::EventKind> {
    events.iter().map(|e| e.kind).collect()
}
