//! The public API, on behalf of a caller the gateway authenticated: one gRPC service per family
//! of operations, each in its own file ([`apps`], [`groups`], [`members`], [`messages`],
//! [`moderation`]), all served by one [`Api`] value.
//!
//! Every request is checked here against the domain rules, whoever sent it: the gateway only
//! reads parameters, and the rules live in `livemsg-domain`. A request's scope (the caller's
//! account, the app, the data center) is read once, by [`scope`].

mod apps;
mod groups;
mod members;
mod messages;
mod moderation;

use std::sync::Arc;

use livemsg_domain::{AccountId, ApiError, AppScope, UserId};
use livemsg_proto::common::v1::{AppRef, Caller};
use livemsg_store::Store;
use tokio::sync::Notify;

use crate::errors::{Result, ServiceError};
use crate::proofs::Proofs;
use crate::usecases::membership::Membership;
use crate::usecases::messaging::Messaging;

/// Serves the public API families.
#[derive(Debug, Clone)]
pub struct Api {
    store: Store,
    proofs: Proofs,
    allow_private_urls: bool,
    sweeper: Arc<Notify>,
    messaging: Messaging,
    membership: Membership,
}

impl Api {
    /// A service over `store`, admitting callers whose proofs `proofs` signed;
    /// `allow_private_urls` accepts callback and audit URLs with private addresses and ports;
    /// messages go through `messaging`, kicks through `membership`.
    pub fn new(
        store: Store,
        proofs: Proofs,
        allow_private_urls: bool,
        messaging: Messaging,
        membership: Membership,
    ) -> Self {
        Api {
            store,
            proofs,
            allow_private_urls,
            sweeper: Arc::new(Notify::new()),
            messaging,
            membership,
        }
    }

    /// Woken when an app is disabled: the disable sweep (`crate::workers::sweep`) waits on it
    /// between its rounds.
    pub fn sweeper(&self) -> Arc<Notify> {
        self.sweeper.clone()
    }

    /// The caller's account, if the call proves it (see [`crate::proofs`]).
    fn account(&self, caller: Option<&Caller>) -> Result<AccountId> {
        let now = chrono::Utc::now().timestamp();
        caller
            .filter(|c| self.proofs.caller_proven(c.account_id, &c.proof, now))
            .and_then(|c| AccountId::new(c.account_id))
            .ok_or(ServiceError::NoCaller)
    }

    /// The app a request is about, of the caller's account, in the data center it names;
    /// recorded as `app.id` in the handler's span once it is known to be valid.
    fn scope(&self, app: Option<&AppRef>) -> Result<AppScope> {
        let app = app.ok_or(ServiceError::NoCaller)?;
        let account = self.account(app.caller.as_ref())?;
        let scope = AppScope::parse(account, &app.app_id, &app.data_center)?;
        tracing::Span::current().record("app.id", scope.app.as_str());
        Ok(scope)
    }
}

/// Checks that `value` is one of `allowed`.
fn one_of(field: &str, value: i32, allowed: &[i32]) -> Result<i32> {
    if allowed.contains(&value) {
        return Ok(value);
    }
    let list: Vec<String> = allowed.iter().map(i32::to_string).collect();
    Err(ApiError::invalid(field, format_args!("must be one of {}", list.join(", "))).into())
}

/// Checks a list of 1 to 10 user ids.
fn user_list(ids: &[String]) -> Result<()> {
    if !(1..=10).contains(&ids.len()) {
        return Err(ApiError::invalid("UserIds", "must list 1 to 10 users").into());
    }
    for user in ids {
        UserId::parse_field("UserIds", user)?;
    }
    Ok(())
}
