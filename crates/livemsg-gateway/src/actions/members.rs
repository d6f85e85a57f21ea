//! The members family: ListLiveMessageGroupUsers, CheckLiveMessageUsersInGroup,
//! CheckLiveMessageUsersOnline, ModifyLiveMessageUserInfo.

use livemsg_domain::ApiError;
use livemsg_proto::api::v1::{
    CheckUsersInGroupRequest, CheckUsersOnlineRequest, ListGroupUsersRequest,
    ModifyUserInfoRequest, UserPresence,
};
use serde::Serialize;
use serde_json::{json, Value};

use super::{failed, fields, Call, Fields};

/// `[{UserId, Online}]` in the order asked.
fn presence_list(users: &[UserPresence]) -> Vec<Value> {
    users
        .iter()
        .map(|u| json!({ "UserId": u.user_id, "Online": u.present }))
        .collect()
}

pub(super) async fn list_group_users(call: Call<'_>) -> Result<Fields, ApiError> {
    let params = call.params;
    // The service checks the ranges; the gateway only reads integers.
    let request = ListGroupUsersRequest {
        app: call.app_ref(),
        group_id: params.required("GroupId")?.to_owned(),
        page_size: params.int64("PageSize", 0)?,
        sort_type: params.int64("SortType", 0)?,
        page_token: params.int64("NextPageToken", 0)?,
    };
    let page = call
        .clients
        .members
        .clone()
        .list_group_users(request)
        .await
        .map_err(failed("ListGroupUsers"))?
        .into_inner();
    Ok(Fields::of(&UserPage {
        group_id: &page.group_id,
        next_page_token: page.next_page_token,
        has_more: page.has_more,
        user_list: page
            .users
            .iter()
            .map(|u| UserEntry {
                user_id: &u.user_id,
                user_info: &u.user_info,
            })
            .collect(),
    }))
}

/// A page of ListLiveMessageGroupUsers, serialized straight from the service's answer.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct UserPage<'a> {
    group_id: &'a str,
    next_page_token: i64,
    /// `Hasmore`: spelled as the API reference spells it.
    #[serde(rename = "Hasmore")]
    has_more: bool,
    user_list: Vec<UserEntry<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct UserEntry<'a> {
    user_id: &'a str,
    user_info: &'a str,
}

pub(super) async fn check_users_in_group(call: Call<'_>) -> Result<Fields, ApiError> {
    let params = call.params;
    let request = CheckUsersInGroupRequest {
        app: call.app_ref(),
        group_id: params.required("GroupId")?.to_owned(),
        user_ids: params.required_list("UserIds")?,
    };
    let checked = call
        .clients
        .members
        .clone()
        .check_users_in_group(request)
        .await
        .map_err(failed("CheckUsersInGroup"))?
        .into_inner();
    Ok(fields(json!({ "Users": presence_list(&checked.users) })))
}

pub(super) async fn check_users_online(call: Call<'_>) -> Result<Fields, ApiError> {
    let request = CheckUsersOnlineRequest {
        app: call.app_ref(),
        user_ids: call.params.required_list("UserIds")?,
    };
    let checked = call
        .clients
        .members
        .clone()
        .check_users_online(request)
        .await
        .map_err(failed("CheckUsersOnline"))?
        .into_inner();
    Ok(fields(json!({ "UserList": presence_list(&checked.users) })))
}

pub(super) async fn modify_user_info(call: Call<'_>) -> Result<Fields, ApiError> {
    let params = call.params;
    let request = ModifyUserInfoRequest {
        app: call.app_ref(),
        user_id: params.required("UserId")?.to_owned(),
        user_info: params.optional("UserMetaInfo").to_owned(),
    };
    let modified = call
        .clients
        .members
        .clone()
        .modify_user_info(request)
        .await
        .map_err(failed("ModifyUserInfo"))?
        .into_inner();
    let succeeded: Vec<Value> = modified
        .succeeded
        .iter()
        .map(|g| json!({ "GroupId": g, "Success": true }))
        .collect();
    let failed_groups: Vec<Value> = modified
        .failed
        .iter()
        .map(|f| json!({ "Code": f.code, "GroupId": f.group_id, "Reason": f.reason, "Success": false }))
        .collect();
    Ok(fields(json!({
        "SuccessList": succeeded,
        "FailList": failed_groups,
    })))
}
