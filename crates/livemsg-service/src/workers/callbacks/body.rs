//! The callback request as the receiver sees it: the protocol's JSON body and livemsg's
//! signature over it.

use hmac::{Hmac, Mac};
use livemsg_domain::events::EventKind;
use livemsg_store::AppEvent;
use serde::Serialize;
use sha2::Sha256;

/// The header with the request's Unix time in seconds.
pub const TIMESTAMP_HEADER: &str = "Ali-Live-Timestamp";
/// The header with the request's signature, see [`signature`].
pub const SIGNATURE_HEADER: &str = "Ali-Live-Signature";

/// The signature of a callback request: the lower-case hex HMAC-SHA256, keyed with the app's
/// AppKey, of the `Ali-Live-Timestamp` header value, a `|`, and the exact body bytes.
pub fn signature(app_key: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(app_key.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b"|");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The callback body: Alibaba's `transactionid`, `appid` and `eves`, one entry per run of
/// consecutive events of one user session, so the array order is the app's order.
#[derive(Debug, Serialize)]
pub struct Body<'a> {
    transactionid: &'a str,
    appid: &'a str,
    eves: Vec<Session<'a>>,
}

#[derive(Debug, Serialize)]
struct Session<'a> {
    uid: &'a str,
    sid: &'a str,
    events: Vec<Event<'a>>,
}

/// One event. `e`, `r` and `g` are Alibaba's; `seq`, `n`, `as` and `t` are livemsg's additions.
#[derive(Debug, Serialize)]
struct Event<'a> {
    /// 1 logon, 2 logoff, 3 joined a group, 4 left a group; livemsg's group events: 11 became
    /// super, 12 closed, 13 reopened, 14 member count, 15 deleted, 16 recovered, 17 group info
    /// changed, 18 user info changed, 21 kicked; livemsg's app events: 19 disabled, 20 enabled.
    e: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    r: Option<i16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    g: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<i64>,
    #[serde(rename = "as")]
    app_seq: i64,
    t: i64,
}

/// The `e` code of an event kind.
pub fn event_code(kind: EventKind) -> u8 {
    match kind {
        EventKind::Logon => 1,
        EventKind::Logoff => 2,
        EventKind::UserEntered => 3,
        EventKind::UserLeft => 4,
        EventKind::BecameSuper => 11,
        EventKind::Closed => 12,
        EventKind::Reopened => 13,
        EventKind::MemberCount => 14,
        EventKind::GroupDeleted => 15,
        EventKind::GroupRecovered => 16,
        EventKind::GroupInfoChanged => 17,
        EventKind::UserInfoChanged => 18,
        EventKind::AppDisabled => 19,
        EventKind::AppEnabled => 20,
        EventKind::Kicked => 21,
    }
}

impl<'a> Body<'a> {
    /// The body of `events` of `app_id` under `transaction_id`.
    pub fn new(app_id: &'a str, transaction_id: &'a str, events: &'a [AppEvent]) -> Self {
        let mut eves: Vec<Session<'a>> = Vec::new();
        for event in events {
            let uid = event.user_id.as_deref().unwrap_or_default();
            let sid = event.session_id.as_deref().unwrap_or_default();
            let item = Event {
                e: event_code(event.kind),
                r: event.reason,
                g: event.group_id.as_deref(),
                seq: event.seq,
                n: event.member_count,
                app_seq: event.app_seq,
                t: event.created_at.timestamp_millis(),
            };
            match eves.last_mut() {
                Some(last) if last.uid == uid && last.sid == sid => last.events.push(item),
                _ => eves.push(Session {
                    uid,
                    sid,
                    events: vec![item],
                }),
            }
        }
        Body {
            transactionid: transaction_id,
            appid: app_id,
            eves,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_an_hmac_of_timestamp_bar_body() {
        // Computed independently: printf '1700000000|{"a":1}' | openssl dgst -sha256 -hmac key
        assert_eq!(
            signature("key", "1700000000", br#"{"a":1}"#),
            "4b7d83ee30df45fc6049906174923adc1ebf388e00e36f690f0ea02121554ac9"
        );
    }

    #[test]
    fn every_kind_has_its_own_code_and_alibabas_keep_theirs() {
        let codes: Vec<u8> = EventKind::ALL.into_iter().map(event_code).collect();
        assert_eq!(
            codes,
            [3, 4, 11, 12, 13, 14, 1, 2, 15, 16, 17, 18, 19, 20, 21]
        );
    }

    fn event(app_seq: i64, kind: EventKind, user: Option<&str>, group: Option<&str>) -> AppEvent {
        AppEvent {
            app_seq,
            kind,
            group_id: group.map(str::to_owned),
            seq: group.map(|_| app_seq),
            user_id: user.map(str::to_owned),
            user_info: None,
            session_id: None,
            reason: (kind == EventKind::Logoff).then_some(1),
            member_count: group.map(|_| 1),
            payload: None,
            created_at: chrono::DateTime::from_timestamp_millis(1_700_000_000_123).unwrap(),
        }
    }

    #[test]
    fn the_body_groups_runs_of_one_user_and_keeps_the_order() {
        let events = [
            event(1, EventKind::Logon, Some("u1"), None),
            event(2, EventKind::UserEntered, Some("u1"), Some("g")),
            event(3, EventKind::UserEntered, Some("u2"), Some("g")),
            event(4, EventKind::BecameSuper, None, Some("g")),
            event(5, EventKind::Logoff, Some("u1"), None),
        ];
        let body = serde_json::to_value(Body::new("app", "TX", &events)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "transactionid": "TX",
                "appid": "app",
                "eves": [
                    {"uid": "u1", "sid": "", "events": [
                        {"e": 1, "as": 1, "t": 1_700_000_000_123_i64},
                        {"e": 3, "g": "g", "seq": 2, "n": 1, "as": 2, "t": 1_700_000_000_123_i64},
                    ]},
                    {"uid": "u2", "sid": "", "events": [
                        {"e": 3, "g": "g", "seq": 3, "n": 1, "as": 3, "t": 1_700_000_000_123_i64},
                    ]},
                    {"uid": "", "sid": "", "events": [
                        {"e": 11, "g": "g", "seq": 4, "n": 1, "as": 4, "t": 1_700_000_000_123_i64},
                    ]},
                    {"uid": "u1", "sid": "", "events": [
                        {"e": 2, "r": 1, "as": 5, "t": 1_700_000_000_123_i64},
                    ]},
                ]
            })
        );
    }
}
