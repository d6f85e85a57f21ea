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
mod errors;
mod membership;
pub mod settings;

use std::future::Future;
use std::net::SocketAddr;

use livemsg_proto::admin::v1::admin_service_server::AdminServiceServer;
use livemsg_proto::api::v1::api_service_server::ApiServiceServer;
use livemsg_proto::auth::v1::auth_service_server::AuthServiceServer;
use livemsg_proto::membership::v1::membership_service_server::MembershipServiceServer;
use livemsg_store::Store;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

pub use admin::AdminApi;
pub use api::PublicApi;
pub use auth::AuthApi;
pub use membership::{MembershipApi, MAX_BATCH_ITEMS};
pub use settings::ServiceSettings;

/// Why the service could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The secrets keyring is not configured correctly.
    #[error(transparent)]
    Keyring(#[from] livemsg_store::crypto::KeyringError),
    /// The listen address cannot be bound.
    #[error("cannot listen: {0}")]
    Listen(#[from] std::io::Error),
}

/// A bound, not yet serving, gRPC service.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    store: Store,
    allow_private_urls: bool,
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
        let listener = TcpListener::bind(&settings.service.listen).await?;
        Ok(Application {
            listener,
            store: Store::new(pool, settings.groups.super_group_threshold, keyring),
            allow_private_urls: settings.callbacks.allow_private_urls,
        })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has a local address")
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight calls finish and
    /// closes the database pool.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), tonic::transport::Error> {
        let pool = self.store.pool().clone();
        let result = tonic::transport::Server::builder()
            .add_service(AuthServiceServer::new(AuthApi::new(self.store.clone())))
            .add_service(ApiServiceServer::new(PublicApi::new(
                self.store.clone(),
                self.allow_private_urls,
            )))
            .add_service(MembershipServiceServer::new(MembershipApi::new(
                self.store.clone(),
            )))
            .add_service(AdminServiceServer::new(AdminApi::new(self.store)))
            .serve_with_incoming_shutdown(TcpListenerStream::new(self.listener), shutdown)
            .await;
        pool.close().await;
        result
    }
}
