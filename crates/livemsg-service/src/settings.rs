//! The service's settings, read through [`livemsg_runtime::ConfigSource`].

use livemsg_runtime::LogSettings;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgConnectOptions, PgSslMode};

/// Everything the gRPC service and the admin command read.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct ServiceSettings {
    /// `[log]`
    pub log: LogSettings,
    /// `[database]`
    pub database: DatabaseSettings,
    /// `[service]`
    pub service: GrpcSettings,
    /// `[groups]`
    pub groups: GroupSettings,
    /// `[quotas]`
    pub quotas: QuotaSettings,
    /// `[membership]`
    pub membership: MembershipSettings,
    /// `[events]`
    pub events: EventSettings,
    /// `[messages]`
    pub messages: MessageSettings,
    /// `[callbacks]`
    pub callbacks: CallbackSettings,
    /// `[secrets]`
    pub secrets: SecretsSettings,
    /// `[internal]`
    pub internal: livemsg_runtime::InternalSettings,
}

/// The keys that seal AccessKey secrets at rest (`[secrets]`). Every key is a secret: set
/// them through the environment (`LIVEMSG__SECRETS__KEYS__<NAME>`), never in a committed file.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct SecretsSettings {
    /// The key that seals new secrets.
    pub active_key: String,
    /// 32-byte keys in base64, by name. Keep an old key here until `livemsg-admin
    /// reencrypt-secrets` has moved every secret to the active one.
    #[serde(serialize_with = "livemsg_runtime::serialize_secret_map")]
    pub keys: std::collections::HashMap<String, SecretString>,
}

impl SecretsSettings {
    /// One key, active (for tests and first set-ups).
    pub fn single(name: &str, key_base64: &str) -> Self {
        SecretsSettings {
            active_key: name.to_owned(),
            keys: [(name.to_owned(), SecretString::from(key_base64))]
                .into_iter()
                .collect(),
        }
    }

    /// The keyring these settings describe.
    pub fn keyring(&self) -> Result<livemsg_store::Keyring, livemsg_store::crypto::KeyringError> {
        livemsg_store::Keyring::new(
            &self.active_key,
            self.keys
                .iter()
                .map(|(name, key)| (name.as_str(), key.expose_secret())),
        )
    }
}

/// Where Postgres is. The password is a secret: it is never logged or printed.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    pub host: String,
    pub port: u16,
    pub username: String,
    #[serde(serialize_with = "livemsg_runtime::serialize_secret")]
    pub password: SecretString,
    pub database_name: String,
    /// Require TLS to Postgres.
    pub require_ssl: bool,
    pub max_connections: u32,
    /// How long a request waits for a pooled connection before failing.
    pub acquire_timeout_ms: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            host: "127.0.0.1".to_owned(),
            port: 5432,
            username: "postgres".to_owned(),
            password: SecretString::from(""),
            database_name: "livemsg".to_owned(),
            require_ssl: false,
            max_connections: 16,
            acquire_timeout_ms: 5_000,
        }
    }
}

impl DatabaseSettings {
    /// Connection options for the configured database.
    pub fn connect_options(&self) -> PgConnectOptions {
        let mut options = PgConnectOptions::new()
            .host(&self.host)
            .port(self.port)
            .username(&self.username)
            .database(&self.database_name)
            .ssl_mode(if self.require_ssl {
                PgSslMode::Require
            } else {
                PgSslMode::Prefer
            });
        let password = self.password.expose_secret();
        if !password.is_empty() {
            options = options.password(password);
        }
        options
    }

    /// A lazily connecting pool: the process starts even while Postgres is still coming up.
    /// Connections are checked before use only after a second idle
    /// ([`livemsg_store::pool_options`]).
    pub fn pool(&self) -> sqlx::PgPool {
        livemsg_store::pool_options()
            .max_connections(self.max_connections)
            .acquire_timeout(std::time::Duration::from_millis(self.acquire_timeout_ms))
            .connect_lazy_with(self.connect_options())
    }
}

/// Where the gRPC server listens (`[service]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcSettings {
    /// `host:port`; port 0 picks a free port.
    pub listen: String,
    /// Where `/metrics`, `/healthz` and `/readyz` are served over HTTP.
    pub metrics_listen: String,
    /// On SIGTERM, how long to keep serving while reporting NOT_SERVING, so that load
    /// balancers stop sending first.
    pub shutdown_delay_ms: u64,
    /// Then, how long in-flight calls may take to finish.
    pub shutdown_grace_ms: u64,
    /// How often an event stream that has caught up looks for new events in case a wake-up
    /// was lost, in milliseconds (it is woken as soon as events are written).
    pub event_poll_ms: u64,
    /// PEM certificate chain for TLS on the gRPC port; empty serves plaintext.
    pub tls_cert_path: String,
    /// PEM private key of that certificate.
    pub tls_key_path: String,
    /// PEM CA certificate: when set, callers must present a client certificate it signed
    /// (mutual TLS).
    pub tls_client_ca_path: String,
    /// Serve gRPC server reflection (for grpcurl and the like): on for a laptop, off in a
    /// deployment, where it would describe the internal API to anyone who reaches the port.
    pub reflection: bool,
}

impl GrpcSettings {
    /// The TLS configuration these settings describe, if any.
    pub fn tls(&self) -> Result<Option<tonic::transport::ServerTlsConfig>, std::io::Error> {
        use tonic::transport::{Certificate, Identity, ServerTlsConfig};
        if self.tls_cert_path.is_empty() && self.tls_key_path.is_empty() {
            return Ok(None);
        }
        let read = |path: &str| {
            std::fs::read(path).map_err(|e| std::io::Error::new(e.kind(), format!("{path}: {e}")))
        };
        let mut tls = ServerTlsConfig::new().identity(Identity::from_pem(
            read(&self.tls_cert_path)?,
            read(&self.tls_key_path)?,
        ));
        if !self.tls_client_ca_path.is_empty() {
            tls = tls.client_ca_root(Certificate::from_pem(read(&self.tls_client_ca_path)?));
        }
        Ok(Some(tls))
    }
}

impl Default for GrpcSettings {
    fn default() -> Self {
        GrpcSettings {
            listen: "127.0.0.1:50051".to_owned(),
            metrics_listen: "127.0.0.1:9102".to_owned(),
            shutdown_delay_ms: 0,
            shutdown_grace_ms: 25_000,
            event_poll_ms: 2_000,
            tls_cert_path: String::new(),
            tls_key_path: String::new(),
            tls_client_ca_path: String::new(),
            reflection: false,
        }
    }
}

/// Group rules (`[groups]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct GroupSettings {
    /// A group with more members than this becomes a super group.
    pub super_group_threshold: i64,
    /// A super group's member count is reported at most this often, in milliseconds.
    pub count_event_interval_ms: u64,
    /// How long a deleted group can be recovered, in seconds; after it, the group is purged
    /// (with its events and messages) and its id can be used again.
    pub recovery_secs: u64,
    /// How often each instance looks for groups to purge, in seconds.
    pub purge_interval_secs: u64,
}

impl Default for GroupSettings {
    fn default() -> Self {
        GroupSettings {
            super_group_threshold: livemsg_domain::DEFAULT_SUPER_GROUP_THRESHOLD,
            count_event_interval_ms: 5_000,
            recovery_secs: 30 * 86_400,
            purge_interval_secs: 60,
        }
    }
}

/// What an account and an app may hold (`[quotas]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuotaSettings {
    /// Apps per account (all data centers).
    pub apps_per_account: i64,
    /// Live groups per app at once (deleted groups do not count).
    pub groups_per_app: i64,
}

impl Default for QuotaSettings {
    fn default() -> Self {
        let limits = livemsg_store::Limits::default();
        QuotaSettings {
            apps_per_account: limits.apps_per_account,
            groups_per_app: limits.groups_per_app,
        }
    }
}

impl ServiceSettings {
    /// The quotas and windows the store enforces.
    pub fn limits(&self) -> livemsg_store::Limits {
        livemsg_store::Limits {
            apps_per_account: self.quotas.apps_per_account,
            groups_per_app: self.quotas.groups_per_app,
            recovery_window: std::time::Duration::from_secs(self.groups.recovery_secs),
            replay_window: std::time::Duration::from_secs(self.messages.replay_secs),
        }
    }
}

/// How single joins and leaves are written (`[membership]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MembershipSettings {
    /// Writers committing joins and leaves, one per lane, and as many again committing logons
    /// and logoffs; each holds one database connection while it writes. Two by default: on a
    /// two-core machine two writers carried joins and leaves over many groups at 64-72% of
    /// single-row INSERTs where four reached 50-57%, with less CPU per change (BENCHMARKS.md);
    /// raise it with Postgres's cores.
    pub writers: usize,
    /// The most changes (or logons and logoffs) one writer commits in one transaction (those
    /// already waiting).
    pub max_batch: usize,
}

impl Default for MembershipSettings {
    fn default() -> Self {
        MembershipSettings {
            writers: 2,
            max_batch: 128,
        }
    }
}

/// The event outbox and its streams (`[events]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventSettings {
    /// How long events are kept, in seconds (an event that still waits for its callback is
    /// kept until it is delivered or given up).
    pub retention_secs: u64,
    /// A watcher that reads nothing for this long while events wait for it is told it fell
    /// behind, and its stream ends; it resumes from the sequence number it is given.
    pub watcher_stall_ms: u64,
}

impl Default for EventSettings {
    fn default() -> Self {
        EventSettings {
            retention_secs: 86_400,
            watcher_stall_ms: 30_000,
        }
    }
}

/// Messages: their group commit, their fan-out over Redis, retention and audit (`[messages]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MessageSettings {
    /// The Redis that carries committed messages to every instance's watchers (pub/sub).
    #[serde(serialize_with = "livemsg_runtime::serialize_secret")]
    pub redis_url: SecretString,
    /// The prefix of the pub/sub channels (instances that share it see each other's messages).
    pub channel_prefix: String,
    /// Writers committing sends; each holds one database connection while it writes.
    pub writers: usize,
    /// The most sends one writer commits in one transaction (those already waiting).
    pub max_batch: usize,
    /// How often an instance compares its watched streams with their heads in Postgres, to
    /// deliver what pub/sub lost (while Redis was away, say).
    pub head_poll_ms: u64,
    /// How long a message that is not stored stays in its stream for replay, in seconds.
    pub replay_secs: u64,
    /// A watcher that reads nothing for this long while messages wait is told it fell behind.
    pub watcher_stall_ms: u64,
    /// `SendLiveMessageGroup` to a group without members succeeds (the cloud refuses it).
    pub allow_send_to_empty_group: bool,
    /// How long a custom audit may take; past it the message is delivered unaudited, as for an
    /// audit service that does not answer 200.
    pub audit_timeout_ms: u64,
    /// How long a high-reliability user message waits for the receiver's acknowledgement.
    pub ack_timeout_ms: u64,
    /// How often each instance creates message partitions ahead and drops expired ones.
    pub retention_interval_secs: u64,
}

impl Default for MessageSettings {
    fn default() -> Self {
        MessageSettings {
            redis_url: SecretString::from("redis://127.0.0.1:6379"),
            channel_prefix: "livemsg".to_owned(),
            writers: 4,
            max_batch: 256,
            head_poll_ms: 1_000,
            replay_secs: 86_400,
            watcher_stall_ms: 30_000,
            allow_send_to_empty_group: false,
            audit_timeout_ms: 2_000,
            ack_timeout_ms: 3_000,
            retention_interval_secs: 3_600,
        }
    }
}

/// Event callback rules (`[callbacks]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallbackSettings {
    /// Accept callback and audit URLs with private addresses and ports (self-hosted networks),
    /// and deliver to host names that resolve to private addresses.
    pub allow_private_urls: bool,
    /// How often an idle instance looks for apps with callbacks to send in case a wake-up was
    /// lost (it is woken as soon as events are written).
    pub poll_ms: u64,
    /// The most events in one callback request.
    pub max_batch_events: i64,
    /// How long a receiver may take to answer one request.
    pub timeout_ms: u64,
    /// The wait after the first failure of a batch; it doubles with every further failure ...
    pub initial_backoff_ms: u64,
    /// ... up to this.
    pub max_backoff_ms: u64,
    /// A receiver that has failed for this long without a success loses what waits for it
    /// (counted in `livemsg_callback_events_total{outcome="dropped"}`).
    pub retry_for_secs: u64,
    /// How many apps one instance delivers to at once.
    pub concurrency: usize,
    /// How long an instance holds an app's delivery before another may take it over (it renews
    /// it with every batch); longer than `timeout_ms`.
    pub lease_ms: u64,
}

impl Default for CallbackSettings {
    fn default() -> Self {
        CallbackSettings {
            allow_private_urls: false,
            poll_ms: 2_000,
            max_batch_events: 100,
            timeout_ms: 5_000,
            initial_backoff_ms: 500,
            max_backoff_ms: 30_000,
            retry_for_secs: 3_600,
            concurrency: 16,
            lease_ms: 30_000,
        }
    }
}
