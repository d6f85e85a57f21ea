//! Who a public call acts for and on what: an account, and one of its apps in a data center.
//!
//! Every public operation names "an app of the caller's account in this data center". The
//! gateway authenticates the account; the request names the app and (optionally) the data
//! center. [`AppScope`] is that triple, checked once when a request is read, so the store can
//! bind it in one place and an app of another account, or in another data center, is never
//! found.

use std::fmt;

use crate::error::ApiError;
use crate::ids::{AppId, DataCenter};

/// A 16-digit account id, like Alibaba Cloud's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(i64);

impl AccountId {
    /// Checks an account id as the internal API carries it; ids are positive.
    pub fn new(value: i64) -> Option<Self> {
        (value > 0).then_some(AccountId(value))
    }

    /// The id as stored.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An app of an account, in the data center the call names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AppScope {
    /// The caller's account.
    pub account: AccountId,
    /// The app.
    pub app: AppId,
    /// Where the caller says the app lives; the default data center when not named.
    pub data_center: DataCenter,
}

impl AppScope {
    /// Checks the app id and the data center of a request made for `account`.
    pub fn parse(account: AccountId, app_id: &str, data_center: &str) -> Result<Self, ApiError> {
        Ok(AppScope {
            account,
            app: AppId::parse(app_id)?,
            data_center: DataCenter::parse(data_center)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn a_scope_checks_its_app_id_then_its_data_center() {
        let account = AccountId::new(1_234_567_890_123_456).unwrap();
        let scope = AppScope::parse(account, "demo1", "").unwrap();
        assert_eq!(scope.app.as_str(), "demo1");
        assert_eq!(scope.data_center, DataCenter::CnShanghai);
        assert_eq!(scope.account.get(), 1_234_567_890_123_456);
        let bad_app = AppScope::parse(account, "a b", "nowhere").unwrap_err();
        assert_eq!(bad_app.code, ErrorCode::InputInvalid);
        assert_eq!(
            bad_app.message,
            "AppId may contain only letters and digits."
        );
        let bad_dc = AppScope::parse(account, "demo1", "nowhere").unwrap_err();
        assert!(
            bad_dc.message.starts_with("DataCenter "),
            "{}",
            bad_dc.message
        );
    }

    #[test]
    fn account_ids_are_positive() {
        assert!(AccountId::new(0).is_none());
        assert!(AccountId::new(-5).is_none());
        assert_eq!(AccountId::new(7).unwrap().to_string(), "7");
    }
}
