//! The Postgres repository of livemsg.
//!
//! [`Store`] owns a connection pool and exposes one async method per thing livemsg does with
//! its data, each area in a file of its own (`impl Store` blocks in [`apps`], [`groups`],
//! [`members`], [`membership`], [`presence`], [`events`], [`callbacks`] and [`identity`]). SQL is
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
mod members;
mod membership;
mod presence;
mod records;
mod scope;

use sqlx::postgres::PgPool;

pub use callbacks::{CallbackBatch, CallbackStream, FailedBatch};
pub use crypto::Keyring;
pub use error::StoreError;
pub use events::AppEvent;
pub use groups::CreateGroupOutcome;
pub use members::{PageRequest, UserPage, LIST_ASCENDING, LIST_DESCENDING};
pub use membership::{GroupOps, MembershipOp};
pub use records::{
    AccessKey, Account, AppRecord, GroupEvent, GroupRecord, NewApp, NewGroup, RamUser, ResolvedKey,
};

/// The schema migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// The Postgres repository.
#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
    super_group_threshold: i64,
    keyring: Keyring,
}

impl Store {
    /// A store over `pool`; a group with more than `super_group_threshold` members becomes a
    /// super group; AccessKey secrets are sealed with `keyring`.
    pub fn new(pool: PgPool, super_group_threshold: i64, keyring: Keyring) -> Self {
        Store {
            pool,
            super_group_threshold,
            keyring,
        }
    }

    /// The pool, for health checks and shutdown.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}
