//! The service's error, and the one place it becomes a gRPC status.
//!
//! Handlers return [`Result`]: domain rule breaks (`ApiError`) and store failures
//! (`StoreError`) both convert with `?`. [`ServiceError`] becomes a `tonic::Status` in exactly one
//! place, [`reply`]: store errors are mapped to the API error they mean, and an unexpected
//! failure is logged there, once, and reaches the caller only as an opaque `ServerError`.

use livemsg_domain::{ApiError, ErrorCode};
use livemsg_store::StoreError;

/// What a service call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A rule broken by the request, or an error already mapped to the API's.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The store failed, or found nothing.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A call names no caller, or does not prove it (the gateway always sends a proven one).
    #[error("the request names no caller, or does not prove it")]
    NoCaller,
}

/// The service's result.
pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

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
        StoreError::AppDisabled => ApiError::new(ErrorCode::NoAuth, "App is disabled."),
        StoreError::TooManyGroups {
            quota,
            recovering: true,
        } => ApiError::new(
            ErrorCode::ErrorTooManyGroups,
            format!("Too many groups in app: at most {quota} groups may exist at once."),
        ),
        StoreError::TooManyGroups {
            quota,
            recovering: false,
        } => ApiError::invalid(
            "GroupId",
            format_args!(
                "cannot be created: the app has {quota} groups, the most it may have at once"
            ),
        ),
        StoreError::MuteListFull(max) => ApiError::new(
            ErrorCode::InputInvalid,
            format!("A mute list may hold at most {max} users."),
        ),
        StoreError::TooManyApps(quota) => ApiError::new(
            ErrorCode::InputInvalid,
            format!("The account has {quota} apps, the most it may have."),
        ),
        StoreError::SuperGroup => ApiError::new(
            ErrorCode::SuperLargeGroup,
            "The group is a super large group and no longer supports querying the user list.",
        ),
        StoreError::Database(err) if database_unavailable(&err) => {
            tracing::error!(error = %err, "the database is unavailable");
            ApiError::of(ErrorCode::ServiceUnavailable)
        }
        other => {
            tracing::error!(error = ?other, "store failure");
            ApiError::internal()
        }
    }
}

/// Whether a database error means Postgres cannot be reached or is going away (so the caller
/// may retry: `ServiceUnavailable`), not that the statement failed.
fn database_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        // Class 08: connection exceptions; 57P01-57P03: the server shuts down or is starting.
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    }
}

impl ServiceError {
    /// The API error the caller sees.
    pub(crate) fn into_api_error(self) -> ApiError {
        match self {
            ServiceError::Api(err) => err,
            ServiceError::Store(err) => api_error(err),
            ServiceError::NoCaller => ApiError::internal(),
        }
    }
}

impl From<ServiceError> for tonic::Status {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::NoCaller => tonic::Status::unauthenticated(err.to_string()),
            other => livemsg_proto::status_from_api_error(&other.into_api_error()),
        }
    }
}

/// A handler's answer as tonic wants it.
pub(crate) fn reply<T>(
    result: Result<T>,
) -> std::result::Result<tonic::Response<T>, tonic::Status> {
    result
        .map(tonic::Response::new)
        .map_err(tonic::Status::from)
}
