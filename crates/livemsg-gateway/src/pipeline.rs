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

/// Where the request came from and whether it was encrypted, for policy conditions. Behind
/// `trusted_proxy_hops` proxies (with `trust_forwarded_headers`), the client is the address that
/// many hops left of the peer in `X-Forwarded-For` (each proxy appends the address it saw, so
/// entries further left are whatever the client chose to send), and TLS is the last
/// `X-Forwarded-Proto` (the one the nearest proxy set). Addresses are compared in their
/// canonical form, so an IPv4 client seen as `::ffff:a.b.c.d` matches IPv4 ranges.
fn circumstances(
    shared: &Shared,
    peer: SocketAddr,
    headers: &axum::http::HeaderMap,
) -> Circumstances {
    let (source_ip, secure_transport) = if shared.trust_forwarded_headers {
        (
            forwarded_client(headers, peer.ip(), shared.trusted_proxy_hops),
            forwarded_https(headers),
        )
    } else {
        (Some(peer.ip().to_canonical()), false)
    };
    Circumstances {
        source_ip,
        now: chrono::Utc::now().fixed_offset(),
        secure_transport,
    }
}

/// The client's address behind `hops` trusted proxies; `None` when the entry there is not an
/// address (a proxy that writes something else is misconfigured: conditions on the address
/// then see none).
fn forwarded_client(
    headers: &axum::http::HeaderMap,
    peer: std::net::IpAddr,
    hops: usize,
) -> Option<std::net::IpAddr> {
    let mut chain: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let peer = peer.to_string();
    chain.push(&peer);
    let at = chain.len().saturating_sub(1 + hops);
    chain[at]
        .parse::<std::net::IpAddr>()
        .ok()
        .map(|ip| ip.to_canonical())
}

/// Whether the nearest proxy says the client spoke HTTPS (the last `X-Forwarded-Proto`).
fn forwarded_https(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get_all("x-forwarded-proto")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next_back()
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
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
        proof: principal.caller_proof.clone(),
    };
    let app = app_id.map(|app_id| AppRef {
        caller: Some(caller.clone()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn the_client_is_counted_from_the_right_past_the_trusted_proxies() {
        let peer: std::net::IpAddr = "10.0.0.2".parse().unwrap();
        let spoofed = headers(&[("x-forwarded-for", "203.0.113.9, 198.51.100.7")]);
        // One proxy (the peer) appended what it saw: the rightmost entry.
        assert_eq!(
            forwarded_client(&spoofed, peer, 1),
            Some("198.51.100.7".parse().unwrap())
        );
        // Two proxies: one more to the left.
        assert_eq!(
            forwarded_client(&spoofed, peer, 2),
            Some("203.0.113.9".parse().unwrap())
        );
        // Several headers are one list, in order; too few entries: the leftmost.
        let split = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "2.2.2.2"),
        ]);
        assert_eq!(
            forwarded_client(&split, peer, 1),
            Some("2.2.2.2".parse().unwrap())
        );
        assert_eq!(
            forwarded_client(&split, peer, 9),
            Some("1.1.1.1".parse().unwrap())
        );
        // No header: the peer itself.
        assert_eq!(forwarded_client(&HeaderMap::new(), peer, 1), Some(peer));
        // Mapped IPv6 is normalized; garbage is no address.
        let mapped = headers(&[("x-forwarded-for", "::ffff:203.0.113.9")]);
        assert_eq!(
            forwarded_client(&mapped, peer, 1),
            Some("203.0.113.9".parse().unwrap())
        );
        let garbage = headers(&[("x-forwarded-for", "unknown")]);
        assert_eq!(forwarded_client(&garbage, peer, 1), None);
    }

    #[test]
    fn the_nearest_proxy_says_whether_the_client_used_tls() {
        assert!(forwarded_https(&headers(&[(
            "x-forwarded-proto",
            "http, https"
        )])));
        assert!(!forwarded_https(&headers(&[(
            "x-forwarded-proto",
            "https, http"
        )])));
        assert!(!forwarded_https(&headers(&[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-proto", "http")
        ])));
        assert!(!forwarded_https(&HeaderMap::new()));
    }
}
