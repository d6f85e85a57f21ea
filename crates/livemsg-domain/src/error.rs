//! API error codes and the error value every layer passes along.
//!
//! [`ErrorCode`] is the single table of what can go wrong in the public API: its Alibaba code
//! string, its HTTP status and a default message. The gRPC mapping lives in `livemsg-proto`
//! and the JSON rendering in `livemsg-gateway`; both read this table and nothing else.

use std::fmt;

/// Every error code livemsg answers with, as the Alibaba Cloud API family spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// An input parameter breaks a rule (the message names the field and the rule).
    InputInvalid,
    /// A required parameter is absent (the message names it).
    MissingParameter,
    /// The caller may not perform this action on this resource.
    NoAuth,
    /// The app or group does not exist for this caller.
    ResourceNotExist,
    /// The group is a super group; its user list cannot be read.
    SuperLargeGroup,
    /// Something failed inside livemsg; details are logged, never sent.
    ServerError,
    /// The `Action` names no operation of this API.
    InvalidActionNotFound,
    /// An operation of the API family that this livemsg version does not implement yet.
    UnsupportedOperation,
    /// The `Version` is not `2016-11-01`.
    InvalidVersion,
    /// The AccessKeyId is unknown.
    InvalidAccessKeyIdNotFound,
    /// The AccessKey is disabled.
    InvalidAccessKeyIdInactive,
    /// The signature does not match the server's calculation.
    SignatureDoesNotMatch,
    /// The request carries a malformed signature.
    IncompleteSignature,
    /// The signature method or version is not supported.
    InvalidSignatureMethod,
    /// The request timestamp is malformed.
    InvalidTimeStampFormat,
    /// The request timestamp is outside the accepted window.
    InvalidTimeStampExpired,
    /// The signature nonce was already used.
    SignatureNonceUsed,
    /// The caller exceeded its rate limit.
    ThrottlingUser,
    /// A backing service is temporarily unavailable.
    ServiceUnavailable,
    /// Recovering the group would take the app past its quota of live groups.
    ErrorTooManyGroups,
}

impl ErrorCode {
    /// Every code, for tests and documentation.
    pub const ALL: [ErrorCode; 20] = [
        ErrorCode::InputInvalid,
        ErrorCode::MissingParameter,
        ErrorCode::NoAuth,
        ErrorCode::ResourceNotExist,
        ErrorCode::SuperLargeGroup,
        ErrorCode::ServerError,
        ErrorCode::InvalidActionNotFound,
        ErrorCode::UnsupportedOperation,
        ErrorCode::InvalidVersion,
        ErrorCode::InvalidAccessKeyIdNotFound,
        ErrorCode::InvalidAccessKeyIdInactive,
        ErrorCode::SignatureDoesNotMatch,
        ErrorCode::IncompleteSignature,
        ErrorCode::InvalidSignatureMethod,
        ErrorCode::InvalidTimeStampFormat,
        ErrorCode::InvalidTimeStampExpired,
        ErrorCode::SignatureNonceUsed,
        ErrorCode::ThrottlingUser,
        ErrorCode::ServiceUnavailable,
        ErrorCode::ErrorTooManyGroups,
    ];

    /// The code string of the JSON error body.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InputInvalid => "InputInvalid",
            ErrorCode::MissingParameter => "MissingParameter",
            ErrorCode::NoAuth => "NoAuth",
            ErrorCode::ResourceNotExist => "ResourceNotExist",
            ErrorCode::SuperLargeGroup => "SuperLargeGroup",
            ErrorCode::ServerError => "ServerError",
            ErrorCode::InvalidActionNotFound => "InvalidAction.NotFound",
            ErrorCode::UnsupportedOperation => "UnsupportedOperation",
            ErrorCode::InvalidVersion => "InvalidVersion",
            ErrorCode::InvalidAccessKeyIdNotFound => "InvalidAccessKeyId.NotFound",
            ErrorCode::InvalidAccessKeyIdInactive => "InvalidAccessKeyId.Inactive",
            ErrorCode::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            ErrorCode::IncompleteSignature => "IncompleteSignature",
            ErrorCode::InvalidSignatureMethod => "InvalidSignatureMethod",
            ErrorCode::InvalidTimeStampFormat => "InvalidTimeStamp.Format",
            ErrorCode::InvalidTimeStampExpired => "InvalidTimeStamp.Expired",
            ErrorCode::SignatureNonceUsed => "SignatureNonceUsed",
            ErrorCode::ThrottlingUser => "Throttling.User",
            ErrorCode::ServiceUnavailable => "ServiceUnavailable",
            ErrorCode::ErrorTooManyGroups => "ErrorTooManyGroups",
        }
    }

    /// Parses a code string back (used when an error crosses gRPC).
    pub fn parse(code: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == code)
    }

    /// The HTTP status the public API answers with.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InputInvalid
            | ErrorCode::MissingParameter
            | ErrorCode::UnsupportedOperation
            | ErrorCode::InvalidVersion
            | ErrorCode::InvalidAccessKeyIdInactive
            | ErrorCode::SignatureDoesNotMatch
            | ErrorCode::IncompleteSignature
            | ErrorCode::InvalidSignatureMethod
            | ErrorCode::InvalidTimeStampFormat
            | ErrorCode::InvalidTimeStampExpired
            | ErrorCode::SignatureNonceUsed
            | ErrorCode::ThrottlingUser
            | ErrorCode::ErrorTooManyGroups => 400,
            ErrorCode::NoAuth => 403,
            ErrorCode::ResourceNotExist
            | ErrorCode::InvalidActionNotFound
            | ErrorCode::InvalidAccessKeyIdNotFound => 404,
            ErrorCode::SuperLargeGroup => 420,
            ErrorCode::ServerError => 500,
            ErrorCode::ServiceUnavailable => 503,
        }
    }

    /// The message used when the caller has nothing more specific to say.
    pub fn default_message(self) -> &'static str {
        match self {
            ErrorCode::InputInvalid => "Illegal input parameters.",
            ErrorCode::MissingParameter => "A required parameter is missing.",
            ErrorCode::NoAuth => "No permission.",
            ErrorCode::ResourceNotExist => {
                "The requested resource does not exist, please check and try again."
            }
            ErrorCode::SuperLargeGroup => {
                "The group has more than 2000 members and no longer supports querying the user list."
            }
            ErrorCode::ServerError => "Unknown error, please try again later.",
            ErrorCode::InvalidActionNotFound => {
                "Specified api is not found, please check your url and method."
            }
            ErrorCode::UnsupportedOperation => {
                "The specified action is not supported by this livemsg version."
            }
            ErrorCode::InvalidVersion => "Specified parameter Version is not valid.",
            ErrorCode::InvalidAccessKeyIdNotFound => "Specified access key is not found.",
            ErrorCode::InvalidAccessKeyIdInactive => "Specified access key is disabled.",
            ErrorCode::SignatureDoesNotMatch => {
                "Specified signature does not match our calculation."
            }
            ErrorCode::IncompleteSignature => {
                "The request signature does not conform to Aliyun standards."
            }
            ErrorCode::InvalidSignatureMethod => "Specified signature method is not supported.",
            ErrorCode::InvalidTimeStampFormat => {
                "Specified time stamp or date value is not well formatted."
            }
            ErrorCode::InvalidTimeStampExpired => {
                "Specified time stamp or date value is expired."
            }
            ErrorCode::SignatureNonceUsed => "Specified signature nonce was used already.",
            ErrorCode::ThrottlingUser => "Request was denied due to user flow control.",
            ErrorCode::ServiceUnavailable => {
                "The request has failed due to a temporary failure of the server."
            }
            ErrorCode::ErrorTooManyGroups => "Too many groups in app.",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error as the public API reports it: a code and a message safe to show the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", self.code_string())]
pub struct ApiError {
    /// What kind of error this is.
    pub code: ErrorCode,
    /// A message for the caller; never carries internal details.
    pub message: String,
    /// For `MissingParameter`: the parameter, which the wire code names (`MissingGroupId`).
    pub param: Option<String>,
    /// For `Throttling.User`: how long until a call would be admitted.
    pub retry_after: Option<std::time::Duration>,
    /// For `NoAuth`: why, as the `AccessDeniedDetail` of the error body.
    pub access_denied: Option<Box<AccessDenied>>,
}

/// Why a caller was denied, shown so that a user can see which right is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessDenied {
    /// The action asked for, `live:ListLiveMessageGroupUsers`.
    pub auth_action: String,
    /// The resource asked for.
    pub resource: String,
    /// `ImplicitDeny` (no Allow matched) or `ExplicitDeny` (a Deny matched).
    pub no_permission_type: &'static str,
    /// `SubUser` for a RAM user.
    pub principal_type: &'static str,
    /// The RAM user's name.
    pub principal_name: String,
    /// The account owning the principal.
    pub principal_owner_id: i64,
}

impl ApiError {
    /// An error with an explicit message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            param: None,
            retry_after: None,
            access_denied: None,
        }
    }

    /// The code as sent on the wire. Alibaba's gateway names a missing parameter in the code
    /// itself (`MissingGroupId`), and the SDKs surface that string to the user.
    pub fn code_string(&self) -> String {
        match (&self.code, &self.param) {
            (ErrorCode::MissingParameter, Some(param)) => format!("Missing{param}"),
            (code, _) => code.as_str().to_owned(),
        }
    }

    /// Rebuilds an error from its wire code and message (the inverse of [`ApiError::code_string`]).
    pub fn from_wire(code: &str, message: impl Into<String>) -> Option<Self> {
        if let Some(known) = ErrorCode::parse(code) {
            return Some(ApiError::new(known, message));
        }
        let param = code.strip_prefix("Missing").filter(|p| !p.is_empty())?;
        let mut err = ApiError::new(ErrorCode::MissingParameter, message);
        err.param = Some(param.to_owned());
        Some(err)
    }

    /// An error with the code's default message.
    pub fn of(code: ErrorCode) -> Self {
        ApiError::new(code, code.default_message())
    }

    /// `InputInvalid` naming the field and the rule it breaks.
    pub fn invalid(field: &str, rule: impl fmt::Display) -> Self {
        ApiError::new(ErrorCode::InputInvalid, format!("{field} {rule}."))
    }

    /// `MissingParameter` naming the parameter, in the gateway's wording.
    pub fn missing(param: &str) -> Self {
        let mut err = ApiError::new(
            ErrorCode::MissingParameter,
            format!("{param} is mandatory for this action."),
        );
        err.param = Some(param.to_owned());
        err
    }

    /// `ResourceNotExist` naming what was not found.
    pub fn not_found(what: impl fmt::Display) -> Self {
        ApiError::new(
            ErrorCode::ResourceNotExist,
            format!("{what} does not exist."),
        )
    }

    /// `Throttling.User`, saying when a call would be admitted again.
    pub fn throttled(retry_after: std::time::Duration) -> Self {
        let mut err = ApiError::of(ErrorCode::ThrottlingUser);
        err.retry_after = Some(retry_after);
        err
    }

    /// `NoAuth` for a denied principal, with the detail of the denial.
    pub fn denied(detail: AccessDenied) -> Self {
        let mut err = ApiError::new(
            ErrorCode::NoAuth,
            format!(
                "You are not authorized to perform {} on {}.",
                detail.auth_action, detail.resource
            ),
        );
        err.access_denied = Some(Box::new(detail));
        err
    }

    /// The opaque `ServerError` the caller sees when something inside failed.
    pub fn internal() -> Self {
        ApiError::of(ErrorCode::ServerError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_string() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(ErrorCode::parse("NoSuchCode"), None);
    }

    #[test]
    fn seed_codes_have_the_seed_statuses() {
        assert_eq!(ErrorCode::InputInvalid.http_status(), 400);
        assert_eq!(ErrorCode::NoAuth.http_status(), 403);
        assert_eq!(ErrorCode::ResourceNotExist.http_status(), 404);
        assert_eq!(ErrorCode::SuperLargeGroup.http_status(), 420);
        assert_eq!(ErrorCode::ServerError.http_status(), 500);
        assert_eq!(ErrorCode::InvalidAccessKeyIdNotFound.http_status(), 404);
        assert_eq!(ErrorCode::InvalidActionNotFound.http_status(), 404);
    }

    #[test]
    fn missing_parameter_message_names_the_parameter() {
        let err = ApiError::missing("GroupId");
        assert_eq!(err.code, ErrorCode::MissingParameter);
        assert_eq!(err.message, "GroupId is mandatory for this action.");
        assert_eq!(err.code_string(), "MissingGroupId");
        assert_eq!(
            ApiError::from_wire("MissingGroupId", err.message.clone()),
            Some(err)
        );
        assert_eq!(ApiError::from_wire("Missing", "x"), None);
    }
}
