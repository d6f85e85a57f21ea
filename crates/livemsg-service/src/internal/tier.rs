//! Which apps a connection-tier call may touch: every app for the platform's tier, the apps of
//! its account for a customer's (an app of another account does not exist for it).

use livemsg_domain::AppId;
use livemsg_store::{Store, StoreError};

use crate::errors::{Result, ServiceError};
use crate::interceptor::TierScope;

/// Admits apps for tier calls, remembering which account owns each app (apps never move).
#[derive(Debug, Clone)]
pub(crate) struct TierGuard {
    store: Store,
    owners: moka::sync::Cache<String, i64>,
}

impl TierGuard {
    pub(crate) fn new(store: Store) -> Self {
        TierGuard {
            store,
            owners: moka::sync::Cache::new(100_000),
        }
    }

    /// The scope the interceptor gave the request.
    pub(crate) fn scope<T>(request: &tonic::Request<T>) -> Result<TierScope> {
        request
            .extensions()
            .get::<TierScope>()
            .copied()
            .ok_or(ServiceError::NoCaller)
    }

    /// Refuses `app` (as not found) unless `scope` may touch it.
    pub(crate) async fn admit(&self, scope: TierScope, app: &AppId) -> Result<()> {
        let TierScope::Account(account) = scope else {
            return Ok(());
        };
        let owner = match self.owners.get(app.as_str()) {
            Some(owner) => owner,
            None => {
                let owner = self
                    .store
                    .app_account(app)
                    .await?
                    .ok_or(StoreError::AppNotFound)?;
                self.owners.insert(app.as_str().to_owned(), owner);
                owner
            }
        };
        if owner == account {
            Ok(())
        } else {
            Err(StoreError::AppNotFound.into())
        }
    }
}
