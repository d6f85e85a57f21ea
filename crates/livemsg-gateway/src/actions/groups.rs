//! The groups family: CreateLiveMessageGroup, DescribeLiveMessageGroup, ModifyLiveMessageGroup
//! (deleting, recovering and listing groups are in `lifecycle` and `listing`).

use livemsg_domain::ApiError;
use livemsg_proto::api::v1::{CreateGroupRequest, DescribeGroupRequest, ModifyGroupRequest};
use livemsg_proto::common::v1::GroupState;
use serde_json::json;

use super::{failed, fields, object, Call, Fields};

pub(super) async fn create_group(call: Call<'_>) -> Result<Fields, ApiError> {
    let params = call.params;
    let request = CreateGroupRequest {
        app: call.app_ref(),
        group_id: params.required("GroupId")?.to_owned(),
        group_name: params.optional("GroupName").to_owned(),
        group_info: params.optional("GroupInfo").to_owned(),
        creator_id: params.optional("CreatorId").to_owned(),
        administrators: params.list("Administrators")?,
    };
    let created = call
        .clients
        .groups
        .clone()
        .create_group(request)
        .await
        .map_err(failed("CreateGroup"))?
        .into_inner();
    Ok(fields(json!({
        "GroupId": created.group_id,
        "AlreadyExists": created.already_exists,
        "AlreadyDelete": created.already_deleted,
    })))
}

pub(super) async fn describe_group(call: Call<'_>) -> Result<Fields, ApiError> {
    let request = DescribeGroupRequest {
        app: call.app_ref(),
        group_id: call.params.required("GroupId")?.to_owned(),
    };
    let group = call
        .clients
        .groups
        .clone()
        .describe_group(request)
        .await
        .map_err(failed("DescribeGroup"))?
        .into_inner();
    // `Createtime`, `Deletatime`: spelled as the API reference (and the SDK models) spell them.
    let mut answer = object(json!({
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
        answer.insert("Deletatime".into(), json!(group.delete_time));
        answer.insert("Deletor".into(), json!(group.deletor));
    } else {
        answer.insert("OnlineUserCounts".into(), json!(group.member_count));
        answer.insert("TotalTimes".into(), json!(group.total_joins));
        answer.insert("MsgAmount".into(), json!(group.msg_amount));
    }
    Ok(answer.into())
}

pub(super) async fn modify_group(call: Call<'_>) -> Result<Fields, ApiError> {
    let params = call.params;
    // Only the parts whose flag is true change; a value given without its flag is ignored.
    // `ModifyAdmin=true` without `AdminList` (or with an empty one) clears the administrators,
    // `ModifyInfo=true` without `GroupInfo` empties the info.
    let modify_admins = params.bool_opt("ModifyAdmin")?.unwrap_or(false);
    let modify_info = params.bool_opt("ModifyInfo")?.unwrap_or(false);
    let request = ModifyGroupRequest {
        app: call.app_ref(),
        group_id: params.required("GroupId")?.to_owned(),
        group_info: modify_info.then(|| params.optional("GroupInfo").to_owned()),
        modify_admins,
        admin_list: if modify_admins {
            params.list("AdminList")?
        } else {
            Vec::new()
        },
    };
    call.clients
        .groups
        .clone()
        .modify_group(request)
        .await
        .map_err(failed("ModifyGroup"))?;
    Ok(Fields::new())
}
