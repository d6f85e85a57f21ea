//! Event streams: replay then follow, on any instance, with a place to resume.

use crate::helpers::*;

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_watcher_on_any_instance_sees_every_event_in_order(pool: PgPool) {
    use livemsg_proto::events::v1::event_service_client::EventServiceClient;
    use livemsg_proto::events::v1::{EventKind, WatchGroupEventsRequest};
    let h = start(pool.clone(), 2_000).await;
    h.create_group("room").await;
    h.join("room", "early1").await.unwrap();
    h.join("room", "early2").await.unwrap();

    // A second instance of the service on the same database.
    let mut settings = test_settings();
    settings.service.event_poll_ms = 20;
    settings.groups.count_event_interval_ms = 100;
    let other = Application::build_with_pool(&settings, pool).await.unwrap();
    let addr = other.local_addr();
    tokio::spawn(other.run_until_stopped(std::future::pending()));
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut events =
        EventServiceClient::with_interceptor(channel.clone(), BearerToken::new(TOKEN).unwrap());
    let watch = |from_seq| WatchGroupEventsRequest {
        app_id: h.app_id.clone(),
        group_id: "room".into(),
        from_seq,
    };

    let mut stream = events
        .watch_group_events(watch(1))
        .await
        .unwrap()
        .into_inner();
    // Replayed from the outbox...
    for (seq, user) in [(1, "early1"), (2, "early2")] {
        let event = stream.message().await.unwrap().unwrap();
        assert_eq!((event.seq, event.user_id.as_str()), (seq, user));
        assert_eq!(event.kind(), EventKind::UserEntered);
        assert_eq!(event.member_count, seq);
    }
    // ...then live, for changes made through the first instance.
    h.join("room", "late").await.unwrap();
    let left = MembershipServiceClient::new(h.channel.clone())
        .leave_group(LeaveGroupRequest {
            app_id: h.app_id.clone(),
            group_id: "room".into(),
            user_id: "early1".into(),
        })
        .await
        .unwrap();
    assert!(left.into_inner().changed);
    let late = tokio::time::timeout(std::time::Duration::from_secs(5), stream.message())
        .await
        .expect("a live event arrives")
        .unwrap()
        .unwrap();
    assert_eq!(
        (late.seq, late.user_id.as_str(), late.member_count),
        (3, "late", 3)
    );
    assert_eq!(late.user_info, "info-late");
    let gone = stream.message().await.unwrap().unwrap();
    assert_eq!((gone.seq, gone.kind()), (4, EventKind::UserLeft));
    assert_eq!(gone.member_count, 2);

    // Resuming after the last seen skips what was seen.
    let mut resumed = events
        .watch_group_events(watch(4))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resumed.message().await.unwrap().unwrap().seq, 4);

    // Past the threshold the group's users are no longer reported one by one; its count is,
    // at most once per interval (100 ms on the second instance).
    let items: Vec<MembershipItem> = (0..3000)
        .map(|i| MembershipItem {
            operation: Operation::Join.into(),
            group_id: "room".into(),
            user_id: format!("crowd{i}"),
            user_info: String::new(),
        })
        .collect();
    for chunk in items.chunks(1000) {
        MembershipServiceClient::new(h.channel.clone())
            .batch_update_membership(BatchUpdateMembershipRequest {
                app_id: h.app_id.clone(),
                items: chunk.to_vec(),
            })
            .await
            .unwrap();
    }
    let mut tail = events
        .watch_group_events(watch(5))
        .await
        .unwrap()
        .into_inner();
    let mut entered = 0;
    let upgrade = loop {
        let event = next_event(&mut tail).await;
        match event.kind() {
            EventKind::UserEntered => entered += 1,
            EventKind::BecameSuper => break event,
            other => panic!("unexpected {other:?} before the upgrade"),
        }
    };
    assert_eq!(entered, 1_998, "members 3..=2000 were reported one by one");
    assert_eq!(upgrade.member_count, 2_001);
    let report = loop {
        let event = next_event(&mut tail).await;
        assert_eq!(
            event.kind(),
            EventKind::MemberCount,
            "no per-user events while super"
        );
        if event.member_count == 3_002 {
            break event;
        }
    };
    assert!(report.seq > upgrade.seq);

    // Unknown groups and callers without the token are refused.
    let mut unknown = watch(1);
    unknown.group_id = "nope".into();
    let err = events.watch_group_events(unknown).await.unwrap_err();
    assert_eq!(code_of(&err), "ResourceNotExist");
    let err = EventServiceClient::new(channel)
        .watch_group_events(watch(1))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
}

async fn next_event(
    stream: &mut tonic::Streaming<livemsg_proto::events::v1::GroupEvent>,
) -> livemsg_proto::events::v1::GroupEvent {
    tokio::time::timeout(std::time::Duration::from_secs(10), stream.message())
        .await
        .expect("events keep coming")
        .unwrap()
        .expect("the stream stays open")
}

fn resume_from(status: &tonic::Status) -> i64 {
    status
        .metadata()
        .get("x-livemsg-resume-from")
        .expect("the status says where to resume")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn app_watchers_on_two_instances_see_one_identical_stream(pool: PgPool) {
    use livemsg_proto::events::v1::{EventKind, WatchAppEventsRequest};
    use livemsg_proto::membership::v1::{LogoffReason, LogoffRequest, LogonRequest};
    let h = start(pool.clone(), 2_000).await;
    let mut one = another_instance(pool.clone(), |_| {}).await;
    let mut two = another_instance(pool, |_| {}).await;
    h.create_group("a").await;
    h.create_group("b").await;
    let mut membership = MembershipServiceClient::new(h.channel.clone());
    membership
        .logon(LogonRequest {
            app_id: h.app_id.clone(),
            user_id: "viewer".into(),
            session_id: "sess-1".into(),
        })
        .await
        .unwrap();
    let watch = || WatchAppEventsRequest {
        app_id: h.app_id.clone(),
        from_seq: 1,
    };
    let mut first = one.watch_app_events(watch()).await.unwrap().into_inner();
    // Changes race over two groups while both watchers follow.
    let mut tasks = Vec::new();
    for i in 0..20 {
        for group in ["a", "b"] {
            let mut membership = MembershipServiceClient::new(h.channel.clone());
            let app_id = h.app_id.clone();
            tasks.push(tokio::spawn(async move {
                membership
                    .join_group(JoinGroupRequest {
                        app_id,
                        group_id: group.into(),
                        user_id: format!("u{i}"),
                        user_info: String::new(),
                    })
                    .await
                    .unwrap();
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    membership
        .join_group(JoinGroupRequest {
            app_id: h.app_id.clone(),
            group_id: "a".into(),
            user_id: "viewer".into(),
            user_info: String::new(),
        })
        .await
        .unwrap();
    membership
        .logoff(LogoffRequest {
            app_id: h.app_id.clone(),
            user_id: "viewer".into(),
            session_id: "sess-1".into(),
            reason: LogoffReason::Timeout.into(),
        })
        .await
        .unwrap();
    let mut second = two.watch_app_events(watch()).await.unwrap().into_inner();
    // 1 logon, 41 joins, 1 logoff, 1 leave that follows from it.
    let mut streams = Vec::new();
    for stream in [&mut first, &mut second] {
        let mut events = Vec::new();
        for _ in 0..44 {
            events.push(next_event(stream).await);
        }
        streams.push(events);
    }
    assert_eq!(streams[0], streams[1], "both instances tell the same story");
    let events = &streams[0];
    assert_eq!(
        events.iter().map(|e| e.app_seq).collect::<Vec<_>>(),
        (1..=44).collect::<Vec<_>>()
    );
    assert_eq!(events[0].kind(), EventKind::Logon);
    assert_eq!(events[0].session_id, "sess-1");
    let logoff = &events[42];
    assert_eq!(
        (logoff.kind(), logoff.logoff_reason),
        (EventKind::Logoff, 3)
    );
    assert_eq!(
        (
            events[43].kind(),
            events[43].group_id.as_str(),
            events[43].user_id.as_str()
        ),
        (EventKind::UserLeft, "a", "viewer")
    );
    for group in ["a", "b"] {
        let seqs: Vec<i64> = events
            .iter()
            .filter(|e| e.group_id == group)
            .map(|e| e.seq)
            .collect();
        let expected = if group == "a" { 22 } else { 20 };
        assert_eq!(seqs, (1..=expected).collect::<Vec<_>>(), "group {group}");
    }
    // Unknown apps are refused at once.
    let err = one
        .watch_app_events(WatchAppEventsRequest {
            app_id: "nosuchapp".into(),
            from_seq: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(code_of(&err), "ResourceNotExist");
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_watcher_that_stops_reading_is_told_where_to_resume(pool: PgPool) {
    use livemsg_proto::events::v1::WatchGroupEventsRequest;
    let h = start(pool.clone(), 100_000).await;
    let mut events = another_instance(pool, |s| s.events.watcher_stall_ms = 200).await;
    h.create_group("room").await;
    // More events than the service's buffer and the connection's flow-control window hold.
    let total = 6_000;
    let items: Vec<MembershipItem> = (0..total)
        .map(|i| MembershipItem {
            operation: Operation::Join.into(),
            group_id: "room".into(),
            user_id: format!("user{i}"),
            user_info: "x".repeat(500),
        })
        .collect();
    for chunk in items.chunks(1000) {
        MembershipServiceClient::new(h.channel.clone())
            .batch_update_membership(BatchUpdateMembershipRequest {
                app_id: h.app_id.clone(),
                items: chunk.to_vec(),
            })
            .await
            .unwrap();
    }
    let watch = |from_seq| WatchGroupEventsRequest {
        app_id: h.app_id.clone(),
        group_id: "room".into(),
        from_seq,
    };
    let mut stream = events
        .watch_group_events(watch(1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next_event(&mut stream).await.seq, 1);
    // The watcher stops reading for a while.
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    let mut expected = 2;
    let status = loop {
        let message = tokio::time::timeout(std::time::Duration::from_secs(10), stream.message())
            .await
            .expect("the stream ends with a status, it does not hang");
        match message {
            Ok(Some(event)) => {
                assert_eq!(event.seq, expected, "in order, nothing skipped");
                expected += 1;
            }
            Ok(None) => panic!("the stream ended without saying why"),
            Err(status) => break status,
        }
    };
    assert!(expected <= total, "it was stopped before the end");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert_eq!(
        status.metadata().get("x-livemsg-code").unwrap(),
        "WatcherFellBehind"
    );
    assert_eq!(
        resume_from(&status),
        expected,
        "resume right after the last event read"
    );
    let mut resumed = events
        .watch_group_events(watch(expected))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next_event(&mut resumed).await.seq, expected);
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_watcher_asking_for_pruned_events_is_told_where_to_resume(pool: PgPool) {
    use livemsg_proto::events::v1::WatchGroupEventsRequest;
    let h = start(pool.clone(), 2_000).await;
    let store = Store::new(pool.clone(), 2_000, Keyring::generate());
    let mut events = another_instance(pool, |_| {}).await;
    h.create_group("room").await;
    for user in ["a", "b", "c"] {
        h.join("room", user).await.unwrap();
    }
    // With no callback waiting, they may be pruned.
    assert_eq!(
        store
            .prune_events(std::time::Duration::ZERO, 100)
            .await
            .unwrap(),
        3
    );
    h.join("room", "d").await.unwrap();
    let mut stream = events
        .watch_group_events(WatchGroupEventsRequest {
            app_id: h.app_id.clone(),
            group_id: "room".into(),
            from_seq: 1,
        })
        .await
        .unwrap()
        .into_inner();
    let status = tokio::time::timeout(std::time::Duration::from_secs(10), stream.message())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::OutOfRange);
    assert_eq!(
        status.metadata().get("x-livemsg-code").unwrap(),
        "EventsExpired"
    );
    assert_eq!(resume_from(&status), 4);
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_crowd_logging_on_at_once_is_answered_each_and_numbered_without_gaps(pool: PgPool) {
    use livemsg_proto::membership::v1::LogonRequest;
    let h = start(pool.clone(), 2_000).await;
    // 200 logons race (the writers commit them in batches); each is answered on its own.
    let mut tasks = Vec::new();
    for i in 0..200 {
        let mut membership = MembershipServiceClient::new(h.channel.clone());
        let app_id = h.app_id.clone();
        tasks.push(tokio::spawn(async move {
            membership
                .logon(LogonRequest {
                    app_id,
                    user_id: format!("v{i}"),
                    session_id: format!("s{i}"),
                })
                .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let store = Store::new(pool, 2_000, Keyring::generate());
    let app_id = livemsg_domain::AppId::parse(&h.app_id).unwrap();
    let events = store.app_events(&app_id, 1, 1_000).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.app_seq).collect::<Vec<_>>(),
        (1..=200).collect::<Vec<_>>()
    );
    let users: std::collections::HashSet<_> =
        events.iter().filter_map(|e| e.user_id.clone()).collect();
    assert_eq!(users.len(), 200, "every logon once");
}
