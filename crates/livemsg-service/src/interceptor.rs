//! The bearer-token checks in front of the livemsg gRPC services, one per role: the gateway's
//! token opens AccessKey lookups and the public API, the connection tier's tokens open
//! membership, events and messages (for every account, or for one account's apps) and the
//! public API for the apps they may touch (every public call also proves its account with a
//! caller proof), and the admin token opens administration. Health checks and reflection (where
//! configured) stay open.

use subtle::ConstantTimeEq;

use crate::proofs::Proofs;

/// Checks one fixed token.
#[derive(Clone)]
pub(crate) enum TokenCheck {
    /// Calls must carry `authorization: Bearer <token>` (stored as that whole header value).
    Require(Vec<u8>),
    /// Every call is accepted (`internal.allow_unauthenticated`).
    Open,
    /// Every call is refused (a role without a token configured).
    Closed(&'static str),
}

impl TokenCheck {
    pub(crate) fn bearer(token: &str) -> TokenCheck {
        TokenCheck::Require(format!("Bearer {token}").into_bytes())
    }
}

impl std::fmt::Debug for TokenCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCheck([REDACTED])")
    }
}

fn authorization(request: &tonic::Request<()>) -> &[u8] {
    request
        .metadata()
        .get("authorization")
        .map(|v| v.as_bytes())
        .unwrap_or_default()
}

fn refused() -> tonic::Status {
    tonic::Status::unauthenticated("internal calls need the bearer token of their role")
}

impl tonic::service::Interceptor for TokenCheck {
    fn call(&mut self, request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        match self {
            TokenCheck::Open => Ok(request),
            TokenCheck::Closed(why) => Err(tonic::Status::permission_denied(*why)),
            TokenCheck::Require(expected) => {
                if bool::from(authorization(&request).ct_eq(expected)) {
                    Ok(request)
                } else {
                    Err(refused())
                }
            }
        }
    }
}

/// What a connection-tier call may touch: every app, or the apps of one account. The tier's
/// interceptor puts it in the request; handlers admit each app through
/// [`crate::internal::tier::TierGuard`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TierScope {
    /// The platform's own connection tier (the edge): every account.
    All,
    /// A customer's connection tier: this account's apps only.
    Account(i64),
}

/// Checks the connection tier's token: the platform token, or an account tier token.
#[derive(Clone)]
pub(crate) struct TierCheck {
    pub(crate) platform: Option<Vec<u8>>,
    pub(crate) proofs: Proofs,
    pub(crate) open: bool,
}

impl std::fmt::Debug for TierCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TierCheck([REDACTED])")
    }
}

impl tonic::service::Interceptor for TierCheck {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        let given = authorization(&request);
        let scope = if self.open
            || self
                .platform
                .as_ref()
                .is_some_and(|expected| bool::from(given.ct_eq(expected)))
        {
            TierScope::All
        } else {
            let token = std::str::from_utf8(given)
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or_default();
            match self.proofs.tier_account(token) {
                Some(account) => TierScope::Account(account),
                None => return Err(refused()),
            }
        };
        request.extensions_mut().insert(scope);
        Ok(request)
    }
}

/// The public API's check: the gateway's token, or a connection tier's (which still needs a
/// caller proof per call, handed out by `ResolveApp` only for the apps it may touch).
#[derive(Debug, Clone)]
pub(crate) struct PublicCheck {
    pub(crate) gateway: TokenCheck,
    pub(crate) tier: TierCheck,
}

impl tonic::service::Interceptor for PublicCheck {
    fn call(&mut self, request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let TokenCheck::Require(expected) = &self.gateway {
            if bool::from(authorization(&request).ct_eq(expected)) {
                return Ok(request);
            }
        }
        if matches!(self.gateway, TokenCheck::Open) {
            return Ok(request);
        }
        self.tier.call(request)
    }
}
