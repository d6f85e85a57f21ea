//! Joins and leaves from the connection tier: batches, group commit, exact counts.

use livemsg_domain::events::EventKind;

use crate::helpers::*;

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_batch_applies_valid_groups_and_reports_missing_ones_per_item(pool: PgPool) {
    let h = start(pool, 2_000).await;
    h.create_group("a").await;
    let item = |op: Operation, group: &str, user: &str| MembershipItem {
        operation: op.into(),
        group_id: group.into(),
        user_id: user.into(),
        user_info: String::new(),
    };
    let mut client = MembershipServiceClient::new(h.channel.clone());
    let results = client
        .batch_update_membership(BatchUpdateMembershipRequest {
            app_id: h.app_id.clone(),
            items: vec![
                item(Operation::Join, "a", "x"),
                item(Operation::Join, "missing", "x"),
                item(Operation::Join, "a", "y"),
                item(Operation::Leave, "a", "x"),
            ],
        })
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(results[0].member_count, 1);
    assert_eq!(results[1].error_code, "ResourceNotExist");
    assert_eq!(results[2].member_count, 2);
    assert!(results[3].changed);
    assert_eq!(results[3].member_count, 1);

    // A malformed item fails alone, in its result; the others of the batch are applied.
    let mut nul = item(Operation::Join, "a", "n");
    nul.user_info = "a\0b".into();
    let results = client
        .batch_update_membership(BatchUpdateMembershipRequest {
            app_id: h.app_id.clone(),
            items: vec![
                item(Operation::Join, "a", "z"),
                item(Operation::Unspecified, "a", "w"),
                nul,
                item(Operation::Join, "a", "bad user"),
            ],
        })
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(results[0].error_code, "");
    assert_eq!(results[0].member_count, 2);
    assert_eq!(results[1].error_code, "InputInvalid");
    assert_eq!(
        results[1].error_message,
        "items[1]: operation must be JOIN or LEAVE."
    );
    assert_eq!(results[2].error_code, "InputInvalid");
    assert_eq!(
        results[2].error_message,
        "items[2]: UserInfo must not contain NUL characters."
    );
    assert_eq!(
        results[3].error_message,
        "items[3]: UserId may contain only letters and digits."
    );
    let page = h.list("a", 1, 0).await.unwrap();
    let ids: Vec<_> = page.users.iter().map(|u| u.user_id.as_str()).collect();
    assert_eq!(ids, ["y", "z"]);

    // A batch over the limit is refused as a whole.
    let too_many = (0..=livemsg_service::MAX_BATCH_ITEMS)
        .map(|i| item(Operation::Join, "a", &format!("m{i}")))
        .collect();
    let refused = client
        .batch_update_membership(BatchUpdateMembershipRequest {
            app_id: h.app_id.clone(),
            items: too_many,
        })
        .await
        .unwrap_err();
    assert_eq!(code_of(&refused), "InputInvalid");
    assert_eq!(refused.message(), "items must hold at most 1000 entries.");
    assert_eq!(h.list("a", 1, 0).await.unwrap().users.len(), 2);
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn concurrent_single_joins_and_leaves_are_committed_together_and_counted_exactly(
    pool: PgPool,
) {
    let h = start(pool.clone(), 2_000).await;
    for group in ["g0", "g1", "g2", "g3"] {
        h.create_group(group).await;
    }
    // 400 joins and 100 leaves from 64 callers at once.
    let mut tasks = Vec::new();
    for worker in 0..64usize {
        let channel = h.channel.clone();
        let app_id = h.app_id.clone();
        tasks.push(tokio::spawn(async move {
            let mut membership = MembershipServiceClient::new(channel);
            let mut i = worker;
            while i < 400 {
                let group = format!("g{}", i % 4);
                let joined = membership
                    .join_group(JoinGroupRequest {
                        app_id: app_id.clone(),
                        group_id: group.clone(),
                        user_id: format!("u{i}"),
                        user_info: String::new(),
                    })
                    .await
                    .unwrap()
                    .into_inner();
                assert!(joined.changed);
                if i % 4 == 0 {
                    let left = membership
                        .leave_group(LeaveGroupRequest {
                            app_id: app_id.clone(),
                            group_id: group,
                            user_id: format!("u{i}"),
                        })
                        .await
                        .unwrap()
                        .into_inner();
                    assert!(left.changed);
                }
                i += 64;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let store = Store::new(pool, 2_000, Keyring::generate());
    let app_id = livemsg_domain::AppId::parse(&h.app_id).unwrap();
    for (group, members, events) in [
        ("g0", 0, 200),
        ("g1", 100, 100),
        ("g2", 100, 100),
        ("g3", 100, 100),
    ] {
        let group_id = livemsg_domain::GroupId::parse(group).unwrap();
        let (count, _) = store.group_count(&app_id, &group_id).await.unwrap();
        assert_eq!(count, members, "{group}");
        let seqs: Vec<i64> = store
            .group_events(&app_id, &group_id, 1, 1_000)
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "{group}");
        let kinds: Vec<EventKind> = store
            .group_events(&app_id, &group_id, 1, 1_000)
            .await
            .unwrap()
            .iter()
            .map(|e| e.kind)
            .collect();
        let of = |kind| kinds.iter().filter(|k| **k == kind).count() as i64;
        if group == "g0" {
            // 100 entered and 100 left, each once; it closed whenever a leave emptied it and
            // reopened on the next join, and it ends empty: one close more than reopenings.
            assert_eq!(of(EventKind::UserEntered), 100);
            assert_eq!(of(EventKind::UserLeft), 100);
            assert_eq!(of(EventKind::Closed), of(EventKind::Reopened) + 1);
            assert_eq!(seqs.len() as i64, events + 2 * of(EventKind::Reopened) + 1);
        } else {
            assert_eq!(kinds, vec![EventKind::UserEntered; 100], "{group}");
            assert_eq!(seqs.len() as i64, events, "{group}");
        }
    }
    // A missing group fails alone, with its own error.
    let err = h.join("nope", "x").await.unwrap_err();
    assert_eq!(code_of(&err), "ResourceNotExist");
}

/// Group commit, observed: while the only writer is held up by a lock on the group's row, 99
/// more single joins (one of them to a missing group) queue; when the lock goes, they are all
/// committed in one transaction (the member rows carry one `xmin`), and every caller gets its
/// own answer: its own new count, or, for the missing group, its own error.
#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn single_joins_waiting_together_commit_in_one_transaction_each_with_its_own_answer(
    pool: PgPool,
) {
    use livemsg_domain::{AppId, GroupId, UserId, UserInfo};
    use livemsg_service::workers::batcher::Batcher;
    use livemsg_store::MembershipOp;

    let h = start(pool.clone(), 2_000).await;
    h.create_group("hot").await;
    let store = Store::new(pool.clone(), 2_000, Keyring::generate());
    let batcher = Batcher::start(store, 1, 128);
    let app = AppId::parse(&h.app_id).unwrap();
    let join = |group: &str, user: String| {
        let (batcher, app, group) = (batcher.clone(), app.clone(), GroupId::parse(group).unwrap());
        tokio::spawn(async move {
            let op = MembershipOp::Join {
                user_id: UserId::parse(&user).unwrap(),
                user_info: UserInfo::parse(&format!("info-{user}")).unwrap(),
            };
            batcher.apply(app, group, op).await
        })
    };

    // Hold the group's row: the writer's first transaction waits on it.
    let holder = hold_group(&pool, "hot").await;
    let first = join("hot", "u0".into());
    wait_for_lock_waiters(&pool, 1).await;
    let mut rest = Vec::new();
    for i in 1..99 {
        rest.push(join("hot", format!("u{i}")));
    }
    rest.push(join("nosuchgroup", "lost".into()));
    wait_until(|| async { batcher.waiting() == 99 }).await;
    holder.rollback().await.unwrap();

    assert_eq!(first.await.unwrap().unwrap().member_count, 1);
    let mut counts = Vec::new();
    for task in rest {
        match task.await.unwrap() {
            Ok(change) => counts.push(change.member_count),
            Err(err) => assert_eq!(err.code, ErrorCode::ResourceNotExist),
        }
    }
    counts.sort_unstable();
    assert_eq!(
        counts,
        (2..=99).collect::<Vec<_>>(),
        "each caller its own count"
    );
    let transactions = member_transactions(&pool, "hot").await;
    assert_eq!(
        transactions, 2,
        "the first join alone, then the 98 that waited"
    );
}

/// A join whose user info Postgres cannot hold is refused by itself; the joins racing it into
/// the same group are unaffected.
#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_bad_join_racing_good_ones_fails_alone(pool: PgPool) {
    let h = start(pool, 2_000).await;
    h.create_group("g").await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let channel = h.channel.clone();
        let app_id = h.app_id.clone();
        tasks.push(tokio::spawn(async move {
            MembershipServiceClient::new(channel)
                .join_group(JoinGroupRequest {
                    app_id,
                    group_id: "g".into(),
                    user_id: format!("u{i}"),
                    user_info: if i == 7 {
                        "bad\0info".into()
                    } else {
                        "ok".into()
                    },
                })
                .await
        }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        let result = task.await.unwrap();
        if i == 7 {
            let err = result.unwrap_err();
            assert_eq!(code_of(&err), "InputInvalid");
            assert_eq!(err.message(), "UserInfo must not contain NUL characters.");
        } else {
            assert!(result.unwrap().into_inner().changed, "join {i}");
        }
    }
    let count = MembershipServiceClient::new(h.channel.clone())
        .get_group_count(GetGroupCountRequest {
            app_id: h.app_id.clone(),
            group_id: "g".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .member_count;
    assert_eq!(count, 19);
}
