//! livemsg's internal gRPC API: the generated code for `proto/`, plus the conversions between
//! wire and domain types.
//!
//! Errors cross gRPC in one shape: a status whose code follows from the API error code, and the
//! Alibaba code itself in the `x-livemsg-code` metadata entry, so the gateway renders exactly
//! the error the service meant without guessing from the status. [`status_from_api_error`] and
//! [`api_error_from_status`] are the only places that mapping is written.

#![allow(missing_docs, clippy::doc_lazy_continuation)]

use livemsg_domain::{ApiError, ErrorCode, GroupState};

/// Shared types.
pub mod common {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("livemsg.common.v1");
    }
}

/// Access key lookup for the gateway.
pub mod auth {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("livemsg.auth.v1");
    }
}

/// Public API operations on behalf of a caller.
pub mod api {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("livemsg.api.v1");
    }
}

/// Joins and leaves from the connection tier.
pub mod membership {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("livemsg.membership.v1");
    }
}

/// Messages for the connection tier: client sends and the message streams.
pub mod messaging {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("livemsg.messaging.v1");
    }
}

/// Administration of accounts, RAM users, keys and policies.
pub mod admin {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("livemsg.admin.v1");
    }
}

/// Membership events.
pub mod events {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("livemsg.events.v1");
    }
}

/// The encoded file descriptors of every proto, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("livemsg_descriptor");

/// Adds the internal bearer token to every call a client makes (`authorization: Bearer ...`):
/// the service refuses internal calls without it.
#[derive(Clone)]
pub struct BearerToken(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken([REDACTED])")
    }
}

impl BearerToken {
    /// Sends `token`; an empty token sends nothing (for a service that allows that).
    pub fn new(token: &str) -> Result<Self, tonic::metadata::errors::InvalidMetadataValue> {
        if token.is_empty() {
            return Ok(BearerToken(None));
        }
        let mut value: tonic::metadata::MetadataValue<tonic::metadata::Ascii> =
            format!("Bearer {token}").parse()?;
        value.set_sensitive(true);
        Ok(BearerToken(Some(value)))
    }
}

impl tonic::service::Interceptor for BearerToken {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A channel to the service that carries the internal token.
pub type AuthenticatedChannel =
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, BearerToken>;

/// The metadata key that carries the Alibaba error code across gRPC.
pub const ERROR_CODE_METADATA: &str = "x-livemsg-code";

/// The gRPC status code for an API error code.
pub fn grpc_code(code: ErrorCode) -> tonic::Code {
    match code {
        ErrorCode::InputInvalid
        | ErrorCode::MissingParameter
        | ErrorCode::InvalidVersion
        | ErrorCode::IncompleteSignature
        | ErrorCode::InvalidSignatureMethod
        | ErrorCode::InvalidTimeStampFormat => tonic::Code::InvalidArgument,
        ErrorCode::NoAuth => tonic::Code::PermissionDenied,
        ErrorCode::SignatureDoesNotMatch
        | ErrorCode::InvalidAccessKeyIdInactive
        | ErrorCode::InvalidTimeStampExpired
        | ErrorCode::SignatureNonceUsed => tonic::Code::Unauthenticated,
        ErrorCode::ResourceNotExist
        | ErrorCode::InvalidActionNotFound
        | ErrorCode::InvalidAccessKeyIdNotFound => tonic::Code::NotFound,
        ErrorCode::SuperLargeGroup | ErrorCode::ErrorTooManyGroups => {
            tonic::Code::FailedPrecondition
        }
        ErrorCode::UnsupportedOperation => tonic::Code::Unimplemented,
        ErrorCode::ThrottlingUser => tonic::Code::ResourceExhausted,
        ErrorCode::ServiceUnavailable => tonic::Code::Unavailable,
        ErrorCode::ServerError => tonic::Code::Internal,
    }
}

/// Turns an API error into the status the service returns.
pub fn status_from_api_error(err: &ApiError) -> tonic::Status {
    let mut status = tonic::Status::new(grpc_code(err.code), err.message.clone());
    if let Ok(value) = err.code_string().parse() {
        status.metadata_mut().insert(ERROR_CODE_METADATA, value);
    }
    status
}

/// Reads the API error a status carries. A status without the code metadata did not come from
/// livemsg's own error handling: the hop to the service failed (the peer is down, a TLS or
/// HTTP/2 handshake failed, a deadline passed), which the caller sees as `ServiceUnavailable`;
/// anything else (a wrong internal token, say) is a `ServerError`. Its text is never shown.
pub fn api_error_from_status(status: &tonic::Status) -> ApiError {
    let code = status
        .metadata()
        .get(ERROR_CODE_METADATA)
        .and_then(|v| v.to_str().ok());
    if let Some(err) = code.and_then(|c| ApiError::from_wire(c, status.message())) {
        return err;
    }
    match status.code() {
        tonic::Code::Unavailable
        | tonic::Code::DeadlineExceeded
        | tonic::Code::Cancelled
        | tonic::Code::Unknown
        | tonic::Code::Internal => ApiError::of(ErrorCode::ServiceUnavailable),
        _ => ApiError::internal(),
    }
}

/// Reads the API error of a failed call to `rpc` (the service's method name). When the call
/// itself failed (no livemsg error came back: the service is down, a deadline passed, the token
/// was refused), this is where it is logged, once, with the method; the caller sees only the
/// opaque error.
pub fn api_error_from_call(status: &tonic::Status, rpc: &'static str) -> ApiError {
    let err = api_error_from_status(status);
    if status.metadata().get(ERROR_CODE_METADATA).is_none() {
        tracing::error!(
            grpc.method = rpc,
            grpc.code = ?status.code(),
            grpc.message = status.message(),
            "service call failed"
        );
    }
    err
}

impl From<GroupState> for common::v1::GroupState {
    fn from(state: GroupState) -> Self {
        match state {
            GroupState::Normal => common::v1::GroupState::Normal,
            GroupState::Super => common::v1::GroupState::Super,
            GroupState::Closed => common::v1::GroupState::Closed,
        }
    }
}

impl common::v1::GroupState {
    /// The domain state; `None` for `UNSPECIFIED`.
    pub fn to_domain(self) -> Option<GroupState> {
        match self {
            common::v1::GroupState::Unspecified => None,
            common::v1::GroupState::Normal => Some(GroupState::Normal),
            common::v1::GroupState::Super => Some(GroupState::Super),
            common::v1::GroupState::Closed => Some(GroupState::Closed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_api_error_survives_the_trip_through_a_status() {
        for code in ErrorCode::ALL {
            let err = ApiError::new(code, "why it failed");
            let back = api_error_from_status(&status_from_api_error(&err));
            assert_eq!(back, err);
        }
        let missing = ApiError::missing("GroupId");
        assert_eq!(
            api_error_from_status(&status_from_api_error(&missing)),
            missing
        );
    }

    #[test]
    fn foreign_statuses_never_leak_their_text() {
        let err = api_error_from_status(&tonic::Status::unauthenticated("token mismatch"));
        assert_eq!(err, ApiError::internal());
        let broken = api_error_from_status(&tonic::Status::internal("h2 protocol error"));
        assert_eq!(broken.code, ErrorCode::ServiceUnavailable);
        assert!(!broken.message.contains("h2"));
        let down = api_error_from_status(&tonic::Status::unavailable("connection refused"));
        assert_eq!(down.code, ErrorCode::ServiceUnavailable);
        assert!(!down.message.contains("refused"));
    }

    #[test]
    fn group_states_convert_both_ways() {
        for s in [GroupState::Normal, GroupState::Super, GroupState::Closed] {
            assert_eq!(common::v1::GroupState::from(s).to_domain(), Some(s));
        }
        assert_eq!(common::v1::GroupState::Unspecified.to_domain(), None);
    }
}
