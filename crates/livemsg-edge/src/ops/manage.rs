//! What the admin role, or a group's creator and administrators, may do: recall messages,
//! create, close and modify groups, mute, list members and kick.

use std::sync::Arc;

use livemsg_proto::api::v1::{
    BanGroupRequest, CreateGroupRequest, DeleteGroupMessageRequest, DeleteGroupRequest,
    GroupBandUsersRequest, KickGroupUserRequest, ListGroupUsersRequest, ModifyGroupRequest,
    UnbanGroupRequest,
};
use serde_json::{json, Value};

use super::groups::{band, group_id, manager, mute_json};
use super::{refusal, Answer};
use crate::protocol::{code, Request};
use crate::session::Session;
use crate::Edge;

pub(super) async fn handle(edge: &Arc<Edge>, session: &Arc<Session>, request: Request) -> Answer {
    let app = || async {
        edge.service
            .app(&session.app_id)
            .await
            .map(|a| Some(a.app_ref.clone()))
            .map_err(|s| refusal(&s))
    };
    match request {
        Request::DeleteMessage {
            group_id: group,
            message_id,
            ..
        } => {
            let group = group_id(&group)?;
            manager(edge, session, &group).await?;
            edge.service
                .messages()
                .delete_group_message(DeleteGroupMessageRequest {
                    app: app().await?,
                    group_id: group,
                    message_id,
                    deleter_id: session.user_id.clone(),
                    deleter_info: String::new(),
                })
                .await
                .map_err(|s| refusal(&s))?;
            Ok(json!({}))
        }
        Request::CreateGroup {
            group_id: group,
            group_name,
            group_meta,
            ..
        } => {
            if session.role != "admin" {
                return Err((
                    code::FORBIDDEN,
                    "creating groups takes the admin role".to_owned(),
                ));
            }
            let created = edge
                .service
                .groups()
                .create_group(CreateGroupRequest {
                    app: app().await?,
                    group_id: group,
                    group_name,
                    group_info: group_meta,
                    creator_id: session.user_id.clone(),
                    administrators: Vec::new(),
                })
                .await
                .map_err(|s| refusal(&s))?
                .into_inner();
            Ok(json!({ "groupId": created.group_id, "alreadyExist": created.already_exists }))
        }
        Request::CloseGroup {
            group_id: group, ..
        } => {
            let group = group_id(&group)?;
            manager(edge, session, &group).await?;
            edge.service
                .groups()
                .delete_group(DeleteGroupRequest {
                    app: app().await?,
                    group_id: group,
                    operator_id: session.user_id.clone(),
                })
                .await
                .map_err(|s| refusal(&s))?;
            Ok(json!({}))
        }
        Request::ModifyGroup {
            group_id: group,
            group_meta,
            admins,
            ..
        } => {
            let group = group_id(&group)?;
            manager(edge, session, &group).await?;
            edge.service
                .groups()
                .modify_group(ModifyGroupRequest {
                    app: app().await?,
                    group_id: group,
                    group_info: group_meta,
                    modify_admins: admins.is_some(),
                    admin_list: admins.unwrap_or_default(),
                })
                .await
                .map_err(|s| refusal(&s))?;
            Ok(json!({}))
        }
        Request::MuteAll {
            group_id: group, ..
        } => {
            let group = group_id(&group)?;
            manager(edge, session, &group).await?;
            let state = edge
                .service
                .moderation()
                .ban_group(BanGroupRequest {
                    app: app().await?,
                    group_id: group,
                    except_users: None,
                })
                .await
                .map_err(|s| refusal(&s))?
                .into_inner();
            Ok(mute_json(&state))
        }
        Request::CancelMuteAll {
            group_id: group, ..
        } => {
            let group = group_id(&group)?;
            manager(edge, session, &group).await?;
            let state = edge
                .service
                .moderation()
                .unban_group(UnbanGroupRequest {
                    app: app().await?,
                    group_id: group,
                })
                .await
                .map_err(|s| refusal(&s))?
                .into_inner();
            Ok(mute_json(&state))
        }
        Request::MuteUser {
            group_id: group,
            user_list,
            ..
        } => {
            let group = group_id(&group)?;
            manager(edge, session, &group).await?;
            let state = edge
                .service
                .moderation()
                .add_group_band(GroupBandUsersRequest {
                    app: app().await?,
                    group_id: group,
                    users: user_list,
                })
                .await
                .map_err(|s| refusal(&s))?
                .into_inner();
            Ok(mute_json(&state))
        }
        Request::CancelMuteUser {
            group_id: group,
            user_list,
            ..
        } => {
            let group = group_id(&group)?;
            manager(edge, session, &group).await?;
            let state = edge
                .service
                .moderation()
                .remove_group_band(GroupBandUsersRequest {
                    app: app().await?,
                    group_id: group,
                    users: user_list,
                })
                .await
                .map_err(|s| refusal(&s))?
                .into_inner();
            Ok(mute_json(&state))
        }
        Request::ListMuteUsers {
            group_id: group, ..
        } => {
            let group = group_id(&group)?;
            manager(edge, session, &group).await?;
            Ok(mute_json(&band(edge, session, &group).await?))
        }
        Request::ListGroupUser {
            group_id: group,
            sort_type,
            next_page_token,
            page_size,
            ..
        } => {
            let group = group_id(&group)?;
            manager(edge, session, &group).await?;
            let page = edge
                .service
                .members()
                .list_group_users(ListGroupUsersRequest {
                    app: app().await?,
                    group_id: group.clone(),
                    page_size: if page_size == 0 { 50 } else { page_size },
                    sort_type: if sort_type == 0 { 1 } else { sort_type },
                    page_token: next_page_token,
                })
                .await
                .map_err(|s| refusal(&s))?
                .into_inner();
            let users: Vec<Value> = page
                .users
                .iter()
                .map(|u| json!({ "userId": u.user_id, "userExtension": u.user_info }))
                .collect();
            Ok(json!({ "groupId": group, "hasMore": page.has_more,
                       "nextPageToken": page.next_page_token, "userList": users }))
        }
        Request::KickUser {
            group_id: group,
            user_id,
            ..
        } => {
            let group = group_id(&group)?;
            manager(edge, session, &group).await?;
            edge.service
                .moderation()
                .kick_group_user(KickGroupUserRequest {
                    app: app().await?,
                    group_id: group,
                    user_id,
                })
                .await
                .map_err(|s| refusal(&s))?;
            Ok(json!({}))
        }
        _ => Err((code::STATE, "not here".to_owned())),
    }
}
