//! Limits by action and account (`[ratelimit]`).

use std::collections::HashMap;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize, Serializer};

use crate::Limit;

/// The limiter's settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Turn limiting off entirely (for a trusted single tenant).
    pub enabled: bool,
    /// The Redis all gateway instances share; may carry a password, so it is a secret.
    #[serde(serialize_with = "redacted")]
    pub redis_url: SecretString,
    /// Prefix of every key the limiter writes.
    pub key_prefix: String,
    /// Calls admitted per window for every action of every account, unless overridden.
    pub per_second: u32,
    /// The window, in milliseconds: 1000 for "per second".
    pub window_ms: u64,
    /// How long one Redis check may take before the in-process fallback decides.
    pub timeout_ms: u64,
    /// While falling back, how often Redis is tried again.
    pub retry_redis_after_ms: u64,
    /// How many gateway instances share the limit; the fallback admits `limit / instances`
    /// in each, so the account's total stays near its limit while Redis is away.
    pub gateway_instances: u32,
    /// Per-action limits, by action name (any case).
    pub actions: HashMap<String, u32>,
    /// Per-account overrides, by account id.
    pub accounts: HashMap<String, AccountLimits>,
}

/// One account's limits.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct AccountLimits {
    /// Calls per window for every action of this account.
    pub per_second: Option<u32>,
    /// Per-action limits of this account, by action name (any case).
    pub actions: HashMap<String, u32>,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            enabled: true,
            redis_url: SecretString::from("redis://127.0.0.1:6379"),
            key_prefix: "livemsg:rl".to_owned(),
            per_second: 50,
            window_ms: 1_000,
            timeout_ms: 50,
            retry_redis_after_ms: 1_000,
            gateway_instances: 1,
            actions: HashMap::new(),
            accounts: HashMap::new(),
        }
    }
}

/// The URL may carry a password: listed as `<secret>`.
fn redacted<S: Serializer>(_: &SecretString, out: S) -> Result<S::Ok, S::Error> {
    out.serialize_str("<secret>")
}

fn lookup(map: &HashMap<String, u32>, action: &str) -> Option<u32> {
    map.iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(action))
        .map(|(_, limit)| *limit)
}

impl RateLimitSettings {
    /// The limit of `action` for `account_id`: the account's limit for the action, else the
    /// account's limit, else the action's, else the default.
    pub fn limit_for(&self, account_id: i64, action: &str) -> Limit {
        let account = self.accounts.get(&account_id.to_string());
        let max = account
            .and_then(|a| lookup(&a.actions, action).or(a.per_second))
            .or_else(|| lookup(&self.actions, action))
            .unwrap_or(self.per_second);
        Limit {
            max,
            window: self.window(),
        }
    }

    /// The rolling window.
    pub fn window(&self) -> Duration {
        Duration::from_millis(self.window_ms.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_and_action_overrides_take_precedence_in_order() {
        let mut settings = RateLimitSettings::default();
        settings
            .actions
            .insert("listlivemessagegroupusers".into(), 30);
        let mut premium = AccountLimits {
            per_second: Some(200),
            ..Default::default()
        };
        premium.actions.insert("CreateLiveMessageApp".into(), 5);
        settings.accounts.insert("42".into(), premium);

        let max = |account, action| settings.limit_for(account, action).max;
        assert_eq!(max(1, "DescribeLiveMessageGroup"), 50);
        assert_eq!(max(1, "ListLiveMessageGroupUsers"), 30);
        assert_eq!(max(42, "ListLiveMessageGroupUsers"), 200);
        assert_eq!(max(42, "createlivemessageapp"), 5);
        assert_eq!(settings.limit_for(1, "x").window, Duration::from_secs(1));
    }
}
