//! Per app with sessions on this edge: one follower of the app's user messages (each delivered
//! to the receiver's sessions here, acknowledged when sent with high reliability) and one of
//! the app's events (a disabled app's sessions are told and dropped at once).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use livemsg_proto::events::v1::{EventKind, WatchAppEventsRequest};
use livemsg_proto::messaging::v1::{AckUserMessageRequest, MessageKind, WatchUserMessagesRequest};
use serde_json::json;

use crate::outbox::Tier;
use crate::{protocol, rooms, Edge};

struct Followed {
    sessions: usize,
    tasks: [tokio::task::AbortHandle; 2],
}

/// The apps this edge follows.
#[derive(Default)]
pub struct Apps {
    followed: Mutex<HashMap<String, Followed>>,
}

impl std::fmt::Debug for Apps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Apps").finish_non_exhaustive()
    }
}

impl Apps {
    /// A session of `app_id` arrived: follow the app if it is the first.
    pub fn enter(&self, edge: &Arc<Edge>, app_id: &str) {
        let mut followed = self.followed.lock().expect("apps lock");
        let entry = followed
            .entry(app_id.to_owned())
            .or_insert_with(|| Followed {
                sessions: 0,
                tasks: [
                    tokio::spawn(follow_user_messages(
                        Arc::downgrade(edge),
                        app_id.to_owned(),
                    ))
                    .abort_handle(),
                    tokio::spawn(follow_app_events(Arc::downgrade(edge), app_id.to_owned()))
                        .abort_handle(),
                ],
            });
        entry.sessions += 1;
    }

    /// A session of `app_id` ended: stop following the app after its last.
    pub fn leave(&self, app_id: &str, _edge: &Arc<Edge>) {
        let mut followed = self.followed.lock().expect("apps lock");
        if let Some(entry) = followed.get_mut(app_id) {
            entry.sessions -= 1;
            if entry.sessions == 0 {
                for task in &entry.tasks {
                    task.abort();
                }
                followed.remove(app_id);
            }
        }
    }
}

fn resume_from(status: &tonic::Status) -> Option<i64> {
    status
        .metadata()
        .get("x-livemsg-resume-from")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

async fn follow_user_messages(edge: Weak<Edge>, app_id: String) {
    let mut from = 0;
    loop {
        let Some(edge_now) = edge.upgrade() else {
            return;
        };
        let request = WatchUserMessagesRequest {
            app_id: app_id.clone(),
            from_seq: from,
        };
        let stream = edge_now
            .service
            .messaging()
            .watch_user_messages(request)
            .await;
        drop(edge_now);
        let mut stream = match stream {
            Ok(stream) => stream.into_inner(),
            Err(err) => {
                tracing::warn!(error = %err, "cannot follow an app's user messages; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        loop {
            match stream.message().await {
                Ok(Some(message)) => {
                    from = message.seq + 1;
                    let Some(edge) = edge.upgrade() else { return };
                    let receivers = edge.sessions_of(&app_id, &message.receiver_id);
                    if receivers.is_empty() {
                        continue;
                    }
                    let frame: Utf8Bytes = if message.kind() == MessageKind::Recall {
                        protocol::event(
                            "deletec2cmessage",
                            json!({ "messageId": message.msg_tid, "senderId": message.sender_id }),
                        )
                        .into()
                    } else {
                        protocol::event(
                            "recvc2cmessage",
                            json!({ "message": rooms::message_json(&message) }),
                        )
                        .into()
                    };
                    for session in &receivers {
                        session.push(frame.clone(), Tier::Control);
                    }
                    if message.high_reliability {
                        let acked = edge
                            .service
                            .messaging()
                            .ack_user_message(AckUserMessageRequest {
                                app_id: app_id.clone(),
                                msg_tid: message.msg_tid.clone(),
                                receiver_id: message.receiver_id.clone(),
                            })
                            .await;
                        if let Err(err) = acked {
                            tracing::warn!(error = %err, "acknowledging a user message failed");
                        }
                    }
                }
                Ok(None) => break,
                Err(status) => {
                    if let Some(resume) = resume_from(&status) {
                        from = resume;
                    }
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn follow_app_events(edge: Weak<Edge>, app_id: String) {
    let mut from = 0;
    loop {
        let Some(edge_now) = edge.upgrade() else {
            return;
        };
        let request = WatchAppEventsRequest {
            app_id: app_id.clone(),
            from_seq: from,
        };
        let stream = edge_now.service.events().watch_app_events(request).await;
        drop(edge_now);
        let mut stream = match stream {
            Ok(stream) => stream.into_inner(),
            Err(err) => {
                tracing::warn!(error = %err, "cannot follow an app's events; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        loop {
            match stream.message().await {
                Ok(Some(event)) => {
                    from = event.app_seq + 1;
                    if event.kind() != EventKind::AppDisabled {
                        continue;
                    }
                    let Some(edge) = edge.upgrade() else { return };
                    // The service logs the app's users off and empties its groups itself.
                    let frame: Utf8Bytes = protocol::event(
                        "disconnect",
                        json!({ "code": protocol::disconnect::TIMEOUT, "reason": "the app is disabled" }),
                    )
                    .into();
                    for session in edge.sessions_of_app(&app_id) {
                        session.push(frame.clone(), Tier::Control);
                        session.close("the app is disabled");
                        edge.end_session(&session, None).await;
                    }
                }
                Ok(None) => break,
                Err(status) => {
                    if let Some(resume) = resume_from(&status) {
                        from = resume;
                    }
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
