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
use super::{app_ref, refusal, Answer};
use crate::protocol::{code, Request};
use crate::session::Session;
use crate::Edge;

pub(super) async fn handle(edge: &Arc<Edge>, session: &Arc<Session>, request: Request) -> Answer {
    let app = || app_ref(edge, session);
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
        } => mute(edge, session, &group, Mute::All).await,
        Request::CancelMuteAll {
            group_id: group, ..
        } => mute(edge, session, &group, Mute::CancelAll).await,
        Request::MuteUser {
            group_id: group,
            user_list,
            ..
        } => mute(edge, session, &group, Mute::Users(user_list)).await,
        Request::CancelMuteUser {
            group_id: group,
            user_list,
            ..
        } => mute(edge, session, &group, Mute::CancelUsers(user_list)).await,
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

/// A mute change a manager asks for.
enum Mute {
    All,
    CancelAll,
    Users(Vec<String>),
    CancelUsers(Vec<String>),
}

/// Applies `change` to `group` through the service's moderation, once the session is known to
/// manage the group; answers the group's mute state after it.
async fn mute(edge: &Arc<Edge>, session: &Arc<Session>, group: &str, change: Mute) -> Answer {
    let group_id = group_id(group)?;
    manager(edge, session, &group_id).await?;
    let (app, mut api) = (app_ref(edge, session).await?, edge.service.moderation());
    let state = match change {
        Mute::All => {
            api.ban_group(BanGroupRequest {
                app,
                group_id,
                except_users: None,
            })
            .await
        }
        Mute::CancelAll => api.unban_group(UnbanGroupRequest { app, group_id }).await,
        Mute::Users(users) => {
            api.add_group_band(GroupBandUsersRequest {
                app,
                group_id,
                users,
            })
            .await
        }
        Mute::CancelUsers(users) => {
            api.remove_group_band(GroupBandUsersRequest {
                app,
                group_id,
                users,
            })
            .await
        }
    }
    .map_err(|s| refusal(&s))?
    .into_inner();
    Ok(mute_json(&state))
}
