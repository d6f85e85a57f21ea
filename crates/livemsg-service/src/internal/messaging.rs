//! `MessagingService`: what the connection tier's users send, and the message streams it
//! delivers to their sessions (replayed from Postgres, then live from the [`Hub`]).

use std::pin::Pin;
use std::time::Duration;

use livemsg_domain::{AppId, GroupId, UserId};
use livemsg_proto::messaging::v1::messaging_service_server::MessagingService;
use livemsg_proto::messaging::v1::{
    AckUserMessageRequest, AckUserMessageResponse, ClientGroupMessage, ClientSendResult,
    ClientUserMessage, GetGroupMessageHeadRequest, GetGroupMessageHeadResponse,
    ListRecentMessagesRequest, ListRecentMessagesResponse, Message, WatchGroupMessagesRequest,
    WatchUserMessagesRequest,
};
use livemsg_store::Store;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::follow::{follow, Fetch};
use super::tier::TierGuard;
use crate::errors::{reply, ServiceError};
use crate::fanout::StreamKey;
use crate::usecases::messaging::{
    group_message, user_message, wire_group, wire_user, GroupSend, Messaging, UserSend,
};

/// How many messages may wait for a slow watcher before it is told it fell behind.
const BUFFER: usize = 512;
/// The recent messages of a group.
const RECENT: i64 = 50;

type MessageStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<Message, Status>> + Send>>;

/// Serves client sends and message streams.
#[derive(Debug, Clone)]
pub(crate) struct MessagingApi {
    store: Store,
    messaging: Messaging,
    tier: TierGuard,
    stall: Duration,
    stopping: tokio::sync::watch::Receiver<bool>,
}

impl MessagingApi {
    /// Streams end (`UNAVAILABLE`, with where to resume) once `stopping` turns true, so that
    /// watchers move to another instance while this one drains.
    pub(crate) fn new(
        store: Store,
        messaging: Messaging,
        stall: Duration,
        stopping: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        MessagingApi {
            tier: TierGuard::new(store.clone()),
            store,
            messaging,
            stall,
            stopping,
        }
    }

    async fn stream(
        &self,
        key: StreamKey,
        from_seq: i64,
        mut fetch: Fetch,
    ) -> Response<MessageStream> {
        let (tx, rx) = tokio::sync::mpsc::channel(BUFFER);
        // Subscribed before the replay starts: nothing committed after it is missed.
        let subscription = self.messaging.hub().subscribe(key).await;
        // 0 (or less): from the stream's head on, without replay.
        let from_seq = if from_seq <= 0 {
            match fetch(i64::MAX, 1).await {
                Ok((_, head)) => head,
                Err(err) => {
                    let _ = tx.send(Err(ServiceError::from(err).into())).await;
                    return Response::new(Box::pin(ReceiverStream::new(rx)));
                }
            }
        } else {
            from_seq
        };
        tokio::spawn(follow(
            tx,
            subscription,
            from_seq.max(1),
            self.stall,
            fetch,
            self.stopping.clone(),
        ));
        Response::new(Box::pin(ReceiverStream::new(rx)))
    }
}

fn refused(code: i32, reason: impl Into<String>) -> ClientSendResult {
    ClientSendResult {
        refused_code: code,
        reason: reason.into(),
        ..ClientSendResult::default()
    }
}

#[tonic::async_trait]
impl MessagingService for MessagingApi {
    #[tracing::instrument(skip_all)]
    async fn send_group_message(
        &self,
        request: Request<ClientGroupMessage>,
    ) -> Result<Response<ClientSendResult>, Status> {
        let scope = TierGuard::scope(&request);
        let req = request.into_inner();
        reply(
            async {
                let app_id = AppId::parse(&req.app_id)?;
                self.tier.admit(scope?, &app_id).await?;
                let message = match group_message(GroupSend {
                    app_id: &req.app_id,
                    group_id: &req.group_id,
                    sender_id: &req.sender_id,
                    sender_info: ("sender_info", &req.sender_info),
                    body: &req.body,
                    msg_type: Some(req.msg_type),
                    msg_tid: &req.msg_tid,
                    statics_increase: req.repeat_count,
                    // A client's HIGH level is the top priority tier.
                    weight: Some(if req.level == 1 { 1_000_000 } else { 1 }),
                    stored: !req.no_storage,
                    cached: !req.no_cache,
                }) {
                    Ok(message) => message,
                    Err(err) => return Ok(refused(400, err.message)),
                };
                Ok(
                    match self
                        .messaging
                        .send_client_group(message, req.skip_audit)
                        .await?
                    {
                        Ok(sent) => ClientSendResult {
                            msg_tid: sent.message.msg_tid,
                            seq: sent.message.seq,
                            ..ClientSendResult::default()
                        },
                        Err(refusal) => refused(refusal.code, refusal.reason),
                    },
                )
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all)]
    async fn send_user_message(
        &self,
        request: Request<ClientUserMessage>,
    ) -> Result<Response<ClientSendResult>, Status> {
        let scope = TierGuard::scope(&request);
        let req = request.into_inner();
        reply(
            async {
                let app_id = AppId::parse(&req.app_id)?;
                self.tier.admit(scope?, &app_id).await?;
                let message = match user_message(UserSend {
                    app_id: &req.app_id,
                    receiver_id: &req.receiver_id,
                    sender_id: &req.sender_id,
                    sender_info: &req.sender_info,
                    body: &req.body,
                    msg_type: Some(req.msg_type),
                    msg_tid: &req.msg_tid,
                    stored: false,
                }) {
                    Ok(message) => message,
                    Err(err) => return Ok(refused(400, err.message)),
                };
                Ok(match self.messaging.send_user(message, false).await {
                    Ok(sent) => ClientSendResult {
                        msg_tid: sent.message.msg_tid,
                        seq: sent.message.seq,
                        ..ClientSendResult::default()
                    },
                    Err(err) if err.code == livemsg_domain::ErrorCode::ResourceNotExist => {
                        refused(404, err.message)
                    }
                    Err(err) if err.code == livemsg_domain::ErrorCode::NoAuth => {
                        refused(403, err.message)
                    }
                    Err(err) => return Err(err.into()),
                })
            }
            .await,
        )
    }

    type WatchGroupMessagesStream = MessageStream;

    #[tracing::instrument(skip_all)]
    async fn watch_group_messages(
        &self,
        request: Request<WatchGroupMessagesRequest>,
    ) -> Result<Response<MessageStream>, Status> {
        let scope = TierGuard::scope(&request);
        let req = request.into_inner();
        let app_id = AppId::parse(&req.app_id).map_err(ServiceError::from)?;
        let group_id = GroupId::parse(&req.group_id).map_err(ServiceError::from)?;
        self.tier.admit(scope?, &app_id).await?;
        // The group must exist (deleted groups keep their stream).
        self.store
            .group_message_stream(app_id.as_str(), group_id.as_str(), i64::MAX, 1)
            .await
            .map_err(ServiceError::from)?;
        let store = self.store.clone();
        let (app, group) = (app_id.into_string(), group_id.into_string());
        let key = StreamKey::Group {
            app_id: app.clone(),
            group_id: group.clone(),
        };
        let fetch: Fetch = Box::new(move |from, limit| {
            let (store, app, group) = (store.clone(), app.clone(), group.clone());
            Box::pin(async move {
                let (messages, head) = store
                    .group_message_stream(&app, &group, from, limit)
                    .await?;
                Ok((messages.iter().map(wire_group).collect(), head))
            })
        });
        Ok(self.stream(key, req.from_seq, fetch).await)
    }

    type WatchUserMessagesStream = MessageStream;

    #[tracing::instrument(skip_all)]
    async fn watch_user_messages(
        &self,
        request: Request<WatchUserMessagesRequest>,
    ) -> Result<Response<MessageStream>, Status> {
        let scope = TierGuard::scope(&request);
        let req = request.into_inner();
        let app_id = AppId::parse(&req.app_id).map_err(ServiceError::from)?;
        self.tier.admit(scope?, &app_id).await?;
        let store = self.store.clone();
        let app = app_id.into_string();
        let key = StreamKey::User {
            app_id: app.clone(),
        };
        let fetch: Fetch = Box::new(move |from, limit| {
            let (store, app) = (store.clone(), app.clone());
            Box::pin(async move {
                let (messages, head) = store.user_message_stream(&app, from, limit).await?;
                Ok((messages.iter().map(|m| wire_user(m, false)).collect(), head))
            })
        });
        Ok(self.stream(key, req.from_seq, fetch).await)
    }

    #[tracing::instrument(skip_all)]
    async fn ack_user_message(
        &self,
        request: Request<AckUserMessageRequest>,
    ) -> Result<Response<AckUserMessageResponse>, Status> {
        let scope = TierGuard::scope(&request);
        let req = request.into_inner();
        reply(
            async {
                let app_id = AppId::parse(&req.app_id)?;
                self.tier.admit(scope?, &app_id).await?;
                livemsg_domain::MsgTid::parse_field("msg_tid", &req.msg_tid)?;
                if !req.receiver_id.is_empty() {
                    UserId::parse_field("receiver_id", &req.receiver_id)?;
                }
                self.messaging
                    .hub()
                    .acknowledge(app_id.as_str(), &req.msg_tid)
                    .await;
                Ok(AckUserMessageResponse {})
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all)]
    async fn list_recent_messages(
        &self,
        request: Request<ListRecentMessagesRequest>,
    ) -> Result<Response<ListRecentMessagesResponse>, Status> {
        let scope = TierGuard::scope(&request);
        let req = request.into_inner();
        reply(
            async {
                let app_id = AppId::parse(&req.app_id)?;
                let group_id = GroupId::parse(&req.group_id)?;
                self.tier.admit(scope?, &app_id).await?;
                let messages = self
                    .store
                    .recent_group_messages(app_id.as_str(), group_id.as_str(), RECENT)
                    .await?;
                Ok(ListRecentMessagesResponse {
                    messages: messages.iter().map(wire_group).collect(),
                })
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all)]
    async fn get_group_message_head(
        &self,
        request: Request<GetGroupMessageHeadRequest>,
    ) -> Result<Response<GetGroupMessageHeadResponse>, Status> {
        let scope = TierGuard::scope(&request);
        let req = request.into_inner();
        reply(
            async {
                let app_id = AppId::parse(&req.app_id)?;
                let group_id = GroupId::parse(&req.group_id)?;
                self.tier.admit(scope?, &app_id).await?;
                let (_, next_seq) = self
                    .store
                    .group_message_stream(app_id.as_str(), group_id.as_str(), i64::MAX, 1)
                    .await?;
                Ok(GetGroupMessageHeadResponse { next_seq })
            }
            .await,
        )
    }
}
