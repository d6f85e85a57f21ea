//! What waits to be written to one connection: bounded, and when full it gives up member-change
//! notices first (the oldest: a newer one carries the room's count), then low-weight messages
//! (likes before bullet comments before gifts, by `Weight`). Answers and other events are never
//! dropped; a connection whose queue is full of them, or of high-weight messages, is closed as
//! too slow.

use std::collections::VecDeque;
use std::sync::Mutex;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::Notify;

/// How much a frame matters when the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    /// A member-change notice (`memberchange` of a join, a leave or a super group's count): each
    /// carries the room's count as of its change, so a newer one supersedes an older one; when
    /// the queue is full the oldest gives way, not the newest.
    Members,
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

    pub(crate) fn label(self) -> &'static str {
        match self {
            Tier::Members => "members",
            Tier::Low => "low",
            Tier::Normal => "normal",
            Tier::High => "high",
            Tier::Control => "control",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The queued frames, a queue per tier, each frame numbered in the order it was queued so that
/// they leave in that order: finding and dropping the oldest frame of the lowest tier waiting
/// is constant time, however full the queue (a connection that falls behind a busy room meets
/// this on every frame).
struct State {
    tiers: [VecDeque<(u64, Utf8Bytes)>; 5],
    len: usize,
    next_number: u64,
    /// Set once: the connection is to be closed (too slow, taken over, ...), with a reason.
    closing: Option<&'static str>,
}

const TIERS: [Tier; 5] = [
    Tier::Members,
    Tier::Low,
    Tier::Normal,
    Tier::High,
    Tier::Control,
];

impl State {
    /// The lowest tier with a frame waiting.
    fn lowest(&self) -> Option<Tier> {
        TIERS
            .into_iter()
            .find(|tier| !self.tiers[tier.index()].is_empty())
    }

    /// Takes the frame queued first, of any tier.
    fn pop(&mut self) -> Option<Utf8Bytes> {
        let tier = self
            .tiers
            .iter()
            .enumerate()
            .filter_map(|(i, q)| q.front().map(|(n, _)| (*n, i)))
            .min()?
            .1;
        self.len -= 1;
        let queue = &mut self.tiers[tier];
        let frame = queue.pop_front().map(|(_, frame)| frame);
        // A burst's room is given back once it is written: an idle connection stays small.
        if queue.is_empty() && queue.capacity() > 32 {
            queue.shrink_to(8);
        }
        frame
    }

    fn clear(&mut self) {
        self.tiers.iter_mut().for_each(VecDeque::clear);
        self.len = 0;
    }
}

/// The counter of frames of `tier` dropped, registered once (a connection behind a busy room
/// drops on every frame; looking the counter up each time would cost more than the drop).
fn dropped(tier: Tier) -> &'static metrics::Counter {
    static COUNTERS: std::sync::OnceLock<[metrics::Counter; 5]> = std::sync::OnceLock::new();
    &COUNTERS.get_or_init(|| {
        TIERS.map(|t| metrics::counter!("livemsg_edge_frames_dropped_total", "tier" => t.label()))
    })[tier.index()]
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
                tiers: Default::default(),
                len: 0,
                next_number: 0,
                closing: None,
            }),
            notify: Notify::new(),
            limit: limit.max(4),
        }
    }

    /// Queues a frame. When the queue is full, the oldest frame of the lowest tier below
    /// `High` makes room (or the new frame itself is dropped, if it is the lowest, unless it is
    /// a member-change notice, which supersedes the oldest waiting); when only high-weight
    /// messages and control frames are waiting, the connection is closed as too slow.
    pub fn push(&self, frame: Utf8Bytes, tier: Tier) {
        let mut state = self.state.lock().expect("outbox lock");
        if state.closing.is_some() {
            return;
        }
        if state.len >= self.limit {
            let victim = state.lowest().unwrap_or(tier).min(tier);
            if victim >= Tier::High {
                state.closing = Some("too slow: its queue is full of what may not be dropped");
                state.clear();
                drop(state);
                metrics::counter!("livemsg_edge_slow_disconnects_total").increment(1);
                self.notify.notify_one();
                return;
            }
            dropped(victim).increment(1);
            let supersedes = tier == Tier::Members && !state.tiers[tier.index()].is_empty();
            if tier == victim && !supersedes {
                return;
            }
            state.tiers[victim.index()].pop_front();
            state.len -= 1;
        }
        let number = state.next_number;
        state.next_number += 1;
        state.tiers[tier.index()].push_back((number, frame));
        state.len += 1;
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

    /// The next frame, if one is waiting.
    pub fn try_next(&self) -> Option<Utf8Bytes> {
        self.state.lock().expect("outbox lock").pop()
    }

    /// Waits for the next frame, or for the order to close (after the frames queued before it).
    pub async fn next(&self) -> Next {
        loop {
            let notified = self.notify.notified();
            {
                let mut state = self.state.lock().expect("outbox lock");
                if let Some(frame) = state.pop() {
                    return Next::Frame(frame);
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
        std::iter::from_fn(|| state.pop().map(|f| f.to_string())).collect()
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
    fn frames_leave_in_the_order_queued_and_a_burst_is_given_back() {
        let outbox = Outbox::new(1_000);
        let tiers = [Tier::Normal, Tier::Control, Tier::Low, Tier::High];
        for i in 0..1_000 {
            outbox.push(format!("f{i}").into(), tiers[i % 4]);
        }
        let mut taken = Vec::new();
        while let Some(frame) = outbox.try_next() {
            taken.push(frame.to_string());
        }
        let expected: Vec<String> = (0..1_000).map(|i| format!("f{i}")).collect();
        assert_eq!(taken, expected);
        let state = outbox.state.lock().unwrap();
        assert_eq!(state.len, 0);
        assert!(state.tiers.iter().all(|q| q.capacity() <= 32));
    }

    #[test]
    fn member_notices_give_way_first_the_oldest_first() {
        let outbox = Outbox::new(4);
        for i in 0..10 {
            outbox.push(format!("count{i}").into(), Tier::Members);
        }
        assert!(!outbox.is_closing());
        // The newest notices (the latest count) are kept.
        assert_eq!(drain(&outbox), ["count6", "count7", "count8", "count9"]);

        for i in 0..3 {
            outbox.push(format!("count{i}").into(), Tier::Members);
        }
        outbox.push("like".into(), Tier::Low);
        // Full: answers and likes push out member notices before anything else.
        outbox.push("answer".into(), Tier::Control);
        outbox.push("like2".into(), Tier::Low);
        assert!(!outbox.is_closing());
        assert_eq!(drain(&outbox), ["count2", "like", "answer", "like2"]);

        // With no older notice to supersede, a notice is the lowest frame: itself dropped.
        for i in 0..4 {
            outbox.push(format!("like{i}").into(), Tier::Low);
        }
        outbox.push("count".into(), Tier::Members);
        assert_eq!(outbox.state.lock().unwrap().len, 4);
        assert_eq!(drain(&outbox), ["like0", "like1", "like2", "like3"]);
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
