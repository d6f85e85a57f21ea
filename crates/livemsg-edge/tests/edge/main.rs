//! The edge against a real service, Postgres and Redis over real sockets, driven by a real
//! WebSocket client. One module per concern.

mod helpers;
mod login;
mod resume;
mod rooms;
mod slow;
