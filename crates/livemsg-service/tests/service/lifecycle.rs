//! The lifecycle on the event streams: a deletion's leaves, closing and deletion, a recovery
//! and an info change on the group stream; a disabled app swept empty by the running service
//! (logoffs with reason 3, leaves) on the app stream.

use livemsg_proto::api::v1::{
    DeleteGroupRequest, GroupDeletion, ModifyAppDisableRequest, ModifyGroupRequest,
    RecoverGroupRequest,
};
use livemsg_proto::events::v1::event_service_client::EventServiceClient;
use livemsg_proto::events::v1::{
    EventKind, GroupEvent, WatchAppEventsRequest, WatchGroupEventsRequest,
};
use livemsg_proto::membership::v1::LogonRequest;

use crate::helpers::*;

async fn next(stream: &mut tonic::Streaming<GroupEvent>) -> GroupEvent {
    tokio::time::timeout(std::time::Duration::from_secs(10), stream.message())
        .await
        .expect("an event within 10 s")
        .unwrap()
        .expect("the stream goes on")
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_group_stream_tells_of_deletion_recovery_and_info_changes(pool: PgPool) {
    let h = start_configured(pool, 2_000, |s| s.service.event_poll_ms = 20).await;
    h.create_group("room").await;
    h.join("room", "a").await.unwrap();
    h.join("room", "b").await.unwrap();
    let mut groups = GroupServiceClient::new(h.channel.clone());
    groups
        .modify_group(ModifyGroupRequest {
            app: h.app(),
            group_id: "room".into(),
            group_info: Some("notice".into()),
            modify_admins: true,
            admin_list: vec!["a".into()],
        })
        .await
        .unwrap();
    let deleted = groups
        .delete_group(DeleteGroupRequest {
            app: h.app(),
            group_id: "room".into(),
            operator_id: "op".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deleted.outcome(), GroupDeletion::Deleted);
    assert_eq!(deleted.removed, 2);
    let recovered = groups
        .recover_group(RecoverGroupRequest {
            app: h.app(),
            group_id: "room".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(recovered.recovered);

    let mut stream = EventServiceClient::new(h.channel.clone())
        .watch_group_events(WatchGroupEventsRequest {
            app_id: h.app_id.clone(),
            group_id: "room".into(),
            from_seq: 1,
        })
        .await
        .unwrap()
        .into_inner();
    let mut seen = Vec::new();
    for _ in 0..8 {
        seen.push(next(&mut stream).await);
    }
    let kinds: Vec<EventKind> = seen.iter().map(GroupEvent::kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::UserEntered,
            EventKind::UserEntered,
            EventKind::GroupInfoChanged,
            EventKind::UserLeft,
            EventKind::UserLeft,
            EventKind::Closed,
            EventKind::GroupDeleted,
            EventKind::GroupRecovered,
        ]
    );
    let info = &seen[2];
    assert_eq!(
        (info.group_info.as_str(), info.admin_list.clone()),
        ("notice", vec!["a".to_owned()])
    );
    assert_eq!(info.member_count, 2);
    assert_eq!(
        (seen[3].user_id.as_str(), seen[4].user_id.as_str()),
        ("a", "b")
    );
    assert_eq!(seen[6].member_count, 0);
    let seqs: Vec<i64> = seen.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=8).collect::<Vec<_>>());
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn disabling_an_app_logs_its_users_off_and_empties_its_groups(pool: PgPool) {
    let h = start_configured(pool, 2_000, |s| {
        s.service.event_poll_ms = 20;
    })
    .await;
    h.create_group("room").await;
    let mut membership = MembershipServiceClient::new(h.channel.clone());
    membership
        .logon(LogonRequest {
            app_id: h.app_id.clone(),
            user_id: "viewer".into(),
            session_id: "s1".into(),
        })
        .await
        .unwrap();
    h.join("room", "viewer").await.unwrap();

    let app = AppServiceClient::new(h.channel.clone())
        .modify_app_disable(ModifyAppDisableRequest {
            app: h.app(),
            disable: Some(true),
        })
        .await
        .unwrap()
        .into_inner()
        .app
        .unwrap();
    assert!(app.disabled);
    let mut stream = EventServiceClient::new(h.channel.clone())
        .watch_app_events(WatchAppEventsRequest {
            app_id: h.app_id.clone(),
            from_seq: 1,
        })
        .await
        .unwrap()
        .into_inner();
    let mut seen = Vec::new();
    for _ in 0..6 {
        seen.push(next(&mut stream).await);
    }
    let kinds: Vec<EventKind> = seen.iter().map(GroupEvent::kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Logon,
            EventKind::UserEntered,
            EventKind::AppDisabled,
            EventKind::Logoff,
            EventKind::UserLeft,
            EventKind::Closed,
        ]
    );
    assert_eq!(seen[3].logoff_reason, 3);
    assert_eq!(
        (seen[4].group_id.as_str(), seen[4].member_count),
        ("room", 0)
    );

    // While disabled: no logon, no join.
    let refused = membership
        .logon(LogonRequest {
            app_id: h.app_id.clone(),
            user_id: "viewer".into(),
            session_id: "s2".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(code_of(&refused), "NoAuth");
    assert_eq!(refused.message(), "App is disabled.");
    let refused = h.join("room", "viewer").await.unwrap_err();
    assert_eq!(code_of(&refused), "NoAuth");

    AppServiceClient::new(h.channel.clone())
        .modify_app_disable(ModifyAppDisableRequest {
            app: h.app(),
            disable: Some(false),
        })
        .await
        .unwrap();
    assert_eq!(next(&mut stream).await.kind(), EventKind::AppEnabled);
    assert!(h.join("room", "viewer").await.unwrap().0);
}
