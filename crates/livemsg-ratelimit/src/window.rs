//! The arithmetic of an exact rolling-window limit, with the clock passed in.
//!
//! A window keeps the times of the calls it admitted during the last `window`. A call at `now`
//! first forgets admissions at or before `now - window`, then is admitted if fewer than
//! `limit` remain. So any interval of length `window` contains at most `limit` admissions:
//! no fixed-window boundary lets `2 * limit` through, and a refused call is not recorded, so
//! it costs nothing against the next window. When refused, the caller may retry once the
//! oldest admission leaves the window. The Redis script in [`crate::redis`] is this same
//! algorithm on a sorted set; the in-process fallback uses this type directly.

use std::collections::VecDeque;
use std::time::Duration;

/// The verdict on one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The call may proceed.
    Allowed,
    /// The call is refused; one made after `retry_after` would be admitted (if nothing else
    /// takes the place first).
    Limited {
        /// How long until a place frees up.
        retry_after: Duration,
    },
}

impl Decision {
    /// Whether the call may proceed.
    pub fn is_allowed(self) -> bool {
        matches!(self, Decision::Allowed)
    }
}

/// The admissions of one key in the current window, in microseconds of some clock.
#[derive(Debug, Clone, Default)]
pub struct SlidingWindow {
    admitted: VecDeque<u64>,
}

impl SlidingWindow {
    /// Decides a call at `now_us`, admitting at most `limit` per `window_us`.
    pub fn check(&mut self, now_us: u64, limit: u32, window_us: u64) -> Decision {
        while let Some(&oldest) = self.admitted.front() {
            if oldest + window_us <= now_us {
                self.admitted.pop_front();
            } else {
                break;
            }
        }
        if self.admitted.len() < limit as usize {
            self.admitted.push_back(now_us);
            return Decision::Allowed;
        }
        let retry_us = match self.admitted.front() {
            Some(&oldest) => oldest + window_us - now_us,
            None => window_us,
        };
        Decision::Limited {
            retry_after: Duration::from_micros(retry_us.max(1)),
        }
    }

    /// Whether the window holds nothing that still counts at `now_us` (and can be dropped).
    pub fn is_idle(&self, now_us: u64, window_us: u64) -> bool {
        self.admitted
            .back()
            .is_none_or(|&newest| newest + window_us <= now_us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000;

    fn run(
        window: &mut SlidingWindow,
        times: impl IntoIterator<Item = u64>,
        limit: u32,
    ) -> Vec<u64> {
        times
            .into_iter()
            .filter(|&t| window.check(t, limit, SECOND).is_allowed())
            .collect()
    }

    #[test]
    fn admits_exactly_the_limit_in_a_burst() {
        let mut w = SlidingWindow::default();
        let admitted = run(&mut w, std::iter::repeat_n(5, 400), 50);
        assert_eq!(admitted.len(), 50);
    }

    #[test]
    fn a_window_boundary_does_not_let_twice_the_limit_through() {
        // 50 calls at the end of one second and 50 at the start of the next: a fixed window
        // would admit all 100 within a few milliseconds.
        let mut w = SlidingWindow::default();
        let late: Vec<u64> = (0..50).map(|i| 990_000 + i).collect();
        let early: Vec<u64> = (0..50).map(|i| SECOND + 5_000 + i).collect();
        assert_eq!(run(&mut w, late, 50).len(), 50);
        assert_eq!(run(&mut w, early, 50).len(), 0);
        // Exactly one second after the first admission, its place frees up.
        assert!(w.check(1_990_000, 50, SECOND).is_allowed());
        assert!(!w.check(1_990_000, 50, SECOND).is_allowed());
    }

    #[test]
    fn every_rolling_window_of_a_long_overload_holds_at_most_the_limit() {
        let mut w = SlidingWindow::default();
        // 10x overload: a call every 2 ms for 3 seconds.
        let admitted = run(&mut w, (0..1_500).map(|i| i * 2_000), 50);
        for (i, start) in admitted.iter().enumerate() {
            let inside = admitted[i..]
                .iter()
                .take_while(|&&t| t < start + SECOND)
                .count();
            assert!(inside <= 50, "window at {start} holds {inside}");
        }
        // ...and the caller gets the full rate, not far fewer.
        assert_eq!(admitted.len(), 150);
    }

    #[test]
    fn refused_calls_cost_nothing_against_the_next_window() {
        let mut w = SlidingWindow::default();
        assert_eq!(run(&mut w, std::iter::repeat_n(0, 10), 10).len(), 10);
        // Hammering while limited...
        assert_eq!(run(&mut w, (1..1_000).map(|i| i * 900), 10).len(), 0);
        // ...does not delay the moment the window frees: all 10 places return at 1 s.
        assert_eq!(run(&mut w, std::iter::repeat_n(SECOND, 20), 10).len(), 10);
    }

    #[test]
    fn retry_after_says_when_the_oldest_place_frees() {
        let mut w = SlidingWindow::default();
        assert!(w.check(100, 2, SECOND).is_allowed());
        assert!(w.check(400_000, 2, SECOND).is_allowed());
        assert_eq!(
            w.check(700_000, 2, SECOND),
            Decision::Limited {
                retry_after: Duration::from_micros(300_100)
            }
        );
        assert!(w.check(1_000_100, 2, SECOND).is_allowed());
    }

    #[test]
    fn a_zero_limit_refuses_everything() {
        let mut w = SlidingWindow::default();
        assert_eq!(
            w.check(0, 0, SECOND),
            Decision::Limited {
                retry_after: Duration::from_micros(SECOND)
            }
        );
    }

    #[test]
    fn idle_windows_can_be_dropped() {
        let mut w = SlidingWindow::default();
        assert!(w.is_idle(0, SECOND));
        w.check(10, 5, SECOND);
        assert!(!w.is_idle(500_000, SECOND));
        assert!(w.is_idle(SECOND + 10, SECOND));
    }
}
