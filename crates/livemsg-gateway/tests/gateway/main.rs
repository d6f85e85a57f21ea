//! Gateway -> gRPC -> Postgres over real sockets: the service and the gateway start on port 0
//! in this process, on a fresh database; requests are signed as the SDKs sign them. One module
//! per concern of the gateway.

mod api;
mod apps_lifecycle;
mod auth;
mod groups_lifecycle;
mod helpers;
mod listener;
mod messages;
mod moderation;
mod operations;
mod ram;
mod ratelimit;
mod replay;
mod validation;
