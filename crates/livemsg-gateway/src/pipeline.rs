//! The request pipeline, one story from bytes to answer: parse, authenticate (time, key,
//! signature, nonce), rate limit, authorize, execute; then the access log line and the metrics,
//! labelled only by known actions and codes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::Method;
use axum::response::Response;
use livemsg_domain::{ApiError, ErrorCode};
use livemsg_proto::common::v1::{AppRef, Caller};
use livemsg_ratelimit::Decision;

use crate::actions::{Action, Call, Fields, API_VERSION};
use crate::auth::{Envelope, SignedParts};
use crate::authz::{self, Circumstances};
use crate::params::{decode_pairs_limited, Params};
use crate::response::{self, new_request_id};
use crate::Shared;

pub(crate) async fn not_found(State(shared): State<Arc<Shared>>) -> Response {
    let request_id = new_request_id();
    shared
        .errors
        .response(&request_id, &ApiError::of(ErrorCode::InvalidActionNotFound))
}

/// The RPC endpoint: every action arrives here.
pub(crate) async fn rpc(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let started = Instant::now();
    let request_id = new_request_id();
    let mut outcome = Outcome::default();
    let result = process(&shared, peer, request, &mut outcome).await;
    let response = match result {
        Ok(fields) => response::success(&request_id, fields),
        Err(err) => {
            outcome.code = err.code_string();
            shared.errors.response(&request_id, &err)
        }
    };
    let code = if outcome.code.is_empty() {
        "OK".to_owned()
    } else {
        outcome.code.clone()
    };
    metrics::counter!(
        "livemsg_gateway_requests_total",
        "action" => outcome.action.clone(),
        "code" => code,
    )
    .increment(1);
    metrics::histogram!(
        "livemsg_gateway_request_duration_seconds",
        "action" => outcome.action.clone(),
    )
    .record(started.elapsed().as_secs_f64());
    tracing::info!(
        request.id = %request_id,
        action = %outcome.action,
        access_key.id = %outcome.access_key_id,
        http.status = response.status().as_u16(),
        error.code = %outcome.code,
        latency_us = started.elapsed().as_micros() as u64,
        "request"
    );
    response
}

/// What the access log line reports of a request.
#[derive(Debug, Default)]
struct Outcome {
    action: String,
    access_key_id: String,
    code: String,
}

/// Where the request came from and whether it was encrypted, for policy conditions.
fn circumstances(
    shared: &Shared,
    peer: SocketAddr,
    headers: &axum::http::HeaderMap,
) -> Circumstances {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let forwarded_ip = header("x-forwarded-for")
        .and_then(|v| v.split(',').next())
        .and_then(|ip| ip.trim().parse().ok());
    let (source_ip, secure_transport) = if shared.trust_forwarded_headers {
        (
            forwarded_ip.or(Some(peer.ip())),
            header("x-forwarded-proto").is_some_and(|p| p.eq_ignore_ascii_case("https")),
        )
    } else {
        (Some(peer.ip()), false)
    };
    Circumstances {
        source_ip,
        now: chrono::Utc::now().fixed_offset(),
        secure_transport,
    }
}

async fn process(
    shared: &Shared,
    peer: SocketAddr,
    request: Request<Body>,
    outcome: &mut Outcome,
) -> Result<Fields, ApiError> {
    let (parts, body) = request.into_parts();
    if parts.method != Method::GET && parts.method != Method::POST {
        return Err(ApiError::invalid(
            "The HTTP method",
            format_args!("must be GET or POST, not {}", parts.method),
        ));
    }
    // Parse.
    let body = tokio::time::timeout(
        shared.body_timeout,
        axum::body::to_bytes(body, shared.max_body_bytes),
    )
    .await
    .map_err(|_| {
        ApiError::invalid(
            "The request body",
            format_args!("must arrive within {} ms", shared.body_timeout.as_millis()),
        )
    })?
    .map_err(|_| {
        ApiError::invalid(
            "The request body",
            format_args!("must be at most {} bytes long", shared.max_body_bytes),
        )
    })?;
    let query = decode_pairs_limited(
        parts.uri.query().unwrap_or_default().as_bytes(),
        "The query string",
        shared.max_params,
    )?;
    let is_form = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    let form = if is_form {
        decode_pairs_limited(&body, "The form body", shared.max_params)?
    } else {
        Vec::new()
    };
    if query.len() + form.len() > shared.max_params {
        return Err(ApiError::invalid(
            "The request",
            format_args!("must carry at most {} parameters", shared.max_params),
        ));
    }
    let params = Params::new(query, form)?;
    let signed = SignedParts {
        method: parts.method.as_str(),
        headers: &parts.headers,
        params: &params,
        body: &body,
    };
    let envelope = Envelope::read(&signed)?;
    outcome.access_key_id.clone_from(&envelope.access_key_id);
    if envelope.version != API_VERSION {
        return Err(ApiError::new(
            ErrorCode::InvalidVersion,
            format!(
                "Specified parameter Version is not valid: livemsg serves {API_VERSION}, not {}.",
                envelope.version
            ),
        ));
    }
    let action = Action::resolve(&envelope.action)?;
    // Only known actions become metric labels, so callers cannot grow the label set.
    outcome.action = action.name.to_owned();

    // Authenticate: time, key, signature, then the nonce (only a correctly signed request
    // may use up a nonce).
    envelope.check_time(chrono::Utc::now(), shared.max_clock_skew)?;
    let principal = shared.principals.resolve(&envelope.access_key_id).await?;
    if !principal.enabled {
        return Err(ApiError::of(ErrorCode::InvalidAccessKeyIdInactive));
    }
    envelope.verify(&signed, &principal.secret)?;
    shared
        .replay
        .check(&envelope.access_key_id, &envelope.nonce)
        .await?;

    // Rate limit: after authentication, so a forged request cannot spend a real account's
    // budget; before anything runs.
    if let Decision::Limited { retry_after } = shared
        .limiter
        .check(principal.account_id, action.name)
        .await
    {
        return Err(ApiError::throttled(retry_after));
    }

    // Authorize, on the app the request names (checked first: the resource is built from it).
    let app_id = action.app_id(&params)?;
    let resource = authz::resource(action, principal.account_id, app_id.as_ref());
    authz::authorize(
        &principal,
        action,
        resource,
        circumstances(shared, peer, &parts.headers),
    )?;

    // Execute.
    let caller = Caller {
        account_id: principal.account_id,
    };
    let app = app_id.map(|app_id| AppRef {
        caller: Some(caller),
        app_id: app_id.into_string(),
        data_center: params.optional("DataCenter").to_owned(),
    });
    action
        .run(Call {
            clients: &shared.clients,
            caller,
            app,
            params: &params,
        })
        .await
}
