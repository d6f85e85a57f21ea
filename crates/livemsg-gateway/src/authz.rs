//! Authorization: which resource each action touches, and whether the caller may.
//!
//! An account's root AccessKey may do everything on the account's own resources (the service
//! checks that the resources are the account's). A RAM user's key may do what its policies
//! allow: denied by default, and an explicit Deny wins.

use chrono::{DateTime, FixedOffset};
use livemsg_domain::policy::{evaluate, RequestContext, Verdict};
use livemsg_domain::{AccessDenied, ApiError, AppId};

use crate::actions::{Action, Resource};
use crate::principals::Principal;

/// The resource of `action` for the caller's account: `acs:live::{account}:rtc/{AppId}` for
/// app-scoped actions, `*` for account-wide ones (creating and listing apps).
pub(crate) fn resource(action: &Action, account_id: i64, app_id: Option<&AppId>) -> String {
    match (action.resource, app_id) {
        (Resource::App, Some(app_id)) => format!("acs:live::{account_id}:rtc/{app_id}"),
        (Resource::AppOnDomain, _) => format!("acs:live:*:{account_id}:domain/*"),
        (Resource::App, None) | (Resource::All | Resource::AppOnAll, _) => "*".to_owned(),
    }
}

/// What the request offers to policy conditions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Circumstances {
    /// The caller's address.
    pub(crate) source_ip: Option<std::net::IpAddr>,
    /// When the request arrived.
    pub(crate) now: DateTime<FixedOffset>,
    /// Whether it arrived over TLS.
    pub(crate) secure_transport: bool,
}

/// Refuses the call unless the principal may perform `action` on `resource`.
pub(crate) fn authorize(
    principal: &Principal,
    action: &Action,
    resource: String,
    circumstances: Circumstances,
) -> Result<(), ApiError> {
    let Some(user) = &principal.ram_user else {
        return Ok(());
    };
    let context = RequestContext {
        action: format!("live:{}", action.name),
        resource,
        source_ip: circumstances.source_ip,
        current_time: circumstances.now,
        secure_transport: circumstances.secure_transport,
        other_keys: Vec::new(),
    };
    let no_permission_type = match evaluate(&user.policies, &context) {
        Verdict::Allow => return Ok(()),
        Verdict::ImplicitDeny => "ImplicitDeny",
        Verdict::ExplicitDeny => "ExplicitDeny",
    };
    Err(ApiError::denied(AccessDenied {
        auth_action: context.action,
        resource: context.resource,
        no_permission_type,
        principal_type: "SubUser",
        principal_name: user.name.clone(),
        principal_owner_id: principal.account_id,
    }))
}
