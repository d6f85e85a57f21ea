//! Creating an account with its first (root) AccessKey: for the admin API and the admin
//! command alike.

use livemsg_store::{AccessKey, Account, Store, StoreError};

/// A new account and its root AccessKey (whose secret is shown once, now).
#[derive(Debug)]
pub struct NewAccount {
    /// The account.
    pub account: Account,
    /// Its first AccessKey.
    pub key: AccessKey,
}

/// Creates an account named `name` and its root AccessKey.
pub async fn create_account(store: &Store, name: &str) -> Result<NewAccount, StoreError> {
    let account = store.create_account(name).await?;
    let key = store.create_access_key(account.account_id, None).await?;
    tracing::info!(account.id = account.account_id, "account created");
    Ok(NewAccount { account, key })
}

/// Creates a first account, unless there is one already (`None` then).
pub async fn bootstrap(store: &Store, name: &str) -> Result<Option<NewAccount>, StoreError> {
    if store.has_accounts().await? {
        return Ok(None);
    }
    create_account(store, name).await.map(Some)
}
