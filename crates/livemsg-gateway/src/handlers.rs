//! One function per served action: read its parameters, call the service, shape the answer
//! exactly as the API reference gives it.

use livemsg_domain::{ApiError, PageSize, PageToken, SortType};
use livemsg_proto::api::v1::api_service_client::ApiServiceClient;
use livemsg_proto::api::v1::{
    App, Caller, CheckUsersInGroupRequest, CheckUsersInGroupResponse, CheckUsersOnlineRequest,
    CreateAppRequest, CreateGroupRequest, DescribeAppRequest, DescribeGroupRequest,
    ListGroupUsersRequest, ModifyAppCallbackRequest,
};
use livemsg_proto::common::v1::GroupState;
use livemsg_proto::AuthenticatedChannel;
use serde_json::{json, Map, Value};

use crate::actions::Action;
use crate::params::Params;

/// The operation's response fields (without `RequestId`).
pub type Fields = Map<String, Value>;

fn object(value: Value) -> Fields {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn from_status(status: tonic::Status) -> ApiError {
    let err = livemsg_proto::api_error_from_status(&status);
    if err.code.http_status() >= 500 {
        tracing::error!(grpc.code = ?status.code(), grpc.message = status.message(), "service call failed");
    }
    err
}

/// The service answered without the app it must return: a bug, reported as a server error.
fn missing_app() -> ApiError {
    tracing::error!("service response lacks its app");
    ApiError::internal()
}

fn app_fields(app: &App) -> Value {
    json!({
        "AppId": app.app_id,
        "AppKey": app.app_key,
        "AppName": app.app_name,
        "AppSign": app.app_sign,
        "AuditType": app.audit_type,
        "AuditUrl": app.audit_url,
        "CreateTime": app.create_time,
        "DataCenter": app.data_center,
        "Disable": app.disabled,
        "EventCallbackUrl": app.event_callback_url,
        "ModifyTime": app.modify_time,
        "MsgLifeCycle": app.msg_life_cycle,
    })
}

/// `[{UserId, Online}]` in the order asked.
fn presence_list(checked: &CheckUsersInGroupResponse) -> Vec<Value> {
    checked
        .users
        .iter()
        .map(|u| json!({ "UserId": u.user_id, "Online": u.in_group }))
        .collect()
}

/// Runs `action` for the caller's account.
pub async fn execute(
    api: &mut ApiServiceClient<AuthenticatedChannel>,
    action: Action,
    account_id: i64,
    params: &Params,
) -> Result<Fields, ApiError> {
    let caller = Some(Caller { account_id });
    match action {
        Action::CreateLiveMessageApp => {
            let request = CreateAppRequest {
                caller,
                app_name: params.optional("AppName").to_owned(),
                data_center: params.optional("DataCenter").to_owned(),
                audit_type: params.int32("AuditType", 0)?,
                audit_url: params.optional("AuditUrl").to_owned(),
                event_callback_url: params.optional("EventCallbackUrl").to_owned(),
                msg_life_cycle: params.int32("MsgLifeCycle", 0)?,
            };
            let app = api
                .create_app(request)
                .await
                .map_err(from_status)?
                .into_inner()
                .app
                .ok_or_else(missing_app)?;
            Ok(object(json!({
                "AppId": app.app_id,
                "AppKey": app.app_key,
                "AppSign": app.app_sign,
                "DataCenter": app.data_center,
            })))
        }
        Action::DescribeLiveMessageApp => {
            let request = DescribeAppRequest {
                caller,
                app_id: params.required("AppId")?.to_owned(),
                data_center: params.optional("DataCenter").to_owned(),
            };
            let app = api
                .describe_app(request)
                .await
                .map_err(from_status)?
                .into_inner()
                .app
                .ok_or_else(missing_app)?;
            Ok(object(app_fields(&app)))
        }
        Action::CreateLiveMessageGroup => {
            let app_id = params.required("AppId")?.to_owned();
            let group_id = params.required("GroupId")?.to_owned();
            let administrators = params.list("Administrators")?;
            let request = CreateGroupRequest {
                caller,
                app_id,
                data_center: params.optional("DataCenter").to_owned(),
                group_id,
                group_name: params.optional("GroupName").to_owned(),
                group_info: params.optional("GroupInfo").to_owned(),
                creator_id: params.optional("CreatorId").to_owned(),
                administrators,
            };
            let created = api
                .create_group(request)
                .await
                .map_err(from_status)?
                .into_inner();
            Ok(object(json!({
                "GroupId": created.group_id,
                "AlreadyExists": created.already_exists,
                "AlreadyDelete": created.already_deleted,
            })))
        }
        Action::DescribeLiveMessageGroup => {
            let request = DescribeGroupRequest {
                caller,
                app_id: params.required("AppId")?.to_owned(),
                group_id: params.required("GroupId")?.to_owned(),
                data_center: params.optional("DataCenter").to_owned(),
            };
            let group = api
                .describe_group(request)
                .await
                .map_err(from_status)?
                .into_inner();
            let mut fields = object(json!({
                "GroupId": group.group_id,
                "GroupName": group.group_name,
                "GroupInfo": group.group_info,
                "CreatorId": group.creator_id,
                "AdminList": group.admin_list,
                "Createtime": group.create_time,
                "Delete": group.deleted,
                "SuperLargeGroup": group.state() == GroupState::Super,
            }));
            if group.deleted {
                fields.insert("Deletatime".into(), json!(group.delete_time));
                fields.insert("Deletor".into(), json!(group.deletor));
            } else {
                fields.insert("OnlineUserCounts".into(), json!(group.member_count));
                fields.insert("TotalTimes".into(), json!(group.total_joins));
                fields.insert("MsgAmount".into(), json!({}));
            }
            Ok(fields)
        }
        Action::CheckLiveMessageUsersInGroup => {
            let app_id = params.required("AppId")?.to_owned();
            let group_id = params.required("GroupId")?.to_owned();
            let user_ids = params.required_list("UserIds")?;
            let checked = api
                .check_users_in_group(CheckUsersInGroupRequest {
                    caller,
                    app_id,
                    data_center: params.optional("DataCenter").to_owned(),
                    group_id,
                    user_ids,
                })
                .await
                .map_err(from_status)?
                .into_inner();
            Ok(object(json!({ "Users": presence_list(&checked) })))
        }
        Action::ModifyLiveMessageAppCallback => {
            let request = ModifyAppCallbackRequest {
                caller,
                app_id: params.required("AppId")?.to_owned(),
                data_center: params.optional("DataCenter").to_owned(),
                event_callback_url: params.optional("EventCallbackUrl").to_owned(),
            };
            let app = api
                .modify_app_callback(request)
                .await
                .map_err(from_status)?
                .into_inner()
                .app
                .ok_or_else(missing_app)?;
            let mut fields = object(json!({
                "AppId": app.app_id,
                "AppSign": app.app_sign,
                "EventCallbackNeedAuthentication": true,
            }));
            // Not returned when empty, as the reference says.
            if !app.event_callback_url.is_empty() {
                fields.insert("EventCallbackUrl".into(), json!(app.event_callback_url));
            }
            Ok(fields)
        }
        Action::CheckLiveMessageUsersOnline => {
            let app_id = params.required("AppId")?.to_owned();
            let user_ids = params.required_list("UserIds")?;
            let checked = api
                .check_users_online(CheckUsersOnlineRequest {
                    caller,
                    app_id,
                    data_center: params.optional("DataCenter").to_owned(),
                    user_ids,
                })
                .await
                .map_err(from_status)?
                .into_inner();
            Ok(object(json!({ "UserList": presence_list(&checked) })))
        }
        Action::ListLiveMessageGroupUsers => {
            // Every required parameter is checked for presence before any is parsed, so the
            // caller learns first of what is missing.
            let app_id = params.required("AppId")?;
            let group_id = params.required("GroupId")?;
            let page_size = params.required("PageSize")?;
            let sort_type = params.required("SortType")?;
            let request = ListGroupUsersRequest {
                caller,
                app_id: app_id.to_owned(),
                data_center: params.optional("DataCenter").to_owned(),
                group_id: group_id.to_owned(),
                page_size: PageSize::parse(page_size)?.get() as i32,
                sort_type: SortType::parse(sort_type)?.as_i32(),
                page_token: PageToken::parse(params.get("NextPageToken"))?.as_i64(),
            };
            let page = api
                .list_group_users(request)
                .await
                .map_err(from_status)?
                .into_inner();
            let users: Vec<Value> = page
                .users
                .iter()
                .map(|u| json!({ "UserId": u.user_id, "UserInfo": u.user_info }))
                .collect();
            Ok(object(json!({
                "GroupId": page.group_id,
                "NextPageToken": page.next_page_token,
                "Hasmore": page.has_more,
                "UserList": users,
            })))
        }
    }
}
