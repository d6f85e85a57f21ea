//! `EventService`: membership events from the outbox, replayed and then followed.

use std::pin::Pin;
use std::time::Duration;

use livemsg_domain::events::EventKind;
use livemsg_domain::{AppId, GroupId};
use livemsg_proto::events::v1::event_service_server::EventService;
use livemsg_proto::events::v1::{EventKind as WireKind, GroupEvent, WatchGroupEventsRequest};
use livemsg_store::Store;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::errors;

/// How many events one outbox read fetches.
const BATCH: i64 = 500;
/// How many events may wait for a slow watcher before reading pauses (the outbox, not memory,
/// holds the rest).
const BUFFER: usize = 256;

/// Serves event streams.
#[derive(Debug, Clone)]
pub struct EventApi {
    store: Store,
    poll: Duration,
}

impl EventApi {
    /// A service over `store`, looking for new events every `poll`.
    pub fn new(store: Store, poll: Duration) -> Self {
        EventApi { store, poll }
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
    }
}

#[tonic::async_trait]
impl EventService for EventApi {
    type WatchGroupEventsStream =
        Pin<Box<dyn tokio_stream::Stream<Item = Result<GroupEvent, Status>> + Send>>;

    #[tracing::instrument(skip_all, fields(app.id = %request.get_ref().app_id, group.id = %request.get_ref().group_id))]
    async fn watch_group_events(
        &self,
        request: Request<WatchGroupEventsRequest>,
    ) -> Result<Response<Self::WatchGroupEventsStream>, Status> {
        let req = request.into_inner();
        let app_id = AppId::parse(&req.app_id).map_err(errors::invalid)?;
        let group_id = GroupId::parse(&req.group_id).map_err(errors::invalid)?;
        // Refuse an unknown group at once, with its error, rather than an endless empty stream.
        self.store
            .group_count(&app_id, &group_id)
            .await
            .map_err(errors::status)?;
        let (tx, rx) = tokio::sync::mpsc::channel(BUFFER);
        let (store, poll) = (self.store.clone(), self.poll);
        let mut next = req.from_seq.max(1);
        tokio::spawn(async move {
            loop {
                let batch = match store.group_events(&app_id, &group_id, next, BATCH).await {
                    Ok(batch) => batch,
                    Err(err) => {
                        let _ = tx.send(Err(errors::status(err))).await;
                        return;
                    }
                };
                if batch.is_empty() {
                    tokio::select! {
                        () = tokio::time::sleep(poll) => continue,
                        () = tx.closed() => return,
                    }
                }
                for event in batch {
                    next = event.seq + 1;
                    let message = GroupEvent {
                        app_id: app_id.to_string(),
                        group_id: group_id.to_string(),
                        seq: event.seq,
                        kind: wire_kind(event.kind).into(),
                        user_id: event.user_id.unwrap_or_default(),
                        user_info: event.user_info.unwrap_or_default(),
                        member_count: event.member_count,
                        timestamp_ms: event.created_at.timestamp_millis(),
                    };
                    // Waits while the watcher is slow; stops when it has gone.
                    if tx.send(Ok(message)).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// Writes the member-count reports of super groups, checking every second; each group is
/// reported at most once per `interval` and only when its count changed. Runs in every instance;
/// the store keeps it to one report per group.
pub(crate) async fn report_counts(store: Store, interval: Duration) {
    let mut tick =
        tokio::time::interval(Duration::from_secs(1).min(interval.max(Duration::from_millis(10))));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(err) = store.report_super_group_counts(interval).await {
            tracing::warn!(error = ?err, "super group count report failed");
        }
    }
}
