//! The moderation family: BanLiveMessageGroup, UnbanLiveMessageGroup, AddLiveMessageGroupBand,
//! RemoveLiveMessageGroupBand, ModifyLiveMessageGroupBand, DescribeLiveMessageGroupBand,
//! KickLiveMessageGroupUser.

use livemsg_domain::ApiError;
use livemsg_proto::api::v1::{
    BanGroupRequest, DescribeGroupBandRequest, GroupBandUsersRequest, KickGroupUserRequest,
    ModifyGroupBandRequest, UnbanGroupRequest, UserList,
};
use serde_json::json;

use super::{failed, fields, Call, Fields};
use crate::params::Params;

/// A list parameter that may be absent (`None`) or given, even empty (`ExceptUsers=` from the
/// current SDK replaces the list with nothing).
fn optional_list(params: &Params, names: &[&str]) -> Result<Option<UserList>, ApiError> {
    for name in names {
        let given = params.get(name).is_some()
            || params
                .all()
                .any(|(k, _)| k.starts_with(&format!("{name}.")));
        if given {
            return Ok(Some(UserList {
                users: params.list(name)?,
            }));
        }
    }
    Ok(None)
}

pub(super) async fn ban(call: Call<'_>) -> Result<Fields, ApiError> {
    let request = BanGroupRequest {
        app: call.app_ref(),
        group_id: call.params.required("GroupId")?.to_owned(),
        except_users: optional_list(call.params, &["ExceptUsers"])?,
    };
    call.clients
        .moderation
        .clone()
        .ban_group(request)
        .await
        .map_err(failed("BanGroup"))?;
    Ok(Fields::new())
}

pub(super) async fn unban(call: Call<'_>) -> Result<Fields, ApiError> {
    let request = UnbanGroupRequest {
        app: call.app_ref(),
        group_id: call.params.required("GroupId")?.to_owned(),
    };
    call.clients
        .moderation
        .clone()
        .unban_group(request)
        .await
        .map_err(failed("UnbanGroup"))?;
    Ok(Fields::new())
}

pub(super) async fn add_band(call: Call<'_>) -> Result<Fields, ApiError> {
    let request = GroupBandUsersRequest {
        app: call.app_ref(),
        group_id: call.params.required("GroupId")?.to_owned(),
        users: call.params.required_list("BannedUsers")?,
    };
    call.clients
        .moderation
        .clone()
        .add_group_band(request)
        .await
        .map_err(failed("AddGroupBand"))?;
    Ok(Fields::new())
}

pub(super) async fn remove_band(call: Call<'_>) -> Result<Fields, ApiError> {
    let request = GroupBandUsersRequest {
        app: call.app_ref(),
        group_id: call.params.required("GroupId")?.to_owned(),
        users: call.params.required_list("UnbannedUsers")?,
    };
    call.clients
        .moderation
        .clone()
        .remove_group_band(request)
        .await
        .map_err(failed("RemoveGroupBand"))?;
    Ok(Fields::new())
}

pub(super) async fn modify_band(call: Call<'_>) -> Result<Fields, ApiError> {
    let params = call.params;
    // `BannnedUsers` (three n's) is the wire name of the SDK models; `BannedUsers` is taken
    // too, the spelling a hand-written call would use.
    let request = ModifyGroupBandRequest {
        app: call.app_ref(),
        group_id: params.required("GroupId")?.to_owned(),
        banned_all: params.bool_opt("BannedAll")?,
        banned_users: optional_list(params, &["BannnedUsers", "BannedUsers"])?,
        except_users: optional_list(params, &["ExceptUsers"])?,
    };
    call.clients
        .moderation
        .clone()
        .modify_group_band(request)
        .await
        .map_err(failed("ModifyGroupBand"))?;
    Ok(Fields::new())
}

pub(super) async fn describe_band(call: Call<'_>) -> Result<Fields, ApiError> {
    let request = DescribeGroupBandRequest {
        app: call.app_ref(),
        group_id: call.params.required("GroupId")?.to_owned(),
    };
    let state = call
        .clients
        .moderation
        .clone()
        .describe_group_band(request)
        .await
        .map_err(failed("DescribeGroupBand"))?
        .into_inner();
    // `IsbannedAll`: spelled as the API reference and the SDK models spell it.
    Ok(fields(json!({
        "GroupId": state.group_id,
        "IsbannedAll": state.mute_all,
        "BannedUserList": state.muted_users,
        "UnbannedUserList": state.exempt_users,
    })))
}

pub(super) async fn kick(call: Call<'_>) -> Result<Fields, ApiError> {
    let request = KickGroupUserRequest {
        app: call.app_ref(),
        group_id: call.params.required("GroupId")?.to_owned(),
        user_id: call.params.required("KickoffUser")?.to_owned(),
    };
    call.clients
        .moderation
        .clone()
        .kick_group_user(request)
        .await
        .map_err(failed("KickGroupUser"))?;
    Ok(Fields::new())
}
