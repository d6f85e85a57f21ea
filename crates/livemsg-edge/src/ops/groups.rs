//! What a logged-in user does: join, leave and query groups; speak in them and to one another;
//! read recent and older messages. (Managing groups, mutes and members: [`super::manage`].)

use std::sync::Arc;

use livemsg_domain::GroupId;
use livemsg_proto::api::v1::{
    DescribeGroupBandRequest, DescribeGroupRequest, DescribeGroupResponse,
    ListGroupMessagesRequest, MuteStateResponse,
};
use livemsg_proto::membership::v1::JoinGroupRequest;
use livemsg_proto::messaging::v1::{
    ClientGroupMessage, ClientUserMessage, ListRecentMessagesRequest,
};
use serde_json::{json, Value};

use super::{app_ref, invalid, refusal, Answer, Refusal};
use crate::protocol::{code, Request};
use crate::session::Session;
use crate::{rooms, Edge};

/// The most rooms one session may be in.
const MAX_ROOMS: usize = 100;

/// How long a join waits for a new room to follow the group's events (the service opening the
/// stream) before it goes ahead anyway.
const FOLLOW_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

pub(super) fn mute_json(state: &MuteStateResponse) -> Value {
    json!({ "groupId": state.group_id, "muteAll": state.mute_all,
            "muteUserList": state.muted_users, "whiteUserList": state.exempt_users })
}

/// The group as a client sees it (`ImGroupInfo`).
fn group_json(group: &DescribeGroupResponse, mute: &MuteStateResponse, last_seq: i64) -> Value {
    json!({
        "groupId": group.group_id,
        "groupName": group.group_name,
        "groupMeta": group.group_info,
        "createTime": group.create_time,
        "creator": group.creator_id,
        "admins": group.admin_list,
        "statistics": { "pv": group.total_joins, "onlineCount": group.member_count,
                        "msgAmount": group.msg_amount },
        "muteStatus": mute_json(mute),
        "lastSeq": last_seq,
    })
}

async fn describe(
    edge: &Edge,
    session: &Session,
    group: &str,
) -> Result<DescribeGroupResponse, Refusal> {
    let app = app_ref(edge, session).await?;
    let group = edge
        .service
        .groups()
        .describe_group(DescribeGroupRequest {
            app,
            group_id: group.to_owned(),
        })
        .await
        .map_err(|s| refusal(&s))?
        .into_inner();
    if group.deleted {
        return Err((code::GROUP_DELETED, "the group is deleted".to_owned()));
    }
    Ok(group)
}

pub(super) async fn band(
    edge: &Edge,
    session: &Session,
    group: &str,
) -> Result<MuteStateResponse, Refusal> {
    let app = app_ref(edge, session).await?;
    Ok(edge
        .service
        .moderation()
        .describe_group_band(DescribeGroupBandRequest {
            app,
            group_id: group.to_owned(),
        })
        .await
        .map_err(|s| refusal(&s))?
        .into_inner())
}

/// Refuses unless the user has the admin role or is the group's creator or an administrator.
pub(super) async fn manager(edge: &Edge, session: &Session, group: &str) -> Result<(), Refusal> {
    if session.role == "admin" {
        return Ok(());
    }
    let described = describe(edge, session, group).await?;
    if described.creator_id == session.user_id || described.admin_list.contains(&session.user_id) {
        return Ok(());
    }
    Err((
        code::FORBIDDEN,
        "only the group's creator and administrators may do this".to_owned(),
    ))
}

pub(super) fn group_id(group: &str) -> Result<String, Refusal> {
    Ok(GroupId::parse(group).map_err(invalid)?.into_string())
}

pub(super) async fn handle(edge: &Arc<Edge>, session: &Arc<Session>, request: Request) -> Answer {
    let app = || app_ref(edge, session);
    match request {
        Request::JoinGroup {
            group_id: group, ..
        } => {
            let group = group_id(&group)?;
            if !session.in_room(&group) && session.rooms().len() >= MAX_ROOMS {
                return Err((
                    code::LIMIT,
                    format!("a session may be in at most {MAX_ROOMS} groups"),
                ));
            }
            let described = describe(edge, session, &group).await?;
            // In the room, and the room following the group's events, before the join commits:
            // the viewer sees every member change from its own on, even one committed in the
            // same batch as its join.
            let was_in = session.in_room(&group);
            let room = edge.room(&session.app_id, &group);
            let last_seq = room.add(session.clone());
            let _ = tokio::time::timeout(FOLLOW_WAIT, room.following()).await;
            let joined = edge
                .service
                .membership()
                .join_group(JoinGroupRequest {
                    app_id: session.app_id.clone(),
                    group_id: group.clone(),
                    user_id: session.user_id.clone(),
                    user_info: session.user_extension.clone(),
                })
                .await;
            let joined = match joined {
                Ok(joined) => joined.into_inner(),
                Err(status) => {
                    if !was_in {
                        edge.drop_from_room(session, &room, false);
                    }
                    return Err(refusal(&status));
                }
            };
            session.join(&group);
            let mute = band(edge, session, &group).await?;
            let mut info = group_json(&described, &mute, last_seq);
            // The count as the join left it, the joiner included.
            info["statistics"]["onlineCount"] = json!(joined.member_count);
            Ok(info)
        }
        Request::LeaveGroup {
            group_id: group, ..
        } => {
            let group = group_id(&group)?;
            let Some(room) = edge
                .existing_room(&session.app_id, &group)
                .filter(|_| session.in_room(&group))
            else {
                return Err((code::NOT_JOINED, "not in this group".to_owned()));
            };
            edge.drop_from_room(session, &room, true);
            Ok(json!({}))
        }
        Request::QueryGroup {
            group_id: group, ..
        } => {
            let group = group_id(&group)?;
            let described = describe(edge, session, &group).await?;
            let mute = band(edge, session, &group).await?;
            let last_seq = edge
                .existing_room(&session.app_id, &group)
                .map_or(0, |r| r.last_seq());
            Ok(group_json(&described, &mute, last_seq))
        }
        Request::SendGroupMessage {
            group_id: group,
            msg_type,
            data,
            level,
            no_storage,
            no_cache,
            repeat_count,
            skip_audit,
            ..
        } => {
            let group = group_id(&group)?;
            if !session.in_room(&group) {
                return Err((
                    code::NOT_JOINED,
                    "join the group before speaking in it".to_owned(),
                ));
            }
            if !session.may_send(edge.settings.send_per_second, edge.settings.send_burst) {
                return Err((code::TOO_FAST, "sending too fast".to_owned()));
            }
            let sent = edge
                .service
                .messaging()
                .send_group_message(ClientGroupMessage {
                    app_id: session.app_id.clone(),
                    group_id: group,
                    sender_id: session.user_id.clone(),
                    sender_info: session.user_extension.clone(),
                    msg_type,
                    body: data,
                    msg_tid: String::new(),
                    level,
                    no_storage,
                    no_cache,
                    repeat_count,
                    skip_audit,
                })
                .await
                .map_err(|s| refusal(&s))?
                .into_inner();
            if sent.refused_code != 0 {
                return Err((sent.refused_code as u16, sent.reason));
            }
            Ok(json!({ "messageId": sent.msg_tid, "seqnum": sent.seq }))
        }
        Request::SendC2cMessage {
            receiver_id,
            msg_type,
            data,
            skip_audit,
            ..
        } => {
            if !session.may_send(edge.settings.send_per_second, edge.settings.send_burst) {
                return Err((code::TOO_FAST, "sending too fast".to_owned()));
            }
            let sent = edge
                .service
                .messaging()
                .send_user_message(ClientUserMessage {
                    app_id: session.app_id.clone(),
                    receiver_id,
                    sender_id: session.user_id.clone(),
                    sender_info: session.user_extension.clone(),
                    msg_type,
                    body: data,
                    msg_tid: String::new(),
                    skip_audit,
                })
                .await
                .map_err(|s| refusal(&s))?
                .into_inner();
            if sent.refused_code != 0 {
                return Err((sent.refused_code as u16, sent.reason));
            }
            Ok(json!({ "messageId": sent.msg_tid }))
        }
        Request::ListRecentMessage {
            group_id: group, ..
        } => {
            let group = group_id(&group)?;
            if !session.in_room(&group) {
                return Err((code::NOT_JOINED, "join the group first".to_owned()));
            }
            let recent = edge
                .service
                .messaging()
                .list_recent_messages(ListRecentMessagesRequest {
                    app_id: session.app_id.clone(),
                    group_id: group.clone(),
                })
                .await
                .map_err(|s| refusal(&s))?
                .into_inner();
            let messages: Vec<Value> = recent.messages.iter().map(rooms::message_json).collect();
            Ok(json!({ "groupId": group, "messageList": messages }))
        }
        Request::ListHistoryMessage {
            group_id: group,
            sort_type,
            next_page_token,
            page_size,
            msg_type,
            ..
        } => {
            let group = group_id(&group)?;
            let page_size = if page_size == 0 { 10 } else { page_size };
            if !(10..=30).contains(&page_size) {
                return Err((code::INVALID, "pageSize must be 10 to 30".to_owned()));
            }
            let page = edge
                .service
                .messages()
                .list_group_messages(ListGroupMessagesRequest {
                    app: app().await?,
                    group_id: group.clone(),
                    page_size,
                    sort_type: if sort_type == 0 { 1 } else { sort_type },
                    page_token: next_page_token,
                    msg_type,
                    begin_time: None,
                    end_time: None,
                })
                .await
                .map_err(|s| refusal(&s))?
                .into_inner();
            let messages: Vec<Value> = page
                .messages
                .iter()
                .map(|m| {
                    json!({ "groupId": group, "messageId": m.msg_tid, "type": m.msg_type,
                            "data": m.body, "sender": { "userId": m.sender_id, "userExtension": m.sender_info },
                            "seqnum": m.seq_number, "timestamp": m.timestamp * 1000,
                            "totalMsgs": m.total_messages })
                })
                .collect();
            Ok(json!({ "groupId": group, "hasMore": page.has_more,
                       "nextPageToken": page.next_page_token, "messageList": messages }))
        }
        Request::Login { .. }
        | Request::Resume { .. }
        | Request::Ping { .. }
        | Request::Logout { .. } => Err((code::STATE, "not here".to_owned())),
        other => super::manage::handle(edge, session, other).await,
    }
}
