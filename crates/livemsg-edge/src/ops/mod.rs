//! Answering a client's requests: logging in and resuming ([`login`]), and what a logged-in
//! user does with groups and messages ([`groups`]).

mod groups;
mod login;
mod manage;

use std::sync::Arc;

use serde_json::Value;

use crate::connection::Conn;
use crate::protocol::{self, code, Request};
use crate::session::Session;
use crate::Edge;

/// A refusal: its client code and message.
pub(crate) type Refusal = (u16, String);

/// What a request yields: its data, or a refusal.
pub(crate) type Answer = Result<Value, Refusal>;

/// The session's app as the public API names it (its caller proof included), for a call made
/// for the session's user.
pub(crate) async fn app_ref(
    edge: &Edge,
    session: &Session,
) -> Result<Option<livemsg_proto::common::v1::AppRef>, Refusal> {
    edge.service
        .app(&session.app_id)
        .await
        .map(|a| Some(a.app_ref.clone()))
        .map_err(|s| refusal(&s))
}

/// The client code of a failed call to the service.
pub(crate) fn refusal(status: &tonic::Status) -> Refusal {
    let livemsg = status
        .metadata()
        .get(livemsg_proto::ERROR_CODE_METADATA)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let message = status.message().to_owned();
    let code = match livemsg {
        "ResourceNotExist" => code::NO_GROUP,
        "NoAuth" => code::FORBIDDEN,
        "InputInvalid" => code::INVALID,
        "SuperLargeGroup" => code::LIMIT,
        _ if status.code() == tonic::Code::InvalidArgument => code::INVALID,
        _ => {
            tracing::warn!(code = ?status.code(), message = %status.message(), "a call to the service failed");
            return (code::INTERNAL, "the service failed; try again".to_owned());
        }
    };
    (code, message)
}

/// A parameter that breaks a rule.
pub(crate) fn invalid(err: livemsg_domain::ApiError) -> Refusal {
    (code::INVALID, err.message)
}

/// The session of a logged-in connection.
fn session(conn: &Conn) -> Result<Arc<Session>, Refusal> {
    conn.session
        .clone()
        .ok_or((code::NOT_LOGGED_IN, "log in first".to_owned()))
}

/// Answers one request; the second value says to close the connection after the answer.
pub(crate) async fn handle(edge: &Arc<Edge>, conn: &mut Conn, request: Request) -> (String, bool) {
    let id = request.id();
    let mut close = false;
    let answer = match request {
        Request::Login {
            app_id,
            device_id,
            heartbeat,
            user,
            auth,
            ..
        } => login::login(edge, conn, app_id, device_id, heartbeat, user, auth).await,
        Request::Resume {
            app_id,
            user_id,
            device_id,
            session_id,
            resume_key,
            expiry,
            role,
            user_extension,
            rooms,
            heartbeat,
            ..
        } => {
            let resume = login::Resume {
                app_id,
                user_id,
                device_id,
                session_id,
                resume_key,
                expiry,
                role,
                user_extension,
                rooms,
                heartbeat,
            };
            login::resume(edge, conn, resume).await
        }
        Request::Ping { .. } => Ok(serde_json::json!({})),
        Request::Logout { .. } => match session(conn) {
            Ok(session) => {
                edge.end_session(
                    &session,
                    Some(livemsg_proto::membership::v1::LogoffReason::Normal),
                )
                .await;
                conn.session = None;
                close = true;
                Ok(serde_json::json!({}))
            }
            Err(refusal) => Err(refusal),
        },
        other => match session(conn) {
            Ok(session) => groups::handle(edge, &session, other).await,
            Err(refusal) => Err(refusal),
        },
    };
    let frame = match answer {
        Ok(data) => protocol::ok(id, data),
        Err((code, message)) => protocol::error(id, code, message),
    };
    (frame, close)
}
