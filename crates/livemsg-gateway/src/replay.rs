//! Replay protection: a `SignatureNonce` is accepted once per AccessKey, ever, by this gateway,
//! and once across all gateways while Redis answers.
//!
//! Every nonce this gateway accepts is remembered in its own memory for as long as the
//! request's signing time is valid (twice the allowed clock skew, plus a minute for clocks that
//! drift apart), and that memory is consulted first: a replay to the same gateway is refused
//! whatever Redis does, and even after Redis restarts empty. Across gateways the nonce is shared
//! by one atomic Redis round trip (`SET key 1 NX PX window`). If Redis does not answer within
//! the timeout, the nonce is accepted on this gateway's memory alone, and queued: once Redis
//! answers again the queued nonces are written there too, so other gateways refuse them from
//! then on. (During the outage itself, a replay to *another* gateway is not caught; the README
//! says so.) Memory is bounded: past `nonce_memory_entries` nonces within the window a request
//! is refused as unavailable rather than accepted unremembered.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use livemsg_domain::{ApiError, ErrorCode};
use redis::aio::ConnectionManager;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::OnceCell;

/// Longest nonce accepted; the SDKs send 32 hex digits.
const MAX_NONCE_LEN: usize = 128;
/// How finely remembered nonces expire.
const BUCKET: Duration = Duration::from_secs(60);

/// The nonces this gateway accepted within the window, as 64-bit keyed hashes in buckets of a
/// minute, the oldest dropped as they age out.
#[derive(Debug)]
struct Remembered {
    hasher: RandomState,
    started: Instant,
    buckets: VecDeque<(u64, HashSet<u64>)>,
    len: usize,
}

impl Remembered {
    fn hash(&self, key: &str) -> u64 {
        self.hasher.hash_one(key)
    }

    fn minute(&self, now: Instant) -> u64 {
        now.duration_since(self.started).as_secs() / BUCKET.as_secs()
    }

    fn forget_older_than(&mut self, now: Instant, window: Duration) {
        let keep_from = self
            .minute(now)
            .saturating_sub(window.as_secs().div_ceil(BUCKET.as_secs()));
        while let Some((minute, set)) = self.buckets.front() {
            if *minute >= keep_from {
                break;
            }
            self.len -= set.len();
            self.buckets.pop_front();
        }
    }

    fn contains(&self, hash: u64) -> bool {
        self.buckets.iter().any(|(_, set)| set.contains(&hash))
    }

    fn insert(&mut self, hash: u64, now: Instant) {
        let minute = self.minute(now);
        if self.buckets.back().is_none_or(|(m, _)| *m != minute) {
            self.buckets.push_back((minute, HashSet::new()));
        }
        if let Some((_, set)) = self.buckets.back_mut() {
            if set.insert(hash) {
                self.len += 1;
            }
        }
    }
}

/// Remembers nonces for the validity window of a request.
#[derive(Debug)]
pub(crate) struct ReplayGuard {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    prefix: String,
    window: Duration,
    timeout: Duration,
    capacity: usize,
    remembered: Mutex<Remembered>,
    /// Nonces accepted while Redis was away (Redis key, when accepted), to write there later.
    queued: Arc<Mutex<Vec<(String, Instant)>>>,
    degraded: AtomicBool,
    flushing: Arc<AtomicBool>,
}

impl ReplayGuard {
    /// A guard on the Redis at `url`; nonces are kept for `window` (twice the allowed clock
    /// skew and a margin: a request is valid from skew before to skew after its signing time),
    /// at most `capacity` of them at once in memory.
    pub(crate) fn new(
        url: &SecretString,
        prefix: &str,
        window: Duration,
        timeout: Duration,
        capacity: usize,
    ) -> Result<Self, redis::RedisError> {
        Ok(ReplayGuard {
            client: redis::Client::open(url.expose_secret())?,
            connection: OnceCell::new(),
            prefix: prefix.to_owned(),
            window,
            timeout,
            capacity,
            remembered: Mutex::new(Remembered {
                hasher: RandomState::new(),
                started: Instant::now(),
                buckets: VecDeque::new(),
                len: 0,
            }),
            queued: Arc::new(Mutex::new(Vec::new())),
            degraded: AtomicBool::new(false),
            flushing: Arc::new(AtomicBool::new(false)),
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
        let hash = {
            let mut remembered = self.remembered.lock().expect("nonce memory lock");
            remembered.forget_older_than(Instant::now(), self.window);
            let hash = remembered.hash(&key);
            if remembered.contains(hash) {
                return Err(ApiError::of(ErrorCode::SignatureNonceUsed));
            }
            if remembered.len >= self.capacity {
                metrics::counter!("livemsg_nonce_memory_full_total").increment(1);
                tracing::warn!(
                    capacity = self.capacity,
                    "nonce memory full: refusing requests"
                );
                return Err(ApiError::of(ErrorCode::ServiceUnavailable));
            }
            hash
        };
        let fresh = match tokio::time::timeout(self.timeout, self.set_nx(&key, self.window)).await {
            Ok(Ok(fresh)) => {
                if self.degraded.swap(false, Ordering::AcqRel) {
                    tracing::info!("redis answers again: nonces are shared again");
                    metrics::gauge!("livemsg_nonce_fallback").set(0.0);
                }
                self.flush_queued();
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
                let mut queued = self.queued.lock().expect("nonce queue lock");
                if queued.len() < self.capacity {
                    queued.push((key, Instant::now()));
                }
                true
            }
        };
        if !fresh {
            return Err(ApiError::of(ErrorCode::SignatureNonceUsed));
        }
        let mut remembered = self.remembered.lock().expect("nonce memory lock");
        if remembered.contains(hash) {
            // Accepted concurrently by a twin request through Redis's fallback: only one wins.
            return Err(ApiError::of(ErrorCode::SignatureNonceUsed));
        }
        remembered.insert(hash, Instant::now());
        Ok(())
    }

    /// Writes the nonces accepted while Redis was away into Redis, in the background, once.
    fn flush_queued(&self) {
        if self.queued.lock().expect("nonce queue lock").is_empty()
            || self.flushing.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let queued = std::mem::take(&mut *self.queued.lock().expect("nonce queue lock"));
        let (client, timeout, window) = (self.client.clone(), self.timeout, self.window);
        let (flushing, requeue) = (self.flushing.clone(), self.queued.clone());
        tokio::spawn(async move {
            let mut connection =
                match livemsg_ratelimit::redis::connection_manager(&client, timeout).await {
                    Ok(connection) => connection,
                    Err(_) => {
                        requeue.lock().expect("nonce queue lock").extend(queued);
                        flushing.store(false, Ordering::Release);
                        return;
                    }
                };
            let mut shared = 0u64;
            for (index, (key, accepted)) in queued.iter().enumerate() {
                let left = window.saturating_sub(accepted.elapsed());
                if left.is_zero() {
                    continue;
                }
                match set_nx(&mut connection, key, left).await {
                    Ok(true) => shared += 1,
                    Ok(false) => {
                        metrics::counter!("livemsg_nonce_outage_duplicates_total").increment(1);
                        tracing::warn!(
                            "a nonce accepted during the redis outage was used elsewhere too"
                        );
                    }
                    Err(_) => {
                        requeue
                            .lock()
                            .expect("nonce queue lock")
                            .extend(queued[index..].iter().cloned());
                        break;
                    }
                }
            }
            tracing::info!(
                nonces = shared,
                "nonces accepted during the redis outage are shared now"
            );
            flushing.store(false, Ordering::Release);
        });
    }

    /// Whether Redis answers a PING within the timeout (reported as a metric, not readiness:
    /// the gateway serves without Redis).
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

    async fn set_nx(&self, key: &str, ttl: Duration) -> Result<bool, redis::RedisError> {
        let mut connection = self.connection().await?;
        set_nx(&mut connection, key, ttl).await
    }
}

/// `SET key 1 NX PX ttl`: true if the key was new.
async fn set_nx(
    connection: &mut ConnectionManager,
    key: &str,
    ttl: Duration,
) -> Result<bool, redis::RedisError> {
    let set: Option<String> = redis::cmd("SET")
        .arg(key)
        .arg(1)
        .arg("NX")
        .arg("PX")
        .arg(ttl.as_millis().max(1) as u64)
        .query_async(connection)
        .await?;
    Ok(set.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_nonces_age_out_by_the_minute() {
        let started = Instant::now();
        let mut remembered = Remembered {
            hasher: RandomState::new(),
            started,
            buckets: VecDeque::new(),
            len: 0,
        };
        let window = Duration::from_secs(120);
        let a = remembered.hash("a");
        remembered.insert(a, started);
        remembered.insert(a, started);
        assert_eq!(remembered.len, 1);
        let b = remembered.hash("b");
        remembered.insert(b, started + Duration::from_secs(90));
        remembered.forget_older_than(started + Duration::from_secs(150), window);
        assert!(remembered.contains(a), "still within the window");
        remembered.forget_older_than(started + Duration::from_secs(190), window);
        assert!(!remembered.contains(a), "a minute past the window");
        assert!(remembered.contains(b));
        assert_eq!(remembered.len, 1);
    }
}
