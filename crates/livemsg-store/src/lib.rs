//! The Postgres repository of livemsg.
//!
//! [`Store`] owns a connection pool and exposes one async method per thing livemsg does with
//! its data, each area in a file of its own (`impl Store` blocks in [`apps`], [`groups`],
//! [`lifecycle`], [`listing`], [`members`], [`membership`], [`user_info`], [`presence`],
//! [`sweep`], [`events`], [`callbacks`] and [`identity`]). SQL is
//! written out in plain sight next to the code that runs it. Two properties matter most and are
//! tested against a real Postgres:
//!
//! * Membership is exact under concurrency. Every change to a group's members runs in one
//!   transaction that first locks the group's row, so the member count, the join positions and
//!   the normal -> super -> closed transitions ([`livemsg_domain::GroupState`]) are computed
//!   without a read-then-write race, and a group turns super exactly once however many joins
//!   race at the threshold.
//! * Listing is a keyset scan. Members carry a join position; a page is a seek on the
//!   `(group_pk, position)` index followed by at most `page_size + 1` rows, so its cost does
//!   not grow with the group or the table.
//!
//! Public calls name an [`livemsg_domain::AppScope`] (account, app, data center), bound by one
//! helper ([`scope`]); calls from the connection tier name the app alone (app ids are unique).

mod apps;
mod callbacks;
pub mod crypto;
mod error;
mod events;
mod groups;
mod identity;
mod ids;
mod lifecycle;
mod listing;
mod members;
mod membership;
pub mod messages;
mod moderation;
mod pool;
mod presence;
mod records;
mod scope;
mod sweep;
mod user_info;

use sqlx::postgres::PgPool;

pub use callbacks::{CallbackBatch, CallbackStream, FailedBatch};
pub use crypto::Keyring;
pub use error::StoreError;
pub use events::AppEvent;
pub use groups::{CreateGroupOutcome, GroupChanges};
pub use lifecycle::{DeleteOutcome, RecoverOutcome};
pub use listing::{
    groups_by_page_sql, list_groups_sql, AppPage, GroupPage, NumberedGroups, APPS_PAGE, GROUPS_PAGE,
};
pub use members::{PageRequest, UserPage, LIST_ASCENDING, LIST_DESCENDING};
pub use membership::{GroupOps, MembershipOp};
pub use moderation::{MuteChange, MuteState};
pub use pool::{pool_options, PING_IDLE_AFTER};
pub use presence::PresenceChange;
pub use records::{
    AccessKey, Account, AppRecord, GroupEvent, GroupRecord, NewApp, NewGroup, RamUser, ResolvedKey,
};
pub use sweep::{SweepStep, LOGOFF_APP_DISABLED};
pub use user_info::UserInfoOutcome;

/// The schema migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// The Postgres repository.
#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
    super_group_threshold: i64,
    keyring: Keyring,
    limits: Limits,
    /// Bumped after each commit that wrote events (see [`Store::events_written`]) ...
    written: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
    /// ... and after this process's own only (see [`Store::events_committed_here`]).
    written_here: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
}

/// The quotas and windows the store enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Apps an account may have.
    pub apps_per_account: i64,
    /// Live (not deleted) groups an app may have at once.
    pub groups_per_app: i64,
    /// How long a deleted group can be recovered; after it the group is purged.
    pub recovery_window: std::time::Duration,
    /// How long a message that is not stored stays in its stream for replay.
    pub replay_window: std::time::Duration,
}

impl Default for Limits {
    /// The documented quotas (300 apps, 5,000 live groups), a 30-day recovery window and a
    /// one-day replay window.
    fn default() -> Self {
        Limits {
            apps_per_account: 300,
            groups_per_app: 5_000,
            recovery_window: std::time::Duration::from_secs(30 * 86_400),
            replay_window: std::time::Duration::from_secs(86_400),
        }
    }
}

impl Store {
    /// A store over `pool`; a group with more than `super_group_threshold` members becomes a
    /// super group; AccessKey secrets are sealed with `keyring`.
    pub fn new(pool: PgPool, super_group_threshold: i64, keyring: Keyring) -> Self {
        Store {
            pool,
            super_group_threshold,
            keyring,
            limits: Limits::default(),
            written: std::sync::Arc::new(tokio::sync::watch::Sender::new(0)),
            written_here: std::sync::Arc::new(tokio::sync::watch::Sender::new(0)),
        }
    }

    /// The store with other quotas and windows.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The quotas and windows in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Changes after each commit of this store (this process's, through any of its clones) that
    /// wrote events or numbered them into their app's stream: whoever reads events waits on it
    /// instead of polling. Other processes' commits are not seen here; the service relays them
    /// (Postgres `LISTEN/NOTIFY`) with [`Store::wake_event_readers`].
    pub fn events_written(&self) -> tokio::sync::watch::Receiver<u64> {
        self.written.subscribe()
    }

    /// Wakes whoever waits on [`Store::events_written`], for events another process wrote.
    pub fn wake_event_readers(&self) {
        self.written.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Changes after each commit of this process that wrote events: what the service tells
    /// the other instances of.
    pub fn events_committed_here(&self) -> tokio::sync::watch::Receiver<u64> {
        self.written_here.subscribe()
    }

    pub(crate) fn wrote_events(&self) {
        self.written_here.send_modify(|n| *n = n.wrapping_add(1));
        self.wake_event_readers();
    }

    /// The pool, for health checks and shutdown.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}
