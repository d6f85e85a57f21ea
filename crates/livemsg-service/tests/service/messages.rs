//! Message streams over real sockets: replay then live, across instances through Redis, and
//! without Redis through the head poll; client sends through membership, audit and the group
//! commit; user messages with acknowledgements.

use std::time::Duration;

use livemsg_proto::api::v1::message_service_client::MessageServiceClient;
use livemsg_proto::api::v1::{SendGroupMessageRequest, SendUserMessageRequest};
use livemsg_proto::membership::v1::LogonRequest;
use livemsg_proto::messaging::v1::messaging_service_client::MessagingServiceClient;
use livemsg_proto::messaging::v1::{
    AckUserMessageRequest, ClientGroupMessage, ListRecentMessagesRequest, Message, MessageKind,
    WatchGroupMessagesRequest, WatchUserMessagesRequest,
};

use crate::helpers::*;

pub(crate) type Messaging = MessagingServiceClient<AuthenticatedChannel>;

/// Another instance of the service on the same database; its messaging client.
pub(crate) async fn instance(
    pool: PgPool,
    tune: impl FnOnce(&mut ServiceSettings),
) -> (Messaging, tokio::sync::oneshot::Sender<()>) {
    let mut settings = test_settings();
    tune(&mut settings);
    let app = Application::build_with_pool(&settings, pool).await.unwrap();
    let addr = app.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let client = MessagingServiceClient::new(tonic::service::interceptor::InterceptedService::new(
        channel,
        BearerToken::new(TOKEN).unwrap(),
    ));
    (client, stop)
}

pub(crate) fn prefix() -> String {
    format!("test{:016x}", rand::random::<u64>())
}

pub(crate) async fn server_send(h: &Harness, group: &str, body: &str) -> (String, i64) {
    let sent = MessageServiceClient::new(h.channel.clone())
        .send_group_message(SendGroupMessageRequest {
            app: h.app(),
            group_id: group.into(),
            sender_id: "host".into(),
            body: body.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    (sent.msg_tid, sent.seq)
}

async fn next(stream: &mut tonic::Streaming<Message>, within: Duration) -> Message {
    tokio::time::timeout(within, stream.message())
        .await
        .expect("a message in time")
        .unwrap()
        .expect("the stream goes on")
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_watcher_on_another_instance_gets_messages_through_redis_in_order(pool: PgPool) {
    let channels = prefix();
    let c = channels.clone();
    let h = start_configured(pool.clone(), 2_000, move |s| {
        s.messages.channel_prefix = c;
        s.messages.head_poll_ms = 600_000;
    })
    .await;
    h.create_group("room").await;
    h.join("room", "viewer").await.unwrap();
    server_send(&h, "room", "before").await;
    let c = channels.clone();
    let (mut other, _stop) = instance(pool, move |s| {
        s.messages.channel_prefix = c;
        // Only Redis can bring live messages here in time.
        s.messages.head_poll_ms = 600_000;
    })
    .await;
    let mut stream = other
        .watch_group_messages(WatchGroupMessagesRequest {
            app_id: h.app_id.clone(),
            group_id: "room".into(),
            from_seq: 1,
        })
        .await
        .unwrap()
        .into_inner();
    let replayed = next(&mut stream, Duration::from_secs(5)).await;
    assert_eq!((replayed.seq, replayed.body.as_str()), (1, "before"));
    // Live, sent through the first instance while this one follows.
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..50 {
        let mut api = MessageServiceClient::new(h.channel.clone());
        let app = h.app();
        sends.spawn(async move {
            api.send_group_message(SendGroupMessageRequest {
                app,
                group_id: "room".into(),
                sender_id: "host".into(),
                body: format!("live{i}"),
                ..Default::default()
            })
            .await
            .unwrap();
        });
    }
    sends.join_all().await;
    for seq in 2..=51 {
        let message = next(&mut stream, Duration::from_secs(5)).await;
        assert_eq!(message.seq, seq);
        assert_eq!(message.kind(), MessageKind::Message);
        assert!(message.body.starts_with("live"));
    }
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn without_redis_an_instance_catches_up_from_postgres(pool: PgPool) {
    let h = start_configured(pool.clone(), 2_000, |s| {
        s.messages.channel_prefix = prefix()
    })
    .await;
    h.create_group("room").await;
    h.join("room", "viewer").await.unwrap();
    let (mut lonely, _stop) = instance(pool, |s| {
        s.messages.redis_url = "".into();
        s.messages.head_poll_ms = 100;
    })
    .await;
    let mut stream = lonely
        .watch_group_messages(WatchGroupMessagesRequest {
            app_id: h.app_id.clone(),
            group_id: "room".into(),
            from_seq: 1,
        })
        .await
        .unwrap()
        .into_inner();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 1..=5 {
        server_send(&h, "room", &format!("m{i}")).await;
    }
    for seq in 1..=5 {
        assert_eq!(next(&mut stream, Duration::from_secs(5)).await.seq, seq);
    }
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_user_speaks_only_in_a_group_it_joined_and_recalls_reach_watchers(pool: PgPool) {
    let h = start_configured(pool, 2_000, |s| s.messages.channel_prefix = prefix()).await;
    h.create_group("room").await;
    h.join("room", "talker").await.unwrap();
    let mut messaging = MessagingServiceClient::new(h.channel.clone());
    let say = |user: &str, body: &str| ClientGroupMessage {
        app_id: h.app_id.clone(),
        group_id: "room".into(),
        sender_id: user.into(),
        body: body.into(),
        msg_type: 10_001,
        ..Default::default()
    };
    let refused = messaging
        .send_group_message(say("stranger", "hi"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((refused.refused_code, refused.seq), (425, 0));
    let mut nowhere = say("talker", "hi");
    nowhere.group_id = "nope".into();
    assert_eq!(
        messaging
            .send_group_message(nowhere)
            .await
            .unwrap()
            .into_inner()
            .refused_code,
        440
    );
    let sent = messaging
        .send_group_message(say("talker", "hello"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((sent.refused_code, sent.seq), (0, 1));
    let recent = messaging
        .list_recent_messages(ListRecentMessagesRequest {
            app_id: h.app_id.clone(),
            group_id: "room".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .messages;
    assert_eq!(recent.len(), 1);
    assert_eq!(
        (recent[0].sender_id.as_str(), recent[0].body.as_str()),
        ("talker", "hello")
    );

    let mut stream = messaging
        .watch_group_messages(WatchGroupMessagesRequest {
            app_id: h.app_id.clone(),
            group_id: "room".into(),
            from_seq: 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next(&mut stream, Duration::from_secs(5)).await.seq, 1);
    MessageServiceClient::new(h.channel.clone())
        .delete_group_message(livemsg_proto::api::v1::DeleteGroupMessageRequest {
            app: h.app(),
            group_id: "room".into(),
            message_id: sent.msg_tid.clone(),
            deleter_id: "mod".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let recall = next(&mut stream, Duration::from_secs(5)).await;
    assert_eq!(
        (
            recall.kind(),
            recall.seq,
            recall.msg_tid.as_str(),
            recall.deleter_id.as_str()
        ),
        (MessageKind::Recall, 2, sent.msg_tid.as_str(), "mod")
    );
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn high_reliability_waits_for_an_acknowledgement_from_any_instance(pool: PgPool) {
    let channels = prefix();
    let c = channels.clone();
    // The default wait (3 s): a delivery that pub/sub missed (the other instance subscribing
    // just as the message is published) waits for that instance's head check, once a second,
    // and a wait of 1 s here failed once on a busy machine.
    let h = start_configured(pool.clone(), 2_000, move |s| {
        s.messages.channel_prefix = c;
        s.messages.ack_timeout_ms = 3_000;
    })
    .await;
    let c = channels.clone();
    let (mut tier, _stop) = instance(pool, move |s| s.messages.channel_prefix = c).await;
    MembershipServiceClient::new(h.channel.clone())
        .logon(LogonRequest {
            app_id: h.app_id.clone(),
            user_id: "bob".into(),
            session_id: "s".into(),
        })
        .await
        .unwrap();
    let mut stream = tier
        .watch_user_messages(WatchUserMessagesRequest {
            app_id: h.app_id.clone(),
            from_seq: 1,
        })
        .await
        .unwrap()
        .into_inner();
    // The connection tier, on the other instance, acknowledges what it delivers.
    let app_id = h.app_id.clone();
    let acker = tokio::spawn(async move {
        let message = next(&mut stream, Duration::from_secs(10)).await;
        assert!(message.high_reliability);
        tier.ack_user_message(AckUserMessageRequest {
            app_id,
            msg_tid: message.msg_tid.clone(),
            receiver_id: message.receiver_id.clone(),
        })
        .await
        .unwrap();
        message
    });
    let send = |tid: &str| SendUserMessageRequest {
        app: h.app(),
        receiver_id: "bob".into(),
        sender_id: "alice".into(),
        body: "psst".into(),
        msg_tid: tid.into(),
        high_reliability: true,
        ..Default::default()
    };
    let mut api = MessageServiceClient::new(h.channel.clone());
    let sent = api
        .send_user_message(send("m1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(sent.msg_tid, "m1");
    let delivered = acker.await.unwrap();
    assert_eq!(
        (
            delivered.receiver_id.as_str(),
            delivered.body.as_str(),
            delivered.seq
        ),
        ("bob", "psst", 1)
    );
    // Nobody acknowledges this one: the documented failure, after the wait.
    let started = std::time::Instant::now();
    let failed = api.send_user_message(send("m2")).await.unwrap_err();
    assert_eq!(code_of(&failed), "ServerError");
    assert!(
        failed.message().contains("did not acknowledge"),
        "{}",
        failed.message()
    );
    assert!(started.elapsed() >= Duration::from_millis(2_900));
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_draining_instance_ends_its_streams_with_where_to_resume(pool: PgPool) {
    let h = start_configured(pool.clone(), 2_000, |s| {
        s.messages.channel_prefix = prefix()
    })
    .await;
    h.create_group("room").await;
    h.join("room", "viewer").await.unwrap();
    server_send(&h, "room", "one").await;
    let (mut other, stop) = instance(pool, |s| s.service.shutdown_delay_ms = 200).await;
    let mut stream = other
        .watch_group_messages(WatchGroupMessagesRequest {
            app_id: h.app_id.clone(),
            group_id: "room".into(),
            from_seq: 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next(&mut stream, Duration::from_secs(5)).await.seq, 1);
    let _ = stop.send(());
    let ended = tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .expect("the stream ends while the instance drains")
        .unwrap_err();
    assert_eq!(ended.code(), tonic::Code::Unavailable);
    assert_eq!(
        ended
            .metadata()
            .get(livemsg_service::RESUME_FROM_METADATA)
            .unwrap(),
        "2"
    );
}
