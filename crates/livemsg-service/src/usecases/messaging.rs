//! Sending and recalling messages, whoever asks: the public API (server sends, never audited,
//! never muted) and the connection tier (a user speaking: a member of the group, audited when
//! the app says so, and, in its place below, the mute rules).

use std::sync::Arc;
use std::time::Duration;

use livemsg_domain::{ApiError, ErrorCode};
use livemsg_proto::messaging::v1::{Message, MessageKind as WireKind};
use livemsg_store::messages::{
    GroupMessage, MessageKind, NewGroupMessage, NewUserMessage, Sent, UserMessage,
};
use livemsg_store::{AppRecord, Store, StoreError};

use crate::audit::{Auditor, Verdict};
use crate::errors;
use crate::fanout::Hub;
use crate::workers::sends::SendBatcher;

/// A group message on the wire of the message streams.
pub fn wire_group(m: &GroupMessage) -> Message {
    Message {
        app_id: m.app_id.clone(),
        group_id: m.group_id.clone(),
        receiver_id: String::new(),
        seq: m.seq,
        kind: wire_kind(m.kind).into(),
        msg_tid: m.msg_tid.clone(),
        msg_type: m.msg_type,
        body: if m.recalled {
            String::new()
        } else {
            m.body.clone()
        },
        sender_id: m.sender_id.clone(),
        sender_info: m.sender_info.clone(),
        weight: m.weight,
        total_messages: m.total_messages,
        timestamp_ms: m.sent_at.timestamp_millis(),
        deleter_id: m.deleter_id.clone().unwrap_or_default(),
        deleter_info: m.deleter_info.clone().unwrap_or_default(),
        high_reliability: false,
    }
}

/// A user message on the wire of the message streams.
pub fn wire_user(m: &UserMessage, high_reliability: bool) -> Message {
    Message {
        app_id: m.app_id.clone(),
        group_id: String::new(),
        receiver_id: m.receiver_id.clone(),
        seq: m.seq,
        kind: wire_kind(m.kind).into(),
        msg_tid: m.msg_tid.clone(),
        msg_type: m.msg_type,
        body: if m.recalled {
            String::new()
        } else {
            m.body.clone()
        },
        sender_id: m.sender_id.clone(),
        sender_info: m.sender_info.clone(),
        weight: 1,
        total_messages: 0,
        timestamp_ms: m.sent_at.timestamp_millis(),
        deleter_id: m.deleter_id.clone().unwrap_or_default(),
        deleter_info: m.deleter_info.clone().unwrap_or_default(),
        high_reliability,
    }
}

fn wire_kind(kind: MessageKind) -> WireKind {
    match kind {
        MessageKind::Message => WireKind::Message,
        MessageKind::Recall => WireKind::Recall,
        MessageKind::MuteChange => WireKind::MuteChange,
    }
}

/// The API error of a failed send.
pub(crate) fn message_error(err: StoreError) -> ApiError {
    match err {
        StoreError::GroupEmpty => {
            ApiError::new(ErrorCode::ResourceNotExist, "Group has no online member.")
        }
        StoreError::ReceiverOffline => {
            ApiError::new(ErrorCode::ResourceNotExist, "Receiver is not online.")
        }
        StoreError::TooManyMessageTypes(max) => ApiError::invalid(
            "MsgType",
            format_args!("is one type too many: a group carries at most {max} message types"),
        ),
        StoreError::Muted => ApiError::new(ErrorCode::NoAuth, "The sender is muted in the group."),
        StoreError::NotMember => {
            ApiError::new(ErrorCode::NoAuth, "The sender has not joined the group.")
        }
        other => errors::api_error(other),
    }
}

/// A client send's refusal, in the client protocol's codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 400 invalid, 403 rejected by the audit or the app is disabled, 404 receiver offline,
    /// 425 not joined, 440 no such group, 442 muted.
    pub code: i32,
    pub reason: String,
}

impl Refusal {
    fn of(err: &ApiError, store_code: i32) -> Refusal {
        Refusal {
            code: store_code,
            reason: err.message.clone(),
        }
    }
}

/// Sends and recalls messages.
#[derive(Debug, Clone)]
pub struct Messaging {
    store: Store,
    hub: Hub,
    batcher: SendBatcher,
    auditor: Auditor,
    apps: moka::sync::Cache<String, Option<Arc<AppRecord>>>,
    allow_send_to_empty_group: bool,
    ack_timeout: Duration,
}

impl Messaging {
    /// Messaging over `store`, committing group sends through `batcher`, publishing to `hub`.
    pub fn new(
        store: Store,
        hub: Hub,
        batcher: SendBatcher,
        auditor: Auditor,
        allow_send_to_empty_group: bool,
        ack_timeout: Duration,
    ) -> Self {
        Messaging {
            store,
            hub,
            batcher,
            auditor,
            // An app's audit settings, read once a second at most per app.
            apps: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(1))
                .build(),
            allow_send_to_empty_group,
            ack_timeout,
        }
    }

    /// The hub the streams follow.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// A server send to a group (`SendLiveMessageGroup`): not audited, not muted; the group
    /// must have members unless `messages.allow_send_to_empty_group`.
    pub async fn send_server_group(
        &self,
        mut message: NewGroupMessage,
    ) -> Result<Sent<GroupMessage>, ApiError> {
        message.require_members = !self.allow_send_to_empty_group;
        message.sender_must_be_member = false;
        self.batcher.send(message).await
    }

    /// A user speaking in a group: it must have joined; the app's audit decides (see
    /// [`crate::audit`]); then it is sent like any message.
    pub async fn send_client_group(
        &self,
        mut message: NewGroupMessage,
        skip_audit: bool,
    ) -> Result<Result<Sent<GroupMessage>, Refusal>, ApiError> {
        message.require_members = false;
        message.sender_must_be_member = true;
        // The mute rules: checked in the send's own transaction, against every mute change
        // committed before it (see `livemsg_store::MuteState::mutes`); a muted user's message
        // is refused (442) and goes nowhere. The state is read once per batch of sends, with
        // the lock the batch takes anyway, not once per message.
        message.subject_to_mute = true;
        if !skip_audit {
            if let Some(refusal) = self.audit(&message.app_id, &message.body).await? {
                return Ok(Err(refusal));
            }
        }
        match self.batcher.send(message).await {
            Ok(sent) => Ok(Ok(sent)),
            Err(err) => Ok(Err(match err.code {
                ErrorCode::ResourceNotExist => Refusal::of(&err, 440),
                ErrorCode::NoAuth if err.message.contains("joined") => Refusal::of(&err, 425),
                ErrorCode::NoAuth if err.message.contains("muted") => Refusal::of(&err, 442),
                ErrorCode::NoAuth => Refusal::of(&err, 403),
                ErrorCode::InputInvalid => Refusal::of(&err, 400),
                _ => return Err(err),
            })),
        }
    }

    /// Refuses a message the app's custom audit rejects.
    async fn audit(&self, app_id: &str, body: &str) -> Result<Option<Refusal>, ApiError> {
        let app = self.app(app_id).await?;
        let Some(app) = app.filter(|a| a.audit_type == 2 && !a.audit_url.is_empty()) else {
            return Ok(None);
        };
        Ok(
            match self.auditor.audit(&app.audit_url, &app.app_key, body).await {
                Verdict::Reject(reason) => Some(Refusal {
                    code: 403,
                    reason: if reason.is_empty() {
                        "The message was rejected by the audit.".to_owned()
                    } else {
                        reason
                    },
                }),
                Verdict::Pass | Verdict::Unavailable(_) => None,
            },
        )
    }

    async fn app(&self, app_id: &str) -> Result<Option<Arc<AppRecord>>, ApiError> {
        if let Some(app) = self.apps.get(app_id) {
            return Ok(app);
        }
        let app = self
            .store
            .app_by_id(app_id)
            .await
            .map_err(errors::api_error)?
            .map(Arc::new);
        self.apps.insert(app_id.to_owned(), app.clone());
        Ok(app)
    }

    /// A user message (server or client): to a logged-on receiver; with `high_reliability`,
    /// answered only once a consumer acknowledged it (`ack_timeout`), else a `ServerError`.
    pub async fn send_user(
        &self,
        mut message: NewUserMessage,
        high_reliability: bool,
    ) -> Result<Sent<UserMessage>, ApiError> {
        // The id is known before the send, so the acknowledgement cannot come before the wait.
        let msg_tid = message
            .msg_tid
            .get_or_insert_with(livemsg_store::messages::new_message_id)
            .clone();
        let app_id = message.app_id.clone();
        let waiting = high_reliability.then(|| {
            let hub = self.hub.clone();
            let (app_id, msg_tid, timeout) = (app_id.clone(), msg_tid.clone(), self.ack_timeout);
            tokio::spawn(async move { hub.wait_for_ack(&app_id, &msg_tid, timeout).await })
        });
        let mut results = self
            .store
            .send_user_messages(&app_id, std::slice::from_ref(&message))
            .await
            .map_err(errors::api_error)?;
        let sent = results
            .pop()
            .unwrap_or(Err(StoreError::ReceiverOffline))
            .map_err(message_error)?;
        if !sent.repeated {
            metrics::counter!("livemsg_messages_sent_total", "stream" => "user").increment(1);
            self.hub
                .publish(vec![wire_user(&sent.message, high_reliability)])
                .await;
        }
        if let Some(waiting) = waiting {
            let acked = waiting.await.unwrap_or(false);
            if !acked && !sent.repeated {
                return Err(ApiError::new(
                    ErrorCode::ServerError,
                    format!(
                        "Receiver did not acknowledge in {}s.",
                        self.ack_timeout.as_secs_f64()
                    ),
                ));
            }
        }
        Ok(sent)
    }

    /// Publishes an entry of a group's stream written outside a send (a recall, a mute change).
    pub async fn publish_group_entry(&self, entry: &GroupMessage) {
        self.hub.publish(vec![wire_group(entry)]).await;
    }

    /// Publishes a user-message recall entry.
    pub async fn published_recall_user(&self, entry: &UserMessage) {
        self.hub.publish(vec![wire_user(entry, false)]).await;
    }
}

/// What a group send carries, as the caller gave it, before it is checked.
#[derive(Debug, Clone, Default)]
pub struct GroupSend<'a> {
    pub app_id: &'a str,
    pub group_id: &'a str,
    pub sender_id: &'a str,
    /// (the parameter's name, its value): `SenderMetaInfo` for the public API.
    pub sender_info: (&'a str, &'a str),
    pub body: &'a str,
    pub msg_type: Option<i64>,
    pub msg_tid: &'a str,
    pub statics_increase: Option<i64>,
    pub weight: Option<i64>,
    pub stored: bool,
    pub cached: bool,
}

/// Checks a group send against the rules of the family: ids, sizes, a type of 0 or more, a
/// weight of 1 or more, an increase of 0 or more.
pub fn group_message(send: GroupSend<'_>) -> Result<NewGroupMessage, ApiError> {
    use livemsg_domain::{AppId, GroupId, MessageBody, MsgTid, UserId, UserInfo};
    let msg_type = send.msg_type.unwrap_or(0);
    if msg_type < 0 {
        return Err(ApiError::invalid("MsgType", "must not be negative"));
    }
    let weight = send.weight.unwrap_or(1);
    if weight < 1 {
        return Err(ApiError::invalid("Weight", "must be at least 1"));
    }
    let statics_increase = send.statics_increase.unwrap_or(1);
    if statics_increase < 0 {
        return Err(ApiError::invalid("StaticsIncrease", "must not be negative"));
    }
    Ok(NewGroupMessage {
        app_id: AppId::parse(send.app_id)?.into_string(),
        group_id: GroupId::parse(send.group_id)?.into_string(),
        msg_tid: match send.msg_tid {
            "" => None,
            tid => Some(MsgTid::parse(tid)?.into_string()),
        },
        msg_type,
        body: MessageBody::parse(send.body)?.into_string(),
        sender_id: UserId::parse_field("SenderId", send.sender_id)?.into_string(),
        sender_info: UserInfo::parse_field(send.sender_info.0, send.sender_info.1)?.into_string(),
        weight,
        statics_increase,
        stored: send.stored,
        cached: send.cached,
        require_members: false,
        sender_must_be_member: false,
        subject_to_mute: false,
        scope: None,
    })
}

/// What a user send carries, before it is checked.
#[derive(Debug, Clone, Default)]
pub struct UserSend<'a> {
    pub app_id: &'a str,
    pub receiver_id: &'a str,
    pub sender_id: &'a str,
    pub sender_info: &'a str,
    pub body: &'a str,
    pub msg_type: Option<i64>,
    pub msg_tid: &'a str,
    pub stored: bool,
}

/// Checks a user send.
pub fn user_message(send: UserSend<'_>) -> Result<NewUserMessage, ApiError> {
    use livemsg_domain::{AppId, MessageBody, MsgTid, UserId, UserInfo};
    let msg_type = send.msg_type.unwrap_or(0);
    if msg_type < 0 {
        return Err(ApiError::invalid("MsgType", "must not be negative"));
    }
    Ok(NewUserMessage {
        app_id: AppId::parse(send.app_id)?.into_string(),
        receiver_id: UserId::parse_field("ReceiverId", send.receiver_id)?.into_string(),
        msg_tid: match send.msg_tid {
            "" => None,
            tid => Some(MsgTid::parse(tid)?.into_string()),
        },
        msg_type,
        body: MessageBody::parse(send.body)?.into_string(),
        sender_id: UserId::parse_field("SenderId", send.sender_id)?.into_string(),
        sender_info: UserInfo::parse_field("SenderInfo", send.sender_info)?.into_string(),
        stored: send.stored,
    })
}
