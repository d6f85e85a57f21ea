//! Messages: group messages and user (one-to-one) messages, numbered per stream, kept for
//! their lifetime in partitions by expiry ([`partitions`]).
//!
//! Sends run in batches (the service's group commit): one transaction locks the heads of the
//! streams it writes (`group_message_heads` / `user_message_heads`, apart from the group rows so
//! that messages never wait for joins), numbers the messages in order, and writes them set-wise
//! with the per-type counters. A caller's `MsgTid` makes a send idempotent: sent again to the
//! same group (or receiver), it is the same message, answered as before, written once.

use chrono::{DateTime, Utc};

mod checks;
mod group;
mod history;
pub mod partitions;
mod user;

pub use group::HistoryQuery;
pub use history::history_sql;

/// The most distinct message types one group may carry.
pub const MAX_TYPES_PER_GROUP: i32 = 30;

/// What a stream entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// A message.
    Message,
    /// The recall of the message its `msg_tid` names.
    Recall,
    /// The group's mute state changed (the new state as JSON in `body`).
    MuteChange,
}

impl MessageKind {
    pub(crate) fn from_i16(value: i16) -> Result<Self, crate::StoreError> {
        match value {
            1 => Ok(MessageKind::Message),
            2 => Ok(MessageKind::Recall),
            3 => Ok(MessageKind::MuteChange),
            _ => Err(crate::StoreError::Corrupt("messages.kind")),
        }
    }
}

/// A group message to send.
#[derive(Debug, Clone)]
pub struct NewGroupMessage {
    pub app_id: String,
    pub group_id: String,
    /// The caller's id for the message; `None`: one is made.
    pub msg_tid: Option<String>,
    pub msg_type: i64,
    pub body: String,
    pub sender_id: String,
    pub sender_info: String,
    pub weight: i64,
    /// Added to the type's counter (`MsgAmount`).
    pub statics_increase: i64,
    /// Listed in the history (for the app's MsgLifeCycle).
    pub stored: bool,
    /// In the group's recent messages.
    pub cached: bool,
    /// Refuse the send when the group has no member (`GroupEmpty`).
    pub require_members: bool,
    /// Refuse the send unless the sender is a member (`NotMember`): a user speaking.
    pub sender_must_be_member: bool,
    /// Refuse the send when the group's mute state mutes the sender (`Muted`): a user
    /// speaking, checked under the stream's head lock, so against every change committed
    /// before.
    pub subject_to_mute: bool,
    /// For a caller of the public API: its account and data center, which the app must be in
    /// (`AppNotFound` otherwise).
    pub scope: Option<(i64, String)>,
}

/// A group message (or recall) as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMessage {
    pub app_id: String,
    pub group_id: String,
    pub seq: i64,
    pub kind: MessageKind,
    pub msg_tid: String,
    pub msg_type: i64,
    pub body: String,
    pub sender_id: String,
    pub sender_info: String,
    pub weight: i64,
    /// The type's counter after this message.
    pub total_messages: i64,
    pub stored: bool,
    pub cached: bool,
    pub recalled: bool,
    pub deleter_id: Option<String>,
    pub deleter_info: Option<String>,
    pub sent_at: DateTime<Utc>,
}

/// The outcome of one send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent<M> {
    /// The message as stored (the earlier one for a repeated `MsgTid`).
    pub message: M,
    /// The `MsgTid` was sent before: nothing was written.
    pub repeated: bool,
}

/// A user message to send.
#[derive(Debug, Clone)]
pub struct NewUserMessage {
    pub app_id: String,
    pub receiver_id: String,
    pub msg_tid: Option<String>,
    pub msg_type: i64,
    pub body: String,
    pub sender_id: String,
    pub sender_info: String,
    /// Kept for the app's MsgLifeCycle (else only for the replay window).
    pub stored: bool,
}

/// A user message (or recall) as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserMessage {
    pub app_id: String,
    pub seq: i64,
    pub kind: MessageKind,
    pub msg_tid: String,
    pub msg_type: i64,
    pub body: String,
    pub sender_id: String,
    pub sender_info: String,
    pub receiver_id: String,
    pub stored: bool,
    pub recalled: bool,
    pub deleter_id: Option<String>,
    pub deleter_info: Option<String>,
    pub sent_at: DateTime<Utc>,
}

/// A message id made by livemsg: 32 lower-case hex digits, as the cloud makes them.
pub fn new_message_id() -> String {
    new_msg_tid()
}

fn new_msg_tid() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The lifetime of an app's stored messages (MsgLifeCycle 0, 1, 2: 30, 90, 180 days).
pub(crate) fn life_cycle_secs(msg_life_cycle: i32) -> f64 {
    let days = match msg_life_cycle {
        1 => 90,
        2 => 180,
        _ => 30,
    };
    f64::from(days * 86_400)
}
