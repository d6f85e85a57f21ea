//! Rooms: the groups this edge's viewers are in. Each room follows the group's message stream
//! and event stream from the service once for the whole edge, turns each entry into a frame
//! once, and hands that same frame to every viewer in the room.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use livemsg_proto::events::v1::{EventKind, GroupEvent, WatchGroupEventsRequest};
use livemsg_proto::messaging::v1::{Message, MessageKind, WatchGroupMessagesRequest};
use serde_json::json;

use crate::outbox::Tier;
use crate::protocol;
use crate::session::Session;
use crate::Edge;

/// A message as a viewer gets it (`recvgroupmessage`'s `message`, `ImMessage`).
pub fn message_json(m: &Message) -> serde_json::Value {
    json!({
        "groupId": m.group_id,
        "messageId": m.msg_tid,
        "type": m.msg_type,
        "data": m.body,
        "sender": { "userId": m.sender_id, "userExtension": m.sender_info },
        "seqnum": m.seq,
        "timestamp": m.timestamp_ms,
        "level": if m.weight >= 1_000_000 { 1 } else { 0 },
        "totalMsgs": m.total_messages,
    })
}

/// The frame of a group stream entry, and how much it matters.
pub fn group_frame(m: &Message) -> (Utf8Bytes, Tier) {
    match m.kind() {
        MessageKind::Recall => (
            protocol::event(
                "deletegroupmessage",
                json!({ "groupId": m.group_id, "messageId": m.msg_tid, "seqnum": m.seq,
                        "deleterId": m.deleter_id }),
            )
            .into(),
            Tier::Control,
        ),
        MessageKind::MuteChange => {
            let status: serde_json::Value = serde_json::from_str(&m.body).unwrap_or_default();
            (
                protocol::event(
                    "mutechange",
                    json!({ "groupId": m.group_id, "status": status, "seqnum": m.seq }),
                )
                .into(),
                Tier::Control,
            )
        }
        _ => (
            protocol::event(
                "recvgroupmessage",
                json!({ "groupId": m.group_id, "message": message_json(m) }),
            )
            .into(),
            Tier::of_weight(m.weight),
        ),
    }
}

/// One group this edge's viewers are in.
pub struct Room {
    pub app_id: String,
    pub group_id: String,
    members: Mutex<HashMap<String, Arc<Session>>>,
    /// The last seq of the group's message stream handed to the viewers.
    last_seq: AtomicI64,
    /// True once the group's event stream is open (its starting point fixed by the service).
    following: tokio::sync::watch::Sender<bool>,
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
}

impl std::fmt::Debug for Room {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Room")
            .field("app_id", &self.app_id)
            .field("group_id", &self.group_id)
            .finish_non_exhaustive()
    }
}

impl Drop for Room {
    fn drop(&mut self) {
        for task in self.tasks.lock().expect("room lock").drain(..) {
            task.abort();
        }
        metrics::gauge!("livemsg_edge_rooms").decrement(1.0);
    }
}

impl Room {
    /// Starts following the group for `edge` (held weakly: a room does not keep the edge).
    pub fn start(edge: &Arc<Edge>, app_id: &str, group_id: &str) -> Arc<Room> {
        let room = Arc::new(Room {
            app_id: app_id.to_owned(),
            group_id: group_id.to_owned(),
            members: Mutex::new(HashMap::new()),
            last_seq: AtomicI64::new(0),
            following: tokio::sync::watch::channel(false).0,
            tasks: Mutex::new(Vec::new()),
        });
        let messages = tokio::spawn(follow_messages(Arc::downgrade(edge), Arc::downgrade(&room)));
        let events = tokio::spawn(follow_events(Arc::downgrade(edge), Arc::downgrade(&room)));
        room.tasks
            .lock()
            .expect("room lock")
            .extend([messages.abort_handle(), events.abort_handle()]);
        metrics::gauge!("livemsg_edge_rooms").increment(1.0);
        room
    }

    /// Adds a viewer; returns the seq the room is at (what the viewer gets from now on follows
    /// it).
    pub fn add(&self, session: Arc<Session>) -> i64 {
        let mut members = self.members.lock().expect("room lock");
        members.insert(session.id.clone(), session);
        self.last_seq.load(Ordering::Acquire)
    }

    /// Waits until the room follows the group's events: every event committed from then on
    /// reaches its viewers (a join made after this is seen by the joiner itself).
    pub async fn following(&self) {
        let mut following = self.following.subscribe();
        let _ = following.wait_for(|f| *f).await;
    }

    /// The last seq handed to the viewers.
    pub fn last_seq(&self) -> i64 {
        self.last_seq.load(Ordering::Acquire)
    }

    /// Removes a viewer; returns how many are left.
    pub fn remove(&self, session_id: &str) -> usize {
        let mut members = self.members.lock().expect("room lock");
        members.remove(session_id);
        members.len()
    }

    /// Whether another session of `user_id` than `except` is in the room on this edge.
    pub fn has_user(&self, user_id: &str, except: &str) -> bool {
        let members = self.members.lock().expect("room lock");
        members
            .values()
            .any(|s| s.user_id == user_id && s.id != except)
    }

    /// The viewers now.
    pub fn viewers(&self) -> Vec<Arc<Session>> {
        self.members
            .lock()
            .expect("room lock")
            .values()
            .cloned()
            .collect()
    }

    /// Hands a frame to every viewer (the frame is shared, not copied).
    fn broadcast(&self, frame: &Utf8Bytes, tier: Tier, seq: Option<i64>) {
        let members = self.members.lock().expect("room lock");
        if let Some(seq) = seq {
            self.last_seq.fetch_max(seq, Ordering::AcqRel);
        }
        for session in members.values() {
            session.deliver(&self.group_id, frame.clone(), tier, seq);
        }
    }
}

/// Follows the group's message stream from now on, again after any interruption from where it
/// stopped.
async fn follow_messages(edge: Weak<Edge>, room: Weak<Room>) {
    let mut from = 0;
    loop {
        let (Some(edge_now), Some(room_now)) = (edge.upgrade(), room.upgrade()) else {
            return;
        };
        let request = WatchGroupMessagesRequest {
            app_id: room_now.app_id.clone(),
            group_id: room_now.group_id.clone(),
            from_seq: from,
        };
        let stream = edge_now
            .service
            .messaging()
            .watch_group_messages(request)
            .await;
        drop((edge_now, room_now));
        let mut stream = match stream {
            Ok(stream) => stream.into_inner(),
            Err(err) => {
                tracing::warn!(error = %err, "cannot follow a room's messages; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        loop {
            match stream.message().await {
                Ok(Some(message)) => {
                    let Some(room) = room.upgrade() else { return };
                    from = message.seq + 1;
                    let (frame, tier) = group_frame(&message);
                    room.broadcast(&frame, tier, Some(message.seq));
                }
                Ok(None) => break,
                Err(status) => {
                    // Resume where the service says (past what is gone, if anything is).
                    if let Some(resume) = status
                        .metadata()
                        .get("x-livemsg-resume-from")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse().ok())
                    {
                        from = resume;
                    }
                    tracing::info!(code = ?status.code(), "a room's message stream ended; following again");
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Follows the group's membership events from now on: member changes, kicks, deletion, info.
async fn follow_events(edge: Weak<Edge>, room: Weak<Room>) {
    let mut from = 0;
    loop {
        let (Some(edge_now), Some(room_now)) = (edge.upgrade(), room.upgrade()) else {
            return;
        };
        let request = WatchGroupEventsRequest {
            app_id: room_now.app_id.clone(),
            group_id: room_now.group_id.clone(),
            from_seq: from,
        };
        let stream = edge_now.service.events().watch_group_events(request).await;
        if stream.is_ok() {
            room_now.following.send_replace(true);
        }
        drop((edge_now, room_now));
        let mut stream = match stream {
            Ok(stream) => stream.into_inner(),
            Err(err) => {
                tracing::warn!(error = %err, "cannot follow a room's events; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        loop {
            match stream.message().await {
                Ok(Some(event)) => {
                    from = event.seq + 1;
                    let (Some(edge), Some(room)) = (edge.upgrade(), room.upgrade()) else {
                        return;
                    };
                    on_event(&edge, &room, &event);
                }
                Ok(None) => break,
                Err(status) => {
                    if let Some(resume) = status
                        .metadata()
                        .get("x-livemsg-resume-from")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse().ok())
                    {
                        from = resume;
                    }
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn on_event(edge: &Arc<Edge>, room: &Arc<Room>, event: &GroupEvent) {
    let group = &room.group_id;
    let member_change = |joins: Vec<&str>, leaves: Vec<&str>| {
        protocol::event(
            "memberchange",
            json!({ "groupId": group, "memberCount": event.member_count,
                    "joinUsers": joins, "leaveUsers": leaves }),
        )
    };
    // Joins, leaves and a super group's count are notices a newer one supersedes (it carries
    // the count): a viewer behind a joining crowd gives up old ones rather than its connection.
    // A change of the group's state is never given up.
    let user = event.user_id.as_str();
    let notice = |joins: Vec<&str>, leaves: Vec<&str>, tier: Tier| {
        room.broadcast(&member_change(joins, leaves).into(), tier, None);
    };
    match event.kind() {
        EventKind::UserEntered => notice(vec![user], vec![], Tier::Members),
        EventKind::UserLeft => notice(vec![], vec![user], Tier::Members),
        // Super groups: the count only, at most every 5 s (as the service reports it).
        EventKind::MemberCount => notice(vec![], vec![], Tier::Members),
        EventKind::BecameSuper | EventKind::Reopened | EventKind::Closed => {
            notice(vec![], vec![], Tier::Control);
        }
        EventKind::Kicked => {
            let frame: Utf8Bytes =
                protocol::event("exit", json!({ "groupId": group, "reason": 2 })).into();
            for viewer in room.viewers() {
                if viewer.user_id == event.user_id {
                    viewer.push(frame.clone(), Tier::Control);
                    edge.drop_from_room(&viewer, room, false);
                }
            }
        }
        EventKind::GroupDeleted => {
            let frame: Utf8Bytes =
                protocol::event("exit", json!({ "groupId": group, "reason": 1 })).into();
            for viewer in room.viewers() {
                viewer.push(frame.clone(), Tier::Control);
                edge.drop_from_room(&viewer, room, false);
            }
        }
        EventKind::GroupInfoChanged => {
            let frame = protocol::event(
                "infochange",
                json!({ "groupId": group, "info": { "groupId": group,
                        "groupMeta": event.group_info, "adminList": event.admin_list } }),
            );
            room.broadcast(&frame.into(), Tier::Control, None);
        }
        _ => {}
    }
}
