//! The bearer-token check in front of every livemsg gRPC service.

/// Checks the bearer token of every call to a livemsg service (health checks and reflection
/// stay open, for probes and tooling).
#[derive(Clone)]
pub(crate) enum TokenCheck {
    /// Calls must carry `authorization: Bearer <token>` (stored as that whole header value).
    Require(Vec<u8>),
    /// Every call is accepted (`internal.allow_unauthenticated`).
    Open,
    /// Every call is refused (the admin API without an admin token).
    Closed,
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

impl tonic::service::Interceptor for TokenCheck {
    fn call(&mut self, request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        use subtle::ConstantTimeEq;
        let expected = match self {
            TokenCheck::Require(expected) => expected,
            TokenCheck::Open => return Ok(request),
            TokenCheck::Closed => {
                return Err(tonic::Status::permission_denied(
                    "the admin API is disabled: set internal.admin_token",
                ))
            }
        };
        let given = request
            .metadata()
            .get("authorization")
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if bool::from(given.ct_eq(expected)) {
            Ok(request)
        } else {
            Err(tonic::Status::unauthenticated(
                "internal calls need the service's bearer token",
            ))
        }
    }
}
