//! Who signed a request: AccessKeys resolved through the service, kept for a bounded time.
//!
//! Each lookup asks the service for the key's secret, its RAM user and that user's policies,
//! parses the policies once, and keeps the result for `auth_cache_ttl_ms` (a few seconds by
//! default). A change made by an administrator (a key disabled or deleted, a policy attached or
//! detached) therefore takes effect in every gateway within that time. Unknown keys are kept
//! too, so a flood of made-up keys costs the service one lookup per key and period.

use std::sync::Arc;
use std::time::Duration;

use livemsg_domain::policy::Policy;
use livemsg_domain::{ApiError, ErrorCode};
use livemsg_proto::auth::v1::auth_service_client::AuthServiceClient;
use livemsg_proto::auth::v1::ResolveAccessKeyRequest;
use livemsg_proto::AuthenticatedChannel;

/// A resolved AccessKey.
pub(crate) struct Principal {
    /// The account the key acts for.
    pub account_id: i64,
    /// The signing secret.
    pub secret: String,
    /// Whether the key may be used.
    pub enabled: bool,
    /// `None` for the account's root key, else the RAM user and its policies.
    pub ram_user: Option<RamUser>,
    /// The service's proof that this gateway resolved a key of the account, sent with every
    /// call made for it.
    pub caller_proof: String,
    /// About how many bytes this principal holds (for the cache's bound).
    weight: usize,
}

/// A RAM user and the policies attached to it.
#[derive(Debug)]
pub(crate) struct RamUser {
    /// The user's name.
    pub name: String,
    /// Its policies, parsed.
    pub policies: Vec<Policy>,
}

impl std::fmt::Debug for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Principal")
            .field("account_id", &self.account_id)
            .field("secret", &"[REDACTED]")
            .field("enabled", &self.enabled)
            .field("ram_user", &self.ram_user)
            .finish()
    }
}

/// The most bytes the cache of resolved keys holds (ids, secrets and policy documents).
const CACHE_BYTES: u64 = 32 * 1024 * 1024;

/// Resolves AccessKeys, with a time-bounded cache.
#[derive(Debug, Clone)]
pub(crate) struct Principals {
    client: AuthServiceClient<AuthenticatedChannel>,
    cache: moka::sync::Cache<String, Option<Arc<Principal>>>,
}

impl Principals {
    /// Resolves through `client`, keeping answers for `ttl`.
    pub(crate) fn new(client: AuthServiceClient<AuthenticatedChannel>, ttl: Duration) -> Self {
        Principals {
            client,
            // Bounded by bytes, not entries: an unknown key costs its id's length, a known one
            // its secret and policy documents as well.
            cache: moka::sync::Cache::builder()
                .time_to_live(ttl)
                .weigher(|id: &String, principal: &Option<Arc<Principal>>| {
                    let size = id.len() + principal.as_ref().map_or(0, |p| p.weight);
                    u32::try_from(size + 64).unwrap_or(u32::MAX)
                })
                .max_capacity(CACHE_BYTES)
                .build(),
        }
    }

    /// The principal of `access_key_id`, or `InvalidAccessKeyId.NotFound`.
    pub(crate) async fn resolve(&self, access_key_id: &str) -> Result<Arc<Principal>, ApiError> {
        let cached = match self.cache.get(access_key_id) {
            Some(entry) => entry,
            None => {
                let entry = self.fetch(access_key_id).await?;
                self.cache.insert(access_key_id.to_owned(), entry.clone());
                entry
            }
        };
        cached.ok_or_else(|| ApiError::of(ErrorCode::InvalidAccessKeyIdNotFound))
    }

    async fn fetch(&self, access_key_id: &str) -> Result<Option<Arc<Principal>>, ApiError> {
        let response = self
            .client
            .clone()
            .resolve_access_key(ResolveAccessKeyRequest {
                access_key_id: access_key_id.to_owned(),
            })
            .await;
        let key = match response {
            Ok(response) => response.into_inner(),
            Err(status) => {
                let err = livemsg_proto::api_error_from_call(&status, "ResolveAccessKey");
                return match err.code {
                    ErrorCode::InvalidAccessKeyIdNotFound => Ok(None),
                    _ => Err(err),
                };
            }
        };
        let weight = key.access_key_secret.len()
            + key.user_name.len()
            + key.policies.iter().map(String::len).sum::<usize>();
        let ram_user = if key.user_name.is_empty() {
            None
        } else {
            let mut policies = Vec::with_capacity(key.policies.len());
            for document in &key.policies {
                // Documents are checked when created; one that no longer parses must not be
                // skipped (it might hold a Deny), so the key is refused until it is fixed.
                let policy = Policy::parse(document).map_err(|fault| {
                    tracing::error!(access_key.id = %access_key_id, %fault, "stored policy does not parse");
                    ApiError::internal()
                })?;
                policies.push(policy);
            }
            Some(RamUser {
                name: key.user_name,
                policies,
            })
        };
        Ok(Some(Arc::new(Principal {
            account_id: key.account_id,
            secret: key.access_key_secret,
            enabled: key.enabled,
            ram_user,
            caller_proof: key.caller_proof,
            weight,
        })))
    }
}
