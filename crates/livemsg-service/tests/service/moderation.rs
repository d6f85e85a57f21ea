//! Moderation enforced: concurrent speakers (muted, exempt, administrator, ordinary) while the
//! mute state changes; every message in the stream after a change obeys it. Kicks under
//! concurrent joins keep the count exact and are told as kicks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use livemsg_proto::api::v1::moderation_service_client::ModerationServiceClient;
use livemsg_proto::api::v1::{
    BanGroupRequest, GroupBandUsersRequest, KickGroupUserRequest, ModifyGroupBandRequest,
    UnbanGroupRequest, UserList,
};
use livemsg_proto::events::v1::event_service_client::EventServiceClient;
use livemsg_proto::events::v1::{EventKind, WatchGroupEventsRequest};
use livemsg_proto::messaging::v1::messaging_service_client::MessagingServiceClient;
use livemsg_proto::messaging::v1::{ClientGroupMessage, MessageKind, WatchGroupMessagesRequest};
use livemsg_store::MuteState;

use crate::helpers::*;
use crate::messages::prefix;

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn no_message_obeys_an_older_mute_state_than_the_last_change_before_it(pool: PgPool) {
    let h = start_configured(pool, 2_000, |s| s.messages.channel_prefix = prefix()).await;
    GroupServiceClient::new(h.channel.clone())
        .create_group(CreateGroupRequest {
            app: h.app(),
            group_id: "room".into(),
            creator_id: "host".into(),
            administrators: vec!["mod".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let speakers = ["host", "mod", "vip", "spammer", "plain"];
    for user in speakers {
        h.join("room", user).await.unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = tokio::task::JoinSet::new();
    for user in speakers {
        let (channel, app_id, stop) = (h.channel.clone(), h.app_id.clone(), stop.clone());
        tasks.spawn(async move {
            let mut client = MessagingServiceClient::new(channel);
            let (mut sent, mut refused) = (0, 0);
            while !stop.load(Ordering::Relaxed) {
                let result = client
                    .send_group_message(ClientGroupMessage {
                        app_id: app_id.clone(),
                        group_id: "room".into(),
                        sender_id: user.into(),
                        body: "hi".into(),
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner();
                match result.refused_code {
                    0 => sent += 1,
                    442 => refused += 1,
                    other => panic!("{user}: {other} {}", result.reason),
                }
            }
            (user, sent, refused)
        });
    }
    let mut moderation = ModerationServiceClient::new(h.channel.clone());
    let list = |users: &[&str]| UserList {
        users: users.iter().map(|u| (*u).to_owned()).collect(),
    };
    for round in 0..3 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        moderation
            .ban_group(BanGroupRequest {
                app: h.app(),
                group_id: "room".into(),
                except_users: Some(list(&["vip"])),
            })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        moderation
            .add_group_band(GroupBandUsersRequest {
                app: h.app(),
                group_id: "room".into(),
                users: vec!["spammer".into(), "vip".into()],
            })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        moderation
            .unban_group(UnbanGroupRequest {
                app: h.app(),
                group_id: "room".into(),
            })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        moderation
            .modify_group_band(ModifyGroupBandRequest {
                app: h.app(),
                group_id: "room".into(),
                banned_all: Some(round % 2 == 0),
                banned_users: Some(list(&[])),
                except_users: Some(list(&["plain"])),
            })
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    stop.store(true, Ordering::Relaxed);
    let mut refusals = 0;
    for (user, sent, refused) in tasks.join_all().await {
        assert!(sent > 0, "{user} spoke at some point");
        refusals += refused;
    }
    assert!(refusals > 0, "the mutes refused something");

    // Replay the whole stream and check every message against the state of its moment.
    let head = h
        .store
        .group_message_stream(&h.app_id, "room", i64::MAX, 1)
        .await
        .unwrap()
        .1;
    let mut stream = MessagingServiceClient::new(h.channel.clone())
        .watch_group_messages(WatchGroupMessagesRequest {
            app_id: h.app_id.clone(),
            group_id: "room".into(),
            from_seq: 1,
        })
        .await
        .unwrap()
        .into_inner();
    let mut state = MuteState::default();
    let (mut changes, mut messages) = (0, 0);
    let admins = vec!["mod".to_owned()];
    for seq in 1..head {
        let entry = stream.message().await.unwrap().unwrap();
        assert_eq!(entry.seq, seq);
        match entry.kind() {
            MessageKind::MuteChange => {
                let body: serde_json::Value = serde_json::from_str(&entry.body).unwrap();
                let names = |key: &str| -> Vec<String> {
                    body[key]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_str().unwrap().to_owned())
                        .collect()
                };
                state = MuteState {
                    mute_all: body["muteAll"].as_bool().unwrap(),
                    muted: names("muteUserList"),
                    exempt: names("whiteUserList"),
                };
                changes += 1;
            }
            MessageKind::Message => {
                assert!(
                    !state.mutes(&entry.sender_id, "host", &admins),
                    "seq {seq}: {} spoke while muted by {state:?}",
                    entry.sender_id
                );
                messages += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(changes, 12);
    assert!(messages > 0);
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn kicks_under_concurrent_joins_keep_the_count_exact_and_say_they_were_kicks(pool: PgPool) {
    let h = start_configured(pool, 2_000, |s| s.messages.channel_prefix = prefix()).await;
    h.create_group("room").await;
    for i in 0..20 {
        h.join("room", &format!("early{i}")).await.unwrap();
    }
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..60 {
        let (channel, app_id) = (h.channel.clone(), h.app_id.clone());
        tasks.spawn(async move {
            MembershipServiceClient::new(channel)
                .join_group(JoinGroupRequest {
                    app_id,
                    group_id: "room".into(),
                    user_id: format!("late{i}"),
                    user_info: String::new(),
                })
                .await
                .unwrap();
        });
    }
    for i in 0..20 {
        let (channel, app) = (h.channel.clone(), h.app());
        tasks.spawn(async move {
            let kicked = ModerationServiceClient::new(channel)
                .kick_group_user(KickGroupUserRequest {
                    app,
                    group_id: "room".into(),
                    user_id: format!("early{i}"),
                })
                .await
                .unwrap()
                .into_inner();
            assert!(kicked.kicked);
        });
    }
    tasks.join_all().await;
    let count = MembershipServiceClient::new(h.channel.clone())
        .get_group_count(GetGroupCountRequest {
            app_id: h.app_id.clone(),
            group_id: "room".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .member_count;
    assert_eq!(count, 60);
    let rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM group_members m JOIN groups g USING (group_pk) WHERE g.group_id = 'room'",
    )
    .fetch_one(h.store.pool())
    .await
    .unwrap();
    assert_eq!(rows, 60);
    // Each kick: the leave, then Kicked naming the user.
    let mut events = EventServiceClient::new(h.channel.clone())
        .watch_group_events(WatchGroupEventsRequest {
            app_id: h.app_id.clone(),
            group_id: "room".into(),
            from_seq: 1,
        })
        .await
        .unwrap()
        .into_inner();
    let mut seen = Vec::new();
    while seen.len() < 20 + 60 + 40 {
        seen.push(events.message().await.unwrap().unwrap());
    }
    let kicked: Vec<usize> = seen
        .iter()
        .enumerate()
        .filter(|(_, e)| e.kind() == EventKind::Kicked)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(kicked.len(), 20);
    for i in kicked {
        assert_eq!(seen[i - 1].kind(), EventKind::UserLeft);
        assert_eq!(seen[i - 1].user_id, seen[i].user_id);
        assert!(seen[i].user_id.starts_with("early"));
    }
}
