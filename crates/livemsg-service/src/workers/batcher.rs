//! Group commit for single joins and leaves: changes that arrive while others are being written
//! are written together, in one transaction, by their group's writer (see [`super::lanes`]:
//! `membership.writers` lanes, each group always in the same one).
//!
//! A lone change goes out at once and waits for nothing; under load each commit carries what
//! gathered in its lane, and a hot group's changes gather behind one writer. Changes to one
//! group keep their order of arrival. If a batch fails as a whole (a database error), each of
//! its groups is tried again on its own, and a group that still fails has each of its changes
//! tried alone, so one caller's trouble is nobody else's.

use std::collections::HashMap;

use livemsg_domain::{ApiError, AppId, ErrorCode, GroupId, MembershipChange};
use livemsg_store::{GroupOps, MembershipOp, Store, StoreError};
use tokio::sync::oneshot;

use super::lanes::Lanes;

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
    lanes: Lanes<Pending>,
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
    /// Starts `writers` lanes over `store`, each with one writer committing up to `max_batch`
    /// changes at once.
    pub fn start(store: Store, writers: usize, max_batch: usize) -> Self {
        let lanes = Lanes::start(
            writers,
            max_batch,
            "livemsg_membership_batch_size",
            move |batch| {
                let store = store.clone();
                async move { commit(&store, batch).await }
            },
        );
        Batcher { lanes }
    }

    /// The lane (writer) of a group's changes.
    pub fn lane(&self, app_id: &AppId, group_id: &GroupId) -> usize {
        self.lanes.lane((app_id.as_str(), group_id.as_str()))
    }

    /// How many changes wait for a writer now, over all lanes.
    pub fn waiting(&self) -> usize {
        self.lanes.waiting()
    }

    /// Applies one change, together with whatever else waits in its lane.
    pub async fn apply(
        &self,
        app_id: AppId,
        group_id: GroupId,
        op: MembershipOp,
    ) -> Result<MembershipChange, ApiError> {
        let lane = self.lane(&app_id, &group_id);
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            app_id,
            group_id,
            op,
            reply,
        };
        // Writers stop only with the process: the caller may retry elsewhere.
        let stopped = || ApiError::of(ErrorCode::ServiceUnavailable);
        if self.lanes.push(lane, pending).await.is_err() {
            return Err(stopped());
        }
        answer.await.unwrap_or_else(|_| Err(stopped()))
    }
}

/// Each change's outcome, in order, from one group's result: the same error for all of them
/// when the group failed as a whole (mapped, and logged, once).
fn per_change(
    result: Result<Vec<MembershipChange>, StoreError>,
    count: usize,
) -> Vec<Result<MembershipChange, ApiError>> {
    match result {
        Ok(changes) => changes.into_iter().map(Ok).collect(),
        Err(err) => vec![Err(errors::api_error(err)); count],
    }
}

/// Applies one group's changes in a transaction of their own. If that fails with a database
/// error (not a missing group) and there are several changes, each is tried alone, so one bad
/// change fails only its own caller.
async fn apply_alone(store: &Store, one: &GroupOps<'_>) -> Vec<Result<MembershipChange, ApiError>> {
    let result = match store.apply_to_groups(std::slice::from_ref(one)).await {
        Ok(mut result) => result.pop().unwrap_or(Err(StoreError::GroupNotFound)),
        Err(err) => Err(err),
    };
    match result {
        Err(StoreError::Database(err)) if one.ops.len() > 1 => {
            tracing::warn!(error = ?err, changes = one.ops.len(), "a group's changes failed together; trying each alone");
            let mut changes = Vec::with_capacity(one.ops.len());
            for op in one.ops {
                let change = store.apply_one(one.app_id, one.group_id, op.clone()).await;
                changes.push(change.map_err(errors::api_error));
            }
            changes
        }
        result => per_change(result, one.ops.len()),
    }
}

/// Applies the changes of several groups in one transaction and returns each change's outcome,
/// per group, in order. If the transaction fails (a database error), each group is tried
/// alone, and a group that still fails has each of its changes tried alone: a failure is
/// confined to the change that causes it.
pub(crate) async fn apply_isolated(
    store: &Store,
    ops: &[GroupOps<'_>],
) -> Vec<Vec<Result<MembershipChange, ApiError>>> {
    match store.apply_to_groups(ops).await {
        Ok(results) => results
            .into_iter()
            .zip(ops)
            .map(|(result, one)| per_change(result, one.ops.len()))
            .collect(),
        Err(err) => {
            tracing::warn!(error = ?err, groups = ops.len(), "a membership batch failed; trying each group alone");
            let mut results = Vec::with_capacity(ops.len());
            for one in ops {
                results.push(apply_alone(store, one).await);
            }
            results
        }
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
    let outcome = apply_isolated(store, &ops).await;
    for ((_, _, _, replies), results) in groups.into_iter().zip(outcome) {
        for (reply, result) in replies.into_iter().zip(results) {
            let _ = reply.send(result);
        }
    }
}
