//! Deleting, recovering and purging groups, with their events and the app's counters; quotas.

use livemsg_domain::events::EventKind::*;
use livemsg_store::{DeleteOutcome, GroupOps, RecoverOutcome};

use crate::helpers::*;

fn limits(groups: i64, window_secs: u64) -> Limits {
    Limits {
        groups_per_app: groups,
        recovery_window: std::time::Duration::from_secs(window_secs),
        ..Limits::default()
    }
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn deleting_removes_every_member_with_its_leave_then_closes_and_marks_the_group(
    pool: PgPool,
) {
    let f = fixture(pool, THRESHOLD).await;
    let g = f.group("g").await;
    f.seed(&g, ["a", "b", "c"].map(String::from)).await;
    assert_eq!(f.counters().await, (1, 0));

    let outcome = f
        .store
        .delete_group(&f.scope(), &g, Some(&uid("op1")))
        .await
        .unwrap();
    assert_eq!(outcome, DeleteOutcome::Deleted { removed: 3 });
    let events = f.events(&g).await;
    assert_eq!(
        kinds(&events),
        [
            UserEntered,
            UserEntered,
            UserEntered,
            UserLeft,
            UserLeft,
            UserLeft,
            Closed,
            GroupDeleted
        ]
    );
    let left: Vec<_> = events[3..6]
        .iter()
        .map(|e| e.user_id.clone().unwrap())
        .collect();
    assert_eq!(left, ["a", "b", "c"], "leaves in join order");
    assert_eq!(events.last().unwrap().member_count, 0);
    assert_eq!(f.member_rows(&g).await, 0);

    let group = f.store.describe_group(&f.scope(), &g).await.unwrap();
    assert!(group.deleted);
    assert_eq!(group.deletor, "op1");
    assert_eq!(group.member_count, 0);
    let deleted_at = group.deleted_at.expect("a deleted group has its time");
    assert_eq!(f.counters().await, (0, 1));

    // Again: nothing moves, not even the time.
    assert_eq!(
        f.store.delete_group(&f.scope(), &g, None).await.unwrap(),
        DeleteOutcome::AlreadyDeleted
    );
    let again = f.store.describe_group(&f.scope(), &g).await.unwrap();
    assert_eq!(
        (again.deleted_at, again.deletor.as_str()),
        (Some(deleted_at), "op1")
    );
    assert_eq!(f.events(&g).await.len(), events.len());
    assert_eq!(f.counters().await, (0, 1));
    // A group the app never had: nothing to do, and said so.
    assert_eq!(
        f.store
            .delete_group(&f.scope(), &GroupId::parse("never").unwrap(), None)
            .await
            .unwrap(),
        DeleteOutcome::Unknown
    );
    // The id stays taken.
    let created = f
        .store
        .create_group(&f.scope(), new_group("g"))
        .await
        .unwrap();
    assert!(created.already_exists && created.already_deleted);
    assert_eq!(f.counters().await, (0, 1));
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_join_to_a_deleted_group_fails_alone_in_its_batch(pool: PgPool) {
    let f = fixture(pool, THRESHOLD).await;
    let (gone, live) = (f.group("gone").await, f.group("live").await);
    f.store.delete_group(&f.scope(), &gone, None).await.unwrap();
    let ops = [join("u1")];
    let batch = [
        GroupOps {
            app_id: &f.app_id,
            group_id: &gone,
            ops: &ops,
        },
        GroupOps {
            app_id: &f.app_id,
            group_id: &live,
            ops: &ops,
        },
    ];
    let results = f.store.apply_to_groups(&batch).await.unwrap();
    assert!(matches!(results[0], Err(StoreError::GroupNotFound)));
    assert!(results[1].as_ref().unwrap()[0].changed);
    assert_eq!(f.member_rows(&gone).await, 0);
    assert_eq!(f.member_rows(&live).await, 1);
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn deleting_a_super_group_reports_its_closing_not_each_user(pool: PgPool) {
    let f = fixture(pool, 3).await;
    let g = f.group("big").await;
    f.seed(&g, (0..5).map(|i| format!("u{i}"))).await;
    let before = f.events(&g).await.len();
    let outcome = f.store.delete_group(&f.scope(), &g, None).await.unwrap();
    assert_eq!(outcome, DeleteOutcome::Deleted { removed: 5 });
    assert_eq!(kinds(&f.events(&g).await[before..]), [Closed, GroupDeleted]);
    assert_eq!(f.member_rows(&g).await, 0);
    let group = f.store.describe_group(&f.scope(), &g).await.unwrap();
    assert_eq!(group.state.0, GroupState::Closed);
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_recovered_group_is_live_again_with_no_members(pool: PgPool) {
    let f = fixture(pool, THRESHOLD).await;
    let g = f.group("g").await;
    f.seed(&g, ["a".to_owned()]).await;
    f.store
        .delete_group(&f.scope(), &g, Some(&uid("op")))
        .await
        .unwrap();

    let outcome = f.store.recover_group(&f.scope(), &g).await.unwrap();
    assert_eq!(outcome, RecoverOutcome::Recovered);
    assert_eq!(kinds(&f.events(&g).await).last(), Some(&GroupRecovered));
    let group = f.store.describe_group(&f.scope(), &g).await.unwrap();
    assert!(!group.deleted);
    assert_eq!((group.deletor.as_str(), group.deleted_at), ("", None));
    assert_eq!(
        (group.group_name.as_str(), group.admin_list.clone()),
        ("name", vec!["admin1".to_owned()])
    );
    assert_eq!(group.member_count, 0);
    assert_eq!(f.counters().await, (1, 0));

    // Live again: joins work, and the closed group reopens.
    f.seed(&g, ["b".to_owned()]).await;
    assert_eq!(kinds(&f.events(&g).await).last(), Some(&UserEntered));
    // Recovering a live group changes nothing; an unknown one is not found.
    assert_eq!(
        f.store.recover_group(&f.scope(), &g).await.unwrap(),
        RecoverOutcome::NotDeleted
    );
    assert!(matches!(
        f.store
            .recover_group(&f.scope(), &GroupId::parse("never").unwrap())
            .await,
        Err(StoreError::GroupNotFound)
    ));
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn past_the_recovery_window_a_group_is_purged_and_its_id_free(pool: PgPool) {
    // A window of zero: every deleted group is past it at once.
    let f = fixture_with(pool, THRESHOLD, limits(5_000, 0)).await;
    let (old, live) = (f.group("old").await, f.group("live").await);
    f.seed(&old, ["a".to_owned()]).await;
    f.store.delete_group(&f.scope(), &old, None).await.unwrap();
    assert!(matches!(
        f.store.recover_group(&f.scope(), &old).await,
        Err(StoreError::GroupNotFound)
    ));

    assert_eq!(f.store.purge_deleted_groups(100).await.unwrap(), 1);
    assert_eq!(f.store.purge_deleted_groups(100).await.unwrap(), 0);
    assert!(matches!(
        f.store.describe_group(&f.scope(), &old).await,
        Err(StoreError::GroupNotFound)
    ));
    let events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM group_events WHERE group_pk IS NOT NULL AND app_id = $1 AND group_pk NOT IN (SELECT group_pk FROM groups)")
            .bind(f.app_id.as_str())
            .fetch_one(f.store.pool())
            .await
            .unwrap();
    assert_eq!(events, 0, "a purged group's events go with it");
    assert_eq!(f.counters().await, (1, 0));
    assert_eq!(f.member_rows(&live).await, 0);
    let created = f
        .store
        .create_group(&f.scope(), new_group("old"))
        .await
        .unwrap();
    assert!(!created.already_exists);
    assert_eq!(f.counters().await, (2, 0));
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn within_the_window_nothing_is_purged(pool: PgPool) {
    let f = fixture(pool, THRESHOLD).await;
    let g = f.group("g").await;
    f.store.delete_group(&f.scope(), &g, None).await.unwrap();
    assert_eq!(f.store.purge_deleted_groups(100).await.unwrap(), 0);
    assert!(
        f.store
            .describe_group(&f.scope(), &g)
            .await
            .unwrap()
            .deleted
    );
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn live_groups_are_held_to_the_quota_and_deleted_ones_do_not_count(pool: PgPool) {
    let f = fixture_with(pool, THRESHOLD, limits(2, 3_600)).await;
    f.group("a").await;
    let b = f.group("b").await;
    assert!(matches!(
        f.store.create_group(&f.scope(), new_group("c")).await,
        Err(StoreError::TooManyGroups {
            quota: 2,
            recovering: false
        })
    ));
    f.store.delete_group(&f.scope(), &b, None).await.unwrap();
    f.group("c").await;
    assert_eq!(f.counters().await, (2, 1));
    assert!(matches!(
        f.store.recover_group(&f.scope(), &b).await,
        Err(StoreError::TooManyGroups {
            quota: 2,
            recovering: true
        })
    ));
    // An existing id is still answered as existing at the quota.
    assert!(
        f.store
            .create_group(&f.scope(), new_group("a"))
            .await
            .unwrap()
            .already_exists
    );
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn concurrent_creations_cannot_pass_the_quota_together(pool: PgPool) {
    let f = fixture_with(pool, THRESHOLD, limits(5, 3_600)).await;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (store, scope) = (f.store.clone(), f.scope());
            tokio::spawn(async move {
                store
                    .create_group(&scope, new_group(&format!("g{i}")))
                    .await
            })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(outcome) => {
                assert!(!outcome.already_exists);
                created += 1;
            }
            Err(StoreError::TooManyGroups { .. }) => {}
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(created, 5);
    assert_eq!(f.counters().await, (5, 0));
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn apps_are_held_to_the_account_quota(pool: PgPool) {
    let limits = Limits {
        apps_per_account: 2,
        ..Limits::default()
    };
    let f = fixture_with(pool, THRESHOLD, limits).await;
    f.store
        .create_app(new_app(f.account_id, DataCenter::ApSoutheast1))
        .await
        .unwrap();
    assert!(matches!(
        f.store
            .create_app(new_app(f.account_id, DataCenter::CnShanghai))
            .await,
        Err(StoreError::TooManyApps(2))
    ));
    assert!(matches!(
        f.store
            .create_app(new_app(9_999_999_999_999_999, DataCenter::CnShanghai))
            .await,
        Err(StoreError::AccountNotFound)
    ));
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn changing_info_and_administrators_is_one_event_with_both(pool: PgPool) {
    let f = fixture(pool, THRESHOLD).await;
    let g = f.group("g").await;
    let changes = livemsg_store::GroupChanges {
        group_info: Some(GroupInfo::parse("{\"notice\":\"hi\"}").unwrap()),
        administrators: Some(vec![uid("x"), uid("y")]),
    };
    assert!(f
        .store
        .modify_group(&f.scope(), &g, changes.clone())
        .await
        .unwrap());
    let event = f.events(&g).await.pop().unwrap();
    assert_eq!(event.kind, GroupInfoChanged);
    let payload: serde_json::Value =
        serde_json::from_str(event.payload.as_deref().unwrap()).unwrap();
    assert_eq!(
        payload,
        serde_json::json!({"groupInfo": "{\"notice\":\"hi\"}", "adminList": ["x", "y"]})
    );
    let group = f.store.describe_group(&f.scope(), &g).await.unwrap();
    assert_eq!(group.group_info, "{\"notice\":\"hi\"}");
    assert_eq!(group.admin_list, ["x", "y"]);

    // The same again changes nothing and tells nobody; an empty list clears.
    assert!(!f.store.modify_group(&f.scope(), &g, changes).await.unwrap());
    assert_eq!(f.events(&g).await.len(), 1);
    let clear = livemsg_store::GroupChanges {
        group_info: None,
        administrators: Some(Vec::new()),
    };
    assert!(f.store.modify_group(&f.scope(), &g, clear).await.unwrap());
    let group = f.store.describe_group(&f.scope(), &g).await.unwrap();
    assert_eq!(group.group_info, "{\"notice\":\"hi\"}", "info kept");
    assert!(group.admin_list.is_empty());

    f.store.delete_group(&f.scope(), &g, None).await.unwrap();
    assert!(matches!(
        f.store
            .modify_group(&f.scope(), &g, livemsg_store::GroupChanges::default())
            .await,
        Err(StoreError::GroupNotFound)
    ));
}
