//! The groups family's lifecycle: DeleteLiveMessageGroup, RecoverLiveMessageDeletedGroup.

use livemsg_domain::ApiError;
use livemsg_proto::api::v1::{DeleteGroupRequest, RecoverGroupRequest};
use serde_json::json;

use super::{failed, fields, Call, Fields};

pub(super) async fn delete_group(call: Call<'_>) -> Result<Fields, ApiError> {
    let params = call.params;
    let request = DeleteGroupRequest {
        app: call.app_ref(),
        group_id: params.required("GroupId")?.to_owned(),
        operator_id: params.optional("OperatorId").to_owned(),
    };
    let deleted = call
        .clients
        .groups
        .clone()
        .delete_group(request)
        .await
        .map_err(failed("DeleteGroup"))?
        .into_inner();
    // "The ID of the deleted or non-existent group": the same answer whether the call deleted
    // it, found it deleted already or found no such group.
    Ok(fields(json!({ "GroupId": deleted.group_id })))
}

pub(super) async fn recover_group(call: Call<'_>) -> Result<Fields, ApiError> {
    let request = RecoverGroupRequest {
        app: call.app_ref(),
        group_id: call.params.required("GroupId")?.to_owned(),
    };
    let recovered = call
        .clients
        .groups
        .clone()
        .recover_group(request)
        .await
        .map_err(failed("RecoverGroup"))?
        .into_inner();
    Ok(fields(json!({ "GroupId": recovered.group_id })))
}
