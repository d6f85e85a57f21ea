//! The one place store errors become API errors, and API errors become gRPC statuses.

use livemsg_domain::{ApiError, ErrorCode};
use livemsg_store::StoreError;

/// The API error a store error means for a caller. Unexpected failures are logged here, once,
/// and reach the caller only as an opaque `ServerError`.
pub(crate) fn api_error(err: StoreError) -> ApiError {
    match err {
        StoreError::AppNotFound => ApiError::not_found("The specified app"),
        StoreError::GroupNotFound => ApiError::not_found("The specified group"),
        StoreError::AccountNotFound => ApiError::not_found("The specified account"),
        StoreError::AccessKeyNotFound => ApiError::of(ErrorCode::InvalidAccessKeyIdNotFound),
        StoreError::RamUserNotFound => ApiError::not_found("The specified RAM user"),
        StoreError::PolicyNotFound => ApiError::not_found("The specified policy"),
        StoreError::AlreadyExists(what) => ApiError::new(
            ErrorCode::InputInvalid,
            format!("The {what} already exists."),
        ),
        StoreError::InvalidPolicy(fault) => {
            ApiError::invalid("PolicyDocument", format_args!("is invalid at {fault}"))
        }
        StoreError::InvalidName(what) => ApiError::new(
            ErrorCode::InputInvalid,
            format!("The {what} must be 1 to 64 letters, digits, '.', '_', '-' or '@'."),
        ),
        StoreError::SuperGroup => ApiError::new(
            ErrorCode::SuperLargeGroup,
            "The group is a super large group and no longer supports querying the user list.",
        ),
        StoreError::Database(sqlx::Error::PoolTimedOut) => {
            tracing::error!("database pool timed out");
            ApiError::of(ErrorCode::ServiceUnavailable)
        }
        other => {
            tracing::error!(error = ?other, "store failure");
            ApiError::internal()
        }
    }
}

/// A gRPC status for a store error.
pub(crate) fn status(err: StoreError) -> tonic::Status {
    livemsg_proto::status_from_api_error(&api_error(err))
}

/// A gRPC status for an API error (a rule broken by the request, or an error already mapped).
pub(crate) fn invalid(err: ApiError) -> tonic::Status {
    livemsg_proto::status_from_api_error(&err)
}
