//! Store behaviour against a real Postgres, a fresh database per test (`#[sqlx::test]` reads
//! `DATABASE_URL` and fails when the server is unreachable). One module per area of the store.

mod apps;
mod callbacks;
mod disabled;
mod events;
mod groups;
mod helpers;
mod identity;
mod lifecycle;
mod listing;
mod members;
mod membership;
mod messages;
mod plans;
mod pool;
mod presence;
mod retention;
mod updates;
mod wakeups;
