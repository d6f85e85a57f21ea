//! Group commit for logons and logoffs: those that arrive while others are being written are
//! written together, one transaction and one commit for all (see [`super::lanes`], each user
//! always in the same lane, so one user's logon and logoff keep their order).
//!
//! Every logon and logoff appends an event to its app's stream, and the writers of one app's
//! events commit one after another (that keeps the stream gapless). Alone, each logon was a
//! commit of its own waiting for the one before; together, a viewer rush into one app costs a
//! commit per batch. If a batch fails as a whole (a database error), each change in it is tried
//! alone, so one caller's trouble is nobody else's.

use livemsg_domain::{ApiError, ErrorCode};
use livemsg_store::{PresenceChange, Store, StoreError};
use tokio::sync::oneshot;

use super::lanes::Lanes;
use crate::errors;

type Reply = oneshot::Sender<Result<(), ApiError>>;

/// Hands logons and logoffs to the writers.
#[derive(Debug, Clone)]
pub struct PresenceBatcher {
    lanes: Lanes<(PresenceChange, Reply)>,
}

impl PresenceBatcher {
    /// Starts `writers` lanes over `store`, each committing up to `max_batch` changes at once.
    pub fn start(store: Store, writers: usize, max_batch: usize) -> Self {
        let lanes = Lanes::start(
            writers,
            max_batch,
            "livemsg_presence_batch_size",
            move |batch| {
                let store = store.clone();
                async move { commit(&store, batch).await }
            },
        );
        PresenceBatcher { lanes }
    }

    /// Writes one logon or logoff, together with whatever else waits in its lane.
    pub async fn apply(&self, change: PresenceChange) -> Result<(), ApiError> {
        let lane = self
            .lanes
            .lane((change.app_id.as_str(), change.user_id.as_str()));
        let (reply, answer) = oneshot::channel();
        // Writers stop only with the process: the caller may retry elsewhere.
        let stopped = || ApiError::of(ErrorCode::ServiceUnavailable);
        if self.lanes.push(lane, (change, reply)).await.is_err() {
            return Err(stopped());
        }
        answer.await.unwrap_or_else(|_| Err(stopped()))
    }
}

/// Writes one batch and answers every change in it.
async fn commit(store: &Store, batch: Vec<(PresenceChange, Reply)>) {
    let (changes, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
    let results = match store.set_presences(&changes).await {
        Ok(results) => results,
        Err(err) if changes.len() > 1 => {
            tracing::warn!(error = ?err, changes = changes.len(), "a presence batch failed; trying each alone");
            let mut results = Vec::with_capacity(changes.len());
            for change in &changes {
                let result = store.set_presences(std::slice::from_ref(change)).await;
                results.push(result.and_then(|mut one| {
                    one.pop()
                        .unwrap_or(Err(StoreError::Corrupt("presence results")))
                }));
            }
            results
        }
        Err(err) => vec![Err(err)],
    };
    for (reply, result) in replies.into_iter().zip(results) {
        let _ = reply.send(result.map_err(errors::api_error));
    }
}
