//! The internal services, for livemsg's own processes and the customer's connection tier:
//! AccessKey lookup for the gateway ([`auth`]), joins, leaves, logons and logoffs
//! ([`membership`]), event streams ([`events`]), client messages and message streams
//! ([`messaging`]) and the operator's administration ([`admin`]).

pub(crate) mod admin;
pub(crate) mod auth;
pub(crate) mod events;
mod follow;
pub(crate) mod membership;
pub(crate) mod messaging;
pub(crate) mod tier;
