//! Emptying a disabled app: its users logged off and its groups' members removed, a bounded
//! step at a time, so that a big app is emptied without one huge transaction and a restart
//! resumes where it stopped.

use livemsg_domain::events::EventKind;
use livemsg_domain::{AppId, GroupId};

use crate::{Store, StoreError};

/// The logoff reason of a user logged off because its app was disabled ("timeout or other
/// reasons" in the callback protocol).
pub const LOGOFF_APP_DISABLED: i16 = 3;

/// What one sweep step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepStep {
    /// Users logged off (each with a `Logoff` event, reason 3).
    pub logged_off: u64,
    /// Groups emptied (each member with its leave event).
    pub groups_emptied: u64,
}

impl SweepStep {
    /// Whether the step found anything to do (so another may find more).
    pub fn did_work(&self) -> bool {
        self.logged_off > 0 || self.groups_emptied > 0
    }
}

impl Store {
    /// Disabled apps that still have users logged on or members in live groups.
    pub async fn disabled_apps_to_sweep(&self, limit: i64) -> Result<Vec<AppId>, StoreError> {
        let apps: Vec<String> = sqlx::query_scalar(
            "SELECT a.app_id FROM apps a
             WHERE a.disabled AND (
                 EXISTS (SELECT 1 FROM user_presence p WHERE p.app_id = a.app_id AND p.online)
                 OR EXISTS (SELECT 1 FROM groups g
                            WHERE g.app_id = a.app_id AND NOT g.deleted AND g.member_count > 0))
             ORDER BY a.app_id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        apps.iter()
            .map(|a| AppId::parse(a).map_err(|_| StoreError::Corrupt("apps.app_id")))
            .collect()
    }

    /// One step of emptying a disabled app: logs off up to `limit` of its users and empties up
    /// to `limit` of its groups. Safe to run from several instances at once: a user is logged
    /// off once (its presence row is locked, others skip it), and a group emptied twice has
    /// nobody left to remove the second time. Does nothing for an app that is not disabled.
    pub async fn sweep_disabled_app(
        &self,
        app_id: &AppId,
        limit: i64,
    ) -> Result<SweepStep, StoreError> {
        // One logoff event per user logged off: the statement's row count is both.
        let logged_off = sqlx::query(&format!(
            "WITH due AS (
                 SELECT p.user_id FROM user_presence p JOIN apps a ON a.app_id = p.app_id
                 WHERE p.app_id = $1 AND p.online AND a.disabled
                 ORDER BY p.user_id LIMIT $2
                 FOR UPDATE OF p SKIP LOCKED
             ), off AS (
                 UPDATE user_presence p SET online = FALSE, changed_at = now()
                 FROM due WHERE p.app_id = $1 AND p.user_id = due.user_id
                 RETURNING p.user_id
             ), {}",
            crate::events::append_events(
                "app_id, kind, user_id, session_id, reason",
                "SELECT $1::text, $3::smallint, user_id, '', $4::smallint FROM off",
                "user_id",
            )
        ))
        .bind(app_id.as_str())
        .bind(limit)
        .bind(EventKind::Logoff.as_i16())
        .bind(LOGOFF_APP_DISABLED)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if logged_off > 0 {
            self.wrote_events();
        }

        let groups: Vec<String> = sqlx::query_scalar(
            "SELECT g.group_id FROM groups g JOIN apps a ON a.app_id = g.app_id
             WHERE g.app_id = $1 AND a.disabled AND NOT g.deleted AND g.member_count > 0
             ORDER BY g.group_pk LIMIT $2",
        )
        .bind(app_id.as_str())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut emptied = 0;
        for group in groups {
            let group_id =
                GroupId::parse(&group).map_err(|_| StoreError::Corrupt("groups.group_id"))?;
            let mut tx = self.pool.begin().await?;
            let evicted = self.evict_in(&mut tx, app_id, &group_id).await? > 0;
            tx.commit().await?;
            if evicted {
                emptied += 1;
                self.wrote_events();
            }
        }
        Ok(SweepStep {
            logged_off,
            groups_emptied: emptied,
        })
    }
}
