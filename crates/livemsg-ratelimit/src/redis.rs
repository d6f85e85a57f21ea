//! The Redis limiter: one atomic script per check, Redis's clock, one key per account and
//! action.

use std::time::Duration;

use redis::aio::ConnectionManager;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::OnceCell;

use crate::window::Decision;
use crate::{Key, Limit, LimitError, Limiter};

/// The rolling-window check of [`crate::window::SlidingWindow`] on a sorted set whose scores
/// are admission times in microseconds of the Redis server's clock (`TIME`), so the clocks
/// of gateway hosts never matter. One round trip; atomic because scripts are.
///
/// KEYS[1] the window; ARGV[1] limit; ARGV[2] window in microseconds; ARGV[3] a unique member.
/// Returns {admitted (1 or 0), microseconds until a place frees (0 when admitted), server time}.
pub const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
  return {1, 0, now}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local retry = window
if oldest[2] then retry = tonumber(oldest[2]) + window - now end
return {0, retry, now}
";

/// A self-reconnecting connection whose connects and replies are bounded by `timeout`, and
/// which retries a lost connection once before failing: Redis is on the request path, so a
/// failure must be quick rather than patient.
pub async fn connection_manager(
    client: &redis::Client,
    timeout: Duration,
) -> Result<ConnectionManager, redis::RedisError> {
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(1);
    client.get_connection_manager_with_config(config).await
}

/// A verdict with the Redis server's time of the check, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// The decision.
    pub decision: Decision,
    /// When Redis decided, by its own clock.
    pub server_time_us: u64,
}

/// The limiter whose state lives in Redis, shared by every gateway instance.
#[derive(Debug)]
pub struct RedisLimiter {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    script: redis::Script,
    prefix: String,
    timeout: Duration,
}

impl RedisLimiter {
    /// A limiter on the Redis at `url`, its keys under `prefix`, each round trip bounded by
    /// `timeout`. Nothing connects until the first check, so a gateway starts while Redis
    /// is down.
    pub fn new(url: &SecretString, prefix: &str, timeout: Duration) -> Result<Self, LimitError> {
        Ok(RedisLimiter {
            client: redis::Client::open(url.expose_secret())?,
            connection: OnceCell::new(),
            script: redis::Script::new(SCRIPT),
            prefix: prefix.to_owned(),
            timeout,
        })
    }

    /// The key of an account's window for an action. The account is the hash tag, so one
    /// account's keys share a Redis Cluster slot.
    pub fn key(&self, key: &Key<'_>) -> String {
        format!("{}:{{{}}}:{}", self.prefix, key.account_id, key.action)
    }

    /// The shared, self-reconnecting connection; the first successful call makes it (a failed
    /// attempt leaves the cell empty for the next call to try again).
    async fn connection(&self) -> Result<ConnectionManager, LimitError> {
        let connection = self
            .connection
            .get_or_try_init(|| async {
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    .set_number_of_retries(1);
                self.client.get_connection_manager_with_config(config).await
            })
            .await?;
        Ok(connection.clone())
    }

    /// Decides one call, with the server's time of the decision.
    pub async fn check_with_time(
        &self,
        key: &Key<'_>,
        limit: Limit,
    ) -> Result<Verdict, LimitError> {
        let run = async {
            let mut connection = self.connection().await?;
            let (admitted, retry_us, now): (i64, i64, i64) = self
                .script
                .key(self.key(key))
                .arg(limit.max)
                .arg(limit.window.as_micros() as u64)
                .arg(uuid::Uuid::new_v4().simple().to_string())
                .invoke_async(&mut connection)
                .await?;
            let decision = if admitted == 1 {
                Decision::Allowed
            } else {
                Decision::Limited {
                    retry_after: Duration::from_micros(retry_us.max(1) as u64),
                }
            };
            Ok(Verdict {
                decision,
                server_time_us: now as u64,
            })
        };
        tokio::time::timeout(self.timeout, run)
            .await
            .map_err(|_| LimitError::Timeout(self.timeout))?
    }
}

impl Limiter for RedisLimiter {
    async fn check(&self, key: &Key<'_>, limit: Limit) -> Result<Decision, LimitError> {
        Ok(self.check_with_time(key, limit).await?.decision)
    }
}
