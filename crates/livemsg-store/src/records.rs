//! Rows as the store returns them, and the inputs of its create calls.

use chrono::{DateTime, Utc};
use livemsg_domain::{
    AccountId, AppName, DataCenter, GroupId, GroupInfo, GroupName, GroupState, UserId,
};

use crate::StoreError;

/// An account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The 16-digit account id.
    pub account_id: i64,
    /// A display name.
    pub name: String,
}

/// An AccessKey pair. The secret is sensitive: never log this value.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKey {
    /// The public half.
    pub access_key_id: String,
    /// The account the key acts for.
    pub account_id: i64,
    /// The signing secret.
    pub secret: String,
    /// Whether the key may be used.
    pub enabled: bool,
    /// The RAM user owning the key; `None` for the account's root key.
    pub user_name: Option<String>,
}

/// An AccessKey with the policy documents attached to its RAM user (none for a root key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedKey {
    /// The key.
    pub key: AccessKey,
    /// The attached policy documents, already validated when they were created.
    pub policies: Vec<String>,
}

/// A RAM user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RamUser {
    /// The account it belongs to.
    pub account_id: i64,
    /// Its name, unique in the account.
    pub user_name: String,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("access_key_id", &self.access_key_id)
            .field("account_id", &self.account_id)
            .field("secret", &"[REDACTED]")
            .field("enabled", &self.enabled)
            .field("user_name", &self.user_name)
            .finish()
    }
}

/// What `CreateLiveMessageApp` stores.
#[derive(Debug, Clone)]
pub struct NewApp {
    /// The owner.
    pub account: AccountId,
    /// The display name (optional in the API).
    pub app_name: Option<AppName>,
    /// Where the app lives.
    pub data_center: DataCenter,
    /// 0 none, 1 built-in, 2 custom.
    pub audit_type: i32,
    /// The custom audit URL.
    pub audit_url: String,
    /// The event callback URL; empty disables callbacks.
    pub event_callback_url: String,
    /// 0, 1 or 2: 30, 90 or 180 days.
    pub msg_life_cycle: i32,
}

/// An app as stored, its AppKey opened. Sensitive: the AppKey mints client tokens.
#[derive(Debug, Clone)]
pub struct AppRecord {
    pub app_id: String,
    pub account_id: i64,
    pub app_name: String,
    pub app_key: String,
    pub app_sign: String,
    pub data_center: String,
    pub audit_type: i32,
    pub audit_url: String,
    pub event_callback_url: String,
    pub msg_life_cycle: i32,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
}

/// An app row as read, its AppKey still sealed (or, for an app older than sealing, plain).
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct AppRow {
    pub(crate) app_id: String,
    pub(crate) account_id: i64,
    pub(crate) app_name: String,
    pub(crate) app_key: Option<String>,
    pub(crate) app_key_key_id: Option<String>,
    pub(crate) app_key_ciphertext: Option<Vec<u8>>,
    pub(crate) app_sign: String,
    pub(crate) data_center: String,
    pub(crate) audit_type: i32,
    pub(crate) audit_url: String,
    pub(crate) event_callback_url: String,
    pub(crate) msg_life_cycle: i32,
    pub(crate) disabled: bool,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) modified_at: DateTime<Utc>,
}

impl AppRow {
    /// The record, its AppKey opened with `keyring`.
    pub(crate) fn open(self, keyring: &crate::Keyring) -> Result<AppRecord, StoreError> {
        let app_key = open_app_key(
            keyring,
            &self.app_id,
            self.app_key,
            self.app_key_key_id,
            self.app_key_ciphertext,
        )?;
        Ok(AppRecord {
            app_id: self.app_id,
            account_id: self.account_id,
            app_name: self.app_name,
            app_key,
            app_sign: self.app_sign,
            data_center: self.data_center,
            audit_type: self.audit_type,
            audit_url: self.audit_url,
            event_callback_url: self.event_callback_url,
            msg_life_cycle: self.msg_life_cycle,
            disabled: self.disabled,
            created_at: self.created_at,
            modified_at: self.modified_at,
        })
    }
}

/// The associated data an app's sealed AppKey is bound to.
pub(crate) fn app_key_aad(app_id: &str) -> String {
    format!("app:{app_id}")
}

/// An AppKey as stored: sealed (key name and blob) or, from before sealing, plain.
pub(crate) fn open_app_key(
    keyring: &crate::Keyring,
    app_id: &str,
    plain: Option<String>,
    key_name: Option<String>,
    sealed: Option<Vec<u8>>,
) -> Result<String, StoreError> {
    match (sealed, key_name) {
        (Some(sealed), Some(key_name)) => keyring.open(&key_name, &app_key_aad(app_id), &sealed),
        _ => plain.ok_or(StoreError::Corrupt("apps.app_key")),
    }
}

/// What `CreateLiveMessageGroup` stores.
#[derive(Debug, Clone)]
pub struct NewGroup {
    pub group_id: GroupId,
    pub group_name: GroupName,
    pub group_info: GroupInfo,
    pub creator_id: Option<UserId>,
    pub administrators: Vec<UserId>,
}

/// A group as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GroupRecord {
    pub group_id: String,
    pub group_name: String,
    pub group_info: String,
    pub creator_id: String,
    pub admin_list: Vec<String>,
    #[sqlx(try_from = "i16")]
    pub state: StoredState,
    pub member_count: i64,
    pub total_joins: i64,
    pub deleted: bool,
    pub deleted_at: Option<DateTime<Utc>>,
    pub deletor: String,
    pub created_at: DateTime<Utc>,
}

/// A group state read from the `state` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredState(pub GroupState);

impl TryFrom<i16> for StoredState {
    type Error = StoreError;

    fn try_from(value: i16) -> Result<Self, Self::Error> {
        decode_state(value).map(StoredState)
    }
}

/// Reads a stored group state.
pub(crate) fn decode_state(value: i16) -> Result<GroupState, StoreError> {
    GroupState::from_i16(value).ok_or(StoreError::Corrupt("groups.state"))
}

/// One event of a group's outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEvent {
    /// The group's sequence number of the event, from 1, without gaps.
    pub seq: i64,
    /// What happened.
    pub kind: livemsg_domain::events::EventKind,
    /// The user who entered or left (per-user events only).
    pub user_id: Option<String>,
    /// The user's info on entering.
    pub user_info: Option<String>,
    /// The group's member count after the event.
    pub member_count: i64,
    /// For `GroupInfoChanged`: the info and administrators as JSON.
    pub payload: Option<String>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}
