//! Replay protection: a `SignatureNonce` is accepted once per AccessKey within the window in
//! which its signing time is valid.
//!
//! The check is one atomic Redis round trip (`SET key 1 NX PX window`), shared by every gateway
//! instance. If Redis does not answer within the timeout, the nonce is checked against this
//! instance's memory instead (bounded, expiring with the window) and the change is logged: a
//! replay to the same instance is still refused, and Redis never turns into an outage.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use livemsg_domain::{ApiError, ErrorCode};
use redis::aio::ConnectionManager;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::OnceCell;

/// Longest nonce accepted; the SDKs send 32 hex digits.
const MAX_NONCE_LEN: usize = 128;

/// Remembers nonces for the validity window of a request.
#[derive(Debug)]
pub(crate) struct ReplayGuard {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    prefix: String,
    window: Duration,
    timeout: Duration,
    local: moka::sync::Cache<String, ()>,
    degraded: AtomicBool,
}

impl ReplayGuard {
    /// A guard on the Redis at `url`; nonces are kept for `window` (twice the allowed clock
    /// skew: a request is valid from skew before to skew after its signing time).
    pub(crate) fn new(
        url: &SecretString,
        prefix: &str,
        window: Duration,
        timeout: Duration,
    ) -> Result<Self, redis::RedisError> {
        Ok(ReplayGuard {
            client: redis::Client::open(url.expose_secret())?,
            connection: OnceCell::new(),
            prefix: prefix.to_owned(),
            window,
            timeout,
            local: moka::sync::Cache::builder()
                .time_to_live(window)
                .max_capacity(1_000_000)
                .build(),
            degraded: AtomicBool::new(false),
        })
    }

    /// Accepts `nonce` for `access_key_id` the first time, refuses it after.
    pub(crate) async fn check(&self, access_key_id: &str, nonce: &str) -> Result<(), ApiError> {
        if nonce.is_empty() || nonce.len() > MAX_NONCE_LEN || nonce.chars().any(char::is_control) {
            return Err(ApiError::invalid(
                "SignatureNonce",
                format_args!("must be 1 to {MAX_NONCE_LEN} printable characters"),
            ));
        }
        let key = format!("{}:{{{access_key_id}}}:{nonce}", self.prefix);
        let fresh = match tokio::time::timeout(self.timeout, self.remember(&key)).await {
            Ok(Ok(fresh)) => {
                if self.degraded.swap(false, Ordering::AcqRel) {
                    tracing::info!("redis answers again: nonces are shared again");
                    metrics::gauge!("livemsg_nonce_fallback").set(0.0);
                }
                fresh
            }
            failure => {
                if !self.degraded.swap(true, Ordering::AcqRel) {
                    let error = match failure {
                        Ok(Err(err)) => err.to_string(),
                        _ => format!("no answer within {:?}", self.timeout),
                    };
                    tracing::warn!(%error, "redis unavailable: nonces checked in process");
                    metrics::gauge!("livemsg_nonce_fallback").set(1.0);
                }
                self.local.entry(key).or_insert(()).is_fresh()
            }
        };
        if fresh {
            Ok(())
        } else {
            Err(ApiError::of(ErrorCode::SignatureNonceUsed))
        }
    }

    /// Whether Redis answers a PING within the timeout (for `/readyz`).
    pub(crate) async fn redis_answers(&self) -> bool {
        let ping = async {
            let mut connection = self.connection().await?;
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
        };
        matches!(tokio::time::timeout(self.timeout, ping).await, Ok(Ok(_)))
    }

    async fn connection(&self) -> Result<ConnectionManager, redis::RedisError> {
        Ok(self
            .connection
            .get_or_try_init(|| {
                livemsg_ratelimit::redis::connection_manager(&self.client, self.timeout)
            })
            .await?
            .clone())
    }

    async fn remember(&self, key: &str) -> Result<bool, redis::RedisError> {
        let mut connection = self.connection().await?;
        let set: Option<String> = redis::cmd("SET")
            .arg(key)
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(self.window.as_millis() as u64)
            .query_async(&mut connection)
            .await?;
        Ok(set.is_some())
    }
}
