//! Authorization: which resource each action touches, and whether the caller may.
//!
//! An account's root AccessKey may do everything on the account's own resources (the service
//! checks that the resources are the account's). A RAM user's key may do what its policies
//! allow: denied by default, and an explicit Deny wins.

use chrono::{DateTime, FixedOffset};
use livemsg_domain::policy::{evaluate, RequestContext, Verdict};
use livemsg_domain::{AccessDenied, ApiError};

use crate::actions::Action;
use crate::params::Params;
use crate::principals::Principal;

/// The resource of `action` for the caller's account: `acs:live::{account}:rtc/{AppId}` for
/// app-scoped actions, `*` for account-wide ones (creating and listing apps).
pub fn resource(action: Action, account_id: i64, params: &Params) -> Result<String, ApiError> {
    match action {
        Action::CreateLiveMessageApp => Ok("*".to_owned()),
        Action::DescribeLiveMessageApp
        | Action::CreateLiveMessageGroup
        | Action::DescribeLiveMessageGroup
        | Action::ListLiveMessageGroupUsers
        | Action::CheckLiveMessageUsersInGroup
        | Action::CheckLiveMessageUsersOnline
        | Action::ModifyLiveMessageAppCallback => {
            let app_id = params.required("AppId")?;
            Ok(format!("acs:live::{account_id}:rtc/{app_id}"))
        }
    }
}

/// What the request offers to policy conditions.
#[derive(Debug, Clone, Copy)]
pub struct Circumstances {
    /// The caller's address.
    pub source_ip: Option<std::net::IpAddr>,
    /// When the request arrived.
    pub now: DateTime<FixedOffset>,
    /// Whether it arrived over TLS.
    pub secure_transport: bool,
}

/// Refuses the call unless the principal may perform `action` on `resource`.
pub fn authorize(
    principal: &Principal,
    action: Action,
    resource: String,
    circumstances: Circumstances,
) -> Result<(), ApiError> {
    let Some(user) = &principal.ram_user else {
        return Ok(());
    };
    let context = RequestContext {
        action: format!("live:{}", action.name()),
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
