//! Group commit for group messages: sends that arrive while others are being written are
//! written together, in one transaction, by their group's writer (see [`super::lanes`]:
//! `messages.writers` lanes, each group always in the same one), then published to the
//! watchers in one round trip. As for joins: a lone send waits for nothing; a batch that fails
//! as a whole is retried message by message, so one caller's trouble is nobody else's.

use livemsg_domain::{ApiError, ErrorCode};
use livemsg_store::messages::{GroupMessage, NewGroupMessage, Sent};
use livemsg_store::{Store, StoreError};
use tokio::sync::oneshot;

use super::lanes::Lanes;

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
    lanes: Lanes<Pending>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("group_id", &self.message.group_id)
            .finish_non_exhaustive()
    }
}

impl SendBatcher {
    /// Starts `writers` lanes over `store`, each with one writer committing up to `max_batch`
    /// sends at once and publishing them through `hub`.
    pub fn start(store: Store, hub: Hub, writers: usize, max_batch: usize) -> Self {
        let lanes = Lanes::start(
            writers,
            max_batch,
            "livemsg_send_batch_size",
            move |batch| {
                let (store, hub) = (store.clone(), hub.clone());
                async move { commit(&store, &hub, batch).await }
            },
        );
        SendBatcher { lanes }
    }

    /// Sends one message, together with whatever else waits in its group's lane.
    pub async fn send(&self, message: NewGroupMessage) -> Result<Sent<GroupMessage>, ApiError> {
        let lane = self
            .lanes
            .lane((message.app_id.as_str(), message.group_id.as_str()));
        let (reply, answer) = oneshot::channel();
        let stopped = || ApiError::of(ErrorCode::ServiceUnavailable);
        if self
            .lanes
            .push(lane, Pending { message, reply })
            .await
            .is_err()
        {
            return Err(stopped());
        }
        answer.await.unwrap_or_else(|_| Err(stopped()))
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
