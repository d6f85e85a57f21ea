//! The one place API results become HTTP responses: JSON bodies with a `RequestId`, and
//! Alibaba's JSON error body (`RequestId`, `HostId`, `Code`, `Message`, `Recommend`).

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use livemsg_domain::ApiError;
use serde_json::{json, Value};

use crate::actions::Fields;

const JSON: &str = "application/json;charset=utf-8";
const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-acs-request-id");
const RETRY_AFTER_MS_HEADER: HeaderName = HeaderName::from_static("x-acs-retry-after");

/// A new request id: an upper-case UUID, like the service we replace.
pub(crate) fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string().to_uppercase()
}

fn with_headers(status: StatusCode, request_id: &str, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static(JSON),
    );
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// A 200 response: the operation's fields with `RequestId` added.
pub(crate) fn success(request_id: &str, fields: Fields) -> Response {
    with_headers(
        StatusCode::OK,
        request_id,
        success_body(request_id, &fields),
    )
}

/// `{"RequestId": ..., <the fields>}`, written around the fields already serialized.
fn success_body(request_id: &str, fields: &Fields) -> String {
    let members = fields.members();
    let mut body = String::with_capacity(members.len() + request_id.len() + 20);
    body.push_str("{\"RequestId\":");
    body.push_str(&Value::String(request_id.to_owned()).to_string());
    if !members.is_empty() {
        body.push(',');
        body.push_str(members);
    }
    body.push('}');
    body
}

/// Where error bodies say they came from and what they recommend.
#[derive(Debug, Clone)]
pub(crate) struct ErrorContext {
    /// The `HostId` field.
    pub host_id: String,
    /// A base URL for the `Recommend` field; empty leaves `Recommend` empty.
    pub recommend_url: String,
}

impl ErrorContext {
    /// The JSON error body of `err`.
    pub(crate) fn body(&self, request_id: &str, err: &ApiError) -> Value {
        let code = err.code_string();
        let recommend = if self.recommend_url.is_empty() {
            String::new()
        } else {
            format!(
                "{}?q={}&requestId={}",
                self.recommend_url,
                crate::signing::percent_encode(&code),
                request_id
            )
        };
        let mut body = json!({
            "RequestId": request_id,
            "HostId": self.host_id,
            "Code": code,
            "Message": err.message,
            "Recommend": recommend,
        });
        if let Some(denied) = &err.access_denied {
            body["AccessDeniedDetail"] = json!({
                "AuthAction": denied.auth_action,
                "AuthResource": denied.resource,
                "NoPermissionType": denied.no_permission_type,
                "PolicyType": "AccountLevelIdentityBasedPolicy",
                "AuthPrincipalType": denied.principal_type,
                "AuthPrincipalDisplayName": denied.principal_name,
                "AuthPrincipalOwnerId": denied.principal_owner_id.to_string(),
                "EncodedDiagnosticMessage": "",
            });
        }
        body
    }

    /// The error response of `err`, with the status its code has. A throttled call also
    /// says when to come back: `x-acs-retry-after` in milliseconds (the official SDK raises
    /// its ThrottlingException with that figure) and `Retry-After` in whole seconds.
    pub(crate) fn response(&self, request_id: &str, err: &ApiError) -> Response {
        let status = StatusCode::from_u16(err.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = with_headers(status, request_id, self.body(request_id, err).to_string());
        if let Some(retry_after) = err.retry_after {
            let millis = retry_after.as_micros().div_ceil(1_000).max(1);
            let seconds = retry_after.as_micros().div_ceil(1_000_000).max(1);
            let headers = response.headers_mut();
            headers.insert(RETRY_AFTER_MS_HEADER, HeaderValue::from(millis as u64));
            headers.insert(
                axum::http::header::RETRY_AFTER,
                HeaderValue::from(seconds as u64),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use livemsg_domain::ErrorCode;

    #[test]
    fn error_bodies_have_the_alibaba_fields() {
        let ctx = ErrorContext {
            host_id: "live.example.com".into(),
            recommend_url: "https://docs.example.com/errors".into(),
        };
        let body = ctx.body("RID", &ApiError::missing("GroupId"));
        assert_eq!(body["Code"], "MissingGroupId");
        assert_eq!(body["Message"], "GroupId is mandatory for this action.");
        assert_eq!(body["HostId"], "live.example.com");
        assert_eq!(body["RequestId"], "RID");
        assert_eq!(
            body["Recommend"],
            "https://docs.example.com/errors?q=MissingGroupId&requestId=RID"
        );
        let response = ctx.response("RID", &ApiError::of(ErrorCode::SuperLargeGroup));
        assert_eq!(response.status().as_u16(), 420);
        assert_eq!(response.headers()["content-type"], JSON);
    }

    #[test]
    fn throttled_responses_say_when_to_retry_rounded_up() {
        let ctx = ErrorContext {
            host_id: "h".into(),
            recommend_url: String::new(),
        };
        let err = ApiError::throttled(std::time::Duration::from_micros(1_200_400));
        let response = ctx.response("RID", &err);
        assert_eq!(response.status().as_u16(), 400);
        assert_eq!(response.headers()["x-acs-retry-after"], "1201");
        assert_eq!(response.headers()["retry-after"], "2");
        let body = ctx.body("RID", &err);
        assert_eq!(body["Code"], "Throttling.User");
        assert_eq!(
            body["Message"],
            "Request was denied due to user flow control."
        );
    }

    #[test]
    fn success_bodies_are_the_fields_with_the_request_id() {
        let body = |fields: Fields| -> Value {
            serde_json::from_str(&success_body("RID", &fields)).expect("valid JSON")
        };
        assert_eq!(body(Fields::new()), json!({ "RequestId": "RID" }));
        let fields = Fields::of(&json!({ "GroupId": "g\"1", "UserList": [{ "UserId": "u" }] }));
        assert_eq!(
            body(fields),
            json!({ "RequestId": "RID", "GroupId": "g\"1", "UserList": [{ "UserId": "u" }] })
        );
        // What is not an object answers with no fields rather than a broken body.
        assert_eq!(
            body(Fields::of(&json!([1, 2]))),
            json!({ "RequestId": "RID" })
        );
        assert_eq!(body(Fields::of(&"text")), json!({ "RequestId": "RID" }));
        let response = success("RID", Fields::new());
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.headers()["x-acs-request-id"], "RID");
    }

    #[test]
    fn request_ids_are_upper_case_uuids() {
        let id = new_request_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id, id.to_uppercase());
        assert_ne!(id, new_request_id());
    }
}
