//! The livemsg HTTP RPC gateway.
//!
//! It speaks the Alibaba Cloud RPC protocol of the Live API (version 2016-11-01) so that the
//! official SDKs work against it unchanged, and holds no state of its own: every request is
//! parsed ([`params`], [`auth::Envelope::read`]), authenticated against the AccessKey the
//! service returns ([`principals`], [`auth::Envelope::verify`], [`replay`]), limited per
//! account and action ([`livemsg_ratelimit`]), authorized ([`authz`]), then executed by a
//! call to the gRPC service (`actions`, one table row and one function per operation). Every
//! step answers an `ApiError`, and every error leaves as Alibaba's JSON error body
//! (`response`).

mod actions;
pub mod auth;
mod authz;
pub mod params;
mod principals;
mod replay;
mod response;
pub mod settings;
pub mod signing;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::Method;
use axum::response::Response;
use axum::routing::{any, get};
use axum::Router;
use livemsg_domain::{ApiError, ErrorCode};
use livemsg_proto::auth::v1::auth_service_client::AuthServiceClient;
use livemsg_proto::common::v1::{AppRef, Caller};
use livemsg_proto::BearerToken;
use livemsg_ratelimit::{Decision, RateLimiter};
use livemsg_runtime::Drain;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_client::HealthClient;

use crate::actions::{Action, Call, Clients, Fields, API_VERSION};
use crate::auth::{Envelope, SignedParts};
use crate::authz::Circumstances;
use crate::params::{decode_pairs, Params};
use crate::principals::Principals;
use crate::replay::ReplayGuard;
use crate::response::{new_request_id, ErrorContext};
pub use crate::settings::GatewaySettings;

/// What every request handler shares.
#[derive(Debug)]
struct Shared {
    principals: Principals,
    replay: ReplayGuard,
    clients: Clients,
    health: HealthClient<Channel>,
    draining: AtomicBool,
    errors: ErrorContext,
    limiter: RateLimiter,
    max_body_bytes: usize,
    max_clock_skew: chrono::Duration,
    trust_forwarded_headers: bool,
}

/// A bound, not yet serving, gateway.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    metrics_listener: TcpListener,
    router: Router,
    shared: Arc<Shared>,
    drain: Drain,
}

impl Application {
    /// Binds the configured address and prepares a lazily connecting channel to the service.
    pub async fn build(settings: &GatewaySettings) -> anyhow::Result<Self> {
        let http = &settings.gateway;
        let mut endpoint = Endpoint::from_shared(http.service_url.clone())?;
        if let Some(tls) = http.service_tls()? {
            endpoint = endpoint.tls_config(tls)?;
        }
        let channel = endpoint
            .connect_timeout(Duration::from_millis(http.service_connect_timeout_ms))
            .timeout(Duration::from_millis(http.service_timeout_ms))
            .tcp_nodelay(true)
            .connect_lazy();
        let skew = Duration::from_secs(http.max_clock_skew_secs.max(1) as u64);
        let token = BearerToken::new(settings.internal.token.expose_secret())?;
        let shared = Arc::new(Shared {
            principals: Principals::new(
                AuthServiceClient::with_interceptor(channel.clone(), token.clone()),
                Duration::from_millis(http.auth_cache_ttl_ms),
            ),
            replay: ReplayGuard::new(
                &settings.ratelimit.redis_url,
                &http.nonce_key_prefix,
                2 * skew,
                Duration::from_millis(settings.ratelimit.timeout_ms),
            )?,
            clients: Clients::new(tonic::service::interceptor::InterceptedService::new(
                channel.clone(),
                token,
            )),
            health: HealthClient::new(channel),
            draining: AtomicBool::new(false),
            errors: ErrorContext {
                host_id: http.host_id.clone(),
                recommend_url: http.recommend_url.clone(),
            },
            limiter: RateLimiter::new(settings.ratelimit.clone())?,
            max_body_bytes: http.max_body_bytes,
            max_clock_skew: chrono::Duration::seconds(http.max_clock_skew_secs),
            trust_forwarded_headers: http.trust_forwarded_headers,
        });
        let router = Router::new()
            .route("/", any(rpc))
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(ready))
            .fallback(not_found)
            .with_state(shared.clone());
        let listener = TcpListener::bind(&http.listen).await?;
        let metrics_listener = TcpListener::bind(&http.metrics_listen).await?;
        Ok(Application {
            listener,
            metrics_listener,
            router,
            shared,
            drain: Drain {
                delay: Duration::from_millis(http.shutdown_delay_ms),
                grace: Duration::from_millis(http.shutdown_grace_ms),
            },
        })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has a local address")
    }

    /// The address of the metrics listener.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_listener
            .local_addr()
            .expect("a bound TCP listener has a local address")
    }

    /// Serves until `shutdown` resolves. Then `/readyz` answers 503 while requests are still
    /// served for the shutdown delay (load balancers stop sending), then the listener closes and
    /// in-flight requests get the grace period to finish.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let metrics = axum::serve(self.metrics_listener, livemsg_runtime::telemetry::router());
        let metrics = tokio::spawn(async move {
            if let Err(err) = metrics.await {
                tracing::error!(error = %err, "metrics listener failed");
            }
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        // Small responses go out at once: without TCP_NODELAY, Nagle's algorithm and the peer's
        // delayed ACK hold a response back by up to 40 ms (the benchmark found it).
        use axum::serve::ListenerExt;
        let listener = self.listener.tap_io(|tcp| {
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::debug!(error = %err, "cannot set TCP_NODELAY");
            }
        });
        let server = axum::serve(
            listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stopped.await;
        });
        let server = tokio::spawn(async move { server.await });
        let shared = self.shared.clone();
        let result = self
            .drain
            .run(
                server,
                shutdown,
                async move { shared.draining.store(true, Ordering::Release) },
                stop,
            )
            .await;
        metrics.abort();
        result.unwrap_or(Ok(()))
    }
}

/// Ready when not draining, the service reports SERVING and Redis answers.
async fn ready(State(shared): State<Arc<Shared>>) -> (axum::http::StatusCode, &'static str) {
    use axum::http::StatusCode;
    use tonic_health::pb::health_check_response::ServingStatus;
    if shared.draining.load(Ordering::Acquire) {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining");
    }
    let check = tokio::time::timeout(
        Duration::from_secs(2),
        shared
            .health
            .clone()
            .check(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            }),
    )
    .await;
    let serving = matches!(check, Ok(Ok(r)) if r.get_ref().status() == ServingStatus::Serving);
    if !serving {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the service is not serving",
        );
    }
    if !shared.replay.redis_answers().await {
        return (StatusCode::SERVICE_UNAVAILABLE, "redis does not answer");
    }
    (StatusCode::OK, "ready")
}

async fn not_found(State(shared): State<Arc<Shared>>) -> Response {
    let request_id = new_request_id();
    shared
        .errors
        .response(&request_id, &ApiError::of(ErrorCode::InvalidActionNotFound))
}

/// The RPC endpoint: every action arrives here.
async fn rpc(
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
    let body = axum::body::to_bytes(body, shared.max_body_bytes)
        .await
        .map_err(|_| {
            ApiError::invalid(
                "The request body",
                format_args!("must be at most {} bytes long", shared.max_body_bytes),
            )
        })?;
    let query = decode_pairs(
        parts.uri.query().unwrap_or_default().as_bytes(),
        "The query string",
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
        decode_pairs(&body, "The form body")?
    } else {
        Vec::new()
    };
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
