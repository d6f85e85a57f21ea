//! The livemsg gRPC service.
//!
//! One listener serves the public API, one gRPC service per family of operations
//! ([`api`]: apps, groups, members), and the internal services ([`internal`]: AccessKey lookup
//! for the gateway, membership and event streams for the connection tier, administration), all
//! backed by the Postgres store; logic that several of them share lives in [`usecases`], and
//! background work in [`workers`]. [`Application::build`] binds the listener, so a caller (or a
//! test) can ask for port 0 and learn the real address before serving.

pub mod api;
pub mod audit;
mod errors;
pub mod fanout;
mod interceptor;
mod internal;
mod observe;
pub mod proofs;
pub mod settings;
pub mod usecases;
pub mod workers;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use livemsg_proto::admin::v1::admin_service_server::AdminServiceServer;
use livemsg_proto::api::v1::app_service_server::AppServiceServer;
use livemsg_proto::api::v1::group_service_server::GroupServiceServer;
use livemsg_proto::api::v1::member_service_server::MemberServiceServer;
use livemsg_proto::api::v1::message_service_server::MessageServiceServer;
use livemsg_proto::api::v1::moderation_service_server::ModerationServiceServer;
use livemsg_proto::auth::v1::auth_service_server::AuthServiceServer;
use livemsg_proto::events::v1::event_service_server::EventServiceServer;
use livemsg_proto::membership::v1::membership_service_server::MembershipServiceServer;
use livemsg_proto::messaging::v1::messaging_service_server::MessagingServiceServer;
use livemsg_store::Store;
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;

pub use api::Api;
pub use errors::{Result, ServiceError};
pub use interceptor::TierScope;
use interceptor::{TierCheck, TokenCheck};
pub use internal::events::RESUME_FROM_METADATA;
use internal::{
    admin::AdminApi, auth::AuthApi, events::EventApi, membership::MembershipApi,
    messaging::MessagingApi,
};
pub use settings::ServiceSettings;
pub use usecases::membership::{Membership, MAX_BATCH_ITEMS};

/// The gRPC services a livemsg service serves, by full name (for health reports).
pub const SERVICE_NAMES: [&str; 10] = [
    "livemsg.auth.v1.AuthService",
    "livemsg.api.v1.AppService",
    "livemsg.api.v1.GroupService",
    "livemsg.api.v1.MemberService",
    "livemsg.api.v1.MessageService",
    "livemsg.api.v1.ModerationService",
    "livemsg.membership.v1.MembershipService",
    "livemsg.messaging.v1.MessagingService",
    "livemsg.admin.v1.AdminService",
    "livemsg.events.v1.EventService",
];

/// Why the service could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// No gateway token is configured, and unauthenticated calls are not allowed.
    #[error("set internal.gateway_token (LIVEMSG__INTERNAL__GATEWAY_TOKEN), or internal.allow_unauthenticated for local development")]
    NoInternalToken,
    /// A token is too weak to protect what it opens.
    #[error("{0}")]
    WeakToken(String),
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
    settings: ServiceSettings,
    gateway_check: TokenCheck,
    tier_check: TierCheck,
    admin_check: TokenCheck,
    proofs: proofs::Proofs,
    dispatcher: workers::callbacks::Dispatcher,
    membership: Membership,
    messaging: usecases::messaging::Messaging,
    drain: livemsg_runtime::Drain,
    tls: Option<tonic::transport::ServerTlsConfig>,
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
        let internal = &settings.internal;
        let open = internal.allow_unauthenticated;
        let role_token = |setting: &str,
                          token: &SecretString|
         -> Result<Option<String>, BuildError> {
            let token = token.expose_secret();
            if token.is_empty() {
                return Ok(None);
            }
            livemsg_runtime::check_token_strength(setting, token).map_err(BuildError::WeakToken)?;
            Ok(Some(token.to_owned()))
        };
        let gateway_token = role_token("internal.gateway_token", &internal.gateway_token)?;
        let tier_token = role_token("internal.tier_token", &internal.tier_token)?;
        let admin_token = role_token("internal.admin_token", &internal.admin_token)?;
        let gateway_check = match (gateway_token, open) {
            (Some(token), _) => TokenCheck::bearer(&token),
            (None, true) => {
                tracing::warn!("internal gRPC calls are accepted without a token");
                TokenCheck::Open
            }
            (None, false) => return Err(BuildError::NoInternalToken),
        };
        let proofs = proofs::Proofs::new(&keyring);
        let tier_check = TierCheck {
            platform: tier_token.map(|t| format!("Bearer {t}").into_bytes()),
            proofs: proofs.clone(),
            open,
        };
        let admin_check = match admin_token {
            Some(token) => TokenCheck::bearer(&token),
            None => TokenCheck::Closed("the admin API is disabled: set internal.admin_token"),
        };
        let tls = settings.service.tls().map_err(BuildError::Tls)?;
        let listener = TcpListener::bind(&settings.service.listen).await?;
        let http_listener = TcpListener::bind(&settings.service.metrics_listen).await?;
        let store = Store::new(pool, settings.groups.super_group_threshold, keyring)
            .with_limits(settings.limits());
        let batcher = workers::batcher::Batcher::start(
            store.clone(),
            settings.membership.writers,
            settings.membership.max_batch,
        );
        let presence = workers::presence::PresenceBatcher::start(
            store.clone(),
            settings.membership.writers,
            settings.membership.max_batch,
        );
        let messages = &settings.messages;
        let redis_url = messages.redis_url.expose_secret();
        let hub = fanout::Hub::start(
            store.clone(),
            (!redis_url.is_empty()).then_some(redis_url),
            &messages.channel_prefix,
            Duration::from_millis(messages.head_poll_ms),
        );
        let messaging = usecases::messaging::Messaging::new(
            store.clone(),
            hub.clone(),
            workers::sends::SendBatcher::start(
                store.clone(),
                hub,
                messages.writers,
                messages.max_batch,
            ),
            audit::Auditor::new(
                Duration::from_millis(messages.audit_timeout_ms),
                settings.callbacks.allow_private_urls,
            )?,
            messages.allow_send_to_empty_group,
            Duration::from_millis(messages.ack_timeout_ms),
        );
        Ok(Application {
            messaging,
            listener,
            http_listener,
            dispatcher: workers::callbacks::Dispatcher::new(
                store.clone(),
                settings.callbacks.clone(),
            )?,
            membership: Membership::new(store.clone(), batcher, presence),
            store,
            settings: settings.clone(),
            gateway_check,
            tier_check,
            admin_check,
            proofs,
            drain: livemsg_runtime::Drain {
                delay: Duration::from_millis(settings.service.shutdown_delay_ms),
                grace: Duration::from_millis(settings.service.shutdown_grace_ms),
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

    /// Starts the background work of this instance; see [`workers`].
    fn start_workers(&self, sweeper: Arc<tokio::sync::Notify>) -> Vec<tokio::task::JoinHandle<()>> {
        let events = &self.settings.events;
        vec![
            tokio::spawn(workers::lifecycle::purge(
                self.store.clone(),
                Duration::from_secs(self.settings.groups.purge_interval_secs.max(1)),
            )),
            tokio::spawn(workers::lifecycle::sweep(self.store.clone(), sweeper)),
            tokio::spawn(workers::lifecycle::message_retention(
                self.store.clone(),
                Duration::from_secs(self.settings.messages.retention_interval_secs.max(1)),
            )),
            tokio::spawn(workers::outbox::report_counts(
                self.store.clone(),
                Duration::from_millis(self.settings.groups.count_event_interval_ms),
            )),
            tokio::spawn(workers::outbox::maintain(
                self.store.clone(),
                Duration::from_secs(events.retention_secs),
            )),
            tokio::spawn(self.dispatcher.clone().run()),
            tokio::spawn(workers::wake::announce(
                self.store.clone(),
                self.dispatcher.owner().to_owned(),
            )),
            tokio::spawn(workers::wake::relay(
                self.store.clone(),
                self.dispatcher.owner().to_owned(),
            )),
        ]
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
        let (stopping, streams_stop) = tokio::sync::watch::channel(false);
        let (health, health_service) = tonic_health::server::health_reporter();
        let probe = tokio::spawn(report_health(health.clone(), pool.clone())).abort_handle();
        let api = Api::new(
            self.store.clone(),
            self.proofs.clone(),
            self.settings.callbacks.allow_private_urls,
            self.messaging.clone(),
            self.membership.clone(),
        );
        let background = self.start_workers(api.sweeper());
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
        let (gateway, tier) = (self.gateway_check, self.tier_check);
        // The public API: the gateway, or a connection tier acting for an app's admins with a
        // caller proof from `ResolveApp` (which it gets only for the apps it may touch).
        let public = interceptor::PublicCheck {
            gateway: gateway.clone(),
            tier: tier.clone(),
        };
        let events = EventApi::new(
            self.store.clone(),
            Duration::from_millis(self.settings.service.event_poll_ms),
            Duration::from_millis(self.settings.events.watcher_stall_ms),
            streams_stop.clone(),
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = self.tls {
            builder = builder.tls_config(tls)?;
        }
        let reflection = self.settings.service.reflection;
        let server = builder
            .layer(observe::GrpcMetricsLayer)
            .add_service(health_service)
            .add_optional_service(reflection.then_some(reflection_v1))
            .add_optional_service(reflection.then_some(reflection_v1alpha))
            .add_service(AuthServiceServer::with_interceptor(
                AuthApi::new(self.store.clone(), self.proofs.clone()),
                gateway.clone(),
            ))
            .add_service(AppServiceServer::with_interceptor(
                api.clone(),
                public.clone(),
            ))
            .add_service(GroupServiceServer::with_interceptor(
                api.clone(),
                public.clone(),
            ))
            .add_service(MemberServiceServer::with_interceptor(
                api.clone(),
                public.clone(),
            ))
            .add_service(MessageServiceServer::with_interceptor(
                api.clone(),
                public.clone(),
            ))
            .add_service(ModerationServiceServer::with_interceptor(api, public))
            .add_service(MessagingServiceServer::with_interceptor(
                MessagingApi::new(
                    self.store.clone(),
                    self.messaging.clone(),
                    Duration::from_millis(self.settings.messages.watcher_stall_ms),
                    streams_stop,
                ),
                tier.clone(),
            ))
            .add_service(MembershipServiceServer::with_interceptor(
                MembershipApi::new(self.store.clone(), self.membership, self.proofs.clone()),
                tier.clone(),
            ))
            .add_service(EventServiceServer::with_interceptor(events, tier))
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
                    // Message streams end now, telling watchers where to resume elsewhere.
                    stopping.send_replace(true);
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
            Duration::from_secs(2),
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
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Sets the health of the whole server ("") and of each livemsg service.
async fn set_health(
    health: &tonic_health::server::HealthReporter,
    status: tonic_health::ServingStatus,
) {
    health.set_service_status("", status).await;
    for name in SERVICE_NAMES {
        health.set_service_status(name, status).await;
    }
}
