//! The store's error type, and the one place SQLSTATE codes become domain errors.

/// The SQLSTATE codes the store reacts to (PostgreSQL Appendix A).
pub(crate) mod pg_error_codes {
    /// `foreign_key_violation`: the parent row is missing.
    pub(crate) const FOREIGN_KEY_VIOLATION: &str = "23503";
    /// `unique_violation`: the row exists already.
    pub(crate) const UNIQUE_VIOLATION: &str = "23505";
}

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
    /// The RAM user does not exist in the account.
    #[error("RAM user not found")]
    RamUserNotFound,
    /// The policy does not exist in the account.
    #[error("policy not found")]
    PolicyNotFound,
    /// A RAM user or policy name breaks the naming rule.
    #[error("{0} must be 1 to 64 letters, digits, '.', '_', '-' or '@'")]
    InvalidName(&'static str),
    /// A RAM user or policy of that name exists already in the account.
    #[error("{0} already exists")]
    AlreadyExists(&'static str),
    /// The policy document is malformed.
    #[error("invalid policy: {0}")]
    InvalidPolicy(#[from] livemsg_domain::policy::PolicyError),
    /// A secret is sealed with a key the keyring does not hold.
    #[error("an AccessKey secret is sealed with a key that is not configured")]
    SecretKeyMissing,
    /// The app is disabled: it takes no logon, join, send or change of its groups.
    #[error("app is disabled")]
    AppDisabled,
    /// The app has as many live groups as its quota allows (`what` names the call).
    #[error("the app has {quota} live groups, its quota")]
    TooManyGroups {
        /// The quota.
        quota: i64,
        /// Whether the call recovers a group (`ErrorTooManyGroups`) or creates one.
        recovering: bool,
    },
    /// The group has no member, and the send requires one.
    #[error("the group has no member")]
    GroupEmpty,
    /// The group carries as many message types as it may.
    #[error("the group carries {0} message types, the most it may")]
    TooManyMessageTypes(i32),
    /// A mute list would pass its cap.
    #[error("a mute list may hold at most {0} users")]
    MuteListFull(usize),
    /// The sender of a client message is muted in the group.
    #[error("the sender is muted")]
    Muted,
    /// The sender of a client message has not joined the group.
    #[error("the sender is not a member of the group")]
    NotMember,
    /// The receiver of a user message is not logged on.
    #[error("the receiver is not logged on")]
    ReceiverOffline,
    /// The account has as many apps as its quota allows.
    #[error("the account has {0} apps, its quota")]
    TooManyApps(i64),
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
    /// Maps a failed insert: a foreign key violation means the parent row is missing, which the
    /// caller names with `missing_parent`.
    pub(crate) fn from_insert(err: sqlx::Error, missing_parent: StoreError) -> StoreError {
        Self::from_write(err, missing_parent, "record")
    }

    /// Maps a failed write: a foreign key violation is `missing_parent`, a unique violation is
    /// `AlreadyExists(what)`.
    pub(crate) fn from_write(
        err: sqlx::Error,
        missing_parent: StoreError,
        what: &'static str,
    ) -> StoreError {
        if let sqlx::Error::Database(db) = &err {
            match db.code().as_deref() {
                Some(pg_error_codes::FOREIGN_KEY_VIOLATION) => return missing_parent,
                Some(pg_error_codes::UNIQUE_VIOLATION) => return StoreError::AlreadyExists(what),
                _ => {}
            }
        }
        StoreError::Database(err)
    }
}
