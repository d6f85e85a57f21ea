//! Accounts, AccessKeys, RAM users and policies.
//!
//! The statements here are fixed, so they are written with sqlx's compile-checked macros:
//! their columns and types are checked against the schema at build time (from the committed
//! `.sqlx/` data; `scripts/sqlx-prepare` refreshes it after a change).

use livemsg_domain::policy::Policy;

use crate::records::{AccessKey, Account, RamUser, ResolvedKey};
use crate::{ids, Store, StoreError};

/// RAM user and policy names: letters, digits, `.`, `_`, `-`, `@`; 1 to 64 characters.
fn check_name(kind: &'static str, name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidName(kind))
    }
}

/// How a stored secret is kept: sealed under a named key, or (written before encryption)
/// in plaintext until `reencrypt-secrets` seals it.
struct StoredSecret {
    access_key_id: String,
    plaintext: Option<String>,
    key_name: Option<String>,
    sealed: Option<Vec<u8>>,
}

impl Store {
    /// Creates an account with a fresh 16-digit id.
    pub async fn create_account(&self, name: &str) -> Result<Account, StoreError> {
        loop {
            let account_id = ids::account_id();
            let inserted = sqlx::query!(
                "INSERT INTO accounts (account_id, name) VALUES ($1, $2)
                 ON CONFLICT (account_id) DO NOTHING",
                account_id,
                name,
            )
            .execute(&self.pool)
            .await?
            .rows_affected();
            if inserted == 1 {
                return Ok(Account {
                    account_id,
                    name: name.to_owned(),
                });
            }
        }
    }

    /// Whether an account exists.
    pub async fn account_exists(&self, account_id: i64) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM accounts WHERE account_id = $1) AS "exists!""#,
            account_id,
        )
        .fetch_one(&self.pool)
        .await?)
    }

    /// Whether any account exists.
    pub async fn has_accounts(&self) -> Result<bool, StoreError> {
        Ok(
            sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM accounts) AS "exists!""#)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Creates an enabled AccessKey pair: the account's root key, or, with `user_name`, a key
    /// of that RAM user of the account.
    pub async fn create_access_key(
        &self,
        account_id: i64,
        user_name: Option<&str>,
    ) -> Result<AccessKey, StoreError> {
        let ram_user_id: Option<i64> = match user_name {
            None => None,
            Some(name) => Some(self.ram_user_id(account_id, name).await?),
        };
        let key = AccessKey {
            access_key_id: ids::access_key_id(),
            account_id,
            secret: ids::access_key_secret(),
            enabled: true,
            user_name: user_name.map(str::to_owned),
        };
        let (key_name, sealed) = self.keyring.seal(&key.access_key_id, &key.secret);
        sqlx::query!(
            "INSERT INTO access_keys
                 (access_key_id, account_id, ram_user_id, secret_key_id, secret_ciphertext, enabled)
             VALUES ($1, $2, $3, $4, $5, TRUE)",
            &key.access_key_id,
            account_id,
            ram_user_id,
            key_name,
            sealed,
        )
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::from_insert(e, StoreError::AccountNotFound))?;
        Ok(key)
    }

    /// Looks up an AccessKey, its secret opened, with its RAM user's policy documents.
    pub async fn resolve_access_key(&self, access_key_id: &str) -> Result<ResolvedKey, StoreError> {
        let row = sqlx::query!(
            r#"SELECT k.access_key_id, k.account_id, k.enabled, k.secret, k.secret_key_id,
                      k.secret_ciphertext, k.ram_user_id, u.user_name AS "user_name?"
               FROM access_keys k LEFT JOIN ram_users u ON u.ram_user_id = k.ram_user_id
               WHERE k.access_key_id = $1"#,
            access_key_id,
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::AccessKeyNotFound)?;
        let secret = self.open_secret(StoredSecret {
            access_key_id: row.access_key_id.clone(),
            plaintext: row.secret,
            key_name: row.secret_key_id,
            sealed: row.secret_ciphertext,
        })?;
        let policies = match row.ram_user_id {
            None => Vec::new(),
            Some(id) => {
                sqlx::query_scalar!(
                    "SELECT p.document FROM ram_user_policies up
                     JOIN policies p ON p.policy_id = up.policy_id
                     WHERE up.ram_user_id = $1 ORDER BY p.policy_id",
                    id,
                )
                .fetch_all(&self.pool)
                .await?
            }
        };
        Ok(ResolvedKey {
            key: AccessKey {
                access_key_id: row.access_key_id,
                account_id: row.account_id,
                secret,
                enabled: row.enabled,
                user_name: row.user_name,
            },
            policies,
        })
    }

    fn open_secret(&self, stored: StoredSecret) -> Result<String, StoreError> {
        match (stored.sealed, stored.key_name) {
            (Some(sealed), Some(key_name)) => {
                self.keyring.open(&key_name, &stored.access_key_id, &sealed)
            }
            _ => stored
                .plaintext
                .ok_or(StoreError::Corrupt("access_keys.secret")),
        }
    }

    /// Enables or disables an AccessKey.
    pub async fn set_access_key_enabled(
        &self,
        access_key_id: &str,
        enabled: bool,
    ) -> Result<(), StoreError> {
        let updated = sqlx::query!(
            "UPDATE access_keys SET enabled = $2 WHERE access_key_id = $1",
            access_key_id,
            enabled,
        )
        .execute(&self.pool)
        .await?
        .rows_affected();
        if updated == 0 {
            return Err(StoreError::AccessKeyNotFound);
        }
        Ok(())
    }

    /// Deletes an AccessKey.
    pub async fn delete_access_key(&self, access_key_id: &str) -> Result<(), StoreError> {
        let deleted = sqlx::query!(
            "DELETE FROM access_keys WHERE access_key_id = $1",
            access_key_id,
        )
        .execute(&self.pool)
        .await?
        .rows_affected();
        if deleted == 0 {
            return Err(StoreError::AccessKeyNotFound);
        }
        Ok(())
    }

    /// Re-seals every AccessKey secret and every AppKey under the keyring's active key (and
    /// seals the ones still stored in plaintext). Returns how many rows were rewritten.
    pub async fn reencrypt_secrets(&self) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query!(
            "SELECT access_key_id, secret, secret_key_id, secret_ciphertext FROM access_keys
             WHERE secret IS NOT NULL OR secret_key_id IS DISTINCT FROM $1
             FOR UPDATE",
            self.keyring.active(),
        )
        .fetch_all(&mut *tx)
        .await?;
        let rewritten = rows.len() as u64;
        for row in rows {
            let id = row.access_key_id;
            let secret = self.open_secret(StoredSecret {
                access_key_id: id.clone(),
                plaintext: row.secret,
                key_name: row.secret_key_id,
                sealed: row.secret_ciphertext,
            })?;
            let (key_name, sealed) = self.keyring.seal(&id, &secret);
            sqlx::query!(
                "UPDATE access_keys SET secret = NULL, secret_key_id = $2, secret_ciphertext = $3
                 WHERE access_key_id = $1",
                id,
                key_name,
                sealed,
            )
            .execute(&mut *tx)
            .await?;
        }
        // AppKeys likewise.
        let apps = sqlx::query!(
            "SELECT app_id, app_key, app_key_key_id, app_key_ciphertext FROM apps
             WHERE app_key IS NOT NULL OR app_key_key_id IS DISTINCT FROM $1
             FOR UPDATE",
            self.keyring.active(),
        )
        .fetch_all(&mut *tx)
        .await?;
        let rewritten = rewritten + apps.len() as u64;
        for app in apps {
            let app_key = crate::records::open_app_key(
                &self.keyring,
                &app.app_id,
                app.app_key,
                app.app_key_key_id,
                app.app_key_ciphertext,
            )?;
            let (key_name, sealed) = self
                .keyring
                .seal(&crate::records::app_key_aad(&app.app_id), &app_key);
            sqlx::query!(
                "UPDATE apps SET app_key = NULL, app_key_key_id = $2, app_key_ciphertext = $3
                 WHERE app_id = $1",
                app.app_id,
                key_name,
                sealed,
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(rewritten)
    }

    async fn ram_user_id(&self, account_id: i64, user_name: &str) -> Result<i64, StoreError> {
        sqlx::query_scalar!(
            "SELECT ram_user_id FROM ram_users WHERE account_id = $1 AND user_name = $2",
            account_id,
            user_name,
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::RamUserNotFound)
    }

    /// Creates a RAM user in an account.
    pub async fn create_ram_user(
        &self,
        account_id: i64,
        user_name: &str,
    ) -> Result<RamUser, StoreError> {
        check_name("RAM user name", user_name)?;
        sqlx::query!(
            "INSERT INTO ram_users (account_id, user_name) VALUES ($1, $2)",
            account_id,
            user_name,
        )
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::from_write(e, StoreError::AccountNotFound, "RAM user"))?;
        Ok(RamUser {
            account_id,
            user_name: user_name.to_owned(),
        })
    }

    /// Creates a policy after checking its document.
    pub async fn create_policy(
        &self,
        account_id: i64,
        policy_name: &str,
        document: &str,
    ) -> Result<(), StoreError> {
        check_name("policy name", policy_name)?;
        Policy::parse(document)?;
        sqlx::query!(
            "INSERT INTO policies (account_id, policy_name, document) VALUES ($1, $2, $3)",
            account_id,
            policy_name,
            document,
        )
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::from_write(e, StoreError::AccountNotFound, "policy"))?;
        Ok(())
    }

    /// Attaches a policy to a RAM user of the same account (again: no change).
    pub async fn attach_policy(
        &self,
        account_id: i64,
        user_name: &str,
        policy_name: &str,
    ) -> Result<(), StoreError> {
        let user = self.ram_user_id(account_id, user_name).await?;
        let policy = sqlx::query_scalar!(
            "SELECT policy_id FROM policies WHERE account_id = $1 AND policy_name = $2",
            account_id,
            policy_name,
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::PolicyNotFound)?;
        sqlx::query!(
            "INSERT INTO ram_user_policies (ram_user_id, policy_id) VALUES ($1, $2)
             ON CONFLICT DO NOTHING",
            user,
            policy,
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Detaches a policy from a RAM user.
    pub async fn detach_policy(
        &self,
        account_id: i64,
        user_name: &str,
        policy_name: &str,
    ) -> Result<(), StoreError> {
        let user = self.ram_user_id(account_id, user_name).await?;
        let detached = sqlx::query!(
            "DELETE FROM ram_user_policies up USING policies p
             WHERE up.policy_id = p.policy_id AND up.ram_user_id = $1
               AND p.account_id = $2 AND p.policy_name = $3",
            user,
            account_id,
            policy_name,
        )
        .execute(&self.pool)
        .await?
        .rows_affected();
        if detached == 0 {
            return Err(StoreError::PolicyNotFound);
        }
        Ok(())
    }
}
