//! A disabled app: no logon, join or change of its groups; its users logged off and its groups
//! emptied by the sweep; readable throughout; enabled again.

use livemsg_domain::events::EventKind::{self, *};
use livemsg_store::{AppEvent, GroupChanges, LOGOFF_APP_DISABLED};

use crate::helpers::*;

async fn app_events(f: &Fixture) -> Vec<AppEvent> {
    f.store.app_events(&f.app_id, 1, 10_000).await.unwrap()
}

fn app_kinds(events: &[AppEvent]) -> Vec<EventKind> {
    events.iter().map(|e| e.kind).collect()
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_disabled_app_refuses_logons_joins_and_changes_but_stays_readable(pool: PgPool) {
    let f = fixture(pool, THRESHOLD).await;
    let g = f.group("g").await;
    f.seed(&g, ["member".to_owned()]).await;
    let app = f
        .store
        .set_app_disabled(&f.scope(), Some(true))
        .await
        .unwrap();
    assert!(app.disabled);
    assert_eq!(app_kinds(&app_events(&f).await).last(), Some(&AppDisabled));

    assert!(matches!(
        f.store.logon(&f.app_id, &uid("v"), "s").await,
        Err(StoreError::AppDisabled)
    ));
    assert!(matches!(
        f.store.apply_one(&f.app_id, &g, join("v")).await,
        Err(StoreError::AppDisabled)
    ));
    assert!(matches!(
        f.store.create_group(&f.scope(), new_group("h")).await,
        Err(StoreError::AppDisabled)
    ));
    assert!(matches!(
        f.store
            .modify_group(&f.scope(), &g, GroupChanges::default())
            .await,
        Err(StoreError::AppDisabled)
    ));
    assert!(matches!(
        f.store.delete_group(&f.scope(), &g, None).await,
        Err(StoreError::AppDisabled)
    ));
    assert!(matches!(
        f.store
            .modify_user_info(&f.scope(), &uid("member"), &UserInfo::parse("x").unwrap())
            .await,
        Err(StoreError::AppDisabled)
    ));
    // Leaving and reading still work.
    assert!(f.store.find_app(&f.scope()).await.unwrap().disabled);
    assert!(
        !f.store
            .describe_group(&f.scope(), &g)
            .await
            .unwrap()
            .deleted
    );
    let left = f
        .store
        .apply_one(
            &f.app_id,
            &g,
            MembershipOp::Leave {
                user_id: uid("member"),
            },
        )
        .await
        .unwrap();
    assert!(left.changed);

    // Disabling again, or asking for no change, writes nothing.
    let before = app_events(&f).await.len();
    f.store
        .set_app_disabled(&f.scope(), Some(true))
        .await
        .unwrap();
    assert!(
        f.store
            .set_app_disabled(&f.scope(), None)
            .await
            .unwrap()
            .disabled
    );
    assert_eq!(app_events(&f).await.len(), before);

    let app = f
        .store
        .set_app_disabled(&f.scope(), Some(false))
        .await
        .unwrap();
    assert!(!app.disabled);
    assert_eq!(app_kinds(&app_events(&f).await).last(), Some(&AppEnabled));
    f.store.logon(&f.app_id, &uid("v"), "s").await.unwrap();
    assert!(
        f.store
            .apply_one(&f.app_id, &g, join("v"))
            .await
            .unwrap()
            .changed
    );
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn the_sweep_logs_users_off_and_empties_groups_once(pool: PgPool) {
    let f = fixture(pool, 3).await;
    let (a, b, big) = (f.group("a").await, f.group("b").await, f.group("big").await);
    f.store.logon(&f.app_id, &uid("v1"), "s1").await.unwrap();
    f.store.logon(&f.app_id, &uid("v2"), "s2").await.unwrap();
    f.seed(&a, ["v1".to_owned(), "v2".to_owned()]).await;
    f.seed(&b, ["v1".to_owned()]).await;
    f.seed(&big, (0..5).map(|i| format!("u{i}"))).await; // super
    assert!(f.store.disabled_apps_to_sweep(10).await.unwrap().is_empty());
    assert_eq!(
        f.store.sweep_disabled_app(&f.app_id, 100).await.unwrap(),
        Default::default(),
        "an enabled app is left alone"
    );

    f.store
        .set_app_disabled(&f.scope(), Some(true))
        .await
        .unwrap();
    let due = f.store.disabled_apps_to_sweep(10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0], f.app_id);
    let before = app_events(&f).await.len();
    // Two sweepers at once, in small steps: every user logged off once, every group emptied.
    loop {
        let (x, y) = tokio::join!(
            f.store.sweep_disabled_app(&f.app_id, 1),
            f.store.sweep_disabled_app(&f.app_id, 1)
        );
        if !x.unwrap().did_work() && !y.unwrap().did_work() {
            break;
        }
    }
    assert!(f.store.disabled_apps_to_sweep(10).await.unwrap().is_empty());
    let events = app_events(&f).await;
    let logoffs: Vec<_> = events[before..]
        .iter()
        .filter(|e| e.kind == Logoff)
        .map(|e| (e.user_id.clone().unwrap(), e.reason))
        .collect();
    assert_eq!(
        logoffs,
        [
            ("v1".to_owned(), Some(LOGOFF_APP_DISABLED)),
            ("v2".to_owned(), Some(LOGOFF_APP_DISABLED))
        ]
    );
    let mut leaves: Vec<_> = events[before..]
        .iter()
        .filter(|e| e.kind == UserLeft)
        .map(|e| (e.group_id.clone().unwrap(), e.user_id.clone().unwrap()))
        .collect();
    leaves.sort();
    assert_eq!(
        leaves,
        [("a", "v1"), ("a", "v2"), ("b", "v1")].map(|(g, u)| (g.to_owned(), u.to_owned()))
    );
    for group in [&a, &b, &big] {
        assert_eq!(f.member_rows(group).await, 0);
        assert_eq!(f.store.group_count(&f.app_id, group).await.unwrap().0, 0);
    }
    let online = f
        .store
        .online_among(&f.scope(), &["v1".to_owned(), "v2".to_owned()])
        .await
        .unwrap();
    assert!(online.is_empty());
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_users_info_changes_in_every_group_it_is_in(pool: PgPool) {
    let f = fixture(pool, 3).await;
    let (a, b, big, other, gone) = (
        f.group("a").await,
        f.group("b").await,
        f.group("big").await,
        f.group("other").await,
        f.group("gone").await,
    );
    f.seed(&a, ["x".to_owned(), "v".to_owned()]).await;
    f.seed(&b, ["v".to_owned()]).await;
    f.seed(&big, ["v", "p", "q", "r"].map(String::from)).await; // super
    f.seed(&other, ["x".to_owned()]).await;
    f.seed(&gone, ["v".to_owned()]).await;
    f.store.delete_group(&f.scope(), &gone, None).await.unwrap();

    let info = UserInfo::parse("{\"level\":9}").unwrap();
    let outcome = f
        .store
        .modify_user_info(&f.scope(), &uid("v"), &info)
        .await
        .unwrap();
    assert_eq!(outcome.groups, ["a", "b", "big"]);
    for group in [&a, &b] {
        let page = f.page(group, SortType::Ascending, 0, 10).await.unwrap();
        let v = page.users.iter().find(|(u, _)| u == "v").unwrap();
        assert_eq!(v.1, "{\"level\":9}");
        let last = f.events(group).await.pop().unwrap();
        assert_eq!(last.kind, UserInfoChanged);
        assert_eq!(
            (last.user_id.as_deref(), last.user_info.as_deref()),
            (Some("v"), Some("{\"level\":9}"))
        );
    }
    // The super group keeps no list: nothing to change, nothing to report.
    assert_ne!(kinds(&f.events(&big).await).last(), Some(&UserInfoChanged));
    // Others are untouched.
    let page = f.page(&a, SortType::Ascending, 0, 10).await.unwrap();
    assert_eq!(page.users[0], ("x".to_owned(), String::new()));

    // The same info again: success, and no new events.
    let events = f.events(&a).await.len();
    let again = f
        .store
        .modify_user_info(&f.scope(), &uid("v"), &info)
        .await
        .unwrap();
    assert_eq!(again.groups, ["a", "b", "big"]);
    assert_eq!(f.events(&a).await.len(), events);
    // A user in no group: success with nothing in it.
    let nobody = f
        .store
        .modify_user_info(&f.scope(), &uid("nobody"), &info)
        .await
        .unwrap();
    assert!(nobody.groups.is_empty());
}
