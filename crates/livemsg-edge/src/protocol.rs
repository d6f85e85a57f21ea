//! The edge's WebSocket protocol, `livemsg.v1`: JSON text frames. Every request carries an
//! `id` and a `type`; its answer carries the same `id` and either `"ok": true` with `data`, or
//! `"ok": false` with `code` (the client codes of the cloud's SDK) and `message`. Events carry
//! `"type": "event"` and the event's name. The README's "Client edge" section is the reference.

use serde::Deserialize;
use serde_json::{json, Value};

/// The subprotocol a client asks for (`Sec-WebSocket-Protocol`).
pub const SUBPROTOCOL: &str = "livemsg.v1";

/// Client error codes (the cloud client SDK's `ImErrors`).
pub mod code {
    /// Invalid parameter.
    pub const INVALID: u16 = 400;
    /// Authentication failed, or no permission.
    pub const FORBIDDEN: u16 = 403;
    /// No such session (log in again), or the receiver is not online.
    pub const NOT_FOUND: u16 = 404;
    /// Sending too fast.
    pub const TOO_FAST: u16 = 412;
    /// Not a member of the group.
    pub const NOT_JOINED: u16 = 425;
    /// The group does not exist.
    pub const NO_GROUP: u16 = 440;
    /// The group is deleted.
    pub const GROUP_DELETED: u16 = 441;
    /// Muted: cannot speak.
    pub const MUTED: u16 = 442;
    /// A limit is reached (too many groups joined, a list too large).
    pub const LIMIT: u16 = 443;
    /// Something failed inside.
    pub const INTERNAL: u16 = 500;
    /// Not possible in the session's state (logged in already, say).
    pub const STATE: u16 = 601;
    /// Not logged in.
    pub const NOT_LOGGED_IN: u16 = 602;
    /// The frame cannot be parsed.
    pub const PARSE: u16 = 604;
}

/// Why the edge disconnects a session (the `disconnect` event's `code`).
pub mod disconnect {
    /// The client logged out.
    pub const LOGOUT: u8 = 1;
    /// Kicked (the app was disabled, say).
    pub const KICKED: u8 = 2;
    /// Timed out, or another reason (a client too slow to keep up, the edge shutting down).
    pub const TIMEOUT: u8 = 3;
    /// The same user logged in elsewhere with the same device.
    pub const ELSEWHERE: u8 = 4;
}

/// The user of a login.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub user_id: String,
    #[serde(default)]
    pub user_extension: String,
}

/// The app token and what it was made of.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Auth {
    #[serde(default)]
    pub nonce: String,
    /// The token's expiry, Unix seconds.
    pub timestamp: i64,
    #[serde(default)]
    pub role: String,
    pub token: String,
}

/// A client's request.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum Request {
    #[serde(rename_all = "camelCase")]
    Login {
        id: u64,
        app_id: String,
        #[serde(default)]
        device_id: String,
        #[serde(default)]
        heartbeat: Option<u64>,
        user: User,
        auth: Auth,
    },
    #[serde(rename_all = "camelCase")]
    Resume {
        id: u64,
        app_id: String,
        user_id: String,
        #[serde(default)]
        device_id: String,
        session_id: String,
        resume_key: String,
        /// When the resume key expires (the login token's expiry).
        expiry: i64,
        #[serde(default)]
        role: String,
        #[serde(default)]
        user_extension: String,
        /// Each room to come back to, with the last seq received in it.
        #[serde(default)]
        rooms: std::collections::BTreeMap<String, i64>,
        #[serde(default)]
        heartbeat: Option<u64>,
    },
    Ping {
        id: u64,
    },
    Logout {
        id: u64,
    },
    #[serde(rename_all = "camelCase")]
    JoinGroup {
        id: u64,
        group_id: String,
    },
    #[serde(rename_all = "camelCase")]
    LeaveGroup {
        id: u64,
        group_id: String,
    },
    #[serde(rename_all = "camelCase")]
    QueryGroup {
        id: u64,
        group_id: String,
    },
    #[serde(rename_all = "camelCase")]
    SendGroupMessage {
        id: u64,
        group_id: String,
        #[serde(default)]
        msg_type: i64,
        #[serde(default)]
        data: String,
        /// 0 normal, 1 high.
        #[serde(default)]
        level: i32,
        #[serde(default)]
        no_storage: bool,
        #[serde(default)]
        no_cache: bool,
        #[serde(default)]
        repeat_count: Option<i64>,
        #[serde(default)]
        skip_audit: bool,
    },
    #[serde(rename_all = "camelCase")]
    SendC2cMessage {
        id: u64,
        receiver_id: String,
        #[serde(default)]
        msg_type: i64,
        #[serde(default)]
        data: String,
        #[serde(default)]
        skip_audit: bool,
    },
    #[serde(rename_all = "camelCase")]
    ListRecentMessage {
        id: u64,
        group_id: String,
    },
    #[serde(rename_all = "camelCase")]
    ListHistoryMessage {
        id: u64,
        group_id: String,
        #[serde(default)]
        sort_type: i64,
        #[serde(default)]
        next_page_token: i64,
        #[serde(default)]
        page_size: i64,
        #[serde(default)]
        msg_type: i64,
    },
    #[serde(rename_all = "camelCase")]
    DeleteMessage {
        id: u64,
        group_id: String,
        message_id: String,
    },
    #[serde(rename_all = "camelCase")]
    CreateGroup {
        id: u64,
        group_id: String,
        #[serde(default)]
        group_name: String,
        #[serde(default)]
        group_meta: String,
    },
    #[serde(rename_all = "camelCase")]
    CloseGroup {
        id: u64,
        group_id: String,
    },
    #[serde(rename_all = "camelCase")]
    ModifyGroup {
        id: u64,
        group_id: String,
        #[serde(default)]
        group_meta: Option<String>,
        #[serde(default)]
        admins: Option<Vec<String>>,
    },
    #[serde(rename_all = "camelCase")]
    MuteAll {
        id: u64,
        group_id: String,
    },
    #[serde(rename_all = "camelCase")]
    CancelMuteAll {
        id: u64,
        group_id: String,
    },
    #[serde(rename_all = "camelCase")]
    MuteUser {
        id: u64,
        group_id: String,
        user_list: Vec<String>,
    },
    #[serde(rename_all = "camelCase")]
    CancelMuteUser {
        id: u64,
        group_id: String,
        user_list: Vec<String>,
    },
    #[serde(rename_all = "camelCase")]
    ListMuteUsers {
        id: u64,
        group_id: String,
    },
    #[serde(rename_all = "camelCase")]
    ListGroupUser {
        id: u64,
        group_id: String,
        #[serde(default)]
        sort_type: i64,
        #[serde(default)]
        next_page_token: i64,
        #[serde(default)]
        page_size: i64,
    },
    #[serde(rename_all = "camelCase")]
    KickUser {
        id: u64,
        group_id: String,
        user_id: String,
    },
}

impl Request {
    /// The request's id.
    pub fn id(&self) -> u64 {
        match self {
            Request::Login { id, .. }
            | Request::Resume { id, .. }
            | Request::Ping { id }
            | Request::Logout { id }
            | Request::JoinGroup { id, .. }
            | Request::LeaveGroup { id, .. }
            | Request::QueryGroup { id, .. }
            | Request::SendGroupMessage { id, .. }
            | Request::SendC2cMessage { id, .. }
            | Request::ListRecentMessage { id, .. }
            | Request::ListHistoryMessage { id, .. }
            | Request::DeleteMessage { id, .. }
            | Request::CreateGroup { id, .. }
            | Request::CloseGroup { id, .. }
            | Request::ModifyGroup { id, .. }
            | Request::MuteAll { id, .. }
            | Request::CancelMuteAll { id, .. }
            | Request::MuteUser { id, .. }
            | Request::CancelMuteUser { id, .. }
            | Request::ListMuteUsers { id, .. }
            | Request::ListGroupUser { id, .. }
            | Request::KickUser { id, .. } => *id,
        }
    }
}

/// A successful answer.
pub fn ok(id: u64, data: Value) -> String {
    json!({ "id": id, "ok": true, "data": data }).to_string()
}

/// A refusal, with its client code.
pub fn error(id: u64, code: u16, message: impl Into<String>) -> String {
    json!({ "id": id, "ok": false, "code": code, "message": message.into() }).to_string()
}

/// An event.
pub fn event(name: &str, data: Value) -> String {
    json!({ "type": "event", "event": name, "data": data }).to_string()
}

/// Reads a frame: the request, or the refusal to send back (with the id when one was given).
pub fn parse(text: &str) -> Result<Request, String> {
    serde_json::from_str::<Request>(text).map_err(|err| {
        let id = serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| v.get("id").and_then(Value::as_u64))
            .unwrap_or(0);
        error(
            id,
            code::PARSE,
            format!("the frame is not a request: {err}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_and_bad_frames_are_answered_with_their_id() {
        let login = parse(
            r#"{"type":"login","id":1,"appId":"app","user":{"userId":"u"},
                "auth":{"nonce":"n","timestamp":9,"role":"","token":"t"}}"#,
        )
        .unwrap();
        assert_eq!(login.id(), 1);
        let send = parse(r#"{"type":"sendGroupMessage","id":7,"groupId":"g","unknown":1}"#);
        let refusal: Value = serde_json::from_str(&send.unwrap_err()).unwrap();
        assert_eq!(
            (refusal["id"].as_u64(), refusal["code"].as_u64()),
            (Some(7), Some(604))
        );
        let garbage: Value = serde_json::from_str(&parse("not json").unwrap_err()).unwrap();
        assert_eq!(garbage["id"], 0);
        let message =
            parse(r#"{"type":"sendGroupMessage","id":8,"groupId":"g","data":"hi","level":1}"#)
                .unwrap();
        assert!(matches!(
            message,
            Request::SendGroupMessage { level: 1, .. }
        ));
    }
}
