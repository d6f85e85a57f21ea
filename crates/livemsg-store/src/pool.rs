//! How livemsg pools its Postgres connections.
//!
//! sqlx's default pool checks every connection it hands out with a round trip to the server
//! (`test_before_acquire`), on top of the round trip it makes when a connection comes back. Under
//! load that doubles the round trips of a one-statement request: the profile of the list showed
//! the check at a quarter of the service's CPU. A connection in steady use has just proven itself
//! by coming back, so only one that sat idle for [`PING_IDLE_AFTER`] is checked before use (a
//! server restart or a dropped connection is noticed there, and a fresh connection taken instead).

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::Connection;

/// How long a connection may sit idle in the pool before it is checked again before use.
pub const PING_IDLE_AFTER: Duration = Duration::from_secs(1);

/// Pool options for every livemsg pool: checked before use only after [`PING_IDLE_AFTER`]
/// idle; size and timeouts are the caller's.
pub fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new()
        .test_before_acquire(false)
        .before_acquire(|connection, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IDLE_AFTER {
                    // A failed check closes this connection; the pool takes another.
                    connection.ping().await?;
                }
                Ok(true)
            })
        })
}
