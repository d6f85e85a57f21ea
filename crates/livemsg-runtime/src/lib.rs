//! What every livemsg process does the same way: reading its settings, setting up logging and
//! waiting for a shutdown signal.
//!
//! Settings are layered with the `config` crate, later layers overriding earlier ones:
//!
//! 1. the defaults compiled into each settings struct;
//! 2. `config/base.toml`;
//! 3. `config/{LIVEMSG_ENV}.toml` (`LIVEMSG_ENV` defaults to `local`);
//! 4. the file named by `LIVEMSG_EXTRA_CONFIG`, if any (generated secrets, for example);
//! 5. environment variables `LIVEMSG__SECTION__KEY`, e.g. `LIVEMSG__DATABASE__HOST=db`.
//!
//! The directory is `LIVEMSG_CONFIG_DIR` (default `config`); missing files are skipped, so a
//! binary runs from environment variables alone, as in a container.

pub mod http;
pub mod telemetry;

use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize, Serializer};
use tracing_subscriber::EnvFilter;

/// The prefix of every environment variable livemsg reads.
pub const ENV_PREFIX: &str = "LIVEMSG";

/// Where a process reads its settings from.
#[derive(Debug, Clone)]
pub struct ConfigSource {
    /// The directory holding `base.toml` and the environment files.
    pub dir: std::path::PathBuf,
    /// The environment file to read (`local`, `production`, ...).
    pub environment: String,
    /// One more file, read after the environment file.
    pub extra: Option<std::path::PathBuf>,
}

impl ConfigSource {
    /// The source named by `LIVEMSG_CONFIG_DIR` and `LIVEMSG_ENV`.
    pub fn from_env() -> Self {
        ConfigSource {
            dir: std::env::var_os("LIVEMSG_CONFIG_DIR")
                .map(Into::into)
                .unwrap_or_else(|| "config".into()),
            environment: std::env::var("LIVEMSG_ENV").unwrap_or_else(|_| "local".to_owned()),
            extra: std::env::var_os("LIVEMSG_EXTRA_CONFIG").map(Into::into),
        }
    }

    /// Reads settings of type `T` from the files and the process environment.
    pub fn load<T: DeserializeOwned>(&self) -> Result<T, config::ConfigError> {
        self.load_with(config::Environment::with_prefix(ENV_PREFIX))
    }

    /// Reads settings from the files and the given variables instead of the process
    /// environment (for tests, which must not mutate their process's environment).
    pub fn load_from_vars<T: DeserializeOwned>(
        &self,
        vars: std::collections::HashMap<String, String>,
    ) -> Result<T, config::ConfigError> {
        self.load_with(config::Environment::with_prefix(ENV_PREFIX).source(Some(vars)))
    }

    fn load_with<T: DeserializeOwned>(
        &self,
        env: config::Environment,
    ) -> Result<T, config::ConfigError> {
        let file = |name: &str| config::File::from(self.dir.join(name)).required(false);
        let mut builder = config::Config::builder()
            .add_source(file("base.toml"))
            .add_source(file(&format!("{}.toml", self.environment)));
        if let Some(extra) = &self.extra {
            builder = builder.add_source(config::File::from(extra.as_path()).required(true));
        }
        builder
            .add_source(env.prefix_separator("__").separator("__").try_parsing(true))
            .build()?
            .try_deserialize()
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Logging settings (`[log]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `text` or `json`.
    pub format: LogFormat,
    /// An `EnvFilter` directive such as `info` or `livemsg_store=debug,info`; `RUST_LOG`
    /// overrides it when set.
    pub filter: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            format: LogFormat::Text,
            filter: "info".to_owned(),
        }
    }
}

/// The bearer tokens of the internal gRPC hop, one per role, so that each caller can do what
/// its role needs and nothing else (`[internal]`). Each is a secret of at least 32 characters:
/// set them through the environment (`LIVEMSG__INTERNAL__GATEWAY_TOKEN`, ...).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct InternalSettings {
    /// The gateway's token: AccessKey lookups and the public API. Read by the service (to check)
    /// and the gateway (to send).
    #[serde(serialize_with = "serialize_secret")]
    pub gateway_token: SecretString,
    /// The platform's connection tier (the edge): membership, events and sends for every
    /// account. A customer's own connection tier gets an account token instead
    /// (`livemsg-admin create-tier-token`), valid for that account's apps only. Empty: only
    /// account tokens are accepted.
    #[serde(serialize_with = "serialize_secret")]
    pub tier_token: SecretString,
    /// Service only: the admin API's token (`AdminService`). Empty: the admin API refuses every
    /// call (`livemsg-admin` talks to Postgres and needs none).
    #[serde(serialize_with = "serialize_secret")]
    pub admin_token: SecretString,
    /// Service only: accept internal calls without a token. For a laptop; the service refuses
    /// to start without a gateway token unless this is set.
    pub allow_unauthenticated: bool,
}

impl Default for InternalSettings {
    fn default() -> Self {
        InternalSettings {
            gateway_token: SecretString::from(""),
            tier_token: SecretString::from(""),
            admin_token: SecretString::from(""),
            allow_unauthenticated: false,
        }
    }
}

/// The shortest internal token accepted.
pub const MIN_TOKEN_CHARS: usize = 32;

/// Refuses a token that is too short to be secret, or a sample value left in place.
pub fn check_token_strength(setting: &str, token: &str) -> Result<(), String> {
    let lower = token.to_ascii_lowercase();
    if ["change-me", "changeme", "replace-me", "example"]
        .iter()
        .any(|sample| lower.contains(sample))
    {
        return Err(format!(
            "{setting} holds a sample value: generate one (livemsg-admin init-secrets)"
        ));
    }
    if token.chars().count() < MIN_TOKEN_CHARS {
        return Err(format!(
            "{setting} must be at least {MIN_TOKEN_CHARS} characters long"
        ));
    }
    Ok(())
}

/// Serializes a secret as `""` when unset and `"<secret>"` otherwise: settings can be listed
/// (for the configuration reference) without their secrets.
pub fn serialize_secret<S: Serializer>(secret: &SecretString, out: S) -> Result<S::Ok, S::Error> {
    use secrecy::ExposeSecret;
    out.serialize_str(if secret.expose_secret().is_empty() {
        ""
    } else {
        "<secret>"
    })
}

/// [`serialize_secret`] for a map of named secrets.
pub fn serialize_secret_map<S: Serializer>(
    secrets: &std::collections::HashMap<String, SecretString>,
    out: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = out.serialize_map(Some(secrets.len()))?;
    for name in secrets.keys() {
        map.serialize_entry(name, "<secret>")?;
    }
    map.end()
}

/// Installs the global tracing subscriber. Calling it twice is harmless (the second call
/// keeps the first subscriber), which lets tests start several servers in one process.
pub fn init_tracing(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match settings.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Listens for SIGINT and SIGTERM from the moment it is called, and resolves on the first. Call
/// it before the process announces its address: a signal that arrives before the returned future
/// is first polled still counts, instead of killing the process by the signal's default action
/// (a supervisor that stops a process right after it started saw it die by SIGTERM).
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let listeners = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |listener: std::io::Result<tokio::signal::unix::Signal>,
                        name: &'static str| async move {
                match listener {
                    Ok(mut signal) => {
                        signal.recv().await;
                    }
                    Err(err) => {
                        tracing::error!(error = %err, signal = name, "cannot listen for the signal");
                        std::future::pending::<()>().await;
                    }
                }
            };
            let (terminate, interrupt) = listeners;
            tokio::select! {
                () = wait(terminate, "SIGTERM") => {},
                () = wait(interrupt, "SIGINT") => {},
            }
        }
        #[cfg(not(unix))]
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
        tracing::info!("shutdown signal received");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, Default)]
    #[serde(default)]
    struct Sample {
        log: LogSettings,
        database: Db,
    }

    #[derive(Debug, Deserialize, Default)]
    #[serde(default)]
    struct Db {
        host: String,
        max_connections: u32,
    }

    fn dir_with(files: &[(&str, &str)]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "livemsg-config-test-{}-{}",
            std::process::id(),
            files.len()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, body) in files {
            std::fs::write(dir.join(name), body).unwrap();
        }
        dir
    }

    #[test]
    fn environment_file_overrides_base_and_variables_override_both() {
        let dir = dir_with(&[
            (
                "base.toml",
                "[database]\nhost = \"base\"\nmax_connections = 5\n",
            ),
            ("prod.toml", "[database]\nhost = \"prod\"\n"),
        ]);
        let source = ConfigSource {
            dir: dir.clone(),
            environment: "prod".into(),
            extra: None,
        };
        let from_files: Sample = source.load_from_vars(Default::default()).unwrap();
        assert_eq!(from_files.database.host, "prod");
        assert_eq!(from_files.database.max_connections, 5);

        let vars = [
            ("LIVEMSG__DATABASE__MAX_CONNECTIONS", "42"),
            ("LIVEMSG__LOG__FORMAT", "json"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let overridden: Sample = source.load_from_vars(vars).unwrap();
        assert_eq!(overridden.database.host, "prod");
        assert_eq!(overridden.database.max_connections, 42);
        assert_eq!(overridden.log.format, LogFormat::Json);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn missing_files_leave_the_defaults() {
        let source = ConfigSource {
            dir: "/nonexistent/livemsg".into(),
            environment: "local".into(),
            extra: None,
        };
        let sample: Sample = source.load_from_vars(Default::default()).unwrap();
        assert_eq!(sample.log.filter, "info");
        assert_eq!(sample.log.format, LogFormat::Text);
    }
}

/// How a server stops: how long it keeps serving after reporting itself not ready, then how
/// long in-flight work may take once it stops accepting.
#[derive(Debug, Clone, Copy)]
pub struct Drain {
    /// Serving on, while load balancers notice the server is not ready.
    pub delay: std::time::Duration,
    /// For in-flight work after the listener closes.
    pub grace: std::time::Duration,
}

impl Drain {
    /// Waits for `server` until `shutdown` resolves; then runs `not_ready` (the server reports
    /// itself not ready), keeps serving for the delay, sends `stop` (the server stops
    /// accepting) and gives it the grace period to finish. Returns the server's own result, or
    /// `None` when it had to be abandoned (grace period over) or its task failed.
    pub async fn run<T, N>(
        self,
        mut server: tokio::task::JoinHandle<T>,
        shutdown: impl std::future::Future<Output = ()>,
        not_ready: N,
        stop: tokio::sync::oneshot::Sender<()>,
    ) -> Option<T>
    where
        N: std::future::Future<Output = ()>,
    {
        let finished = tokio::select! {
            finished = &mut server => finished,
            () = shutdown => {
                not_ready.await;
                tracing::info!(delay_ms = self.delay.as_millis() as u64, "draining");
                tokio::time::sleep(self.delay).await;
                let _ = stop.send(());
                match tokio::time::timeout(self.grace, &mut server).await {
                    Ok(finished) => finished,
                    Err(_) => {
                        tracing::warn!("grace period over: abandoning work still in flight");
                        server.abort();
                        return None;
                    }
                }
            }
        };
        finished
            .map_err(|err| tracing::error!(error = %err, "server task failed"))
            .ok()
    }
}
