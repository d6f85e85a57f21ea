//! The service's background work, apart from request handlers: group commit of joins and
//! leaves ([`batcher`]), the outbox's count reports and retention ([`outbox`]), the
//! purge of deleted groups and the emptying of disabled apps ([`lifecycle`]), and HTTP callback
//! delivery ([`callbacks`]), and the relay that wakes them when another instance writes events
//! ([`wake`]). Each runs in every instance; locks and leases in Postgres keep each
//! piece of work to one instance at a time.

pub mod batcher;
pub mod callbacks;
mod lanes;
pub(crate) mod lifecycle;
pub(crate) mod outbox;
pub mod presence;
pub mod sends;
pub(crate) mod wake;
