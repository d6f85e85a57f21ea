//! The operations of the API family, and how the gateway runs each one it serves.
//!
//! [`ACTIONS`] is the one table: each row gives an action's name, its required parameters
//! (checked for presence, in order, before any is read), its RAM resource and the function that
//! runs it. The functions live in one file per family ([`apps`], [`groups`], [`members`],
//! [`messages`], [`moderation`]; the groups family's lifecycle and listings in [`lifecycle`] and
//! [`listing`]):
//! each reads its parameters, calls the service and shapes the answer exactly as the API
//! reference gives it. Adding an operation is one row here and one function in its family.

mod apps;
mod groups;
mod lifecycle;
mod listing;
mod members;
mod messages;
mod moderation;

use std::future::Future;
use std::pin::Pin;

use livemsg_domain::{ApiError, AppId, ErrorCode};
use livemsg_proto::api::v1::app_service_client::AppServiceClient;
use livemsg_proto::api::v1::group_service_client::GroupServiceClient;
use livemsg_proto::api::v1::member_service_client::MemberServiceClient;
use livemsg_proto::api::v1::message_service_client::MessageServiceClient;
use livemsg_proto::api::v1::moderation_service_client::ModerationServiceClient;
use livemsg_proto::common::v1::{AppRef, Caller};
use livemsg_proto::AuthenticatedChannel;
use serde_json::{Map, Value};

use crate::params::Params;

/// The API version every request must name.
pub(crate) const API_VERSION: &str = "2016-11-01";

/// An operation's response fields (without `RequestId`): one JSON object, serialized once,
/// straight from the value the action built (a typed response or a `serde_json` map).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fields(String);

impl Fields {
    /// No fields.
    pub(crate) fn new() -> Self {
        Fields("{}".to_owned())
    }

    /// The fields of `value`, which serializes to a JSON object (anything else, a mistake in an
    /// action, answers with no fields and is logged).
    pub(crate) fn of<T: serde::Serialize>(value: &T) -> Self {
        match serde_json::to_string(value) {
            Ok(text) if text.starts_with('{') && text.ends_with('}') => Fields(text),
            other => {
                tracing::error!(result = ?other.map(|_| ()), "a response is not a JSON object");
                Fields::new()
            }
        }
    }

    /// The members of the object, without its braces (empty for no fields).
    pub(crate) fn members(&self) -> &str {
        self.0[1..self.0.len() - 1].trim()
    }
}

impl From<Map<String, Value>> for Fields {
    fn from(map: Map<String, Value>) -> Self {
        Fields::of(&map)
    }
}

/// What an action runs on: the caller, the app it names (for app-scoped actions) and its
/// parameters, with clients of the service's family APIs.
#[derive(Debug)]
pub(crate) struct Call<'a> {
    /// The service's family APIs.
    pub(crate) clients: &'a Clients,
    /// The authenticated account.
    pub(crate) caller: Caller,
    /// The app of an app-scoped action, its id already checked.
    pub(crate) app: Option<AppRef>,
    /// Every parameter of the request.
    pub(crate) params: &'a Params,
}

impl Call<'_> {
    /// The app reference of an app-scoped action.
    fn app_ref(&self) -> Option<AppRef> {
        self.app.clone()
    }

    /// The `DataCenter` parameter (empty: the default).
    fn data_center(&self) -> String {
        self.params.optional("DataCenter").to_owned()
    }
}

/// Clients of the service's public API, one per family, over one channel.
#[derive(Debug, Clone)]
pub(crate) struct Clients {
    pub(crate) apps: AppServiceClient<AuthenticatedChannel>,
    pub(crate) groups: GroupServiceClient<AuthenticatedChannel>,
    pub(crate) members: MemberServiceClient<AuthenticatedChannel>,
    pub(crate) messages: MessageServiceClient<AuthenticatedChannel>,
    pub(crate) moderation: ModerationServiceClient<AuthenticatedChannel>,
}

impl Clients {
    /// Clients over `channel`.
    pub(crate) fn new(channel: AuthenticatedChannel) -> Self {
        Clients {
            apps: AppServiceClient::new(channel.clone()),
            groups: GroupServiceClient::new(channel.clone()),
            members: MemberServiceClient::new(channel.clone()),
            messages: MessageServiceClient::new(channel.clone()),
            moderation: ModerationServiceClient::new(channel),
        }
    }
}

/// Which RAM resource an action is authorized on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resource {
    /// `acs:live::{account}:rtc/{AppId}`: the action names an app (`AppId` is required).
    App,
    /// `*`: account-wide actions, such as creating an app.
    All,
    /// `*`, for an action that names an app (`AppId` is required) but whose RAM resource is
    /// documented as All Resources (`ModifyLiveMessageUserInfo`).
    AppOnAll,
    /// `acs:live:*:{account}:domain/*`, for an action that names an app but whose RAM resource
    /// is documented as a domain (`DeleteLiveMessageUserMessage`; the request names no domain).
    AppOnDomain,
}

type Running<'a> = Pin<Box<dyn Future<Output = Result<Fields, ApiError>> + Send + 'a>>;
type Run = for<'a> fn(Call<'a>) -> Running<'a>;

/// One operation this gateway serves.
#[derive(Debug)]
pub(crate) struct Action {
    /// Its name, the `Action` parameter.
    pub(crate) name: &'static str,
    /// Its required parameters (besides `AppId`, which app-scoped actions require), checked in
    /// this order before the action runs, so a caller learns first of what is missing.
    pub(crate) required: &'static [&'static str],
    /// Its RAM resource.
    pub(crate) resource: Resource,
    run: Run,
}

macro_rules! action {
    ($name:literal, $resource:ident, [$($required:literal),*], $run:path) => {
        Action {
            name: $name,
            required: &[$($required),*],
            resource: Resource::$resource,
            run: |call| Box::pin($run(call)),
        }
    };
}

/// Every served action.
pub(crate) static ACTIONS: &[Action] = &[
    action!("CreateLiveMessageApp", All, [], apps::create_app),
    action!("DescribeLiveMessageApp", App, [], apps::describe_app),
    action!(
        "ModifyLiveMessageAppCallback",
        App,
        [],
        apps::modify_app_callback
    ),
    action!(
        "CreateLiveMessageGroup",
        App,
        ["GroupId"],
        groups::create_group
    ),
    action!(
        "DescribeLiveMessageGroup",
        App,
        ["GroupId"],
        groups::describe_group
    ),
    action!(
        "ListLiveMessageGroupUsers",
        App,
        ["GroupId", "PageSize", "SortType"],
        members::list_group_users
    ),
    action!(
        "CheckLiveMessageUsersInGroup",
        App,
        ["GroupId"],
        members::check_users_in_group
    ),
    action!(
        "CheckLiveMessageUsersOnline",
        App,
        [],
        members::check_users_online
    ),
    action!("ListLiveMessageApps", All, ["SortType"], apps::list_apps),
    action!(
        "ModifyLiveMessageAppDisable",
        App,
        [],
        apps::modify_app_disable
    ),
    action!("ModifyLiveMessageAppAudit", App, [], apps::modify_app_audit),
    action!(
        "ModifyLiveMessageGroup",
        App,
        ["GroupId"],
        groups::modify_group
    ),
    action!(
        "DeleteLiveMessageGroup",
        App,
        ["GroupId"],
        lifecycle::delete_group
    ),
    action!(
        "RecoverLiveMessageDeletedGroup",
        App,
        ["GroupId"],
        lifecycle::recover_group
    ),
    action!(
        "ListLiveMessageGroups",
        App,
        ["SortType"],
        listing::list_groups
    ),
    action!(
        "ListLiveMessageGroupByPage",
        App,
        ["SortType"],
        listing::list_groups_by_page
    ),
    action!(
        "ModifyLiveMessageUserInfo",
        AppOnAll,
        ["UserId"],
        members::modify_user_info
    ),
    action!(
        "SendLiveMessageGroup",
        App,
        ["GroupId", "SenderId"],
        messages::send_group
    ),
    action!(
        "SendLiveMessageUser",
        App,
        ["ReceiverId", "SenderId"],
        messages::send_user
    ),
    action!(
        "ListLiveMessageGroupMessages",
        App,
        ["GroupId", "PageSize", "SortType"],
        messages::list_group_messages
    ),
    action!(
        "DeleteLiveMessageGroupMessage",
        App,
        ["GroupId", "MessageId"],
        messages::delete_group_message
    ),
    action!(
        "DeleteLiveMessageUserMessage",
        AppOnDomain,
        ["ReceiverId", "MessageId"],
        messages::delete_user_message
    ),
    action!("BanLiveMessageGroup", App, ["GroupId"], moderation::ban),
    action!("UnbanLiveMessageGroup", App, ["GroupId"], moderation::unban),
    action!(
        "AddLiveMessageGroupBand",
        App,
        ["GroupId"],
        moderation::add_band
    ),
    action!(
        "RemoveLiveMessageGroupBand",
        App,
        ["GroupId"],
        moderation::remove_band
    ),
    action!(
        "ModifyLiveMessageGroupBand",
        App,
        ["GroupId"],
        moderation::modify_band
    ),
    action!(
        "DescribeLiveMessageGroupBand",
        App,
        ["GroupId"],
        moderation::describe_band
    ),
    action!(
        "KickLiveMessageGroupUser",
        App,
        ["GroupId", "KickoffUser"],
        moderation::kick
    ),
];

/// The 29 operations of the Live interactive messaging family.
pub(crate) const FAMILY: [&str; 29] = [
    "AddLiveMessageGroupBand",
    "BanLiveMessageGroup",
    "CheckLiveMessageUsersInGroup",
    "CheckLiveMessageUsersOnline",
    "CreateLiveMessageApp",
    "CreateLiveMessageGroup",
    "DeleteLiveMessageGroup",
    "DeleteLiveMessageGroupMessage",
    "DeleteLiveMessageUserMessage",
    "DescribeLiveMessageApp",
    "DescribeLiveMessageGroup",
    "DescribeLiveMessageGroupBand",
    "KickLiveMessageGroupUser",
    "ListLiveMessageApps",
    "ListLiveMessageGroupByPage",
    "ListLiveMessageGroupMessages",
    "ListLiveMessageGroupUsers",
    "ListLiveMessageGroups",
    "ModifyLiveMessageAppAudit",
    "ModifyLiveMessageAppCallback",
    "ModifyLiveMessageAppDisable",
    "ModifyLiveMessageGroup",
    "ModifyLiveMessageGroupBand",
    "ModifyLiveMessageUserInfo",
    "RecoverLiveMessageDeletedGroup",
    "RemoveLiveMessageGroupBand",
    "SendLiveMessageGroup",
    "SendLiveMessageUser",
    "UnbanLiveMessageGroup",
];

impl Action {
    /// The operation named `name` (case-sensitive, as the API is). An operation of the family
    /// that livemsg does not serve yet is `UnsupportedOperation`; any other name is
    /// `InvalidAction.NotFound`.
    pub(crate) fn resolve(name: &str) -> Result<&'static Action, ApiError> {
        if let Some(action) = ACTIONS.iter().find(|a| a.name == name) {
            return Ok(action);
        }
        if FAMILY.contains(&name) {
            return Err(ApiError::new(
                ErrorCode::UnsupportedOperation,
                format!("{name} is not supported by this livemsg version."),
            ));
        }
        Err(ApiError::of(ErrorCode::InvalidActionNotFound))
    }

    /// The app an app-scoped action names, checked (before authorization uses it).
    pub(crate) fn app_id(&self, params: &Params) -> Result<Option<AppId>, ApiError> {
        match self.resource {
            Resource::All => Ok(None),
            Resource::App | Resource::AppOnAll | Resource::AppOnDomain => {
                Ok(Some(AppId::parse(params.required("AppId")?)?))
            }
        }
    }

    /// Runs the action: checks its required parameters, then calls the service.
    pub(crate) async fn run(&self, call: Call<'_>) -> Result<Fields, ApiError> {
        for name in self.required {
            call.params.required(name)?;
        }
        (self.run)(call).await
    }
}

/// Reads the API error of a failed call to the service (logged once there if the call itself
/// failed).
fn failed(rpc: &'static str) -> impl Fn(tonic::Status) -> ApiError {
    move |status| livemsg_proto::api_error_from_call(&status, rpc)
}

/// `value` (a JSON object) as response fields.
fn fields(value: Value) -> Fields {
    Fields::of(&value)
}

/// `value` (a JSON object) as a map, for an action that adds fields to it.
fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_actions_resolve_and_belong_to_the_family_once() {
        for action in ACTIONS {
            assert_eq!(Action::resolve(action.name).unwrap().name, action.name);
            assert!(FAMILY.contains(&action.name), "{}", action.name);
            assert_eq!(
                ACTIONS.iter().filter(|a| a.name == action.name).count(),
                1,
                "{}",
                action.name
            );
        }
        assert_eq!(ACTIONS.len(), 29);
    }

    #[test]
    fn every_family_member_is_served_and_strangers_are_not_found() {
        for name in FAMILY {
            assert_eq!(Action::resolve(name).unwrap().name, name);
        }
        assert_eq!(
            Action::resolve("DescribeRegions").unwrap_err().code,
            ErrorCode::InvalidActionNotFound
        );
        assert_eq!(
            Action::resolve("listlivemessagegroupusers")
                .unwrap_err()
                .code,
            ErrorCode::InvalidActionNotFound
        );
    }
}
