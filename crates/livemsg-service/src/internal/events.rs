//! `EventService`: membership events from the outbox, replayed and then followed. (The work that
//! fills and prunes the outbox runs in [`crate::workers::outbox`].)

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use livemsg_domain::events::EventKind;
use livemsg_domain::{AppId, GroupId};
use livemsg_proto::events::v1::event_service_server::EventService;
use livemsg_proto::events::v1::{
    EventKind as WireKind, GroupEvent, WatchAppEventsRequest, WatchGroupEventsRequest,
};
use livemsg_store::{Store, StoreError};
use tokio::sync::mpsc::error::SendTimeoutError;
use tokio::sync::mpsc::Sender;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::tier::TierGuard;
use crate::errors::ServiceError;

/// How many events one outbox read fetches.
const BATCH: i64 = 500;
/// How many events may wait for a slow watcher before reading pauses (the outbox, not memory,
/// holds the rest).
const BUFFER: usize = 256;
/// The metadata that tells a watcher where to resume after a stream ended with an error.
pub const RESUME_FROM_METADATA: &str = "x-livemsg-resume-from";

/// Serves event streams.
#[derive(Debug, Clone)]
pub(crate) struct EventApi {
    store: Store,
    poll: Duration,
    stall: Duration,
    tier: TierGuard,
    stopping: tokio::sync::watch::Receiver<bool>,
}

impl EventApi {
    /// A service over `store`, looking for new events every `poll`; a watcher that reads
    /// nothing for `stall` while events wait is told it fell behind.
    /// Streams end (`UNAVAILABLE`, with where to resume) once `stopping` turns true.
    pub(crate) fn new(
        store: Store,
        poll: Duration,
        stall: Duration,
        stopping: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        EventApi {
            tier: TierGuard::new(store.clone()),
            store,
            poll,
            stall,
            stopping,
        }
    }

    /// A stream that [`follow`]s `fetch` from `from_seq` (1 at the least).
    fn stream<F, Fut>(&self, from_seq: i64, fetch: F) -> Response<EventStream>
    where
        F: FnMut(i64) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<(i64, GroupEvent)>, StoreError>> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::mpsc::channel(BUFFER);
        let stopping = self.stopping.clone();
        tokio::spawn(follow(
            tx,
            from_seq.max(1),
            self.store.events_written(),
            self.poll,
            self.stall,
            fetch,
            stopping,
        ));
        Response::new(Box::pin(ReceiverStream::new(rx)))
    }
}

fn wire_kind(kind: EventKind) -> WireKind {
    match kind {
        EventKind::UserEntered => WireKind::UserEntered,
        EventKind::UserLeft => WireKind::UserLeft,
        EventKind::BecameSuper => WireKind::BecameSuper,
        EventKind::Closed => WireKind::Closed,
        EventKind::Reopened => WireKind::Reopened,
        EventKind::MemberCount => WireKind::MemberCount,
        EventKind::Logon => WireKind::Logon,
        EventKind::Logoff => WireKind::Logoff,
        EventKind::GroupDeleted => WireKind::GroupDeleted,
        EventKind::GroupRecovered => WireKind::GroupRecovered,
        EventKind::GroupInfoChanged => WireKind::GroupInfoChanged,
        EventKind::UserInfoChanged => WireKind::UserInfoChanged,
        EventKind::AppDisabled => WireKind::AppDisabled,
        EventKind::AppEnabled => WireKind::AppEnabled,
        EventKind::Kicked => WireKind::Kicked,
    }
}

/// The group info and administrators a `GroupInfoChanged` event carries (stored as JSON).
fn group_info_of(payload: Option<&str>) -> (String, Vec<String>) {
    #[derive(serde::Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct Payload {
        group_info: String,
        admin_list: Vec<String>,
    }
    let payload: Payload = payload
        .and_then(|p| match serde_json::from_str(p) {
            Ok(payload) => Some(payload),
            Err(err) => {
                tracing::error!(error = %err, "an event's payload is not what the store writes");
                None
            }
        })
        .unwrap_or_default();
    (payload.group_info, payload.admin_list)
}

/// A stream-ending status with its livemsg code and the sequence number to resume from.
fn end_of_stream(
    code: tonic::Code,
    livemsg_code: &'static str,
    message: String,
    resume: i64,
) -> Status {
    let mut status = Status::new(code, message);
    status.metadata_mut().insert(
        livemsg_proto::ERROR_CODE_METADATA,
        tonic::metadata::MetadataValue::from_static(livemsg_code),
    );
    status
        .metadata_mut()
        .insert(RESUME_FROM_METADATA, resume.into());
    status
}

/// Counts the open watchers (`livemsg_event_watchers`) while it lives.
struct WatcherGauge;

impl WatcherGauge {
    fn open() -> Self {
        metrics::gauge!("livemsg_event_watchers").increment(1.0);
        WatcherGauge
    }
}

impl Drop for WatcherGauge {
    fn drop(&mut self) {
        metrics::gauge!("livemsg_event_watchers").decrement(1.0);
    }
}

/// Follows one stream: reads events from `next` on with `fetch` (each with its sequence number
/// in that stream), sends them in order, and once caught up looks again when `written` says
/// events were written (here or, relayed, in another instance; no sooner than the spacing under
/// load after its last look), or after `poll`. Ends the
/// stream with `EventsExpired` when the events it needs were pruned, and with
/// `WatcherFellBehind` when the watcher leaves its buffer full for `stall`.
async fn follow<F, Fut>(
    tx: Sender<Result<GroupEvent, Status>>,
    mut next: i64,
    mut written: tokio::sync::watch::Receiver<u64>,
    poll: Duration,
    stall: Duration,
    mut fetch: F,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) where
    F: FnMut(i64) -> Fut,
    Fut: Future<Output = Result<Vec<(i64, GroupEvent)>, StoreError>>,
{
    let _gauge = WatcherGauge::open();
    let spacing = poll.min(crate::workers::wake::SPACING_UNDER_LOAD);
    loop {
        written.borrow_and_update();
        let looked = tokio::time::Instant::now();
        let batch = match fetch(next).await {
            Ok(batch) => batch,
            Err(err) => {
                let _ = tx.send(Err(ServiceError::from(err).into())).await;
                return;
            }
        };
        let Some(&(first, _)) = batch.first() else {
            tokio::select! {
                () = crate::workers::wake::until_written(&mut written, looked, spacing, poll) => continue,
                () = tx.closed() => return,
                () = async {
                    let _ = stopping.wait_for(|s| *s).await;
                } => {
                    let status = end_of_stream(
                        tonic::Code::Unavailable,
                        "ShuttingDown",
                        format!("this instance is shutting down; resume from {next} on another"),
                        next,
                    );
                    let _ = tx.send(Err(status)).await;
                    return;
                }
            }
        };
        if first > next {
            // Sequences have no gaps: what is missing was deleted by retention.
            metrics::counter!("livemsg_event_watchers_ended_total", "reason" => "expired")
                .increment(1);
            let message = format!(
                "events {next} to {} are no longer kept; read the count, then resume from {first}",
                first - 1
            );
            let _ = tx
                .send(Err(end_of_stream(
                    tonic::Code::OutOfRange,
                    "EventsExpired",
                    message,
                    first,
                )))
                .await;
            return;
        }
        for (seq, event) in batch {
            match tx.send_timeout(Ok(event), stall).await {
                Ok(()) => next = seq + 1,
                Err(SendTimeoutError::Timeout(_)) => {
                    metrics::counter!("livemsg_event_watchers_ended_total", "reason" => "fell_behind")
                        .increment(1);
                    let message = format!(
                        "the watcher read nothing for {} ms while events waited; resume from {next}",
                        stall.as_millis()
                    );
                    // Queued behind what the buffer holds, so the watcher gets every event
                    // before `next` first.
                    let status = end_of_stream(
                        tonic::Code::ResourceExhausted,
                        "WatcherFellBehind",
                        message,
                        next,
                    );
                    let _ = tx.send(Err(status)).await;
                    return;
                }
                Err(SendTimeoutError::Closed(_)) => return,
            }
        }
    }
}

type EventStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<GroupEvent, Status>> + Send>>;

#[tonic::async_trait]
impl EventService for EventApi {
    type WatchGroupEventsStream = EventStream;
    type WatchAppEventsStream = EventStream;

    #[tracing::instrument(skip_all)]
    async fn watch_group_events(
        &self,
        request: Request<WatchGroupEventsRequest>,
    ) -> Result<Response<Self::WatchGroupEventsStream>, Status> {
        let scope = TierGuard::scope(&request)?;
        let req = request.into_inner();
        let app_id = AppId::parse(&req.app_id).map_err(ServiceError::from)?;
        let group_id = GroupId::parse(&req.group_id).map_err(ServiceError::from)?;
        self.tier.admit(scope, &app_id).await?;
        // 0 (or less): from now on, without replay.
        let from_seq = if req.from_seq <= 0 {
            self.store
                .group_event_head(&app_id, &group_id)
                .await
                .map_err(ServiceError::from)?
        } else {
            req.from_seq
        };
        // Refuse an unknown group at once, with its error, rather than an endless empty stream.
        self.store
            .group_count(&app_id, &group_id)
            .await
            .map_err(ServiceError::from)?;
        let store = self.store.clone();
        let fetch = move |next: i64| {
            let (store, app_id, group_id) = (store.clone(), app_id.clone(), group_id.clone());
            async move {
                let events = store.group_events(&app_id, &group_id, next, BATCH).await?;
                Ok(events
                    .into_iter()
                    .map(|event| {
                        let (group_info, admin_list) = group_info_of(event.payload.as_deref());
                        let message = GroupEvent {
                            app_id: app_id.to_string(),
                            group_id: group_id.to_string(),
                            seq: event.seq,
                            kind: wire_kind(event.kind).into(),
                            user_id: event.user_id.unwrap_or_default(),
                            user_info: event.user_info.unwrap_or_default(),
                            member_count: event.member_count,
                            timestamp_ms: event.created_at.timestamp_millis(),
                            group_info,
                            admin_list,
                            ..GroupEvent::default()
                        };
                        (event.seq, message)
                    })
                    .collect())
            }
        };
        Ok(self.stream(from_seq, fetch))
    }

    #[tracing::instrument(skip_all)]
    async fn watch_app_events(
        &self,
        request: Request<WatchAppEventsRequest>,
    ) -> Result<Response<Self::WatchAppEventsStream>, Status> {
        let scope = TierGuard::scope(&request)?;
        let req = request.into_inner();
        let app_id = AppId::parse(&req.app_id).map_err(ServiceError::from)?;
        self.tier.admit(scope, &app_id).await?;
        let from_seq = if req.from_seq <= 0 {
            self.store
                .app_event_head(&app_id)
                .await
                .map_err(ServiceError::from)?
        } else {
            req.from_seq
        };
        if !self
            .store
            .app_exists(&app_id)
            .await
            .map_err(ServiceError::from)?
        {
            return Err(ServiceError::from(StoreError::AppNotFound).into());
        }
        let store = self.store.clone();
        let fetch = move |next: i64| {
            let (store, app_id) = (store.clone(), app_id.clone());
            async move {
                let events = store.app_events(&app_id, next, BATCH).await?;
                Ok(events
                    .into_iter()
                    .map(|event| {
                        let (group_info, admin_list) = group_info_of(event.payload.as_deref());
                        let message = GroupEvent {
                            app_id: app_id.to_string(),
                            group_id: event.group_id.unwrap_or_default(),
                            seq: event.seq.unwrap_or_default(),
                            kind: wire_kind(event.kind).into(),
                            user_id: event.user_id.unwrap_or_default(),
                            user_info: event.user_info.unwrap_or_default(),
                            member_count: event.member_count.unwrap_or_default(),
                            timestamp_ms: event.created_at.timestamp_millis(),
                            app_seq: event.app_seq,
                            session_id: event.session_id.unwrap_or_default(),
                            logoff_reason: event.reason.map(i32::from).unwrap_or_default(),
                            group_info,
                            admin_list,
                        };
                        (event.app_seq, message)
                    })
                    .collect())
            }
        };
        Ok(self.stream(from_seq, fetch))
    }
}
