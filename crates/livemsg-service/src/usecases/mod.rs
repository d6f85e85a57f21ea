//! Logic shared by more than one entry point: whoever asks for a join, a leave or a new
//! account (the public API, the connection tier's API, the admin API or the admin command),
//! the rule is written once, here.

pub mod accounts;
pub mod membership;
pub mod messaging;
