//! Group commit for group messages: sends that arrive while others are being written are
//! written together, in one transaction, by the next free writer, then published to the
//! watchers in one round trip. As for joins: a lone send waits for nothing; a batch that fails
//! as a whole is retried message by message, so one caller's trouble is nobody else's.

use std::sync::Arc;

use livemsg_domain::{ApiError, ErrorCode};
use livemsg_store::messages::{GroupMessage, NewGroupMessage, Sent};
use livemsg_store::{Store, StoreError};
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::fanout::Hub;
use crate::usecases::messaging::{message_error, wire_group};

type Reply = oneshot::Sender<Result<Sent<GroupMessage>, ApiError>>;

struct Pending {
    message: NewGroupMessage,
    reply: Reply,
}

/// Hands group messages to the writers.
#[derive(Debug, Clone)]
pub struct SendBatcher {
    queue: mpsc::Sender<Pending>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("group_id", &self.message.group_id)
            .finish_non_exhaustive()
    }
}

impl SendBatcher {
    /// Starts `writers` writers over `store`, each committing up to `max_batch` sends at once
    /// and publishing them through `hub`.
    pub fn start(store: Store, hub: Hub, writers: usize, max_batch: usize) -> Self {
        let (queue, receiver) = mpsc::channel(max_batch.max(1) * writers.max(1) * 4);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..writers.max(1) {
            tokio::spawn(write(
                store.clone(),
                hub.clone(),
                receiver.clone(),
                max_batch.max(1),
            ));
        }
        SendBatcher { queue }
    }

    /// Sends one message, together with whatever else is waiting.
    pub async fn send(&self, message: NewGroupMessage) -> Result<Sent<GroupMessage>, ApiError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || ApiError::of(ErrorCode::ServiceUnavailable);
        if self.queue.send(Pending { message, reply }).await.is_err() {
            return Err(stopped());
        }
        answer.await.unwrap_or_else(|_| Err(stopped()))
    }
}

async fn write(
    store: Store,
    hub: Hub,
    receiver: Arc<Mutex<mpsc::Receiver<Pending>>>,
    max_batch: usize,
) {
    let mut batch = Vec::with_capacity(max_batch);
    loop {
        {
            let mut receiver = receiver.lock().await;
            if receiver.recv_many(&mut batch, max_batch).await == 0 {
                return;
            }
        }
        metrics::histogram!("livemsg_send_batch_size").record(batch.len() as f64);
        commit(&store, &hub, std::mem::take(&mut batch)).await;
    }
}

async fn commit(store: &Store, hub: &Hub, batch: Vec<Pending>) {
    let (messages, replies): (Vec<NewGroupMessage>, Vec<Reply>) =
        batch.into_iter().map(|p| (p.message, p.reply)).unzip();
    let results: Vec<Result<Sent<GroupMessage>, StoreError>> = match store
        .send_group_messages(&messages)
        .await
    {
        Ok(results) => results,
        Err(err) => {
            tracing::warn!(error = ?err, sends = messages.len(), "a send batch failed; trying each alone");
            let mut results = Vec::with_capacity(messages.len());
            for message in &messages {
                results.push(
                    match store
                        .send_group_messages(std::slice::from_ref(message))
                        .await
                    {
                        Ok(mut one) => one.pop().unwrap_or(Err(StoreError::GroupNotFound)),
                        Err(err) => Err(err),
                    },
                );
            }
            results
        }
    };
    let fresh: Vec<_> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().filter(|s| !s.repeated))
        .map(|s| wire_group(&s.message))
        .collect();
    metrics::counter!("livemsg_messages_sent_total", "stream" => "group")
        .increment(fresh.len() as u64);
    // Published before the callers hear back: a sender that is told "sent" can count on the
    // watchers of this instance having it.
    hub.publish(fresh).await;
    for (reply, result) in replies.into_iter().zip(results) {
        let _ = reply.send(result.map_err(message_error));
    }
}
