//! The in-process limiter: exact within one process, used while Redis is unreachable.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::window::{Decision, SlidingWindow};
use crate::{Key, Limit, LimitError, Limiter};

/// How many checks pass between sweeps of idle windows.
const SWEEP_EVERY: u64 = 4_096;

/// Rolling-window limits kept in this process's memory. Memory stays bounded: each key holds
/// at most `limit` timestamps, and keys idle for a whole window are swept away.
#[derive(Debug)]
pub struct InProcessLimiter {
    windows: Mutex<HashMap<(i64, String), SlidingWindow>>,
    epoch: Instant,
    checks: AtomicU64,
}

impl Default for InProcessLimiter {
    fn default() -> Self {
        InProcessLimiter {
            windows: Mutex::new(HashMap::new()),
            epoch: Instant::now(),
            checks: AtomicU64::new(0),
        }
    }
}

impl InProcessLimiter {
    /// Decides one call now.
    pub fn check_now(&self, key: &Key<'_>, limit: Limit) -> Decision {
        let now_us = self.epoch.elapsed().as_micros() as u64;
        let window_us = limit.window.as_micros() as u64;
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            windows.retain(|_, w| !w.is_idle(now_us, window_us));
        }
        windows
            .entry((key.account_id, key.action.to_owned()))
            .or_default()
            .check(now_us, limit.max, window_us)
    }

    /// How many keys are held (for tests of the memory bound).
    pub fn keys(&self) -> usize {
        self.windows.lock().map(|w| w.len()).unwrap_or(0)
    }
}

impl Limiter for InProcessLimiter {
    async fn check(&self, key: &Key<'_>, limit: Limit) -> Result<Decision, LimitError> {
        Ok(self.check_now(key, limit))
    }
}
