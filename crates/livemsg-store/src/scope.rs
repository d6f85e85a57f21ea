//! Binding an [`AppScope`] into a statement, and telling which half of a scoped lookup failed.
//!
//! Every statement run for a public caller starts its parameters with `$1` app id, `$2` account
//! id and `$3` data center, and filters on all three, so an app of another account or in another
//! data center is never found. [`BindScope::bind_scope`] binds them in that order, in one place.

use livemsg_domain::AppScope;
use sqlx::postgres::{PgArguments, Postgres};
use sqlx::query::{Query, QueryAs, QueryScalar};

use crate::{Store, StoreError};

/// Binds `$1` app id, `$2` account id, `$3` data center.
pub(crate) trait BindScope<'q>: Sized {
    fn bind_scope(self, scope: &'q AppScope) -> Self;
}

impl<'q> BindScope<'q> for Query<'q, Postgres, PgArguments> {
    fn bind_scope(self, scope: &'q AppScope) -> Self {
        self.bind(scope.app.as_str())
            .bind(scope.account.get())
            .bind(scope.data_center.as_str())
    }
}

impl<'q, O> BindScope<'q> for QueryAs<'q, Postgres, O, PgArguments> {
    fn bind_scope(self, scope: &'q AppScope) -> Self {
        self.bind(scope.app.as_str())
            .bind(scope.account.get())
            .bind(scope.data_center.as_str())
    }
}

impl<'q, O> BindScope<'q> for QueryScalar<'q, Postgres, O, PgArguments> {
    fn bind_scope(self, scope: &'q AppScope) -> Self {
        self.bind(scope.app.as_str())
            .bind(scope.account.get())
            .bind(scope.data_center.as_str())
    }
}

impl Store {
    /// Tells which of an app or a group a failed scoped lookup did not find.
    pub(crate) async fn missing_app_or_group(&self, scope: &AppScope) -> StoreError {
        match self.find_app(scope).await {
            Ok(_) => StoreError::GroupNotFound,
            Err(err) => err,
        }
    }
}

/// An app's row, locked against other changes of its groups' lifecycle (creations, deletions,
/// recoveries, purges) until the transaction ends. Membership changes do not take this lock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LockedApp {
    pub(crate) disabled: bool,
    pub(crate) live_groups: i64,
}

/// Locks the app of `scope` (`AppNotFound` if the caller has no such app). `FOR NO KEY UPDATE`
/// leaves rows that refer to the app (members' presence, new groups) free to be written.
pub(crate) async fn lock_app(
    tx: &mut sqlx::PgConnection,
    scope: &AppScope,
) -> Result<LockedApp, StoreError> {
    let row: Option<(bool, i64)> = sqlx::query_as(
        "SELECT disabled, live_groups FROM apps
         WHERE app_id = $1 AND account_id = $2 AND data_center = $3
         FOR NO KEY UPDATE",
    )
    .bind_scope(scope)
    .fetch_optional(&mut *tx)
    .await?;
    let (disabled, live_groups) = row.ok_or(StoreError::AppNotFound)?;
    Ok(LockedApp {
        disabled,
        live_groups,
    })
}
