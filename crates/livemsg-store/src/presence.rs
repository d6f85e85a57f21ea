//! Who is logged on in an app, as the connection tier reports it, with the logon and logoff
//! events that go with it.

use std::collections::HashSet;

use livemsg_domain::events::EventKind;
use livemsg_domain::{AppId, AppScope, GroupId, UserId};

use crate::membership::{GroupOps, MembershipOp};
use crate::scope::BindScope;
use crate::{Store, StoreError};

impl Store {
    /// Records that a user logged on (its presence and a logon event, in one transaction). A
    /// disabled app takes no logon (`AppDisabled`).
    /// `session_id` names the connection, as the connection tier knows it (may be empty).
    pub async fn logon(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        session_id: &str,
    ) -> Result<(), StoreError> {
        self.presence(app_id, user_id, true, session_id, None).await
    }

    /// Records that a user logged off (its presence and a logoff event with `reason`, in one
    /// transaction), then removes it from every group of the app it was in, all the leaves (with
    /// their events) in one more transaction. Returns the groups left.
    pub async fn logoff(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        session_id: &str,
        reason: i16,
    ) -> Result<Vec<String>, StoreError> {
        self.presence(app_id, user_id, false, session_id, Some(reason))
            .await?;
        self.leave_app_groups(app_id, user_id).await
    }

    /// Removes a user from every group of the app it is in, all the leaves (with their events)
    /// in one transaction, as its logoff does. Returns the groups left.
    pub async fn leave_app_groups(
        &self,
        app_id: &AppId,
        user_id: &UserId,
    ) -> Result<Vec<String>, StoreError> {
        let groups: Vec<String> = sqlx::query_scalar(
            "SELECT g.group_id FROM group_members m JOIN groups g ON g.group_pk = m.group_pk
             WHERE g.app_id = $1 AND m.user_id = $2 AND NOT g.deleted ORDER BY g.group_pk",
        )
        .bind(app_id.as_str())
        .bind(user_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        let group_ids = groups
            .iter()
            .map(|g| GroupId::parse(g).map_err(|_| StoreError::Corrupt("groups.group_id")))
            .collect::<Result<Vec<_>, _>>()?;
        // Every leave in one transaction (each with its events), like any batch.
        let leave = [MembershipOp::Leave {
            user_id: user_id.clone(),
        }];
        let batch: Vec<GroupOps<'_>> = group_ids
            .iter()
            .map(|group_id| GroupOps {
                app_id,
                group_id,
                ops: &leave,
            })
            .collect();
        let results = self.apply_to_groups(&batch).await?;
        let mut left = Vec::with_capacity(groups.len());
        for (group, result) in groups.into_iter().zip(results) {
            match result {
                Ok(changes) if changes.iter().any(|c| c.changed) => left.push(group),
                Ok(_) | Err(StoreError::GroupNotFound) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(left)
    }

    /// Which of `user_ids` are logged on in an app.
    pub async fn online_among(
        &self,
        scope: &AppScope,
        user_ids: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        // One statement: a row per online user, or one row without a user when there is
        // none; no row at all when the app is not the caller's.
        let rows: Vec<Option<String>> = sqlx::query_scalar(
            "SELECT p.user_id FROM apps a
             LEFT JOIN user_presence p
               ON p.app_id = a.app_id AND p.user_id = ANY($4) AND p.online
             WHERE a.app_id = $1 AND a.account_id = $2 AND a.data_center = $3",
        )
        .bind_scope(scope)
        .bind(user_ids)
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Err(StoreError::AppNotFound);
        }
        Ok(rows.into_iter().flatten().collect())
    }

    /// Writes a logon or logoff event and the user's presence, in one transaction.
    async fn presence(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        online: bool,
        session_id: &str,
        reason: Option<i16>,
    ) -> Result<(), StoreError> {
        let change = PresenceChange {
            app_id: app_id.clone(),
            user_id: user_id.clone(),
            online,
            session_id: session_id.to_owned(),
            reason,
        };
        self.set_presences(std::slice::from_ref(&change))
            .await?
            .pop()
            .unwrap_or(Err(StoreError::AppNotFound))
    }

    /// Writes several logons and logoffs in one transaction (one commit, and one hold of each
    /// app's stream counter, for all), in order, and returns what became of each: written with
    /// its event, or refused (`AppDisabled` for a logon into a disabled app, `AppNotFound`).
    /// The presence rows are written first and the events last, so the counters are the
    /// transaction's last locks (see [`crate::events::append_events`]).
    pub async fn set_presences(
        &self,
        changes: &[PresenceChange],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // One statement for the whole batch: which changes are taken (a disabled app takes no
        // logon; a logoff always goes through) and why the others are not, and each user's
        // presence as its last taken change leaves it.
        let checked: Vec<(i64, bool, bool)> = sqlx::query_as(WRITE_PRESENCES)
            .bind(column(changes, |c| c.app_id.as_str()))
            .bind(column(changes, |c| c.user_id.as_str()))
            .bind(column(changes, |c| c.online))
            .fetch_all(&mut *tx)
            .await?;
        let mut outcome: Vec<Result<(), StoreError>> = changes
            .iter()
            .map(|_| Err(StoreError::AppNotFound))
            .collect();
        for (n, known, taken) in checked {
            // Ordinalities count from 1.
            if let Some(slot) = usize::try_from(n - 1).ok().and_then(|i| outcome.get_mut(i)) {
                *slot = match (taken, known) {
                    (true, _) => Ok(()),
                    (false, true) => Err(StoreError::AppDisabled),
                    (false, false) => Err(StoreError::AppNotFound),
                };
            }
        }
        let events: Vec<&PresenceChange> = changes
            .iter()
            .zip(&outcome)
            .filter_map(|(change, outcome)| outcome.is_ok().then_some(change))
            .collect();
        if !events.is_empty() {
            let kind = |c: &PresenceChange| {
                if c.online {
                    EventKind::Logon
                } else {
                    EventKind::Logoff
                }
                .as_i16()
            };
            sqlx::query(&PRESENCE_EVENTS)
                .bind(column(&events, |c| c.app_id.as_str()))
                .bind(column(&events, kind))
                .bind(column(&events, |c| c.user_id.as_str()))
                .bind(column(&events, |c| c.session_id.as_str()))
                .bind(column(&events, |c| c.reason))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        if !events.is_empty() {
            self.wrote_events();
        }
        Ok(outcome)
    }
}

/// One column of a batch, for an `unnest` parameter.
fn column<'a, C: std::borrow::Borrow<PresenceChange> + 'a, T>(
    changes: &'a [C],
    value: impl Fn(&'a PresenceChange) -> T,
) -> Vec<T> {
    changes.iter().map(|c| value(c.borrow())).collect()
}

/// One logon or logoff, for [`Store::set_presences`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceChange {
    /// The app.
    pub app_id: AppId,
    /// Who logged on or off.
    pub user_id: UserId,
    /// Logged on (true) or off.
    pub online: bool,
    /// The session the connection tier names (may be empty).
    pub session_id: String,
    /// Why a user logged off (see [`crate::events::AppEvent::reason`]); `None` for a logon.
    pub reason: Option<i16>,
}

/// A batch's presence rows, in one statement: for each change (by ordinality) whether its app
/// is known and whether the change is taken, and for each user the state its last taken change
/// leaves (one row per user: a statement may not update a row twice), written in key order.
const WRITE_PRESENCES: &str = "WITH input AS (
         SELECT * FROM unnest($1::text[], $2::text[], $3::boolean[]) WITH ORDINALITY
             AS c(app_id, user_id, online, n)
     ), checked AS (
         SELECT c.*, a.app_id IS NOT NULL AS known,
                a.app_id IS NOT NULL AND (NOT a.disabled OR NOT c.online) AS taken
         FROM input c LEFT JOIN apps a ON a.app_id = c.app_id
     ), written AS (
         INSERT INTO user_presence (app_id, user_id, online)
         SELECT DISTINCT ON (app_id, user_id) app_id, user_id, online FROM checked
         WHERE taken
         ORDER BY app_id, user_id, n DESC
         ON CONFLICT (app_id, user_id) DO UPDATE SET online = EXCLUDED.online, changed_at = now()
     )
     SELECT n, known, taken FROM checked";

/// The events of a batch of logons and logoffs, numbered in their order of arrival.
static PRESENCE_EVENTS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH {}",
        crate::events::append_events(
            "app_id, kind, user_id, session_id, reason",
            "SELECT * FROM unnest($1::text[], $2::smallint[], $3::text[], $4::text[],
                                  $5::smallint[]) WITH ORDINALITY",
            "ordinality",
        )
    )
});
