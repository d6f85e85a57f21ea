//! Logging in with an app token, and resuming a session (on this edge or another) with the key
//! the login handed out, catching up each room from the last seq the client saw.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use livemsg_domain::{AppId, UserId, UserInfo};
use livemsg_proto::membership::v1::{JoinGroupRequest, LogonRequest};
use livemsg_proto::messaging::v1::{GetGroupMessageHeadRequest, WatchGroupMessagesRequest};
use secrecy::ExposeSecret;
use serde_json::json;

use super::{invalid, refusal, Answer, Refusal};
use crate::connection::Conn;
use crate::outbox::Tier;
use crate::protocol::{code, Auth, User};
use crate::session::{Identity, Session};
use crate::{liveness, protocol, rooms, token, Edge};

/// The heartbeats a client may ask for.
const HEARTBEATS: std::ops::RangeInclusive<u64> = 15..=120;

fn heartbeat(edge: &Edge, asked: Option<u64>) -> Result<u64, Refusal> {
    match asked {
        None => Ok(edge.settings.heartbeat_secs),
        Some(secs) if HEARTBEATS.contains(&secs) => Ok(secs),
        Some(_) => Err((
            code::INVALID,
            "heartbeat must be 15 to 120 seconds".to_owned(),
        )),
    }
}

fn device(device_id: &str) -> Result<(), Refusal> {
    if device_id.len() > 64
        || !device_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err((
            code::INVALID,
            "deviceId must be at most 64 letters, digits, '-' or '_'".to_owned(),
        ));
    }
    Ok(())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub(super) async fn login(
    edge: &Arc<Edge>,
    conn: &mut Conn,
    app_id: String,
    device_id: String,
    asked_heartbeat: Option<u64>,
    user: User,
    auth: Auth,
) -> Answer {
    if conn.session.is_some() {
        return Err((
            code::STATE,
            "this connection is logged in already".to_owned(),
        ));
    }
    let app_id = AppId::parse(&app_id).map_err(invalid)?;
    let user_id = UserId::parse(&user.user_id).map_err(invalid)?;
    UserInfo::parse_field("userExtension", &user.user_extension).map_err(invalid)?;
    device(&device_id)?;
    let heartbeat = heartbeat(edge, asked_heartbeat)?;
    let app = edge.service.app(app_id.as_str()).await.map_err(|status| {
        let (code, message) = refusal(&status);
        if code == protocol::code::NO_GROUP {
            (
                protocol::code::FORBIDDEN,
                "authentication failed: no such app".to_owned(),
            )
        } else {
            (code, message)
        }
    })?;
    if app.disabled {
        return Err((code::FORBIDDEN, "the app is disabled".to_owned()));
    }
    let now = now();
    token::check(
        app_id.as_str(),
        &app.app_key,
        user_id.as_str(),
        &auth.nonce,
        auth.timestamp,
        &auth.role,
        &auth.token,
        now,
    )
    .map_err(|why| {
        metrics::counter!("livemsg_edge_logins_refused_total").increment(1);
        let message = match why {
            token::Refused::Forged => "authentication failed: the token does not match",
            token::Refused::Expired => "authentication failed: the token has expired",
            token::Refused::Role => "authentication failed: role must be empty or admin",
        };
        (code::FORBIDDEN, message.to_owned())
    })?;
    if !edge
        .liveness
        .claim_token(&auth.token, (auth.timestamp - now) as u64)
        .await
    {
        metrics::counter!("livemsg_edge_logins_refused_total").increment(1);
        return Err((
            code::FORBIDDEN,
            "authentication failed: the token was used before".to_owned(),
        ));
    }
    let session = Arc::new(Session::new(
        Identity {
            id: uuid::Uuid::new_v4().simple().to_string(),
            app_id: app_id.into_string(),
            user_id: user_id.into_string(),
            device_id,
            role: auth.role.clone(),
            user_extension: user.user_extension,
            expiry: auth.timestamp,
        },
        edge.settings.send_burst,
    ));
    start(edge, conn, &session, heartbeat).await?;
    metrics::counter!("livemsg_edge_logins_total").increment(1);
    Ok(json!({
        "sessionId": session.id,
        "resumeKey": resume_key(edge, &session),
        "expiry": session.expiry,
        "heartbeat": heartbeat,
    }))
}

fn resume_key(edge: &Edge, session: &Session) -> String {
    token::resume_key(
        edge.settings.session_secret.expose_secret(),
        &session.app_id,
        &session.user_id,
        &session.device_id,
        &session.id,
        &session.role,
        session.expiry,
    )
}

/// Reports the logon, takes over an earlier session of the same user and device, and attaches
/// the connection.
async fn start(
    edge: &Arc<Edge>,
    conn: &mut Conn,
    session: &Arc<Session>,
    heartbeat: u64,
) -> Result<(), Refusal> {
    edge.service
        .membership()
        .logon(LogonRequest {
            app_id: session.app_id.clone(),
            user_id: session.user_id.clone(),
            session_id: session.id.clone(),
        })
        .await
        .map_err(|s| refusal(&s))?;
    for earlier in edge.sessions_of(&session.app_id, &session.user_id) {
        if earlier.device_id == session.device_id && earlier.id != session.id {
            liveness::taken_over(edge, &earlier).await;
        }
    }
    edge.liveness.register(session).await;
    edge.add_session(session.clone());
    session.attach(conn.outbox.clone());
    conn.session = Some(session.clone());
    conn.heartbeat = Duration::from_secs(heartbeat);
    Ok(())
}

/// What a resume carries.
pub(super) struct Resume {
    pub(super) app_id: String,
    pub(super) user_id: String,
    pub(super) device_id: String,
    pub(super) session_id: String,
    pub(super) resume_key: String,
    pub(super) expiry: i64,
    pub(super) role: String,
    pub(super) user_extension: String,
    pub(super) rooms: BTreeMap<String, i64>,
    pub(super) heartbeat: Option<u64>,
}

pub(super) async fn resume(edge: &Arc<Edge>, conn: &mut Conn, resume: Resume) -> Answer {
    if conn.session.is_some() {
        return Err((
            code::STATE,
            "this connection is logged in already".to_owned(),
        ));
    }
    let heartbeat = heartbeat(edge, resume.heartbeat)?;
    let expected = token::resume_key(
        edge.settings.session_secret.expose_secret(),
        &resume.app_id,
        &resume.user_id,
        &resume.device_id,
        &resume.session_id,
        &resume.role,
        resume.expiry,
    );
    let genuine: bool =
        subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), resume.resume_key.as_bytes()).into();
    if !genuine || resume.expiry <= now() {
        return Err((
            code::FORBIDDEN,
            "the session cannot be resumed: log in again".to_owned(),
        ));
    }
    let app = edge
        .service
        .app(&resume.app_id)
        .await
        .map_err(|s| refusal(&s))?;
    if app.disabled {
        return Err((code::FORBIDDEN, "the app is disabled".to_owned()));
    }
    let session = match edge.session(&resume.session_id).filter(|s| !s.ended()) {
        Some(session) => {
            // Still here, within the reconnect window: the new connection takes it.
            if let Some(old) = session.attach(conn.outbox.clone()) {
                old.close("resumed on another connection");
            }
            conn.session = Some(session.clone());
            conn.heartbeat = Duration::from_secs(heartbeat);
            session
        }
        None => {
            let session = Arc::new(Session::new(
                Identity {
                    id: resume.session_id.clone(),
                    app_id: resume.app_id.clone(),
                    user_id: resume.user_id.clone(),
                    device_id: resume.device_id.clone(),
                    role: resume.role.clone(),
                    user_extension: resume.user_extension.clone(),
                    expiry: resume.expiry,
                },
                edge.settings.send_burst,
            ));
            start(edge, conn, &session, heartbeat).await?;
            session
        }
    };
    let mut outcome = serde_json::Map::new();
    for (group, last_seq) in resume.rooms {
        let result = catch_up(edge, &session, &group, last_seq).await;
        outcome.insert(
            group,
            match result {
                Ok(status) => json!(status),
                Err((code, message)) => json!({ "code": code, "message": message }),
            },
        );
    }
    metrics::counter!("livemsg_edge_resumes_total").increment(1);
    Ok(json!({ "sessionId": session.id, "heartbeat": heartbeat, "rooms": outcome }))
}

/// Puts the session back in `group` and sends what it missed after `last_seq`, then the live
/// messages, in order: "resumed", or "refetch" when what it missed is no longer kept.
async fn catch_up(
    edge: &Arc<Edge>,
    session: &Arc<Session>,
    group: &str,
    last_seq: i64,
) -> Result<&'static str, Refusal> {
    let group_id = livemsg_domain::GroupId::parse(group).map_err(invalid)?;
    if !session.in_room(group) {
        edge.service
            .membership()
            .join_group(JoinGroupRequest {
                app_id: session.app_id.clone(),
                group_id: group_id.to_string(),
                user_id: session.user_id.clone(),
                user_info: session.user_extension.clone(),
            })
            .await
            .map_err(|s| refusal(&s))?;
        session.join(group);
    }
    // Live frames wait until the missed ones are out.
    session.hold(group);
    let room = edge.room(&session.app_id, group);
    room.add(session.clone());
    let head = edge
        .service
        .messaging()
        .get_group_message_head(GetGroupMessageHeadRequest {
            app_id: session.app_id.clone(),
            group_id: group.to_owned(),
        })
        .await;
    let target = match head {
        Ok(head) => head.into_inner().next_seq - 1,
        Err(status) => {
            session.release(group, last_seq);
            return Err(refusal(&status));
        }
    };
    if last_seq >= target {
        session.release(group, last_seq);
        return Ok("resumed");
    }
    let stream = edge
        .service
        .messaging()
        .watch_group_messages(WatchGroupMessagesRequest {
            app_id: session.app_id.clone(),
            group_id: group.to_owned(),
            from_seq: last_seq + 1,
        })
        .await;
    let mut stream = match stream {
        Ok(stream) => stream.into_inner(),
        Err(status) => {
            session.release(group, last_seq);
            return Err(refusal(&status));
        }
    };
    let mut through = last_seq;
    while through < target {
        match stream.message().await {
            Ok(Some(message)) => {
                let (frame, tier) = rooms::group_frame(&message);
                session.push(frame, tier);
                through = message.seq;
            }
            Ok(None) => break,
            Err(_) => {
                // Gone: the client must fetch what it needs again (recent messages, history).
                session.push(
                    protocol::event("refetch", json!({ "groupId": group, "reason": "the messages missed are no longer kept" }))
                        .into(),
                    Tier::Control,
                );
                session.release(group, target);
                return Ok("refetch");
            }
        }
    }
    session.release(group, through);
    Ok("resumed")
}
