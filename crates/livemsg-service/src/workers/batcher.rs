//! Group commit for single joins and leaves: changes that arrive while others are being written
//! are written together, in one transaction, by the next free writer.
//!
//! A writer takes the first waiting change and every other change already waiting (up to
//! `membership.max_batch`), so a lone change goes out at once and waits for nothing; under load
//! the queue fills while the writers are busy and each commit carries many changes. Changes to
//! one group keep their order of arrival. If a batch fails as a whole (a database error), each
//! of its groups is tried again on its own, so one group's trouble is not another's.

use std::collections::HashMap;
use std::sync::Arc;

use livemsg_domain::{ApiError, AppId, ErrorCode, GroupId, MembershipChange};
use livemsg_store::{GroupOps, MembershipOp, Store, StoreError};
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::errors;

/// A caller's answer: store errors are turned into API errors once per group (and logged
/// there once), then shared by every caller of that group.
type Reply = oneshot::Sender<Result<MembershipChange, ApiError>>;

struct Pending {
    app_id: AppId,
    group_id: GroupId,
    op: MembershipOp,
    reply: Reply,
}

/// Hands single changes to the writers.
#[derive(Debug, Clone)]
pub struct Batcher {
    queue: mpsc::Sender<Pending>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("app_id", &self.app_id)
            .field("group_id", &self.group_id)
            .finish_non_exhaustive()
    }
}

impl Batcher {
    /// Starts `writers` writers over `store`, each committing up to `max_batch` changes at once.
    pub fn start(store: Store, writers: usize, max_batch: usize) -> Self {
        let (queue, receiver) = mpsc::channel(max_batch.max(1) * writers.max(1) * 4);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..writers.max(1) {
            tokio::spawn(write(store.clone(), receiver.clone(), max_batch.max(1)));
        }
        Batcher { queue }
    }

    /// Applies one change, together with whatever else is waiting.
    pub async fn apply(
        &self,
        app_id: AppId,
        group_id: GroupId,
        op: MembershipOp,
    ) -> Result<MembershipChange, ApiError> {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            app_id,
            group_id,
            op,
            reply,
        };
        // Writers stop only with the process: the caller may retry elsewhere.
        let stopped = || ApiError::of(ErrorCode::ServiceUnavailable);
        if self.queue.send(pending).await.is_err() {
            return Err(stopped());
        }
        answer.await.unwrap_or_else(|_| Err(stopped()))
    }
}

/// One writer: takes what is waiting, writes it, answers, repeats.
async fn write(store: Store, receiver: Arc<Mutex<mpsc::Receiver<Pending>>>, max_batch: usize) {
    let mut batch = Vec::with_capacity(max_batch);
    loop {
        {
            let mut receiver = receiver.lock().await;
            if receiver.recv_many(&mut batch, max_batch).await == 0 {
                return; // every sender is gone
            }
        }
        metrics::histogram!("livemsg_membership_batch_size").record(batch.len() as f64);
        commit(&store, std::mem::take(&mut batch)).await;
    }
}

/// Writes one batch and answers every change in it.
async fn commit(store: &Store, batch: Vec<Pending>) {
    // Per group, in order of arrival.
    let mut slots: HashMap<(AppId, GroupId), usize> = HashMap::new();
    let mut groups: Vec<(AppId, GroupId, Vec<MembershipOp>, Vec<Reply>)> = Vec::new();
    for pending in batch {
        let key = (pending.app_id.clone(), pending.group_id.clone());
        let at = *slots.entry(key).or_insert_with(|| {
            groups.push((pending.app_id, pending.group_id, Vec::new(), Vec::new()));
            groups.len() - 1
        });
        groups[at].2.push(pending.op);
        groups[at].3.push(pending.reply);
    }
    let ops: Vec<GroupOps<'_>> = groups
        .iter()
        .map(|(app_id, group_id, ops, _)| GroupOps {
            app_id,
            group_id,
            ops,
        })
        .collect();
    let outcome = match store.apply_to_groups(&ops).await {
        Ok(results) => results,
        Err(err) if groups.len() > 1 => {
            tracing::warn!(error = ?err, groups = groups.len(), "a membership batch failed; trying each group alone");
            let mut results = Vec::with_capacity(ops.len());
            for one in &ops {
                results.push(
                    match store.apply_to_groups(std::slice::from_ref(one)).await {
                        Ok(mut result) => result.pop().unwrap_or(Err(StoreError::GroupNotFound)),
                        Err(err) => Err(err),
                    },
                );
            }
            results
        }
        Err(err) => vec![Err(err)],
    };
    for ((_, _, _, replies), result) in groups.into_iter().zip(outcome) {
        match result {
            Ok(changes) => {
                for (reply, change) in replies.into_iter().zip(changes) {
                    let _ = reply.send(Ok(change));
                }
            }
            Err(err) => {
                let err = errors::api_error(err);
                for reply in replies {
                    let _ = reply.send(Err(err.clone()));
                }
            }
        }
    }
}
