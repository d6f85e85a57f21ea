//! A viewer's session: who it is, what it is in, and its connection's queue. A session outlives
//! its connection for the reconnect window, so that a client that comes back finds its rooms.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::ws::Utf8Bytes;

use crate::outbox::{Outbox, Tier};

/// A logged-in user on this edge.
pub struct Session {
    pub id: String,
    pub app_id: String,
    pub user_id: String,
    pub device_id: String,
    /// `admin` or empty, from the token.
    pub role: String,
    pub user_extension: String,
    /// When the login's token (and the resume key) expire, Unix seconds.
    pub expiry: i64,
    state: Mutex<State>,
}

struct State {
    /// The connection's queue while one is attached.
    outbox: Option<Arc<Outbox>>,
    /// When the connection went away, while none is attached.
    detached_since: Option<Instant>,
    rooms: BTreeSet<String>,
    /// Rooms being caught up after a resume: live frames wait here until the missed ones
    /// are out.
    pending: HashMap<String, Vec<(Utf8Bytes, Tier, Option<i64>)>>,
    /// The send budget: tokens and when they were counted.
    tokens: f64,
    counted: Instant,
    /// Set when the session ended (logged out, timed out, taken over).
    ended: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("app_id", &self.app_id)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// Who a session is.
#[derive(Debug, Clone)]
pub struct Identity {
    pub id: String,
    pub app_id: String,
    pub user_id: String,
    pub device_id: String,
    pub role: String,
    pub user_extension: String,
    pub expiry: i64,
}

impl Session {
    /// A session of `who`, with a send budget of `burst` messages.
    pub fn new(who: Identity, burst: f64) -> Self {
        Session {
            id: who.id,
            app_id: who.app_id,
            user_id: who.user_id,
            device_id: who.device_id,
            role: who.role,
            user_extension: who.user_extension,
            expiry: who.expiry,
            state: Mutex::new(State {
                outbox: None,
                detached_since: None,
                rooms: BTreeSet::new(),
                pending: HashMap::new(),
                tokens: burst,
                counted: Instant::now(),
                ended: false,
            }),
        }
    }

    /// Attaches a connection's queue (a login, or a resume); the previous one, if any, is
    /// returned to be closed.
    pub fn attach(&self, outbox: Arc<Outbox>) -> Option<Arc<Outbox>> {
        let mut state = self.state.lock().expect("session lock");
        state.detached_since = None;
        state.outbox.replace(outbox)
    }

    /// Detaches `outbox` (its connection went away), if it is the one attached.
    pub fn detach(&self, outbox: &Arc<Outbox>) -> bool {
        let mut state = self.state.lock().expect("session lock");
        if state
            .outbox
            .as_ref()
            .is_some_and(|o| Arc::ptr_eq(o, outbox))
        {
            state.outbox = None;
            state.detached_since = Some(Instant::now());
            return true;
        }
        false
    }

    /// How long the session has been without a connection.
    pub fn detached_for(&self) -> Option<std::time::Duration> {
        self.state
            .lock()
            .expect("session lock")
            .detached_since
            .map(|t| t.elapsed())
    }

    /// Ends the session; returns false if it had ended already.
    pub fn end(&self) -> bool {
        let mut state = self.state.lock().expect("session lock");
        !std::mem::replace(&mut state.ended, true)
    }

    pub fn ended(&self) -> bool {
        self.state.lock().expect("session lock").ended
    }

    /// Queues a frame for the connection, if one is attached.
    pub fn push(&self, frame: Utf8Bytes, tier: Tier) {
        let outbox = self.state.lock().expect("session lock").outbox.clone();
        if let Some(outbox) = outbox {
            outbox.push(frame, tier);
        }
    }

    /// Closes the attached connection, if any.
    pub fn close(&self, reason: &'static str) {
        let outbox = self.state.lock().expect("session lock").outbox.clone();
        if let Some(outbox) = outbox {
            outbox.close(reason);
        }
    }

    /// A room's frame: held back while the room is being caught up, queued otherwise.
    pub fn deliver(&self, room: &str, frame: Utf8Bytes, tier: Tier, seq: Option<i64>) {
        let mut state = self.state.lock().expect("session lock");
        if !state.pending.is_empty() {
            if let Some(pending) = state.pending.get_mut(room) {
                pending.push((frame, tier, seq));
                return;
            }
        }
        // Queued under the session's lock (nothing takes them the other way round): a room's
        // fan-out touches each viewer as little as it can.
        if let Some(outbox) = &state.outbox {
            outbox.push(frame, tier);
        }
    }

    /// Starts holding back `room`'s live frames (while missed ones are sent).
    pub fn hold(&self, room: &str) {
        self.state
            .lock()
            .expect("session lock")
            .pending
            .insert(room.to_owned(), Vec::new());
    }

    /// Sends what was held back for `room` (but what the catch-up sent already, through
    /// `through`) and stops holding back.
    pub fn release(&self, room: &str, through: i64) {
        let mut state = self.state.lock().expect("session lock");
        let held = state.pending.remove(room).unwrap_or_default();
        let outbox = state.outbox.clone();
        drop(state);
        if let Some(outbox) = outbox {
            for (frame, tier, seq) in held {
                if seq.is_none_or(|seq| seq > through) {
                    outbox.push(frame, tier);
                }
            }
        }
    }

    pub fn join(&self, room: &str) -> bool {
        self.state
            .lock()
            .expect("session lock")
            .rooms
            .insert(room.to_owned())
    }

    pub fn leave(&self, room: &str) -> bool {
        let mut state = self.state.lock().expect("session lock");
        state.pending.remove(room);
        state.rooms.remove(room)
    }

    pub fn in_room(&self, room: &str) -> bool {
        self.state
            .lock()
            .expect("session lock")
            .rooms
            .contains(room)
    }

    pub fn rooms(&self) -> Vec<String> {
        self.state
            .lock()
            .expect("session lock")
            .rooms
            .iter()
            .cloned()
            .collect()
    }

    /// Takes one message from the send budget (`per_second`, up to `burst`); false when it is
    /// spent.
    pub fn may_send(&self, per_second: f64, burst: f64) -> bool {
        let mut state = self.state.lock().expect("session lock");
        let now = Instant::now();
        let earned = now.duration_since(state.counted).as_secs_f64() * per_second;
        state.tokens = (state.tokens + earned).min(burst);
        state.counted = now;
        if state.tokens >= 1.0 {
            state.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
