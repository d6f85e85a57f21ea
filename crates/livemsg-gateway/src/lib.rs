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
mod pipeline;
mod principals;
mod replay;
mod response;
pub mod settings;
pub mod signing;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::routing::{any, get};
use axum::Router;
use livemsg_proto::auth::v1::auth_service_client::AuthServiceClient;
use livemsg_proto::BearerToken;
use livemsg_ratelimit::RateLimiter;
use livemsg_runtime::Drain;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_client::HealthClient;

use crate::actions::Clients;
use crate::principals::Principals;
use crate::replay::ReplayGuard;
use crate::response::ErrorContext;
pub use crate::settings::GatewaySettings;

/// What every request handler shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) principals: Principals,
    pub(crate) replay: ReplayGuard,
    pub(crate) clients: Clients,
    pub(crate) health: HealthClient<Channel>,
    pub(crate) draining: AtomicBool,
    pub(crate) errors: ErrorContext,
    pub(crate) limiter: RateLimiter,
    pub(crate) max_body_bytes: usize,
    pub(crate) body_timeout: Duration,
    pub(crate) max_params: usize,
    pub(crate) max_clock_skew: chrono::Duration,
    pub(crate) trust_forwarded_headers: bool,
    pub(crate) trusted_proxy_hops: usize,
    /// The last answer of the service's health check, and when it came.
    pub(crate) readiness: std::sync::Mutex<Option<(std::time::Instant, bool)>>,
}

/// A bound, not yet serving, gateway.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    metrics_listener: TcpListener,
    router: Router,
    shared: Arc<Shared>,
    limits: livemsg_runtime::http::HttpLimits,
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
        let token = BearerToken::new(settings.internal.gateway_token.expose_secret())?;
        let shared = Arc::new(Shared {
            principals: Principals::new(
                AuthServiceClient::with_interceptor(channel.clone(), token.clone()),
                Duration::from_millis(http.auth_cache_ttl_ms),
            ),
            // A request is valid from skew before to skew after its signing time; a minute more
            // covers gateways whose clocks drift apart.
            replay: ReplayGuard::new(
                &settings.ratelimit.redis_url,
                &http.nonce_key_prefix,
                2 * skew + Duration::from_secs(60),
                Duration::from_millis(settings.ratelimit.timeout_ms),
                http.nonce_memory_entries,
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
            body_timeout: Duration::from_millis(http.body_timeout_ms),
            max_params: http.max_params,
            max_clock_skew: chrono::Duration::seconds(http.max_clock_skew_secs),
            trust_forwarded_headers: http.trust_forwarded_headers,
            trusted_proxy_hops: http.trusted_proxy_hops,
            readiness: std::sync::Mutex::new(None),
        });
        let router = Router::new()
            .route("/", any(pipeline::rpc))
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(ready))
            .fallback(pipeline::not_found)
            .with_state(shared.clone());
        let listener = TcpListener::bind(&http.listen).await?;
        let metrics_listener = TcpListener::bind(&http.metrics_listen).await?;
        Ok(Application {
            listener,
            metrics_listener,
            router,
            shared,
            limits: livemsg_runtime::http::HttpLimits {
                header_timeout: Duration::from_millis(http.header_timeout_ms),
                max_header_bytes: http.max_header_bytes,
                max_connections: http.max_connections,
            },
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
        let server = livemsg_runtime::http::serve(self.listener, self.router, self.limits, async {
            let _ = stopped.await;
        });
        let server = tokio::spawn(server);
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

/// How long a readiness answer is reused: `/readyz` is on the public port, and each fresh
/// answer costs a health call to the service.
const READY_CACHE: Duration = Duration::from_secs(1);

/// The query of `/readyz`: `?strict=true` also requires Redis to answer.
#[derive(Debug, Default, serde::Deserialize)]
struct ReadyQuery {
    #[serde(default)]
    strict: bool,
}

/// Ready when not draining and the service reports SERVING (which it does while Postgres
/// answers). Redis is not required: rate limits and nonces fall back to each gateway's memory,
/// so a slow Redis must not take every gateway out of rotation; `?strict=true` (for operators)
/// requires it too.
async fn ready(
    State(shared): State<Arc<Shared>>,
    axum::extract::Query(query): axum::extract::Query<ReadyQuery>,
) -> (axum::http::StatusCode, &'static str) {
    use axum::http::StatusCode;
    if shared.draining.load(Ordering::Acquire) {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining");
    }
    if !shared.service_serving().await {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the service is not serving",
        );
    }
    if query.strict && !shared.replay.redis_answers().await {
        return (StatusCode::SERVICE_UNAVAILABLE, "redis does not answer");
    }
    (StatusCode::OK, "ready")
}

impl Shared {
    /// Whether the service reports SERVING, asked at most once per [`READY_CACHE`].
    async fn service_serving(&self) -> bool {
        use tonic_health::pb::health_check_response::ServingStatus;
        if let Some((at, serving)) = *self.readiness.lock().expect("readiness lock") {
            if at.elapsed() < READY_CACHE {
                return serving;
            }
        }
        let check = tokio::time::timeout(
            Duration::from_secs(2),
            self.health
                .clone()
                .check(tonic_health::pb::HealthCheckRequest {
                    service: String::new(),
                }),
        )
        .await;
        let serving = matches!(check, Ok(Ok(r)) if r.get_ref().status() == ServingStatus::Serving);
        *self.readiness.lock().expect("readiness lock") =
            Some((std::time::Instant::now(), serving));
        serving
    }
}
