//! Group and user messages: numbered without gaps, idempotent by MsgTid, counted per type,
//! listed, replayed, recalled, and dropped with their partition when they expire.

use chrono::{Duration, Utc};
use livemsg_store::messages::{HistoryQuery, MessageKind, NewGroupMessage, NewUserMessage};

use crate::helpers::*;

fn msg(f: &Fixture, group: &str, tid: Option<&str>, msg_type: i64, body: &str) -> NewGroupMessage {
    NewGroupMessage {
        app_id: f.app_id.to_string(),
        group_id: group.to_owned(),
        msg_tid: tid.map(str::to_owned),
        msg_type,
        body: body.to_owned(),
        sender_id: "host".to_owned(),
        sender_info: "info".to_owned(),
        weight: 1,
        statics_increase: 1,
        stored: true,
        cached: true,
        require_members: false,
        sender_must_be_member: false,
        subject_to_mute: false,
        scope: None,
    }
}

fn history(ascending: bool, from_seq: Option<i64>, size: i64) -> HistoryQuery {
    HistoryQuery {
        ascending,
        from_seq,
        size,
        msg_type: None,
        begin: None,
        end: None,
    }
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn sends_are_numbered_counted_and_idempotent_by_msg_tid(pool: PgPool) {
    let f = fixture(pool, THRESHOLD).await;
    let (g, h) = (f.group("g").await, f.group("h").await);
    let batch = [
        msg(&f, "g", Some("t1"), 1, "a"),
        msg(&f, "h", None, 1, "b"),
        msg(&f, "g", None, 2, "c"),
        msg(&f, "g", Some("t1"), 1, "again"),
        msg(&f, "nope", None, 1, "x"),
    ];
    let results = f.store.send_group_messages(&batch).await.unwrap();
    let ok: Vec<_> = results[..4].iter().map(|r| r.as_ref().unwrap()).collect();
    assert_eq!(
        ok.iter()
            .map(|s| (s.message.group_id.as_str(), s.message.seq, s.repeated))
            .collect::<Vec<_>>(),
        [
            ("g", 1, false),
            ("h", 1, false),
            ("g", 2, false),
            ("g", 1, true)
        ]
    );
    assert_eq!(
        ok[3].message.body, "a",
        "a repeat answers the first message"
    );
    assert_eq!(ok[1].message.msg_tid.len(), 32, "a made id: 32 hex digits");
    assert!(matches!(results[4], Err(StoreError::GroupNotFound)));
    // Again in a later batch: still the same message, nothing written.
    let again = f
        .store
        .send_group_messages(&[msg(&f, "g", Some("t1"), 1, "x")])
        .await
        .unwrap();
    assert!(again[0].as_ref().unwrap().repeated);
    let (stream, head) = f
        .store
        .group_message_stream(f.app_id.as_str(), "g", 1, 100)
        .await
        .unwrap();
    assert_eq!((stream.len(), head), (2, 3));
    // Counters per type, with StaticsIncrease.
    let mut heavy = msg(&f, "g", None, 1, "like");
    heavy.statics_increase = 10;
    let sent = f.store.send_group_messages(&[heavy]).await.unwrap();
    assert_eq!(sent[0].as_ref().unwrap().message.total_messages, 11);
    assert_eq!(
        f.store
            .message_amounts((f.app_id.as_str(), "g"))
            .await
            .unwrap(),
        [(1, 11), (2, 1)]
    );
    let _ = (g, h);
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_group_carries_at_most_thirty_types_and_refuses_what_it_cannot_take(pool: PgPool) {
    let f = fixture(pool, THRESHOLD).await;
    let g = f.group("g").await;
    let batch: Vec<_> = (0..31).map(|t| msg(&f, "g", None, t, "m")).collect();
    let results = f.store.send_group_messages(&batch).await.unwrap();
    assert!(results[..30].iter().all(Result::is_ok));
    assert!(matches!(
        results[30],
        Err(StoreError::TooManyMessageTypes(30))
    ));
    // Known types still go through.
    assert!(f
        .store
        .send_group_messages(&[msg(&f, "g", None, 5, "m")])
        .await
        .unwrap()[0]
        .is_ok());

    let mut needs = msg(&f, "g", None, 1, "m");
    needs.require_members = true;
    assert!(matches!(
        f.store.send_group_messages(&[needs.clone()]).await.unwrap()[0],
        Err(StoreError::GroupEmpty)
    ));
    f.seed(&g, ["viewer".to_owned()]).await;
    assert!(f.store.send_group_messages(&[needs.clone()]).await.unwrap()[0].is_ok());
    f.store.delete_group(&f.scope(), &g, None).await.unwrap();
    assert!(matches!(
        f.store.send_group_messages(&[needs]).await.unwrap()[0],
        Err(StoreError::GroupNotFound)
    ));
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn history_pages_by_seq_with_filters_and_skips_what_is_not_stored(pool: PgPool) {
    let f = fixture(pool, THRESHOLD).await;
    let g = f.group("g").await;
    let batch: Vec<_> = (1..=25)
        .map(|i| {
            let mut m = msg(&f, "g", None, i % 2, &format!("m{i}"));
            m.stored = i != 7;
            m
        })
        .collect();
    f.store.send_group_messages(&batch).await.unwrap();
    let page = |q: HistoryQuery| {
        let (store, scope, g) = (f.store.clone(), f.scope(), g.clone());
        async move {
            let (messages, next) = store.list_group_messages(&scope, &g, &q).await.unwrap();
            (
                messages.into_iter().map(|m| m.body).collect::<Vec<_>>(),
                next,
            )
        }
    };
    let (bodies, next) = page(history(true, None, 10)).await;
    assert_eq!(
        bodies,
        ["m1", "m2", "m3", "m4", "m5", "m6", "m8", "m9", "m10", "m11"]
    );
    assert_eq!(next, Some(12));
    let (bodies, next) = page(history(true, Some(24), 10)).await;
    assert_eq!(
        (bodies, next),
        (vec!["m24".to_owned(), "m25".to_owned()], None)
    );
    let (bodies, _) = page(history(false, None, 3)).await;
    assert_eq!(bodies, ["m25", "m24", "m23"]);
    let mut odd = history(true, None, 50);
    odd.msg_type = Some(1);
    assert_eq!(page(odd).await.0.len(), 12, "odd bodies, less m7");
    let mut future = history(true, None, 50);
    future.begin = Some(Utc::now() + Duration::hours(1));
    assert!(page(future).await.0.is_empty());
    // Recalled: gone from history and recent, a recall entry in the stream.
    let first = f
        .store
        .list_group_messages(&f.scope(), &g, &history(true, None, 1))
        .await
        .unwrap()
        .0;
    let recall = f
        .store
        .recall_group_message(&f.scope(), &g, &first[0].msg_tid, "mod", "{}")
        .await
        .unwrap()
        .expect("recalled");
    assert_eq!((recall.kind, recall.seq), (MessageKind::Recall, 26));
    assert_eq!(page(history(true, None, 1)).await.0, ["m2"]);
    assert!(f
        .store
        .recall_group_message(&f.scope(), &g, &first[0].msg_tid, "mod", "")
        .await
        .unwrap()
        .is_none());
    let recent = f
        .store
        .recent_group_messages(f.app_id.as_str(), "g", 50)
        .await
        .unwrap();
    assert_eq!(recent.len(), 24);
    assert_eq!(recent.first().unwrap().body, "m2");
    assert_eq!(recent.last().unwrap().body, "m25");
    // Another account's caller: not found.
    let stranger = scope_of(f.account_id + 1, &f.app_id, DataCenter::CnShanghai);
    assert!(matches!(
        f.store
            .list_group_messages(&stranger, &g, &history(true, None, 10))
            .await,
        Err(StoreError::AppNotFound)
    ));
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn expired_partitions_are_dropped_with_their_messages_only(pool: PgPool) {
    let f = fixture(pool, THRESHOLD).await;
    let long = f
        .store
        .create_app(NewApp {
            msg_life_cycle: 2,
            ..new_app(f.account_id, DataCenter::CnShanghai)
        })
        .await
        .unwrap();
    let g = f.group("g").await;
    f.store
        .create_group(
            &scope_of(
                f.account_id,
                &AppId::parse(&long.app_id).unwrap(),
                DataCenter::CnShanghai,
            ),
            new_group("g"),
        )
        .await
        .unwrap();
    let mut kept = msg(&f, "g", None, 1, "180 days");
    kept.app_id = long.app_id.clone();
    f.store
        .send_group_messages(&[msg(&f, "g", None, 1, "30 days"), kept])
        .await
        .unwrap();
    let partitions = |f: &Fixture| {
        let pool = f.store.pool().clone();
        async move {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
                 WHERE p.relname = 'group_messages'",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            n
        }
    };
    let before = partitions(&f).await;
    assert!(before >= 29, "partitions made ahead on first use: {before}");
    // The clock moved 35 days on: the 30-day message's week has passed.
    let dropped = f
        .store
        .drop_expired_message_partitions(Utc::now() + Duration::days(38))
        .await
        .unwrap();
    assert!(!dropped.is_empty());
    assert!(partitions(&f).await < before);
    let (stream, head) = f
        .store
        .group_message_stream(f.app_id.as_str(), "g", 1, 10)
        .await
        .unwrap();
    assert_eq!(
        (stream.len(), head),
        (0, 2),
        "gone, and the head says it existed"
    );
    let (stream, _) = f
        .store
        .group_message_stream(&long.app_id, "g", 1, 10)
        .await
        .unwrap();
    assert_eq!(stream[0].body, "180 days");
    // Sends still work, into the remaining partitions.
    assert!(f
        .store
        .send_group_messages(&[msg(&f, "g", None, 1, "new")])
        .await
        .unwrap()[0]
        .is_ok());
    let _ = g;
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn user_messages_reach_online_receivers_only_and_can_be_recalled(pool: PgPool) {
    let f = fixture(pool, THRESHOLD).await;
    f.store.logon(&f.app_id, &uid("bob"), "s").await.unwrap();
    let to = |receiver: &str, tid: Option<&str>, stored: bool| NewUserMessage {
        app_id: f.app_id.to_string(),
        receiver_id: receiver.to_owned(),
        msg_tid: tid.map(str::to_owned),
        msg_type: 1,
        body: "hi".to_owned(),
        sender_id: "alice".to_owned(),
        sender_info: String::new(),
        stored,
    };
    let results = f
        .store
        .send_user_messages(
            f.app_id.as_str(),
            &[
                to("bob", Some("m1"), true),
                to("carol", None, false),
                to("bob", Some("m1"), true),
            ],
        )
        .await
        .unwrap();
    assert_eq!(results[0].as_ref().unwrap().message.seq, 1);
    assert!(matches!(results[1], Err(StoreError::ReceiverOffline)));
    assert!(results[2].as_ref().unwrap().repeated);
    let (stream, head) = f
        .store
        .user_message_stream(f.app_id.as_str(), 1, 10)
        .await
        .unwrap();
    assert_eq!((stream.len(), head), (1, 2));
    let recall = f
        .store
        .recall_user_message(f.app_id.as_str(), "bob", "m1", "alice", "")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (recall.kind, recall.seq, recall.receiver_id.as_str()),
        (MessageKind::Recall, 2, "bob")
    );
    assert!(f
        .store
        .recall_user_message(f.app_id.as_str(), "bob", "m1", "alice", "")
        .await
        .unwrap()
        .is_none());
    assert!(f
        .store
        .recall_user_message(f.app_id.as_str(), "bob", "never", "alice", "")
        .await
        .unwrap()
        .is_none());
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_purged_group_takes_its_messages_along_and_history_survives_deletion(pool: PgPool) {
    let limits = Limits {
        recovery_window: std::time::Duration::ZERO,
        ..Limits::default()
    };
    let f = fixture_with(pool, THRESHOLD, limits).await;
    let g = f.group("g").await;
    f.store
        .send_group_messages(&[msg(&f, "g", Some("kept"), 1, "body")])
        .await
        .unwrap();
    f.store.delete_group(&f.scope(), &g, None).await.unwrap();
    // Deleted, not purged: the history is still there.
    let (messages, _) = f
        .store
        .list_group_messages(&f.scope(), &g, &history(true, None, 10))
        .await
        .unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(f.store.purge_deleted_groups(10).await.unwrap(), 1);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM group_messages")
        .fetch_one(f.store.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
}
