//! The gRPC service over real sockets and a fresh Postgres database per test, one module per
//! area: the public API families, the connection tier's membership and event streams, the admin
//! API and operations.

mod admin;
mod api;
mod audit;
mod events;
mod helpers;
mod lanes;
mod lifecycle;
mod membership;
mod messages;
mod moderation;
mod operations;
mod wake;
