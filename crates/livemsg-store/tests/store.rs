//! Store behaviour against a real Postgres, a fresh database per test (`#[sqlx::test]` reads
//! `DATABASE_URL` and fails when the server is unreachable).

use std::collections::{HashMap, HashSet};

use livemsg_domain::{
    AppId, AppName, DataCenter, GroupId, GroupInfo, GroupName, GroupState, PageSize, PageToken,
    SortType, UserId, UserInfo,
};
use livemsg_store::{Keyring, MembershipOp, NewApp, NewGroup, PageRequest, Store, StoreError};
use sqlx::PgPool;

const THRESHOLD: i64 = 2_000;

struct Fixture {
    store: Store,
    account_id: i64,
    app_id: AppId,
}

async fn fixture(pool: PgPool, threshold: i64) -> Fixture {
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

fn new_app(account_id: i64, data_center: DataCenter) -> NewApp {
    NewApp {
        account_id,
        app_name: Some(AppName::parse("demo").unwrap()),
        data_center,
        audit_type: 0,
        audit_url: String::new(),
        event_callback_url: String::new(),
        msg_life_cycle: 0,
    }
}

fn new_group(id: &str) -> NewGroup {
    NewGroup {
        group_id: GroupId::parse(id).unwrap(),
        group_name: GroupName::parse("name").unwrap(),
        group_info: GroupInfo::parse("info").unwrap(),
        creator_id: Some(UserId::parse("creator").unwrap()),
        administrators: vec![UserId::parse("admin1").unwrap()],
    }
}

fn uid(s: impl AsRef<str>) -> UserId {
    UserId::parse(s.as_ref()).unwrap()
}

fn join(user: impl AsRef<str>) -> MembershipOp {
    MembershipOp::Join {
        user_id: uid(user),
        user_info: UserInfo::parse("").unwrap(),
    }
}

impl Fixture {
    /// Sets the app's callback URL.
    async fn callbacks_to(&self, url: &str) {
        self.store
            .set_event_callback_url(self.account_id, &self.app_id, DataCenter::CnShanghai, url)
            .await
            .unwrap();
    }

    /// Joins users `u{i}` for every `i` in `users` to `group`, one by one.
    async fn join_each(&self, group: &GroupId, users: std::ops::Range<usize>) {
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

    async fn group(&self, id: &str) -> GroupId {
        self.store
            .create_group(
                self.account_id,
                &self.app_id,
                DataCenter::CnShanghai,
                new_group(id),
            )
            .await
            .unwrap();
        GroupId::parse(id).unwrap()
    }

    async fn seed(&self, group: &GroupId, users: impl IntoIterator<Item = String>) {
        let ops: Vec<_> = users.into_iter().map(join).collect();
        self.store
            .apply_to_group(&self.app_id, group, &ops)
            .await
            .unwrap();
    }

    async fn page(
        &self,
        group: &GroupId,
        sort: SortType,
        token: i64,
        size: i64,
    ) -> Result<livemsg_store::UserPage, StoreError> {
        self.store
            .list_group_users(
                self.account_id,
                &self.app_id,
                DataCenter::CnShanghai,
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
    async fn traverse(&self, group: &GroupId, sort: SortType) -> Vec<String> {
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
    async fn member_rows(&self, group: &GroupId) -> i64 {
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

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn access_keys_resolve_to_their_account_and_can_be_disabled(pool: PgPool) {
    let store = Store::new(pool, THRESHOLD, Keyring::generate());
    let account = store.create_account("acme").await.unwrap();
    let key = store
        .create_access_key(account.account_id, None)
        .await
        .unwrap();
    let resolved = store.resolve_access_key(&key.access_key_id).await.unwrap();
    assert_eq!(resolved.key, key);
    assert!(resolved.key.enabled);
    assert_eq!(resolved.key.user_name, None);
    assert!(resolved.policies.is_empty());
    assert!(!format!("{resolved:?}").contains(&key.secret));

    store
        .set_access_key_enabled(&key.access_key_id, false)
        .await
        .unwrap();
    assert!(
        !store
            .resolve_access_key(&key.access_key_id)
            .await
            .unwrap()
            .key
            .enabled
    );
    assert!(matches!(
        store.resolve_access_key("LTAInope").await,
        Err(StoreError::AccessKeyNotFound)
    ));
    assert!(matches!(
        store.create_access_key(42, None).await,
        Err(StoreError::AccountNotFound)
    ));
    store.delete_access_key(&key.access_key_id).await.unwrap();
    assert!(matches!(
        store.resolve_access_key(&key.access_key_id).await,
        Err(StoreError::AccessKeyNotFound)
    ));
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn secrets_are_encrypted_at_rest_and_survive_key_rotation(pool: PgPool) {
    let old = Keyring::new_key_base64();
    let new = Keyring::new_key_base64();
    let before = Keyring::new("old", [("old", old.as_str())]).unwrap();
    let store = Store::new(pool.clone(), THRESHOLD, before);
    let account = store.create_account("acme").await.unwrap();
    let key = store
        .create_access_key(account.account_id, None)
        .await
        .unwrap();
    // A key written before encryption existed, in plaintext.
    sqlx::query("INSERT INTO access_keys (access_key_id, account_id, secret) VALUES ('LTAIlegacy', $1, 'plainsecret')")
        .bind(account.account_id)
        .execute(&pool)
        .await
        .unwrap();

    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT secret_ciphertext FROM access_keys WHERE access_key_id = $1")
            .bind(&key.access_key_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(!stored
        .windows(key.secret.len())
        .any(|w| w == key.secret.as_bytes()));

    // Rotate: both keys configured, the new one active; re-encrypt; drop the old one.
    let both = Keyring::new("new", [("old", old.as_str()), ("new", new.as_str())]).unwrap();
    let rotating = Store::new(pool.clone(), THRESHOLD, both);
    assert_eq!(rotating.reencrypt_secrets().await.unwrap(), 2);
    assert_eq!(rotating.reencrypt_secrets().await.unwrap(), 0);
    let after = Store::new(
        pool.clone(),
        THRESHOLD,
        Keyring::new("new", [("new", new.as_str())]).unwrap(),
    );
    assert_eq!(
        after
            .resolve_access_key(&key.access_key_id)
            .await
            .unwrap()
            .key
            .secret,
        key.secret
    );
    assert_eq!(
        after
            .resolve_access_key("LTAIlegacy")
            .await
            .unwrap()
            .key
            .secret,
        "plainsecret"
    );
    let plaintext: i64 =
        sqlx::query_scalar("SELECT count(*) FROM access_keys WHERE secret IS NOT NULL")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(plaintext, 0);
    // Without the key that sealed a secret, it cannot be read.
    let stranger = Store::new(pool, THRESHOLD, Keyring::generate());
    assert!(matches!(
        stranger.resolve_access_key(&key.access_key_id).await,
        Err(StoreError::SecretKeyMissing)
    ));
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn ram_user_keys_carry_the_policies_attached_to_the_user(pool: PgPool) {
    let store = Store::new(pool, THRESHOLD, Keyring::generate());
    let account = store.create_account("acme").await.unwrap();
    let other = store.create_account("other").await.unwrap();
    let id = account.account_id;
    store.create_ram_user(id, "ops").await.unwrap();
    assert!(matches!(
        store.create_ram_user(id, "ops").await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert!(matches!(
        store.create_ram_user(id, "bad name").await,
        Err(StoreError::InvalidName(_))
    ));
    let doc =
        r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"live:List*","Resource":"*"}]}"#;
    store.create_policy(id, "list-only", doc).await.unwrap();
    let err = store
        .create_policy(
            id,
            "broken",
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"nope","Resource":"*"}]}"#,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Statement[0].Action"), "{err}");

    let key = store.create_access_key(id, Some("ops")).await.unwrap();
    assert_eq!(key.user_name.as_deref(), Some("ops"));
    assert!(store
        .resolve_access_key(&key.access_key_id)
        .await
        .unwrap()
        .policies
        .is_empty());

    store.attach_policy(id, "ops", "list-only").await.unwrap();
    store.attach_policy(id, "ops", "list-only").await.unwrap();
    let resolved = store.resolve_access_key(&key.access_key_id).await.unwrap();
    assert_eq!(resolved.policies, vec![doc.to_owned()]);
    assert_eq!(resolved.key.user_name.as_deref(), Some("ops"));

    // Another account can neither see the user nor attach its own policies to it.
    assert!(matches!(
        store.create_access_key(other.account_id, Some("ops")).await,
        Err(StoreError::RamUserNotFound)
    ));
    store
        .create_policy(other.account_id, "theirs", doc)
        .await
        .unwrap();
    assert!(matches!(
        store.attach_policy(id, "ops", "theirs").await,
        Err(StoreError::PolicyNotFound)
    ));

    store.detach_policy(id, "ops", "list-only").await.unwrap();
    assert!(store
        .resolve_access_key(&key.access_key_id)
        .await
        .unwrap()
        .policies
        .is_empty());
    assert!(matches!(
        store.detach_policy(id, "ops", "list-only").await,
        Err(StoreError::PolicyNotFound)
    ));
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn an_app_exists_only_for_its_account_and_data_center(pool: PgPool) {
    let f = fixture(pool, THRESHOLD).await;
    let other = f.store.create_account("other").await.unwrap();
    let found = f
        .store
        .find_app(f.account_id, &f.app_id, DataCenter::CnShanghai)
        .await
        .unwrap();
    assert_eq!(found.data_center, "cn-shanghai");
    assert_eq!(found.app_key.len(), 32);
    assert!(matches!(
        f.store
            .find_app(other.account_id, &f.app_id, DataCenter::CnShanghai)
            .await,
        Err(StoreError::AppNotFound)
    ));
    assert!(matches!(
        f.store
            .find_app(f.account_id, &f.app_id, DataCenter::ApSoutheast1)
            .await,
        Err(StoreError::AppNotFound)
    ));
    // Nor can the other account create or read groups in it.
    assert!(matches!(
        f.store
            .create_group(
                other.account_id,
                &f.app_id,
                DataCenter::CnShanghai,
                new_group("g1")
            )
            .await,
        Err(StoreError::AppNotFound)
    ));
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn creating_a_group_twice_reports_that_it_exists(pool: PgPool) {
    let f = fixture(pool, THRESHOLD).await;
    let first = f
        .store
        .create_group(
            f.account_id,
            &f.app_id,
            DataCenter::CnShanghai,
            new_group("g1"),
        )
        .await
        .unwrap();
    assert!(!first.already_exists);
    let second = f
        .store
        .create_group(
            f.account_id,
            &f.app_id,
            DataCenter::CnShanghai,
            new_group("g1"),
        )
        .await
        .unwrap();
    assert!(second.already_exists);
    assert!(!second.already_deleted);

    let group = f
        .store
        .describe_group(
            f.account_id,
            &f.app_id,
            DataCenter::CnShanghai,
            &GroupId::parse("g1").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(group.group_name, "name");
    assert_eq!(group.creator_id, "creator");
    assert_eq!(group.admin_list, vec!["admin1".to_owned()]);
    assert_eq!(group.state.0, GroupState::Normal);
    assert!(matches!(
        f.store
            .describe_group(
                f.account_id,
                &f.app_id,
                DataCenter::CnShanghai,
                &GroupId::parse("nope").unwrap()
            )
            .await,
        Err(StoreError::GroupNotFound)
    ));
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn joins_and_leaves_are_idempotent_and_the_count_exact(pool: PgPool) {
    let f = fixture(pool, THRESHOLD).await;
    let g = f.group("g1").await;
    let info = |s: &str| UserInfo::parse(s).unwrap();

    let first = f
        .store
        .join_group(&f.app_id, &g, &uid("alice"), &info("a1"))
        .await
        .unwrap();
    assert!(first.changed);
    assert_eq!(first.member_count, 1);
    f.store
        .join_group(&f.app_id, &g, &uid("bob"), &info("b"))
        .await
        .unwrap();
    // Joining again changes nothing but the user info; alice keeps her place.
    let again = f
        .store
        .join_group(&f.app_id, &g, &uid("alice"), &info("a2"))
        .await
        .unwrap();
    assert!(!again.changed);
    assert_eq!(again.member_count, 2);
    let page = f.page(&g, SortType::Ascending, 0, 10).await.unwrap();
    assert_eq!(
        page.users,
        vec![
            ("alice".to_owned(), "a2".to_owned()),
            ("bob".to_owned(), "b".to_owned())
        ]
    );

    let gone = f
        .store
        .leave_group(&f.app_id, &g, &uid("carol"))
        .await
        .unwrap();
    assert!(!gone.changed);
    assert_eq!(gone.member_count, 2);
    f.store
        .leave_group(&f.app_id, &g, &uid("bob"))
        .await
        .unwrap();
    let twice = f
        .store
        .leave_group(&f.app_id, &g, &uid("bob"))
        .await
        .unwrap();
    assert!(!twice.changed);
    assert_eq!(twice.member_count, 1);
    assert_eq!(f.store.group_count(&f.app_id, &g).await.unwrap().0, 1);

    assert!(matches!(
        f.store
            .join_group(
                &f.app_id,
                &GroupId::parse("nope").unwrap(),
                &uid("x"),
                &info("")
            )
            .await,
        Err(StoreError::GroupNotFound)
    ));
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn pages_follow_join_order_both_ways_and_end_with_token_zero(pool: PgPool) {
    let f = fixture(pool, THRESHOLD).await;
    let g = f.group("g1").await;
    let users: Vec<String> = (0..25).map(|i| format!("user{i:02}")).collect();
    f.seed(&g, users.clone()).await;

    let first = f.page(&g, SortType::Ascending, 0, 10).await.unwrap();
    assert_eq!(first.users.len(), 10);
    assert_ne!(first.next_page_token(), 0);
    assert_eq!(f.traverse(&g, SortType::Ascending).await, users);
    let mut reversed = users.clone();
    reversed.reverse();
    assert_eq!(f.traverse(&g, SortType::Descending).await, reversed);

    // A page that ends exactly at the last user says there is no more.
    let all = f.page(&g, SortType::Ascending, 0, 25).await.unwrap();
    assert_eq!(all.users.len(), 25);
    assert_eq!(all.next_page_token(), 0);

    // An empty group lists nothing.
    let empty = f.group("g2").await;
    let page = f.page(&empty, SortType::Descending, 0, 10).await.unwrap();
    assert!(page.users.is_empty());
    assert_eq!(page.next_page_token(), 0);
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_super_group_clears_its_list_keeps_its_count_and_reopens_normal(pool: PgPool) {
    let f = fixture(pool, 20).await;
    let g = f.group("g1").await;
    f.seed(&g, (0..20).map(|i| format!("u{i}"))).await;
    assert_eq!(f.traverse(&g, SortType::Ascending).await.len(), 20);

    let upgrade = f
        .store
        .join_group(&f.app_id, &g, &uid("u20"), &UserInfo::default())
        .await
        .unwrap();
    assert!(upgrade.became_super());
    assert_eq!(upgrade.member_count, 21);
    assert!(matches!(
        f.page(&g, SortType::Ascending, 0, 10).await,
        Err(StoreError::SuperGroup)
    ));
    let listed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM group_members WHERE position IS NOT NULL OR user_info IS NOT NULL",
    )
    .fetch_one(f.store.pool())
    .await
    .unwrap();
    assert_eq!(listed, 0, "the join-ordered list is cleared on upgrade");

    // Still idempotent and exact while super, even below the threshold.
    let again = f
        .store
        .join_group(&f.app_id, &g, &uid("u3"), &UserInfo::default())
        .await
        .unwrap();
    assert!(!again.changed);
    let leaves: Vec<_> = (0..15)
        .map(|i| MembershipOp::Leave {
            user_id: uid(format!("u{i}")),
        })
        .collect();
    f.store
        .apply_to_group(&f.app_id, &g, &leaves)
        .await
        .unwrap();
    assert_eq!(
        f.store.group_count(&f.app_id, &g).await.unwrap(),
        (6, GroupState::Super)
    );

    // Everyone leaves: the group closes; the next join reopens it as a normal group.
    let rest: Vec<_> = (15..=20)
        .map(|i| MembershipOp::Leave {
            user_id: uid(format!("u{i}")),
        })
        .collect();
    let changes = f.store.apply_to_group(&f.app_id, &g, &rest).await.unwrap();
    assert_eq!(changes.last().unwrap().after, GroupState::Closed);
    let closed_page = f.page(&g, SortType::Ascending, 0, 10).await.unwrap();
    assert!(closed_page.users.is_empty());

    let reopen = f
        .store
        .join_group(&f.app_id, &g, &uid("newcomer"), &UserInfo::default())
        .await
        .unwrap();
    assert_eq!(
        (reopen.before, reopen.after),
        (GroupState::Closed, GroupState::Normal)
    );
    assert_eq!(f.traverse(&g, SortType::Ascending).await, vec!["newcomer"]);
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn racing_joins_at_the_threshold_flip_the_group_once_with_an_exact_count(pool: PgPool) {
    let f = fixture(pool, THRESHOLD).await;
    let g = f.group("hot").await;
    f.seed(&g, (0..1_950).map(|i| format!("seed{i}"))).await;

    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = f.store.clone();
        let (app, group) = (f.app_id.clone(), g.clone());
        tasks.push(tokio::spawn(async move {
            store
                .join_group(
                    &app,
                    &group,
                    &uid(format!("racer{i}")),
                    &UserInfo::default(),
                )
                .await
                .unwrap()
        }));
    }
    let mut flips = 0;
    for task in tasks {
        if task.await.unwrap().became_super() {
            flips += 1;
        }
    }
    assert_eq!(flips, 1, "exactly one join turns the group super");
    assert_eq!(
        f.store.group_count(&f.app_id, &g).await.unwrap(),
        (2_150, GroupState::Super)
    );
    assert_eq!(f.member_rows(&g).await, 2_150);
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn concurrent_churn_never_lets_the_count_drift(pool: PgPool) {
    let f = fixture(pool, THRESHOLD).await;
    let g = f.group("churn").await;
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let store = f.store.clone();
        let (app, group) = (f.app_id.clone(), g.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..40 {
                // Workers share user ids so joins and leaves of one user race each other.
                let user = uid(format!("u{}", (i * 7 + worker) % 30));
                if (i + worker) % 3 == 0 {
                    store.leave_group(&app, &group, &user).await.unwrap();
                } else {
                    store
                        .join_group(&app, &group, &user, &UserInfo::default())
                        .await
                        .unwrap();
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let (count, _) = f.store.group_count(&f.app_id, &g).await.unwrap();
    assert_eq!(count, f.member_rows(&g).await);
    assert_eq!(
        count as usize,
        f.traverse(&g, SortType::Ascending).await.len()
    );
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn pagination_under_churn_returns_every_steady_member_exactly_once(pool: PgPool) {
    let f = fixture(pool, THRESHOLD).await;
    let g = f.group("busy").await;
    // Steady members stay throughout; transient ones come and go between (and during) pages.
    let mut seed = Vec::new();
    for i in 0..150 {
        seed.push(format!("steady{i}"));
        seed.push(format!("temp{i}"));
    }
    f.seed(&g, seed).await;
    let steady: HashSet<String> = (0..150).map(|i| format!("steady{i}")).collect();

    for sort in [SortType::Ascending, SortType::Descending] {
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let churn = {
            let store = f.store.clone();
            let (app, group) = (f.app_id.clone(), g.clone());
            tokio::spawn(async move {
                let mut round = 0u32;
                loop {
                    if stop_rx.try_recv().is_ok() {
                        return round;
                    }
                    let i = round % 150;
                    let ops = vec![
                        MembershipOp::Leave {
                            user_id: uid(format!("temp{i}")),
                        },
                        join(format!("new{round}")),
                        join(format!("temp{i}")),
                    ];
                    store.apply_to_group(&app, &group, &ops).await.unwrap();
                    round += 1;
                }
            })
        };
        let mut seen: HashMap<String, u32> = HashMap::new();
        let mut token = 0;
        loop {
            let page = f.page(&g, sort, token, 10).await.unwrap();
            for (user, _) in &page.users {
                *seen.entry(user.clone()).or_default() += 1;
            }
            token = page.next_page_token();
            if token == 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
        stop_tx.send(()).unwrap();
        let rounds = churn.await.unwrap();
        assert!(rounds > 0, "the churn ran during the traversal");
        for user in &steady {
            assert_eq!(seen.get(user), Some(&1), "{user} in {sort:?}");
        }
        // A transient member may show up twice (it left and rejoined at a new position);
        // only members present throughout are promised exactly one appearance.
    }
}

fn kinds(events: &[livemsg_store::GroupEvent]) -> Vec<livemsg_domain::events::EventKind> {
    events.iter().map(|e| e.kind).collect()
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn membership_changes_write_numbered_events_with_the_count(pool: PgPool) {
    use livemsg_domain::events::EventKind::*;
    let f = fixture(pool, 3).await;
    let g = f.group("g").await;
    let info = |s: &str| UserInfo::parse(s).unwrap();
    f.store
        .join_group(&f.app_id, &g, &uid("a"), &info("ia"))
        .await
        .unwrap();
    f.store
        .join_group(&f.app_id, &g, &uid("a"), &info("again"))
        .await
        .unwrap(); // no change: no event
    f.store
        .join_group(&f.app_id, &g, &uid("b"), &info(""))
        .await
        .unwrap();
    f.store.leave_group(&f.app_id, &g, &uid("a")).await.unwrap();
    f.store
        .leave_group(&f.app_id, &g, &uid("zz"))
        .await
        .unwrap(); // no change
    let events = f.store.group_events(&f.app_id, &g, 1, 100).await.unwrap();
    assert_eq!(kinds(&events), [UserEntered, UserEntered, UserLeft]);
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(
        events.iter().map(|e| e.member_count).collect::<Vec<_>>(),
        [1, 2, 1]
    );
    assert_eq!(events[0].user_id.as_deref(), Some("a"));
    assert_eq!(events[0].user_info.as_deref(), Some("ia"));
    assert_eq!(events[2].user_info, None);

    // Past the threshold (3): the upgrade is an event, the users of a super group are not.
    f.seed(&g, ["c", "d", "e", "f"].map(String::from)).await;
    f.store.leave_group(&f.app_id, &g, &uid("c")).await.unwrap();
    let events = f.store.group_events(&f.app_id, &g, 4, 100).await.unwrap();
    assert_eq!(kinds(&events), [UserEntered, UserEntered, BecameSuper]);
    assert_eq!(events[2].member_count, 4);
    assert_eq!(events[2].user_id, None);

    // Everyone leaves, then someone comes back.
    let rest: Vec<_> = ["b", "d", "e", "f"]
        .iter()
        .map(|u| MembershipOp::Leave { user_id: uid(u) })
        .collect();
    f.store.apply_to_group(&f.app_id, &g, &rest).await.unwrap();
    f.store
        .join_group(&f.app_id, &g, &uid("back"), &info(""))
        .await
        .unwrap();
    let events = f.store.group_events(&f.app_id, &g, 7, 100).await.unwrap();
    assert_eq!(kinds(&events), [Closed, Reopened, UserEntered]);
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [7, 8, 9]);
    assert_eq!(events.last().unwrap().member_count, 1);
    // Reading from a later position resumes there.
    let tail = f.store.group_events(&f.app_id, &g, 9, 100).await.unwrap();
    assert_eq!(tail.len(), 1);
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_change_that_rolls_back_leaves_no_event(pool: PgPool) {
    let f = fixture(pool.clone(), THRESHOLD).await;
    let g = f.group("g").await;
    // A trigger of this test's own makes one insert fail, mid-transaction.
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF NEW.user_id = 'boom' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$;
         CREATE TRIGGER refuse_boom BEFORE INSERT ON group_members
         FOR EACH ROW EXECUTE FUNCTION refuse_boom();",
    )
    .execute(&pool)
    .await
    .unwrap();
    let ops = vec![join("ok1"), join("boom")];
    assert!(f.store.apply_to_group(&f.app_id, &g, &ops).await.is_err());
    assert!(f
        .store
        .group_events(&f.app_id, &g, 1, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(f.member_rows(&g).await, 0);
    f.store
        .apply_to_group(&f.app_id, &g, &[join("ok2")])
        .await
        .unwrap();
    let events = f.store.group_events(&f.app_id, &g, 1, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].seq, 1, "no gap where the rolled-back change was");
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn racing_joins_number_their_events_without_gaps(pool: PgPool) {
    let f = fixture(pool, THRESHOLD).await;
    let g = f.group("hot").await;
    let mut tasks = Vec::new();
    for i in 0..100 {
        let store = f.store.clone();
        let (app, group) = (f.app_id.clone(), g.clone());
        tasks.push(tokio::spawn(async move {
            store
                .join_group(&app, &group, &uid(format!("u{i}")), &UserInfo::default())
                .await
                .unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let events = f.store.group_events(&f.app_id, &g, 1, 1_000).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=100).collect::<Vec<_>>()
    );
    // Counts rise by one with each event: each saw the count its own change left.
    assert_eq!(
        events.iter().map(|e| e.member_count).collect::<Vec<_>>(),
        (1..=100).collect::<Vec<_>>()
    );
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn super_groups_report_their_count_once_per_interval_and_only_when_it_changed(pool: PgPool) {
    use livemsg_domain::events::EventKind::*;
    use std::time::Duration;
    let f = fixture(pool, 3).await;
    let g = f.group("g").await;
    let normal = f.group("n").await;
    f.seed(&normal, ["x".to_owned()]).await;
    f.seed(&g, (0..4).map(|i| format!("u{i}"))).await; // becomes super at the 4th
    let counts = |events: Vec<livemsg_store::GroupEvent>| -> Vec<i64> {
        events
            .into_iter()
            .filter(|e| e.kind == MemberCount)
            .map(|e| e.member_count)
            .collect()
    };

    // The upgrade's own event carried the count: nothing new to report.
    assert_eq!(
        f.store
            .report_super_group_counts(Duration::ZERO)
            .await
            .unwrap(),
        0
    );
    f.seed(&g, (4..9).map(|i| format!("u{i}"))).await;
    assert_eq!(
        f.store
            .report_super_group_counts(Duration::ZERO)
            .await
            .unwrap(),
        1
    );
    // No change since: no report.
    assert_eq!(
        f.store
            .report_super_group_counts(Duration::ZERO)
            .await
            .unwrap(),
        0
    );
    // A change within the interval waits for it.
    f.seed(&g, ["late".to_owned()]).await;
    assert_eq!(
        f.store
            .report_super_group_counts(Duration::from_secs(3600))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        f.store
            .report_super_group_counts(Duration::ZERO)
            .await
            .unwrap(),
        1
    );

    let events = f.store.group_events(&f.app_id, &g, 1, 100).await.unwrap();
    assert_eq!(counts(events.clone()), [9, 10]);
    // No per-user events while super, and the numbering stays gapless.
    assert!(events
        .iter()
        .all(|e| e.kind != UserEntered || e.member_count <= 3));
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
    // Normal groups are never reported this way.
    let normal_events = f
        .store
        .group_events(&f.app_id, &normal, 1, 100)
        .await
        .unwrap();
    assert!(counts(normal_events).is_empty());

    // Several reporters at once (several service instances): one report, not one each.
    f.seed(&g, ["more".to_owned()]).await;
    let (a, b) = tokio::join!(
        f.store.report_super_group_counts(Duration::from_millis(1)),
        f.store.report_super_group_counts(Duration::from_millis(1)),
    );
    assert_eq!(a.unwrap() + b.unwrap(), 1);
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn logoff_takes_a_user_offline_and_out_of_every_group(pool: PgPool) {
    use livemsg_domain::events::EventKind::*;
    let f = fixture(pool, 3).await;
    let (a, b, big) = (f.group("a").await, f.group("b").await, f.group("big").await);
    f.seed(&a, ["viewer".to_owned(), "other".to_owned()]).await;
    f.seed(&b, ["viewer".to_owned()]).await;
    f.seed(&big, ["viewer", "p", "q", "r"].map(String::from))
        .await; // super
    let ids = vec!["viewer".to_owned(), "nobody".to_owned()];
    let online = |f: &Fixture| {
        let (store, account, app, ids) =
            (f.store.clone(), f.account_id, f.app_id.clone(), ids.clone());
        async move {
            store
                .online_among(account, &app, DataCenter::CnShanghai, &ids)
                .await
                .unwrap()
        }
    };
    assert!(online(&f).await.is_empty());
    f.store
        .logon(&f.app_id, &uid("viewer"), "s1")
        .await
        .unwrap();
    assert_eq!(online(&f).await.into_iter().collect::<Vec<_>>(), ["viewer"]);

    let left = f
        .store
        .logoff(&f.app_id, &uid("viewer"), "s1", 1)
        .await
        .unwrap();
    assert_eq!(left, ["a", "b", "big"]);
    assert!(online(&f).await.is_empty());
    assert_eq!(f.store.group_count(&f.app_id, &a).await.unwrap().0, 1);
    assert_eq!(
        f.store.group_count(&f.app_id, &big).await.unwrap(),
        (3, GroupState::Super)
    );
    // The leaves have their events: a user left a, and b closed.
    let a_events = f.store.group_events(&f.app_id, &a, 1, 10).await.unwrap();
    assert_eq!(kinds(&a_events).last(), Some(&UserLeft));
    let b_events = f.store.group_events(&f.app_id, &b, 1, 10).await.unwrap();
    assert_eq!(kinds(&b_events)[1..], [UserLeft, Closed]);
    // Logging off again changes nothing.
    assert!(f
        .store
        .logoff(&f.app_id, &uid("viewer"), "s1", 1)
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        f.store
            .logon(&AppId::parse("nosuchapp").unwrap(), &uid("x"), "")
            .await,
        Err(StoreError::AppNotFound)
    ));
}

/// Numbers everything waiting, from two sequencers at once, until nothing is left.
async fn sequence_all(store: &Store) {
    loop {
        let (a, b) = tokio::join!(store.sequence_events(64, 7), store.sequence_events(64, 7));
        if a.unwrap() + b.unwrap() == 0 {
            break;
        }
    }
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn the_app_stream_numbers_every_event_once_and_keeps_each_groups_order(pool: PgPool) {
    use livemsg_domain::events::EventKind::*;
    let f = fixture(pool, THRESHOLD).await;
    let (a, b) = (f.group("a").await, f.group("b").await);
    f.store
        .logon(&f.app_id, &uid("first"), "s-1")
        .await
        .unwrap();
    // Sequencers run while 60 changes race over two groups.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sequencer = {
        let (store, stop) = (f.store.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                store.sequence_events(64, 5).await.unwrap();
            }
        })
    };
    let mut tasks = Vec::new();
    for i in 0..30 {
        for group in [&a, &b] {
            let (store, app, group) = (f.store.clone(), f.app_id.clone(), group.clone());
            tasks.push(tokio::spawn(async move {
                let user = uid(format!("u{i}"));
                store
                    .join_group(&app, &group, &user, &UserInfo::parse("").unwrap())
                    .await
                    .unwrap();
                if i % 3 == 0 {
                    store.leave_group(&app, &group, &user).await.unwrap();
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    f.store
        .logoff(&f.app_id, &uid("first"), "s-1", 3)
        .await
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    sequencer.await.unwrap();
    sequence_all(&f.store).await;

    let events = f.store.app_events(&f.app_id, 1, 1_000).await.unwrap();
    // 60 joins and 20 leaves, a logon and a logoff: each once, numbered 1..=82.
    assert_eq!(events.len(), 82);
    assert_eq!(
        events.iter().map(|e| e.app_seq).collect::<Vec<_>>(),
        (1..=82).collect::<Vec<_>>()
    );
    assert_eq!(
        (events[0].kind, events[0].session_id.as_deref()),
        (Logon, Some("s-1"))
    );
    let last = events.last().unwrap();
    assert_eq!(
        (last.kind, last.reason, last.member_count),
        (Logoff, Some(3), None)
    );
    // Each group's events appear in its own order, all of them.
    for group in ["a", "b"] {
        let seqs: Vec<i64> = events
            .iter()
            .filter(|e| e.group_id.as_deref() == Some(group))
            .map(|e| e.seq.unwrap())
            .collect();
        assert_eq!(seqs, (1..=40).collect::<Vec<_>>(), "group {group}");
    }
    // Reading from the middle resumes exactly there.
    let tail = f.store.app_events(&f.app_id, 80, 10).await.unwrap();
    assert_eq!(
        tail.iter().map(|e| e.app_seq).collect::<Vec<_>>(),
        [80, 81, 82]
    );
    // Nothing is numbered twice.
    assert_eq!(f.store.sequence_events(64, 100).await.unwrap(), 0);
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_callback_batch_is_leased_retried_under_one_id_and_given_up_after_the_window(
    pool: PgPool,
) {
    use livemsg_store::FailedBatch;
    use std::time::Duration;
    let f = fixture(pool, THRESHOLD).await;
    let g = f.group("g").await;
    let lease = Duration::from_secs(30);
    // No URL: nothing to deliver.
    f.store
        .join_group(&f.app_id, &g, &uid("before"), &UserInfo::parse("").unwrap())
        .await
        .unwrap();
    sequence_all(&f.store).await;
    assert!(f
        .store
        .claim_callback_streams("A", lease, 10)
        .await
        .unwrap()
        .is_empty());
    // Turning callbacks on starts from now: the earlier event is not sent.
    f.callbacks_to("https://example.com/cb").await;
    f.join_each(&g, 0..5).await;
    sequence_all(&f.store).await;
    let claimed = f
        .store
        .claim_callback_streams("A", lease, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].url, "https://example.com/cb");
    assert!(!claimed[0].app_key.is_empty());
    // Another instance finds it leased.
    assert!(f
        .store
        .claim_callback_streams("B", lease, 10)
        .await
        .unwrap()
        .is_empty());

    let app = f.app_id.as_str();
    let first = f
        .store
        .next_callback_batch(app, "A", lease, 3)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        first.events.iter().map(|e| e.app_seq).collect::<Vec<_>>(),
        [2, 3, 4]
    );
    assert_eq!(first.end, 4);
    // B holds no lease: it gets nothing and can record nothing.
    assert!(f
        .store
        .next_callback_batch(app, "B", lease, 3)
        .await
        .unwrap()
        .is_none());
    assert!(!f.store.callback_batch_delivered(app, "B", 4).await.unwrap());
    // The send fails: retry, which lets the lease go.
    let failed = f
        .store
        .callback_batch_failed(app, "A", Duration::ZERO, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(failed, FailedBatch::Retry { attempts: 1 });
    // B takes over and gets the same batch under the same id, even with a larger limit.
    let claimed = f
        .store
        .claim_callback_streams("B", lease, 10)
        .await
        .unwrap();
    assert_eq!(claimed[0].attempts, 1);
    assert!(claimed[0].failing_since.is_some());
    let again = f
        .store
        .next_callback_batch(app, "B", lease, 100)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again, first);
    assert!(f.store.callback_batch_delivered(app, "B", 4).await.unwrap());
    // Then the rest, under a new id.
    let rest = f
        .store
        .next_callback_batch(app, "B", lease, 100)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        rest.events.iter().map(|e| e.app_seq).collect::<Vec<_>>(),
        [5, 6]
    );
    assert_ne!(rest.transaction_id, first.transaction_id);
    assert_eq!(rest.transaction_id.len(), 36);
    // Failing for longer than the window gives everything waiting up.
    let failed = f
        .store
        .callback_batch_failed(app, "B", Duration::ZERO, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(failed, FailedBatch::Retry { attempts: 1 });
    f.store
        .claim_callback_streams("B", lease, 10)
        .await
        .unwrap();
    f.store
        .next_callback_batch(app, "B", lease, 100)
        .await
        .unwrap()
        .unwrap();
    let failed = f
        .store
        .callback_batch_failed(app, "B", Duration::ZERO, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(failed, FailedBatch::GaveUp { dropped: 2 });
    assert!(f
        .store
        .claim_callback_streams("B", lease, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(f.store.callback_backlog().await.unwrap(), 0);
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn retention_keeps_what_waits_for_its_callback(pool: PgPool) {
    use std::time::Duration;
    let f = fixture(pool, THRESHOLD).await;
    let g = f.group("g").await;
    let lease = Duration::from_secs(30);
    f.callbacks_to("https://example.com/cb").await;
    f.join_each(&g, 0..4).await;
    f.store
        .logon(&f.app_id, &uid("unsequenced"), "")
        .await
        .unwrap();
    // Two delivered, two waiting, one not yet numbered.
    f.store.sequence_events(64, 4).await.unwrap();
    f.store
        .claim_callback_streams("A", lease, 10)
        .await
        .unwrap();
    let batch = f
        .store
        .next_callback_batch(f.app_id.as_str(), "A", lease, 2)
        .await
        .unwrap()
        .unwrap();
    assert!(f
        .store
        .callback_batch_delivered(f.app_id.as_str(), "A", batch.end)
        .await
        .unwrap());
    assert_eq!(f.store.callback_backlog().await.unwrap(), 2);

    assert_eq!(f.store.prune_events(Duration::ZERO, 100).await.unwrap(), 2);
    let kept = f.store.group_events(&f.app_id, &g, 1, 100).await.unwrap();
    assert_eq!(kept.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4]);
    // A young event is kept whatever its state.
    assert_eq!(
        f.store
            .prune_events(Duration::from_secs(3600), 100)
            .await
            .unwrap(),
        0
    );
    // Without a callback URL nothing waits: numbered events go.
    f.callbacks_to("").await;
    sequence_all(&f.store).await;
    assert_eq!(f.store.prune_events(Duration::ZERO, 100).await.unwrap(), 3);
    assert!(f
        .store
        .app_events(&f.app_id, 1, 100)
        .await
        .unwrap()
        .is_empty());
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn one_transaction_applies_several_groups_and_isolates_a_missing_one(pool: PgPool) {
    use livemsg_domain::events::EventKind::*;
    use livemsg_store::GroupOps;
    let f = fixture(pool, THRESHOLD).await;
    let (a, b) = (f.group("a").await, f.group("b").await);
    let nope = GroupId::parse("nope").unwrap();
    let a_ops = [join("x"), join("y")];
    let nope_ops = [join("z")];
    let b_ops = [join("x"), MembershipOp::Leave { user_id: uid("x") }];
    let results = f
        .store
        .apply_to_groups(&[
            GroupOps {
                app_id: &f.app_id,
                group_id: &a,
                ops: &a_ops,
            },
            GroupOps {
                app_id: &f.app_id,
                group_id: &nope,
                ops: &nope_ops,
            },
            GroupOps {
                app_id: &f.app_id,
                group_id: &b,
                ops: &b_ops,
            },
        ])
        .await
        .unwrap();
    let counts = |r: &Result<Vec<livemsg_domain::MembershipChange>, StoreError>| {
        r.as_ref()
            .unwrap()
            .iter()
            .map(|c| c.member_count)
            .collect::<Vec<_>>()
    };
    assert_eq!(counts(&results[0]), [1, 2]);
    assert!(matches!(results[1], Err(StoreError::GroupNotFound)));
    assert_eq!(counts(&results[2]), [1, 0]);
    assert_eq!(
        f.store.group_count(&f.app_id, &a).await.unwrap(),
        (2, GroupState::Normal)
    );
    assert_eq!(
        f.store.group_count(&f.app_id, &b).await.unwrap(),
        (0, GroupState::Closed)
    );
    let a_events = f.store.group_events(&f.app_id, &a, 1, 10).await.unwrap();
    assert_eq!(kinds(&a_events), [UserEntered, UserEntered]);
    let b_events = f.store.group_events(&f.app_id, &b, 1, 10).await.unwrap();
    assert_eq!(kinds(&b_events), [UserEntered, UserLeft, Closed]);
    assert_eq!(
        b_events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2, 3]
    );
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn overlapping_batches_in_any_order_neither_deadlock_nor_miscount(pool: PgPool) {
    use livemsg_store::GroupOps;
    let f = fixture(pool, THRESHOLD).await;
    let mut groups = Vec::new();
    for i in 0..5 {
        groups.push(f.group(&format!("g{i}")).await);
    }
    let mut tasks = Vec::new();
    for i in 0..60usize {
        let (store, app, groups) = (f.store.clone(), f.app_id.clone(), groups.clone());
        tasks.push(tokio::spawn(async move {
            // Each batch touches two groups, named in either order.
            let (first, second) = (i % 5, (i + 1) % 5);
            let (first, second) = if i % 2 == 0 {
                (first, second)
            } else {
                (second, first)
            };
            let ops = [join(format!("u{i}"))];
            let results = store
                .apply_to_groups(&[
                    GroupOps {
                        app_id: &app,
                        group_id: &groups[first],
                        ops: &ops,
                    },
                    GroupOps {
                        app_id: &app,
                        group_id: &groups[second],
                        ops: &ops,
                    },
                ])
                .await
                .unwrap();
            assert!(results.iter().all(Result::is_ok));
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    for group in &groups {
        let (count, _) = f.store.group_count(&f.app_id, group).await.unwrap();
        assert_eq!(count, 24, "{group}: every batch naming it counted once");
        let events = f
            .store
            .group_events(&f.app_id, group, 1, 100)
            .await
            .unwrap();
        assert_eq!(
            events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (1..=24).collect::<Vec<_>>()
        );
    }
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_batch_that_touches_a_user_several_times_ends_as_if_applied_one_by_one(pool: PgPool) {
    let f = fixture(pool, THRESHOLD).await;
    let g = f.group("g").await;
    let with = |user: &str, info: &str| MembershipOp::Join {
        user_id: uid(user),
        user_info: UserInfo::parse(info).unwrap(),
    };
    let leave = |user: &str| MembershipOp::Leave { user_id: uid(user) };
    // x and y are members from before.
    f.store
        .apply_to_group(&f.app_id, &g, &[with("x", "x1"), with("y", "y1")])
        .await
        .unwrap();
    let changes = f
        .store
        .apply_to_group(
            &f.app_id,
            &g,
            &[
                with("a", "a1"),
                with("b", "b1"),
                with("a", "a2"), // repeated: new info, same position
                leave("b"),
                with("b", "b2"), // rejoined: a new position
                leave("c"),      // not a member: nothing
                with("x", "x2"), // member from before: new info, same position
                leave("y"),
                with("y", "y2"), // member from before, rejoined: a new position
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        changes
            .iter()
            .map(|c| (c.changed, c.member_count))
            .collect::<Vec<_>>(),
        [
            (true, 3),
            (true, 4),
            (false, 4),
            (true, 3),
            (true, 4),
            (false, 4),
            (false, 4),
            (true, 3),
            (true, 4)
        ]
    );
    let page = f
        .store
        .list_group_users(
            f.account_id,
            &f.app_id,
            DataCenter::CnShanghai,
            &g,
            PageRequest {
                size: PageSize::new(10).unwrap(),
                sort: SortType::Ascending,
                token: PageToken::START,
            },
        )
        .await
        .unwrap();
    let users: Vec<(&str, &str)> = page
        .users
        .iter()
        .map(|(u, i)| (u.as_str(), i.as_str()))
        .collect();
    assert_eq!(users, [("x", "x2"), ("a", "a2"), ("b", "b2"), ("y", "y2")]);
    assert_eq!(f.store.group_count(&f.app_id, &g).await.unwrap().0, 4);
}
