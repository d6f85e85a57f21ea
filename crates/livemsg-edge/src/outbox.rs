//! What waits to be written to one connection: bounded, and when full it gives up low-weight
//! messages first (likes before bullet comments before gifts, by `Weight`). Answers and events
//! are never dropped; a connection whose queue is full of them, or of high-weight messages, is
//! closed as too slow.

use std::collections::VecDeque;
use std::sync::Mutex;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::Notify;

/// How much a frame matters when the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    /// A message of weight 1 to 4 (likes).
    Low,
    /// A message of weight 5 to 999,999 (bullet comments).
    Normal,
    /// A message of weight 1,000,000 or more (gifts).
    High,
    /// Answers and events.
    Control,
}

impl Tier {
    /// The tier of a message of `weight`.
    pub fn of_weight(weight: i64) -> Tier {
        match weight {
            w if w >= 1_000_000 => Tier::High,
            w if w >= 5 => Tier::Normal,
            _ => Tier::Low,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Tier::Low => "low",
            Tier::Normal => "normal",
            Tier::High => "high",
            Tier::Control => "control",
        }
    }
}

struct State {
    queue: VecDeque<(Utf8Bytes, Tier)>,
    /// Set once: the connection is to be closed (too slow, taken over, ...), with a reason.
    closing: Option<&'static str>,
}

/// One connection's queue.
pub struct Outbox {
    state: Mutex<State>,
    notify: Notify,
    limit: usize,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("limit", &self.limit)
            .finish()
    }
}

/// What the writer gets next.
#[derive(Debug)]
pub enum Next {
    Frame(Utf8Bytes),
    Close(&'static str),
}

impl Outbox {
    /// A queue of at most `limit` frames.
    pub fn new(limit: usize) -> Self {
        Outbox {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                closing: None,
            }),
            notify: Notify::new(),
            limit: limit.max(4),
        }
    }

    /// Queues a frame. When the queue is full, the oldest frame of the lowest tier below
    /// `High` makes room (or the new frame itself is dropped, if it is the lowest); when only
    /// high-weight messages and control frames are waiting, the connection is closed as too
    /// slow.
    pub fn push(&self, frame: Utf8Bytes, tier: Tier) {
        let mut state = self.state.lock().expect("outbox lock");
        if state.closing.is_some() {
            return;
        }
        if state.queue.len() >= self.limit {
            let lowest = state.queue.iter().map(|(_, t)| *t).min().unwrap_or(tier);
            let victim = lowest.min(tier);
            if victim >= Tier::High {
                state.closing = Some("too slow: its queue is full of what may not be dropped");
                state.queue.clear();
                drop(state);
                metrics::counter!("livemsg_edge_slow_disconnects_total").increment(1);
                self.notify.notify_one();
                return;
            }
            metrics::counter!("livemsg_edge_frames_dropped_total", "tier" => victim.label())
                .increment(1);
            if tier == victim {
                return;
            }
            if let Some(at) = state.queue.iter().position(|(_, t)| *t == victim) {
                state.queue.remove(at);
            }
        }
        state.queue.push_back((frame, tier));
        drop(state);
        self.notify.notify_one();
    }

    /// Asks the writer to close the connection after nothing more.
    pub fn close(&self, reason: &'static str) {
        let mut state = self.state.lock().expect("outbox lock");
        if state.closing.is_none() {
            state.closing = Some(reason);
        }
        drop(state);
        self.notify.notify_one();
    }

    /// Whether the connection is being closed.
    pub fn is_closing(&self) -> bool {
        self.state.lock().expect("outbox lock").closing.is_some()
    }

    /// Waits for the next frame, or for the order to close (after the frames queued before it).
    pub async fn next(&self) -> Next {
        loop {
            let notified = self.notify.notified();
            {
                let mut state = self.state.lock().expect("outbox lock");
                if let Some(frame) = state.queue.pop_front() {
                    return Next::Frame(frame.0);
                }
                if let Some(reason) = state.closing {
                    return Next::Close(reason);
                }
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(outbox: &Outbox) -> Vec<String> {
        let mut state = outbox.state.lock().unwrap();
        state.queue.drain(..).map(|(f, _)| f.to_string()).collect()
    }

    #[test]
    fn a_full_queue_gives_up_likes_before_comments_before_gifts() {
        let outbox = Outbox::new(4);
        outbox.push("like1".into(), Tier::Low);
        outbox.push("comment1".into(), Tier::Normal);
        outbox.push("gift1".into(), Tier::High);
        outbox.push("like2".into(), Tier::Low);
        // Full: a comment pushes out the oldest like.
        outbox.push("comment2".into(), Tier::Normal);
        // A like is itself the lowest: dropped.
        outbox.push("like3".into(), Tier::Low);
        assert_eq!(drain(&outbox), ["comment1", "gift1", "like2", "comment2"]);
    }

    #[test]
    fn only_what_may_not_be_dropped_closes_the_connection() {
        let outbox = Outbox::new(4);
        for i in 0..4 {
            outbox.push(format!("gift{i}").into(), Tier::High);
        }
        assert!(!outbox.is_closing());
        outbox.push("comment".into(), Tier::Normal);
        assert!(!outbox.is_closing(), "the comment itself is dropped");
        outbox.push("answer".into(), Tier::Control);
        assert!(outbox.is_closing());
    }
}
