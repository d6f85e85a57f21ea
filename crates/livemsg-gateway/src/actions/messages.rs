//! The messages family: SendLiveMessageGroup, SendLiveMessageUser,
//! ListLiveMessageGroupMessages, DeleteLiveMessageGroupMessage, DeleteLiveMessageUserMessage.

use livemsg_domain::ApiError;
use livemsg_proto::api::v1::{
    DeleteGroupMessageRequest, DeleteUserMessageRequest, ListGroupMessagesRequest,
    SendGroupMessageRequest, SendUserMessageRequest, StoredMessage,
};
use serde::Serialize;
use serde_json::json;

use super::{failed, fields, Call, Fields};

pub(super) async fn send_group(call: Call<'_>) -> Result<Fields, ApiError> {
    let params = call.params;
    let request = SendGroupMessageRequest {
        app: call.app_ref(),
        group_id: params.required("GroupId")?.to_owned(),
        sender_id: params.required("SenderId")?.to_owned(),
        sender_meta_info: params.optional("SenderMetaInfo").to_owned(),
        body: params.optional("Body").to_owned(),
        msg_type: params.int64_opt("MsgType")?,
        msg_tid: params.optional("MsgTid").to_owned(),
        statics_increase: params.int64_opt("StaticsIncrease")?,
        weight: params.int64_opt("Weight")?,
        no_storage: params.bool_opt("NoStorage")?.unwrap_or(false),
        no_cache: params.bool_opt("NoCache")?.unwrap_or(false),
    };
    let sent = call
        .clients
        .messages
        .clone()
        .send_group_message(request)
        .await
        .map_err(failed("SendGroupMessage"))?
        .into_inner();
    Ok(fields(json!({ "MsgTid": sent.msg_tid })))
}

pub(super) async fn send_user(call: Call<'_>) -> Result<Fields, ApiError> {
    let params = call.params;
    let request = SendUserMessageRequest {
        app: call.app_ref(),
        receiver_id: params.required("ReceiverId")?.to_owned(),
        sender_id: params.required("SenderId")?.to_owned(),
        sender_info: params.optional("SenderInfo").to_owned(),
        body: params.optional("Body").to_owned(),
        msg_type: params.int64_opt("MsgType")?,
        msg_tid: params.optional("MsgTid").to_owned(),
        high_reliability: params.bool_opt("HighReliability")?.unwrap_or(false),
        storage: params.bool_opt("Storage")?.unwrap_or(false),
    };
    let sent = call
        .clients
        .messages
        .clone()
        .send_user_message(request)
        .await
        .map_err(failed("SendUserMessage"))?
        .into_inner();
    Ok(fields(json!({ "MsgTid": sent.msg_tid })))
}

pub(super) async fn list_group_messages(call: Call<'_>) -> Result<Fields, ApiError> {
    let params = call.params;
    let request = ListGroupMessagesRequest {
        app: call.app_ref(),
        group_id: params.required("GroupId")?.to_owned(),
        page_size: params.int64("PageSize", 0)?,
        sort_type: params.int64("SortType", 0)?,
        page_token: params.int64("NextPageToken", 0)?,
        msg_type: params.int64("MsgType", 0)?,
        begin_time: params.int64_opt("BeginTime")?,
        end_time: params.int64_opt("EndTime")?,
    };
    let page = call
        .clients
        .messages
        .clone()
        .list_group_messages(request)
        .await
        .map_err(failed("ListGroupMessages"))?
        .into_inner();
    Ok(Fields::of(&MessagePage {
        group_id: &page.group_id,
        has_more: page.has_more,
        next_page_token: page.next_page_token,
        message_list: page.messages.iter().map(MessageEntry::of).collect(),
    }))
}

/// A page of ListLiveMessageGroupMessages, serialized straight from the service's answer.
/// `Hasmore` as the API reference spells it; `NextPageToken` is 0 when there is no more.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MessagePage<'a> {
    group_id: &'a str,
    #[serde(rename = "Hasmore")]
    has_more: bool,
    next_page_token: i64,
    message_list: Vec<MessageEntry<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MessageEntry<'a> {
    msg_tid: &'a str,
    msg_type: i64,
    body: &'a str,
    sender: Sender<'a>,
    seq_number: i64,
    timestamp: i64,
    total_messages: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Sender<'a> {
    user_id: &'a str,
    user_info: &'a str,
}

impl<'a> MessageEntry<'a> {
    fn of(m: &'a StoredMessage) -> Self {
        MessageEntry {
            msg_tid: &m.msg_tid,
            msg_type: m.msg_type,
            body: &m.body,
            sender: Sender {
                user_id: &m.sender_id,
                user_info: &m.sender_info,
            },
            seq_number: m.seq_number,
            timestamp: m.timestamp,
            total_messages: m.total_messages,
        }
    }
}

pub(super) async fn delete_group_message(call: Call<'_>) -> Result<Fields, ApiError> {
    let params = call.params;
    let request = DeleteGroupMessageRequest {
        app: call.app_ref(),
        group_id: params.required("GroupId")?.to_owned(),
        message_id: params.required("MessageId")?.to_owned(),
        deleter_id: params.optional("DeleterId").to_owned(),
        deleter_info: params.optional("DeleterInfo").to_owned(),
    };
    let deleted = call
        .clients
        .messages
        .clone()
        .delete_group_message(request)
        .await
        .map_err(failed("DeleteGroupMessage"))?
        .into_inner();
    // "The ID of the deleted or non-existent message": the same answer either way.
    Ok(fields(json!({
        "GroupId": deleted.group_id,
        "MessageId": deleted.message_id,
    })))
}

pub(super) async fn delete_user_message(call: Call<'_>) -> Result<Fields, ApiError> {
    let params = call.params;
    let request = DeleteUserMessageRequest {
        app: call.app_ref(),
        receiver_id: params.required("ReceiverId")?.to_owned(),
        message_id: params.required("MessageId")?.to_owned(),
        deleter_id: params.optional("DeleterId").to_owned(),
        deleter_info: params.optional("DeleterInfo").to_owned(),
    };
    call.clients
        .messages
        .clone()
        .delete_user_message(request)
        .await
        .map_err(failed("DeleteUserMessage"))?;
    Ok(Fields::new())
}
