//! Joins, leaves, logons and logoffs, whoever reports them.
//!
//! Single changes go through the group-commit [`Batcher`], so concurrent callers share
//! transactions; many changes of one app at once are applied in one transaction. Both the
//! connection tier's `MembershipService` and (later) public operations that change membership
//! call this one place, so every path keeps the same guarantees: exact counts, the outbox, and
//! the leave events of the callbacks.

use std::collections::HashMap;

use livemsg_domain::{ApiError, AppId, GroupId, MembershipChange, UserId};
use livemsg_store::{GroupOps, MembershipOp, PresenceChange, Store};

use crate::errors::Result;
use crate::workers::batcher::{apply_isolated, Batcher};
use crate::workers::presence::PresenceBatcher;

/// The most changes one batch may carry.
pub const MAX_BATCH_ITEMS: usize = 1_000;

/// Refuses a batch of more than [`MAX_BATCH_ITEMS`] changes.
pub fn check_batch_size(len: usize) -> Result<(), ApiError> {
    if len > MAX_BATCH_ITEMS {
        return Err(ApiError::invalid(
            "items",
            format_args!("must hold at most {MAX_BATCH_ITEMS} entries"),
        ));
    }
    Ok(())
}

/// Why a user logged off: the values of the callbacks' `r`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoffReason {
    /// The user logged out (1).
    Normal,
    /// The connection timed out (3).
    Timeout,
    /// The user logged on elsewhere (4).
    LoggedOnElsewhere,
}

impl LogoffReason {
    /// The stored (and callback) code.
    pub fn code(self) -> i16 {
        match self {
            LogoffReason::Normal => 1,
            LogoffReason::Timeout => 3,
            LogoffReason::LoggedOnElsewhere => 4,
        }
    }
}

/// Applies membership changes.
#[derive(Debug, Clone)]
pub struct Membership {
    store: Store,
    batcher: Batcher,
    presence: PresenceBatcher,
}

impl Membership {
    /// Changes through `store`; single joins and leaves are committed together by `batcher`,
    /// logons and logoffs by `presence`.
    pub fn new(store: Store, batcher: Batcher, presence: PresenceBatcher) -> Self {
        Membership {
            store,
            batcher,
            presence,
        }
    }

    /// One join or leave, committed together with whatever else is waiting.
    pub async fn apply(
        &self,
        app_id: AppId,
        group_id: GroupId,
        op: MembershipOp,
    ) -> Result<MembershipChange> {
        Ok(self.batcher.apply(app_id, group_id, op).await?)
    }

    /// Many joins and leaves of one app, in one transaction, each group's in the order given.
    /// Returns one result per item, in order: a group that does not exist fails alone, and so
    /// does any change the database refuses.
    pub async fn apply_batch(
        &self,
        app_id: &AppId,
        items: Vec<(GroupId, MembershipOp)>,
    ) -> Result<Vec<Result<MembershipChange, ApiError>>> {
        check_batch_size(items.len())?;
        // Group the items by group, keeping each group's items in request order.
        let total = items.len();
        let mut by_group: Vec<(GroupId, Vec<usize>, Vec<MembershipOp>)> = Vec::new();
        let mut slot: HashMap<GroupId, usize> = HashMap::new();
        for (index, (group_id, op)) in items.into_iter().enumerate() {
            let at = *slot.entry(group_id.clone()).or_insert_with(|| {
                by_group.push((group_id, Vec::new(), Vec::new()));
                by_group.len() - 1
            });
            by_group[at].1.push(index);
            by_group[at].2.push(op);
        }
        let batch: Vec<GroupOps<'_>> = by_group
            .iter()
            .map(|(group_id, _, ops)| GroupOps {
                app_id,
                group_id,
                ops,
            })
            .collect();
        let outcome = apply_isolated(&self.store, &batch).await;
        let mut results: Vec<Option<Result<MembershipChange, ApiError>>> = vec![None; total];
        for ((_, indexes, _), changes) in by_group.iter().zip(outcome) {
            for (index, change) in indexes.iter().zip(changes) {
                results[*index] = Some(change);
            }
        }
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(ApiError::internal())))
            .collect())
    }

    /// A user logged on: it is online, with a logon event.
    pub async fn logon(&self, app_id: &AppId, user_id: &UserId, session_id: &str) -> Result<()> {
        Ok(self
            .presence
            .apply(PresenceChange {
                app_id: app_id.clone(),
                user_id: user_id.clone(),
                online: true,
                session_id: session_id.to_owned(),
                reason: None,
            })
            .await?)
    }

    /// A user logged off: it is offline, with a logoff event, and leaves every group of the app
    /// it was in. Returns the groups left.
    pub async fn logoff(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        session_id: &str,
        reason: LogoffReason,
    ) -> Result<Vec<String>> {
        self.presence
            .apply(PresenceChange {
                app_id: app_id.clone(),
                user_id: user_id.clone(),
                online: false,
                session_id: session_id.to_owned(),
                reason: Some(reason.code()),
            })
            .await?;
        Ok(self.store.leave_app_groups(app_id, user_id).await?)
    }
}
