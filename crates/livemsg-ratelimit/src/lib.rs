//! Per-account, per-action rate limits for livemsg: by default 50 calls in any rolling second,
//! exact across all gateway instances.
//!
//! [`RateLimiter`] is what the gateway calls. It decides in Redis ([`RedisLimiter`]: one
//! atomic script, Redis's clock, one key per account and action) and, when Redis does not
//! answer within a bounded time, in process ([`InProcessLimiter`], the account's limit divided
//! by the number of gateway instances) until Redis answers again. A check never fails: the
//! worst Redis can do is move the decision into the process. Both limiters implement
//! [`Limiter`] and pass one test suite.

pub mod local;
pub mod redis;
pub mod settings;
#[cfg(feature = "testing")]
pub mod testing;
pub mod window;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use local::InProcessLimiter;
pub use redis::RedisLimiter;
pub use settings::RateLimitSettings;
pub use window::Decision;

/// Whose budget a call spends: one per account and action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key<'a> {
    /// The caller's account.
    pub account_id: i64,
    /// The API action.
    pub action: &'a str,
}

/// How many calls a window admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Calls per window.
    pub max: u32,
    /// The rolling window.
    pub window: Duration,
}

/// Why a limiter could not decide.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// Redis failed.
    #[error("redis: {0}")]
    Redis(#[from] ::redis::RedisError),
    /// Redis did not answer in time.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
}

/// A rolling-window limiter.
pub trait Limiter {
    /// Decides one call of `key` under `limit`; a refused call is not counted.
    fn check(
        &self,
        key: &Key<'_>,
        limit: Limit,
    ) -> impl Future<Output = Result<Decision, LimitError>> + Send;
}

/// Where decisions are being made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// In Redis, shared by all instances.
    Redis,
    /// In this process, because Redis did not answer.
    Fallback,
}

/// The gateway's limiter: Redis first, the process when Redis is away.
#[derive(Debug)]
pub struct RateLimiter {
    settings: RateLimitSettings,
    redis: RedisLimiter,
    local: InProcessLimiter,
    falling_back: AtomicBool,
    next_probe: Mutex<Instant>,
    fallbacks: AtomicU64,
}

impl RateLimiter {
    /// A limiter with `settings`; connects to Redis lazily.
    pub fn new(settings: RateLimitSettings) -> Result<Self, LimitError> {
        let redis = RedisLimiter::new(
            &settings.redis_url,
            &settings.key_prefix,
            Duration::from_millis(settings.timeout_ms),
        )?;
        Ok(RateLimiter {
            settings,
            redis,
            local: InProcessLimiter::default(),
            falling_back: AtomicBool::new(false),
            next_probe: Mutex::new(Instant::now()),
            fallbacks: AtomicU64::new(0),
        })
    }

    /// Decides one call of `action` by `account_id`.
    pub async fn check(&self, account_id: i64, action: &str) -> Decision {
        if !self.settings.enabled {
            return Decision::Allowed;
        }
        let key = Key { account_id, action };
        let limit = self.settings.limit_for(account_id, action);
        let decision = self.decide(&key, limit).await;
        let (mode, verdict) = (
            match self.mode() {
                Mode::Redis => "redis",
                Mode::Fallback => "fallback",
            },
            if decision.is_allowed() {
                "allowed"
            } else {
                "limited"
            },
        );
        metrics::counter!("livemsg_ratelimit_decisions_total", "decision" => verdict, "mode" => mode)
            .increment(1);
        decision
    }

    async fn decide(&self, key: &Key<'_>, limit: Limit) -> Decision {
        if self.falling_back.load(Ordering::Acquire) && !self.probe_due() {
            return self.local_check(key, limit);
        }
        match self.redis.check(key, limit).await {
            Ok(decision) => {
                if self.falling_back.swap(false, Ordering::AcqRel) {
                    tracing::info!("redis answers again: rate limits are shared again");
                    metrics::gauge!("livemsg_ratelimit_fallback").set(0.0);
                }
                decision
            }
            Err(err) => {
                if !self.falling_back.swap(true, Ordering::AcqRel) {
                    self.fallbacks.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("livemsg_ratelimit_fallbacks_total").increment(1);
                    metrics::gauge!("livemsg_ratelimit_fallback").set(1.0);
                    tracing::warn!(
                        error = %err,
                        instances = self.settings.gateway_instances,
                        "redis unavailable: rate limiting in process until it answers"
                    );
                }
                self.schedule_probe();
                self.local_check(key, limit)
            }
        }
    }

    fn local_check(&self, key: &Key<'_>, limit: Limit) -> Decision {
        let share = Limit {
            max: (limit.max / self.settings.gateway_instances.max(1)).max(1),
            ..limit
        };
        self.local.check_now(key, share)
    }

    /// Whether it is time to try Redis again; at most one caller per interval gets `true`.
    fn probe_due(&self) -> bool {
        let mut next = self.next_probe.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if now < *next {
            return false;
        }
        *next = now + Duration::from_millis(self.settings.retry_redis_after_ms);
        true
    }

    fn schedule_probe(&self) {
        let mut next = self.next_probe.lock().unwrap_or_else(|e| e.into_inner());
        *next = Instant::now() + Duration::from_millis(self.settings.retry_redis_after_ms);
    }

    /// Where decisions are made now.
    pub fn mode(&self) -> Mode {
        if self.falling_back.load(Ordering::Acquire) {
            Mode::Fallback
        } else {
            Mode::Redis
        }
    }

    /// How many times the limiter has fallen back to the process.
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }
}
