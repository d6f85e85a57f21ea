//! Following one message stream for one watcher: replay from Postgres up to the head, then
//! what the hub delivers, with any skipped seq filled from Postgres; a clear status instead of
//! a skip when messages are gone, the watcher stalls or the instance drains.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use livemsg_proto::messaging::v1::Message;
use livemsg_store::StoreError;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc::error::SendTimeoutError;
use tokio::sync::mpsc::Sender;
use tonic::Status;

use super::events::RESUME_FROM_METADATA;
use crate::errors::ServiceError;
use crate::fanout::Subscription;

/// How many messages one Postgres read fetches.
const BATCH: i64 = 500;

type Fetched = Result<(Vec<Message>, i64), StoreError>;
/// Reads a stream from a seq, at most a number of messages: the messages and the stream's head.
pub(super) type Fetch =
    Box<dyn FnMut(i64, i64) -> Pin<Box<dyn Future<Output = Fetched> + Send>> + Send>;

/// A stream-ending status with its livemsg code and the seq to resume from.
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

/// Why a follower stopped.
enum Stop {
    /// The watcher went away.
    Gone,
    /// The stream ended with this status.
    Ended,
}

/// Sends `message` (seq `next`) or ends the stream when the watcher stalls.
async fn emit(
    tx: &Sender<Result<Message, Status>>,
    message: Message,
    next: &mut i64,
    stall: Duration,
) -> Result<(), Stop> {
    let seq = message.seq;
    match tx.send_timeout(Ok(message), stall).await {
        Ok(()) => {
            *next = seq + 1;
            Ok(())
        }
        Err(SendTimeoutError::Timeout(_)) => {
            metrics::counter!("livemsg_message_watchers_ended_total", "reason" => "fell_behind")
                .increment(1);
            let status = end_of_stream(
                tonic::Code::ResourceExhausted,
                "WatcherFellBehind",
                format!(
                    "the watcher read nothing for {} ms while messages waited; resume from {next}",
                    stall.as_millis()
                ),
                *next,
            );
            let _ = tx.send(Err(status)).await;
            Err(Stop::Ended)
        }
        Err(SendTimeoutError::Closed(_)) => Err(Stop::Gone),
    }
}

/// Sends everything from `next` up to (not including) `until` from Postgres (`until`: the head
/// when `None`). A seq that is no longer kept ends the stream with `MessagesExpired`.
async fn fill(
    tx: &Sender<Result<Message, Status>>,
    fetch: &mut Fetch,
    next: &mut i64,
    until: Option<i64>,
    stall: Duration,
) -> Result<(), Stop> {
    loop {
        let limit = until.map_or(BATCH, |u| (u - *next).clamp(1, BATCH));
        let (messages, head) = match fetch(*next, limit).await {
            Ok(fetched) => fetched,
            Err(err) => {
                let _ = tx.send(Err(ServiceError::from(err).into())).await;
                return Err(Stop::Ended);
            }
        };
        let end = until.unwrap_or(head).min(head);
        let count = messages.len() as i64;
        for message in messages {
            if message.seq >= end {
                break;
            }
            if message.seq > *next {
                return Err(expired(tx, *next, message.seq).await);
            }
            emit(tx, message, next, stall).await?;
        }
        if *next >= end {
            return Ok(());
        }
        if count < limit {
            // Below the head, yet not there: expired.
            return Err(expired(tx, *next, end).await);
        }
    }
}

async fn expired(tx: &Sender<Result<Message, Status>>, next: i64, resume: i64) -> Stop {
    metrics::counter!("livemsg_message_watchers_ended_total", "reason" => "expired").increment(1);
    let status = end_of_stream(
        tonic::Code::OutOfRange,
        "MessagesExpired",
        format!(
            "messages {next} to {} are no longer kept; resume from {resume}",
            resume - 1
        ),
        resume,
    );
    let _ = tx.send(Err(status)).await;
    Stop::Ended
}

/// Follows one stream: replays from Postgres up to its head, then hands on what the hub
/// delivers, filling any seq it skipped from Postgres, so the watcher sees every message once,
/// in order.
pub(super) async fn follow(
    tx: Sender<Result<Message, Status>>,
    mut subscription: Subscription,
    mut next: i64,
    stall: Duration,
    mut fetch: Fetch,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    metrics::gauge!("livemsg_message_watchers").increment(1.0);
    let _gauge = scopeguard(|| metrics::gauge!("livemsg_message_watchers").decrement(1.0));
    if fill(&tx, &mut fetch, &mut next, None, stall).await.is_err() {
        return;
    }
    subscription.seen(next - 1);
    loop {
        let received = tokio::select! {
            received = subscription.receiver.recv() => received,
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
        };
        match received {
            Ok(message) => {
                if message.seq < next {
                    continue; // had it already
                }
                if message.seq > next
                    && fill(&tx, &mut fetch, &mut next, Some(message.seq), stall)
                        .await
                        .is_err()
                {
                    return;
                }
                if emit(&tx, Arc::unwrap_or_clone(message), &mut next, stall)
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Err(RecvError::Lagged(_)) => {
                // The hub moved on faster than this watcher read: catch up from Postgres.
                if fill(&tx, &mut fetch, &mut next, None, stall).await.is_err() {
                    return;
                }
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// Runs `f` when dropped.
fn scopeguard(f: impl FnOnce()) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}
