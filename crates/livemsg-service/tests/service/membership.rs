//! Joins and leaves from the connection tier: batches, group commit, exact counts.

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

    // One malformed item rejects the whole batch, and nothing of it is applied.
    let rejected = client
        .batch_update_membership(BatchUpdateMembershipRequest {
            app_id: h.app_id.clone(),
            items: vec![
                item(Operation::Join, "a", "z"),
                item(Operation::Unspecified, "a", "w"),
            ],
        })
        .await
        .unwrap_err();
    assert_eq!(code_of(&rejected), "InputInvalid");
    assert!(rejected.message().starts_with("items[1]"));
    let page = h.list("a", 1, 0).await.unwrap();
    let ids: Vec<_> = page.users.iter().map(|u| u.user_id.as_str()).collect();
    assert_eq!(ids, ["y"]);
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
        // g0: 100 entered, 100 left, and it closed after each leave emptied it or not: count
        // the gapless numbering rather than the kinds.
        assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "{group}");
        assert!(seqs.len() as i64 >= events, "{group}");
    }
    // A missing group fails alone, with its own error.
    let err = h.join("nope", "x").await.unwrap_err();
    assert_eq!(code_of(&err), "ResourceNotExist");
}
