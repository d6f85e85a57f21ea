//! The public API families over gRPC: lists, errors and their codes, super groups.

use crate::helpers::*;

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn joined_users_are_listed_in_join_order_over_grpc(pool: PgPool) {
    let h = start(pool, 2_000).await;
    h.create_group("room1").await;
    for i in 0..12 {
        assert_eq!(
            h.join("room1", &format!("u{i:02}")).await.unwrap(),
            (true, i + 1)
        );
    }
    assert_eq!(h.join("room1", "u00").await.unwrap(), (false, 12));

    let first = h.list("room1", 1, 0).await.unwrap();
    assert_eq!(first.group_id, "room1");
    assert_eq!(first.users.len(), 10);
    assert_eq!(first.users[0].user_id, "u00");
    assert_eq!(first.users[0].user_info, "info-u00");
    assert!(first.has_more);
    let second = h.list("room1", 1, first.next_page_token).await.unwrap();
    let ids: Vec<_> = second.users.iter().map(|u| u.user_id.as_str()).collect();
    assert_eq!(ids, ["u10", "u11"]);
    assert!(!second.has_more);
    assert_eq!(second.next_page_token, 0);

    let desc = h.list("room1", 2, 0).await.unwrap();
    assert_eq!(desc.users[0].user_id, "u11");

    let left = MembershipServiceClient::new(h.channel.clone())
        .leave_group(LeaveGroupRequest {
            app_id: h.app_id.clone(),
            group_id: "room1".into(),
            user_id: "u05".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(left.changed);
    assert_eq!(left.member_count, 11);
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn errors_carry_their_api_codes(pool: PgPool) {
    let h = start(pool, 2_000).await;
    h.create_group("room1").await;
    let unknown_group = h.join("nope", "u1").await.unwrap_err();
    assert_eq!(code_of(&unknown_group), "ResourceNotExist");
    assert_eq!(unknown_group.code(), tonic::Code::NotFound);

    let bad_user = h.join("room1", "bad user").await.unwrap_err();
    assert_eq!(code_of(&bad_user), "InputInvalid");
    assert!(bad_user.message().contains("UserId"));

    let bad_sort = h.list("room1", 3, 0).await.unwrap_err();
    assert_eq!(code_of(&bad_sort), "InputInvalid");
    assert!(bad_sort.message().contains("SortType"));

    // Another account does not see this app.
    let describe = |account_id: i64, proof: String| {
        let (channel, app_id) = (h.channel.clone(), h.app_id.clone());
        async move {
            GroupServiceClient::new(channel)
                .describe_group(DescribeGroupRequest {
                    app: Some(AppRef {
                        caller: Some(Caller { account_id, proof }),
                        app_id,
                        data_center: String::new(),
                    }),
                    group_id: "room1".into(),
                })
                .await
        }
    };
    let other_account = h.store.create_account("other").await.unwrap().account_id;
    let other_proof = proof_for(&h.store, &h.channel, other_account).await;
    let other = describe(other_account, other_proof).await.unwrap_err();
    assert_eq!(code_of(&other), "ResourceNotExist");
    // A call must prove the account it names: this account's proof does not pass for another,
    // nor does a call without one.
    for (account, proof) in [(other_account, h.proof.clone()), (h.account, String::new())] {
        let unproven = describe(account, proof).await.unwrap_err();
        assert_eq!(unproven.code(), tonic::Code::Unauthenticated);
    }

    let unknown_key = AuthServiceClient::new(h.channel.clone())
        .resolve_access_key(ResolveAccessKeyRequest {
            access_key_id: "LTAInothere".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        livemsg_proto::api_error_from_status(&unknown_key).code,
        ErrorCode::InvalidAccessKeyIdNotFound
    );
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_super_group_answers_super_large_group_and_counts_exactly(pool: PgPool) {
    let h = start(pool, 10).await;
    h.create_group("big").await;
    let items: Vec<MembershipItem> = (0..11)
        .map(|i| MembershipItem {
            operation: Operation::Join.into(),
            group_id: "big".into(),
            user_id: format!("u{i}"),
            user_info: String::new(),
        })
        .collect();
    let results = MembershipServiceClient::new(h.channel.clone())
        .batch_update_membership(BatchUpdateMembershipRequest {
            app_id: h.app_id.clone(),
            items,
        })
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(results.len(), 11);
    assert_eq!(results[10].state, i32::from(GroupState::Super));
    assert_eq!(results[9].state, i32::from(GroupState::Normal));

    let listing = h.list("big", 1, 0).await.unwrap_err();
    assert_eq!(code_of(&listing), "SuperLargeGroup");
    let count = MembershipServiceClient::new(h.channel.clone())
        .get_group_count(GetGroupCountRequest {
            app_id: h.app_id.clone(),
            group_id: "big".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(count.member_count, 11);
    assert_eq!(count.state, i32::from(GroupState::Super));
}
