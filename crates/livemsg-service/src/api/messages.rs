//! `MessageService`: server sends to groups and users, group history, recalls.

use chrono::{DateTime, Utc};
use livemsg_domain::{ApiError, GroupId, MsgTid, PageSize, SortType, UserId, UserInfo};
use livemsg_proto::api::v1::message_service_server::MessageService;
use livemsg_proto::api::v1::{
    DeleteGroupMessageRequest, DeleteGroupMessageResponse, DeleteUserMessageRequest,
    DeleteUserMessageResponse, ListGroupMessagesRequest, ListGroupMessagesResponse,
    SendGroupMessageRequest, SendGroupMessageResponse, SendUserMessageRequest,
    SendUserMessageResponse, StoredMessage,
};
use livemsg_store::messages::HistoryQuery;
use tonic::{Request, Response, Status};

use super::Api;
use crate::errors::reply;
use crate::usecases::messaging::{group_message, user_message, GroupSend, UserSend};

/// Reads an optional Unix time in seconds, naming `field`.
fn time(field: &str, seconds: Option<i64>) -> Result<Option<DateTime<Utc>>, ApiError> {
    seconds
        .map(|s| {
            if s < 0 {
                return Err(ApiError::invalid(field, "must not be negative"));
            }
            DateTime::from_timestamp(s, 0)
                .ok_or_else(|| ApiError::invalid(field, "is out of range"))
        })
        .transpose()
}

#[tonic::async_trait]
impl MessageService for Api {
    #[tracing::instrument(skip_all, fields(app.id))]
    async fn send_group_message(
        &self,
        request: Request<SendGroupMessageRequest>,
    ) -> Result<Response<SendGroupMessageResponse>, Status> {
        let req = request.into_inner();
        reply(
            async {
                let scope = self.scope(req.app.as_ref())?;
                let mut message = group_message(GroupSend {
                    app_id: scope.app.as_str(),
                    group_id: &req.group_id,
                    sender_id: &req.sender_id,
                    sender_info: ("SenderMetaInfo", &req.sender_meta_info),
                    body: &req.body,
                    msg_type: req.msg_type,
                    msg_tid: &req.msg_tid,
                    statics_increase: req.statics_increase,
                    weight: req.weight,
                    stored: !req.no_storage,
                    cached: !req.no_cache,
                })?;
                // The app must be the caller's, in the data center named: checked in the batch.
                message.scope = Some((scope.account.get(), scope.data_center.as_str().to_owned()));
                let sent = match self.messaging.send_server_group(message).await {
                    Err(err)
                        if err.code == livemsg_domain::ErrorCode::ResourceNotExist
                            && err.message.starts_with("The specified group") =>
                    {
                        // Which of the app and the group is missing, said as everywhere else.
                        self.store.find_app(&scope).await?;
                        return Err(err.into());
                    }
                    result => result?,
                };
                Ok(SendGroupMessageResponse {
                    msg_tid: sent.message.msg_tid,
                    seq: sent.message.seq,
                })
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all, fields(app.id))]
    async fn send_user_message(
        &self,
        request: Request<SendUserMessageRequest>,
    ) -> Result<Response<SendUserMessageResponse>, Status> {
        let req = request.into_inner();
        reply(
            async {
                let scope = self.scope(req.app.as_ref())?;
                self.store.find_app(&scope).await?;
                let message = user_message(UserSend {
                    app_id: scope.app.as_str(),
                    receiver_id: &req.receiver_id,
                    sender_id: &req.sender_id,
                    sender_info: &req.sender_info,
                    body: &req.body,
                    msg_type: req.msg_type,
                    msg_tid: &req.msg_tid,
                    stored: req.storage,
                })?;
                let sent = self
                    .messaging
                    .send_user(message, req.high_reliability)
                    .await?;
                Ok(SendUserMessageResponse {
                    msg_tid: sent.message.msg_tid,
                })
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all, fields(app.id))]
    async fn list_group_messages(
        &self,
        request: Request<ListGroupMessagesRequest>,
    ) -> Result<Response<ListGroupMessagesResponse>, Status> {
        let req = request.into_inner();
        reply(
            async {
                let scope = self.scope(req.app.as_ref())?;
                let group_id = GroupId::parse(&req.group_id)?;
                let size = PageSize::new(req.page_size)?;
                let sort = SortType::new(req.sort_type)?;
                if req.page_token < 0 {
                    return Err(ApiError::invalid("NextPageToken", "must not be negative").into());
                }
                if req.msg_type < 0 {
                    return Err(ApiError::invalid("MsgType", "must not be negative").into());
                }
                let begin = time("BeginTime", req.begin_time)?;
                let end = time("EndTime", req.end_time)?;
                if let (Some(begin), Some(end)) = (begin, end) {
                    if begin > end {
                        return Err(
                            ApiError::invalid("BeginTime", "must not be after EndTime").into()
                        );
                    }
                }
                let query = HistoryQuery {
                    ascending: sort == SortType::Ascending,
                    from_seq: (req.page_token > 0).then_some(req.page_token),
                    size: i64::from(size.get()),
                    msg_type: (req.msg_type > 0).then_some(req.msg_type),
                    begin,
                    end,
                };
                let (messages, next) = self
                    .store
                    .list_group_messages(&scope, &group_id, &query)
                    .await?;
                Ok(ListGroupMessagesResponse {
                    group_id: group_id.into_string(),
                    has_more: next.is_some(),
                    next_page_token: next.unwrap_or(0),
                    messages: messages
                        .into_iter()
                        .map(|m| StoredMessage {
                            msg_tid: m.msg_tid,
                            msg_type: m.msg_type,
                            body: m.body,
                            sender_id: m.sender_id,
                            sender_info: m.sender_info,
                            seq_number: m.seq,
                            timestamp: m.sent_at.timestamp(),
                            total_messages: m.total_messages,
                        })
                        .collect(),
                })
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all, fields(app.id))]
    async fn delete_group_message(
        &self,
        request: Request<DeleteGroupMessageRequest>,
    ) -> Result<Response<DeleteGroupMessageResponse>, Status> {
        let req = request.into_inner();
        reply(
            async {
                let scope = self.scope(req.app.as_ref())?;
                let group_id = GroupId::parse(&req.group_id)?;
                let message_id = MsgTid::parse_field("MessageId", &req.message_id)?;
                let deleter = match req.deleter_id.as_str() {
                    "" => String::new(),
                    id => UserId::parse_field("DeleterId", id)?.into_string(),
                };
                let info = UserInfo::parse_field("DeleterInfo", &req.deleter_info)?;
                let entry = self
                    .store
                    .recall_group_message(
                        &scope,
                        &group_id,
                        message_id.as_str(),
                        &deleter,
                        info.as_str(),
                    )
                    .await?;
                if let Some(entry) = &entry {
                    self.messaging.publish_group_entry(entry).await;
                }
                Ok(DeleteGroupMessageResponse {
                    group_id: group_id.into_string(),
                    message_id: message_id.into_string(),
                    recalled: entry.is_some(),
                })
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all, fields(app.id))]
    async fn delete_user_message(
        &self,
        request: Request<DeleteUserMessageRequest>,
    ) -> Result<Response<DeleteUserMessageResponse>, Status> {
        let req = request.into_inner();
        reply(
            async {
                let scope = self.scope(req.app.as_ref())?;
                self.store.find_app(&scope).await?;
                let receiver = UserId::parse_field("ReceiverId", &req.receiver_id)?;
                let message_id = MsgTid::parse_field("MessageId", &req.message_id)?;
                // Required in practice, as the reference says: InputInvalid, not Missing.
                if req.deleter_id.is_empty() {
                    return Err(ApiError::invalid("DeleterId", "is mandatory").into());
                }
                let deleter = UserId::parse_field("DeleterId", &req.deleter_id)?;
                let info = UserInfo::parse_field("DeleterInfo", &req.deleter_info)?;
                let entry = self
                    .store
                    .recall_user_message(
                        scope.app.as_str(),
                        receiver.as_str(),
                        message_id.as_str(),
                        deleter.as_str(),
                        info.as_str(),
                    )
                    .await?;
                if let Some(entry) = &entry {
                    self.messaging.published_recall_user(entry).await;
                }
                Ok(DeleteUserMessageResponse {
                    recalled: entry.is_some(),
                })
            }
            .await,
        )
    }
}
