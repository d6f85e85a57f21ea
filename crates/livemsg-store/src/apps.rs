//! Apps: created with fresh credentials within the account's quota, found only by their account
//! in their data center, disabled and enabled, their audit settings changed.
//! (The fixed lookups are compile-checked, `query!`; the statements with CTEs stay runtime.)

use livemsg_domain::events::EventKind;
use livemsg_domain::{AppId, AppScope};

use crate::records::{app_key_aad, AppRecord, AppRow, NewApp};
use crate::scope::BindScope;
use crate::{ids, Store, StoreError};

impl Store {
    /// Creates an app with a fresh id, AppKey and AppSign, if the account has fewer apps than
    /// its quota (`TooManyApps` otherwise; the account's row is locked while counting, so
    /// concurrent creations cannot pass the quota together).
    pub async fn create_app(&self, app: NewApp) -> Result<AppRecord, StoreError> {
        let mut tx = self.pool.begin().await?;
        let apps: Option<i64> = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM apps WHERE account_id = $1)
             FROM accounts WHERE account_id = $1 FOR NO KEY UPDATE",
        )
        .bind(app.account.get())
        .fetch_optional(&mut *tx)
        .await?;
        let apps = apps.ok_or(StoreError::AccountNotFound)?;
        if apps >= self.limits.apps_per_account {
            return Err(StoreError::TooManyApps(self.limits.apps_per_account));
        }
        loop {
            let app_id = ids::app_id();
            let app_key = ids::app_key();
            let (key_name, sealed) = self.keyring.seal(&app_key_aad(&app_id), &app_key);
            // The app, its stream's counter and its callback cursor, in one statement.
            let row = sqlx::query_as::<_, AppRow>(
                "WITH app AS (
                     INSERT INTO apps (app_id, account_id, app_name, app_key_key_id,
                                       app_key_ciphertext, app_sign, data_center, audit_type,
                                       audit_url, event_callback_url, msg_life_cycle)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                     ON CONFLICT (app_id) DO NOTHING
                     RETURNING *
                 ), stream AS (
                     INSERT INTO app_streams (app_id) SELECT app_id FROM app
                 ), counter AS (
                     INSERT INTO app_sequences (app_id) SELECT app_id FROM app
                 )
                 SELECT * FROM app",
            )
            .bind(&app_id)
            .bind(app.account.get())
            .bind(app.app_name.as_ref().map_or("", |n| n.as_str()))
            .bind(key_name)
            .bind(sealed)
            .bind(ids::app_sign())
            .bind(app.data_center.as_str())
            .bind(app.audit_type)
            .bind(&app.audit_url)
            .bind(&app.event_callback_url)
            .bind(app.msg_life_cycle)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| StoreError::from_insert(e, StoreError::AccountNotFound))?;
            if let Some(row) = row {
                tx.commit().await?;
                return row.open(&self.keyring);
            }
        }
    }

    /// Finds an app. An app of another account, or in another data center, is not found.
    pub async fn find_app(&self, scope: &AppScope) -> Result<AppRecord, StoreError> {
        sqlx::query_as!(
            AppRow,
            "SELECT app_id, account_id, app_name, app_key, app_key_key_id, app_key_ciphertext,
                    app_sign, data_center, audit_type, audit_url, event_callback_url,
                    msg_life_cycle, disabled, created_at, modified_at
             FROM apps WHERE app_id = $1 AND account_id = $2 AND data_center = $3",
            scope.app.as_str(),
            scope.account.get(),
            scope.data_center.as_str(),
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::AppNotFound)?
        .open(&self.keyring)
    }

    /// Sets the event callback URL of an app (empty disables callbacks).
    pub async fn set_event_callback_url(
        &self,
        scope: &AppScope,
        url: &str,
    ) -> Result<AppRecord, StoreError> {
        // Callbacks turned on start from now: events from before, when nobody listened, are
        // not sent. (Events that commit while this runs may be sent or not; none is sent twice.)
        sqlx::query_as::<_, AppRow>(
            "WITH app AS (
                 UPDATE apps SET event_callback_url = $4, modified_at = now()
                 WHERE app_id = $1 AND account_id = $2 AND data_center = $3
                 RETURNING *, (SELECT event_callback_url = '' FROM apps WHERE app_id = $1)
                     AS was_off
             ), stream AS (
                 UPDATE app_streams s
                 SET delivered_seq = q.next_seq - 1, batch_end = NULL, batch_id = NULL,
                     attempts = 0, retry_at = NULL, failing_since = NULL
                 FROM app JOIN app_sequences q ON q.app_id = app.app_id
                 WHERE s.app_id = app.app_id AND app.was_off AND $4 <> ''
             )
             SELECT * FROM app",
        )
        .bind_scope(scope)
        .bind(url)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::AppNotFound)?
        .open(&self.keyring)
    }

    /// Disables or enables an app; `None` changes nothing. A change is in the app's stream
    /// (`AppDisabled` or `AppEnabled`) in the same transaction. A disabled app takes no logon,
    /// join or change of its groups; the disable sweep (see [`Store::sweep_disabled_app`]) logs
    /// its users off and empties its groups.
    pub async fn set_app_disabled(
        &self,
        scope: &AppScope,
        disabled: Option<bool>,
    ) -> Result<AppRecord, StoreError> {
        let Some(disabled) = disabled else {
            return self.find_app(scope).await;
        };
        let kind = if disabled {
            EventKind::AppDisabled
        } else {
            EventKind::AppEnabled
        };
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query_as::<_, AppRow>(
            "UPDATE apps SET disabled = $4, modified_at = now()
             WHERE app_id = $1 AND account_id = $2 AND data_center = $3 AND disabled <> $4
             RETURNING *",
        )
        .bind_scope(scope)
        .bind(disabled)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = changed else {
            drop(tx);
            return self.find_app(scope).await;
        };
        sqlx::query(&format!(
            "WITH {}",
            crate::events::append_events("app_id, kind", "VALUES ($1::text, $2::smallint)", "kind")
        ))
        .bind(scope.app.as_str())
        .bind(kind.as_i16())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.wrote_events();
        tracing::info!(app.id = %scope.app, disabled, "app disabled state changed");
        row.open(&self.keyring)
    }

    /// Sets an app's content audit: `audit_type` (0 none, 1 built-in, 2 custom) and the custom
    /// audit URL, each kept as it is when `None`.
    pub async fn set_app_audit(
        &self,
        scope: &AppScope,
        audit_type: Option<i32>,
        audit_url: Option<&str>,
    ) -> Result<AppRecord, StoreError> {
        sqlx::query_as::<_, AppRow>(
            "UPDATE apps SET audit_type = COALESCE($4, audit_type),
                             audit_url = COALESCE($5, audit_url), modified_at = now()
             WHERE app_id = $1 AND account_id = $2 AND data_center = $3
             RETURNING *",
        )
        .bind_scope(scope)
        .bind(audit_type)
        .bind(audit_url)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::AppNotFound)?
        .open(&self.keyring)
    }

    /// An app by its id alone (for calls of the connection tier), if it exists.
    pub async fn app_by_id(&self, app_id: &str) -> Result<Option<AppRecord>, StoreError> {
        sqlx::query_as::<_, AppRow>("SELECT * FROM apps WHERE app_id = $1")
            .bind(app_id)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| row.open(&self.keyring))
            .transpose()
    }

    /// The account an app belongs to, if the app exists.
    pub async fn app_account(&self, app_id: &AppId) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar!(
            "SELECT account_id FROM apps WHERE app_id = $1",
            app_id.as_str(),
        )
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Whether an app exists (in any account): for calls of the connection tier, which name
    /// the app alone.
    pub async fn app_exists(&self, app_id: &AppId) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM apps WHERE app_id = $1) AS "exists!""#,
            app_id.as_str(),
        )
        .fetch_one(&self.pool)
        .await?)
    }
}
