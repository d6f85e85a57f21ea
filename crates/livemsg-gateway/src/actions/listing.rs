//! The groups family's listings: ListLiveMessageGroups (by cursor) and
//! ListLiveMessageGroupByPage (by page number, with the total).

use livemsg_domain::ApiError;
use livemsg_proto::api::v1::{GroupSummary, ListGroupsByPageRequest, ListGroupsRequest};
use serde_json::{json, Value};

use super::{failed, fields, object, Call, Fields};

/// The items of both listings, spelled as the API reference spells them (`Createtime`).
fn group_list(groups: &[GroupSummary]) -> Vec<Value> {
    groups
        .iter()
        .map(|g| {
            json!({
                "GroupId": g.group_id,
                "GroupName": g.group_name,
                "GroupInfo": g.group_info,
                "CreatorId": g.creator_id,
                "AdminList": g.admin_list,
                "Createtime": g.create_time,
                "Delete": g.deleted,
            })
        })
        .collect()
}

pub(super) async fn list_groups(call: Call<'_>) -> Result<Fields, ApiError> {
    let params = call.params;
    let request = ListGroupsRequest {
        app: call.app_ref(),
        sort_type: params.int64("SortType", 0)?,
        group_status: params.int64("GroupStatus", 0)?,
        page_token: params.int64_opt("NextPageToken")?,
    };
    let page = call
        .clients
        .groups
        .clone()
        .list_groups(request)
        .await
        .map_err(failed("ListGroups"))?
        .into_inner();
    // `Hasmore` and `NextpageToken` (a string, and absent when there is no more): spelled and
    // typed as the API reference has them.
    let mut answer = object(json!({
        "Hasmore": page.has_more,
        "GroupList": group_list(&page.groups),
    }));
    if page.has_more {
        answer.insert(
            "NextpageToken".into(),
            json!(page.next_page_token.to_string()),
        );
    }
    Ok(answer.into())
}

pub(super) async fn list_groups_by_page(call: Call<'_>) -> Result<Fields, ApiError> {
    let params = call.params;
    let request = ListGroupsByPageRequest {
        app: call.app_ref(),
        sort_type: params.int64("SortType", 0)?,
        group_status: params.int64("GroupStatus", 0)?,
        page_number: params.int64_opt("PageNumber")?,
        page_size: params.int64_opt("PageSize")?,
    };
    let page = call
        .clients
        .groups
        .clone()
        .list_groups_by_page(request)
        .await
        .map_err(failed("ListGroupsByPage"))?
        .into_inner();
    Ok(fields(json!({
        "TotalCount": page.total_count,
        "PageNumber": page.page_number,
        "PageSize": page.page_size,
        "GroupList": group_list(&page.groups),
    })))
}
