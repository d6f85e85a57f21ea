//! Joins and leaves: idempotent, exact under concurrency, super groups, batches.

use crate::helpers::*;

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
            &scope_of(f.account_id, &f.app_id, DataCenter::CnShanghai),
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
