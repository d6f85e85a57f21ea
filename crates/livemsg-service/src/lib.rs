//! The livemsg gRPC service.
//!
//! It serves four gRPC services over one listener, all backed by the Postgres store:
//! `AuthService` (AccessKey lookup for the gateway), `ApiService` (the public API operations,
//! on behalf of an authenticated caller), `MembershipService` (joins and leaves from the
//! connection tier) and `AdminService` (accounts, RAM users, keys and policies). [`Application::build`] binds the listener, so a caller (or a test) can
//! ask for port 0 and learn the real address before serving.

mod admin;
mod api;
mod auth;
pub mod batcher;
pub mod callbacks;
mod errors;
mod events;
mod membership;
mod observe;
pub mod settings;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use livemsg_proto::admin::v1::admin_service_server::AdminServiceServer;
use livemsg_proto::api::v1::api_service_server::ApiServiceServer;
use livemsg_proto::auth::v1::auth_service_server::AuthServiceServer;
use livemsg_proto::events::v1::event_service_server::EventServiceServer;
use livemsg_proto::membership::v1::membership_service_server::MembershipServiceServer;
use livemsg_store::Store;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;

pub use admin::AdminApi;
pub use api::PublicApi;
pub use auth::AuthApi;
pub use events::EventApi;
pub use membership::{MembershipApi, MAX_BATCH_ITEMS};
pub use settings::ServiceSettings;

/// Why the service could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// No internal token is configured, and unauthenticated calls are not allowed.
    #[error("set internal.token (LIVEMSG__INTERNAL__TOKEN), or internal.allow_unauthenticated for local development")]
    NoInternalToken,
    /// The secrets keyring is not configured correctly.
    #[error(transparent)]
    Keyring(#[from] livemsg_store::crypto::KeyringError),
    /// The TLS files cannot be read.
    #[error("cannot read the TLS files: {0}")]
    Tls(std::io::Error),
    /// The HTTP client for callbacks cannot be built.
    #[error("cannot build the callback client: {0}")]
    CallbackClient(#[from] reqwest::Error),
    /// The listen address cannot be bound.
    #[error("cannot listen: {0}")]
    Listen(#[from] std::io::Error),
}

/// A bound, not yet serving, gRPC service.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    http_listener: TcpListener,
    store: Store,
    allow_private_urls: bool,
    token_check: TokenCheck,
    admin_check: TokenCheck,
    event_poll: std::time::Duration,
    count_interval: std::time::Duration,
    events: settings::EventSettings,
    dispatcher: callbacks::Dispatcher,
    batcher: batcher::Batcher,
    drain: livemsg_runtime::Drain,
    tls: Option<tonic::transport::ServerTlsConfig>,
}

/// Checks the bearer token of every call to a livemsg service (health checks and reflection
/// stay open, for probes and tooling).
#[derive(Clone)]
enum TokenCheck {
    /// Calls must carry `authorization: Bearer <token>` (stored as that whole header value).
    Require(Vec<u8>),
    /// Every call is accepted (`internal.allow_unauthenticated`).
    Open,
    /// Every call is refused (the admin API without an admin token).
    Closed,
}

impl TokenCheck {
    fn bearer(token: &str) -> TokenCheck {
        TokenCheck::Require(format!("Bearer {token}").into_bytes())
    }
}

impl std::fmt::Debug for TokenCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCheck([REDACTED])")
    }
}

impl tonic::service::Interceptor for TokenCheck {
    fn call(&mut self, request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        use subtle::ConstantTimeEq;
        let expected = match self {
            TokenCheck::Require(expected) => expected,
            TokenCheck::Open => return Ok(request),
            TokenCheck::Closed => {
                return Err(tonic::Status::permission_denied(
                    "the admin API is disabled: set internal.admin_token",
                ))
            }
        };
        let given = request
            .metadata()
            .get("authorization")
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if bool::from(given.ct_eq(expected)) {
            Ok(request)
        } else {
            Err(tonic::Status::unauthenticated(
                "internal calls need the service's bearer token",
            ))
        }
    }
}

impl Application {
    /// Binds the configured address, with a pool to the configured database.
    pub async fn build(settings: &ServiceSettings) -> Result<Self, BuildError> {
        Self::build_with_pool(settings, settings.database.pool()).await
    }

    /// Binds the configured address, serving from `pool` (tests pass their own database).
    pub async fn build_with_pool(
        settings: &ServiceSettings,
        pool: sqlx::PgPool,
    ) -> Result<Self, BuildError> {
        let keyring = settings.secrets.keyring()?;
        let token = settings.internal.token.expose_secret();
        let token_check = match (token.is_empty(), settings.internal.allow_unauthenticated) {
            (false, _) => TokenCheck::bearer(token),
            (true, true) => {
                tracing::warn!("internal gRPC calls are accepted without a token");
                TokenCheck::Open
            }
            (true, false) => return Err(BuildError::NoInternalToken),
        };
        let admin_token = settings.internal.admin_token.expose_secret();
        let admin_check = if admin_token.is_empty() {
            TokenCheck::Closed
        } else {
            TokenCheck::bearer(admin_token)
        };
        let tls = settings.service.tls().map_err(BuildError::Tls)?;
        let listener = TcpListener::bind(&settings.service.listen).await?;
        let http_listener = TcpListener::bind(&settings.service.metrics_listen).await?;
        let store = Store::new(pool, settings.groups.super_group_threshold, keyring);
        Ok(Application {
            listener,
            http_listener,
            dispatcher: callbacks::Dispatcher::new(store.clone(), settings.callbacks.clone())?,
            batcher: batcher::Batcher::start(
                store.clone(),
                settings.membership.writers,
                settings.membership.max_batch,
            ),
            events: settings.events.clone(),
            store,
            allow_private_urls: settings.callbacks.allow_private_urls,
            token_check,
            admin_check,
            event_poll: std::time::Duration::from_millis(settings.service.event_poll_ms),
            count_interval: std::time::Duration::from_millis(
                settings.groups.count_event_interval_ms,
            ),
            drain: livemsg_runtime::Drain {
                delay: std::time::Duration::from_millis(settings.service.shutdown_delay_ms),
                grace: std::time::Duration::from_millis(settings.service.shutdown_grace_ms),
            },
            tls,
        })
    }

    /// The address the gRPC listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has a local address")
    }

    /// The address of the HTTP side listener (`/metrics`, `/healthz`, `/readyz`).
    pub fn http_addr(&self) -> SocketAddr {
        self.http_listener
            .local_addr()
            .expect("a bound TCP listener has a local address")
    }

    /// Serves until `shutdown` resolves. Then it reports NOT_SERVING (gRPC health and
    /// `/readyz`) while still serving for the shutdown delay, so load balancers stop sending;
    /// then stops accepting and lets in-flight calls finish within the grace period; then closes
    /// the database pool.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), tonic::transport::Error> {
        let pool = self.store.pool().clone();
        let draining = Arc::new(AtomicBool::new(false));
        let (health, health_service) = tonic_health::server::health_reporter();
        let probe = tokio::spawn(report_health(health.clone(), pool.clone())).abort_handle();
        let background = [
            tokio::spawn(events::report_counts(
                self.store.clone(),
                self.count_interval,
            )),
            tokio::spawn(events::sequence(
                self.store.clone(),
                std::time::Duration::from_millis(self.events.sequence_interval_ms),
            )),
            tokio::spawn(events::maintain(
                self.store.clone(),
                std::time::Duration::from_secs(self.events.retention_secs),
            )),
            tokio::spawn(self.dispatcher.run()),
        ];
        let http = axum::serve(
            self.http_listener,
            observe::http_router(pool.clone(), draining.clone()),
        );
        let http = tokio::spawn(async move {
            if let Err(err) = http.await {
                tracing::error!(error = %err, "metrics listener failed");
            }
        });
        // Both reflection versions: grpcurl and most tools ask v1, older ones v1alpha.
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(livemsg_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        let reflection_v1 = reflection()
            .build_v1()
            .expect("the embedded descriptor sets are valid");
        let reflection_v1alpha = reflection()
            .build_v1alpha()
            .expect("the embedded descriptor sets are valid");
        let check = self.token_check;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = self.tls {
            builder = builder.tls_config(tls)?;
        }
        let server = builder
            .layer(observe::GrpcMetricsLayer)
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(AuthServiceServer::with_interceptor(
                AuthApi::new(self.store.clone()),
                check.clone(),
            ))
            .add_service(ApiServiceServer::with_interceptor(
                PublicApi::new(self.store.clone(), self.allow_private_urls),
                check.clone(),
            ))
            .add_service(MembershipServiceServer::with_interceptor(
                MembershipApi::new(self.store.clone(), self.batcher),
                check.clone(),
            ))
            .add_service(EventServiceServer::with_interceptor(
                EventApi::new(
                    self.store.clone(),
                    self.event_poll,
                    std::time::Duration::from_millis(self.events.watcher_stall_ms),
                ),
                check.clone(),
            ))
            .add_service(AdminServiceServer::with_interceptor(
                AdminApi::new(self.store),
                self.admin_check,
            ))
            // TCP_NODELAY: no Nagle delay on small gRPC responses.
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(self.listener).with_nodelay(Some(true)),
                async move {
                    let _ = stopped.await;
                },
            );
        let server = tokio::spawn(server);
        let result = self
            .drain
            .run(
                server,
                shutdown,
                async {
                    probe.abort();
                    draining.store(true, Ordering::Release);
                    set_health(&health, tonic_health::ServingStatus::NotServing).await;
                },
                stop,
            )
            .await;
        probe.abort();
        for task in background {
            task.abort();
        }
        http.abort();
        pool.close().await;
        result.unwrap_or(Ok(()))
    }
}

/// Keeps `grpc.health.v1` truthful: SERVING while Postgres answers, NOT_SERVING while it does
/// not, checked every two seconds.
async fn report_health(health: tonic_health::server::HealthReporter, pool: sqlx::PgPool) {
    use tonic_health::ServingStatus;
    let mut last = None;
    loop {
        let ok = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            sqlx::query("SELECT 1").execute(&pool),
        )
        .await
        .is_ok_and(|r| r.is_ok());
        let status = if ok {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        if last != Some(ok) {
            if !ok {
                tracing::warn!("postgres does not answer: reporting NOT_SERVING");
            }
            set_health(&health, status).await;
            last = Some(ok);
        }
        metrics::gauge!("livemsg_db_pool_connections").set(pool.size() as f64);
        metrics::gauge!("livemsg_db_pool_idle_connections").set(pool.num_idle() as f64);
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}

/// Sets the health of the whole server ("") and of each livemsg service.
async fn set_health(
    health: &tonic_health::server::HealthReporter,
    status: tonic_health::ServingStatus,
) {
    for name in [
        "",
        "livemsg.auth.v1.AuthService",
        "livemsg.api.v1.ApiService",
        "livemsg.membership.v1.MembershipService",
        "livemsg.admin.v1.AdminService",
        "livemsg.events.v1.EventService",
    ] {
        health.set_service_status(name, status).await;
    }
}
