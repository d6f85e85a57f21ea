//! The store's error type, and the one place SQLSTATE codes become domain errors.

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The account does not exist.
    #[error("account not found")]
    AccountNotFound,
    /// The AccessKey does not exist.
    #[error("access key not found")]
    AccessKeyNotFound,
    /// The app does not exist for this caller (or not in this data center).
    #[error("app not found")]
    AppNotFound,
    /// The group does not exist in this app.
    #[error("group not found")]
    GroupNotFound,
    /// The group is a super group; its user list cannot be read.
    #[error("group is a super group")]
    SuperGroup,
    /// A stored value is outside what the schema allows.
    #[error("corrupt stored value: {0}")]
    Corrupt(&'static str),
    /// The database failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    /// Maps a failed insert: a foreign key violation (SQLSTATE 23503) means the parent row is
    /// missing, which the caller names with `missing_parent`.
    pub(crate) fn from_insert(err: sqlx::Error, missing_parent: StoreError) -> StoreError {
        if let sqlx::Error::Database(db) = &err {
            if db.code().as_deref() == Some("23503") {
                return missing_parent;
            }
        }
        StoreError::Database(err)
    }
}
