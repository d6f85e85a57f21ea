//! Reading who a request claims to be, and checking that claim.
//!
//! [`Envelope::read`] is the parse step: it finds the action, the version and the signature
//! scheme, and refuses malformed requests before any lookup. [`Envelope::verify`] is the
//! authenticate step: given the AccessKey's secret it recomputes the signature exactly as the
//! SDKs do (see [`crate::signing`]) and checks the request time against the clock.

use axum::http::HeaderMap;
use chrono::{DateTime, NaiveDateTime, Utc};
use livemsg_domain::{ApiError, ErrorCode};

use crate::params::Params;
use crate::signing::{self, v1, v3};

/// Parameters of the RPC envelope rather than of the operation.
pub const COMMON_PARAMS: [&str; 12] = [
    "Action",
    "Version",
    "Format",
    "Timestamp",
    "SignatureNonce",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureType",
    "AccessKeyId",
    "Signature",
    "SecurityToken",
    "RegionId",
];

/// V3 headers that must be present and covered by the signature.
const V3_REQUIRED_SIGNED: [&str; 6] = [
    "host",
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
];

/// How a request is signed, with the fields each scheme carries.
#[derive(Debug, Clone)]
pub enum Scheme {
    /// HMAC-SHA1 over the parameters.
    V1 {
        /// The `Signature` parameter.
        signature: String,
    },
    /// ACS3-HMAC-SHA256 in the `Authorization` header.
    V3(v3::Authorization),
}

/// What a request claims: its operation, its version, its key, its time and nonce.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// The `Action` (V1) or `x-acs-action` (V3).
    pub action: String,
    /// The `Version` (V1) or `x-acs-version` (V3).
    pub version: String,
    /// The AccessKeyId that signed the request.
    pub access_key_id: String,
    /// When the client signed it.
    pub timestamp: DateTime<Utc>,
    /// The client's one-time nonce.
    pub nonce: String,
    /// The scheme and its signature.
    pub scheme: Scheme,
}

/// The request as the signature covers it.
#[derive(Debug, Clone, Copy)]
pub struct SignedParts<'a> {
    /// The HTTP method, upper case.
    pub method: &'a str,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// Query and form parameters.
    pub params: &'a Params,
    /// The raw body.
    pub body: &'a [u8],
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(value) => value.to_str().map(Some).map_err(|_| {
            ApiError::new(
                ErrorCode::IncompleteSignature,
                format!("The {name} header is not valid text."),
            )
        }),
    }
}

/// Takes a value that may be given as a header (V3) or a parameter (V1); both given and
/// different is refused, so no spelling of the request can dispatch on one and sign another.
fn header_or_param(
    parts: &SignedParts<'_>,
    header_name: &str,
    param: &str,
) -> Result<String, ApiError> {
    let from_header = header(parts.headers, header_name)?.filter(|v| !v.is_empty());
    let from_param = parts.params.get(param).filter(|v| !v.is_empty());
    match (from_header, from_param) {
        (Some(h), Some(p)) if h != p => Err(ApiError::invalid(
            param,
            format_args!("disagrees with the {header_name} header"),
        )),
        (Some(v), _) | (None, Some(v)) => Ok(v.to_owned()),
        (None, None) => Err(ApiError::missing(param)),
    }
}

/// Parses an ISO 8601 UTC time as the SDKs write it: `yyyy-MM-ddTHH:mm:ssZ`.
pub fn parse_timestamp(value: &str) -> Result<DateTime<Utc>, ApiError> {
    NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%SZ")
        .or_else(|_| NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.fZ"))
        .map(|t| t.and_utc())
        .map_err(|_| ApiError::of(ErrorCode::InvalidTimeStampFormat))
}

/// The longest AccessKeyId looked up; Alibaba's are 24 characters (`LTAI` and 20).
pub const MAX_ACCESS_KEY_ID_LEN: usize = 128;

/// Refuses what can never be an AccessKeyId (too long, or characters other than letters,
/// digits, `.`, `_` and `-`) before it is looked up, cached or logged.
fn check_access_key_id(id: &str) -> Result<(), ApiError> {
    let plausible = !id.is_empty()
        && id.len() <= MAX_ACCESS_KEY_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if plausible {
        Ok(())
    } else {
        Err(ApiError::of(ErrorCode::InvalidAccessKeyIdNotFound))
    }
}

/// Refuses a request that carries one of the headers the envelope is read from (or that decides
/// how the body is read) more than once: a signature covers all values sorted together, so a
/// replayed request could otherwise reorder them to change which one is used.
fn check_single_headers(headers: &HeaderMap) -> Result<(), ApiError> {
    for name in headers.keys() {
        let name = name.as_str();
        let envelope =
            matches!(name, "host" | "authorization" | "content-type") || name.starts_with("x-acs-");
        if envelope && headers.get_all(name).iter().nth(1).is_some() {
            return Err(ApiError::new(
                ErrorCode::IncompleteSignature,
                format!("The {name} header is given more than once."),
            ));
        }
    }
    Ok(())
}

impl Envelope {
    /// Reads the envelope of a request (the parse step).
    pub fn read(parts: &SignedParts<'_>) -> Result<Envelope, ApiError> {
        check_single_headers(parts.headers)?;
        let envelope = match header(parts.headers, "authorization")? {
            Some(authorization) => Self::read_v3(parts, authorization)?,
            None => Self::read_v1(parts)?,
        };
        check_access_key_id(&envelope.access_key_id)?;
        Ok(envelope)
    }

    fn read_v3(parts: &SignedParts<'_>, authorization: &str) -> Result<Envelope, ApiError> {
        let fields = match authorization.split_once(' ') {
            Some((algorithm, fields)) if algorithm == v3::ALGORITHM => fields,
            Some((algorithm, _)) if algorithm.starts_with("ACS3-") => {
                return Err(ApiError::new(
                    ErrorCode::InvalidSignatureMethod,
                    format!("Specified signature method {algorithm} is not supported."),
                ))
            }
            _ => {
                return Err(ApiError::new(
                    ErrorCode::IncompleteSignature,
                    "The Authorization header is not of the form ACS3-HMAC-SHA256 Credential=...,SignedHeaders=...,Signature=....",
                ))
            }
        };
        let auth = v3::Authorization::parse(fields).ok_or_else(|| {
            ApiError::new(
                ErrorCode::IncompleteSignature,
                "The Authorization header must carry Credential, SignedHeaders and a hex Signature.",
            )
        })?;
        let action = header_or_param(parts, "x-acs-action", "Action")?;
        let version = header_or_param(parts, "x-acs-version", "Version")?;
        for required in V3_REQUIRED_SIGNED {
            let signed = auth.signed_headers.iter().any(|h| h == required);
            if !signed || parts.headers.get(required).is_none() {
                return Err(ApiError::new(
                    ErrorCode::IncompleteSignature,
                    format!("The {required} header is required and must be signed."),
                ));
            }
        }
        // With a body, its content type decides how it is read, so it must be signed too.
        if !parts.body.is_empty()
            && parts.headers.contains_key("content-type")
            && !auth.signed_headers.iter().any(|h| h == "content-type")
        {
            return Err(ApiError::new(
                ErrorCode::IncompleteSignature,
                "The content-type header must be signed.",
            ));
        }
        let date = header(parts.headers, "x-acs-date")?.unwrap_or_default();
        let nonce = header(parts.headers, "x-acs-signature-nonce")?.unwrap_or_default();
        Ok(Envelope {
            action,
            version,
            access_key_id: auth.access_key_id.clone(),
            timestamp: parse_timestamp(date)?,
            nonce: nonce.to_owned(),
            scheme: Scheme::V3(auth),
        })
    }

    fn read_v1(parts: &SignedParts<'_>) -> Result<Envelope, ApiError> {
        let params = parts.params;
        // In V1 only parameters are signed; the x-acs-* headers the SDK adds are not, so
        // they are ignored rather than trusted.
        let action = params.required("Action")?.to_owned();
        let version = params.required("Version")?.to_owned();
        let signature = params.required("Signature")?.to_owned();
        let access_key_id = params.required("AccessKeyId")?.to_owned();
        match params.required("SignatureMethod")? {
            "HMAC-SHA1" => {}
            other => {
                return Err(ApiError::new(
                    ErrorCode::InvalidSignatureMethod,
                    format!("Specified signature method {other} is not supported."),
                ))
            }
        }
        match params.required("SignatureVersion")? {
            "1.0" => {}
            other => {
                return Err(ApiError::new(
                    ErrorCode::InvalidSignatureMethod,
                    format!("Specified signature version {other} is not supported."),
                ))
            }
        }
        let timestamp = parse_timestamp(params.required("Timestamp")?)?;
        let nonce = params.required("SignatureNonce")?.to_owned();
        Ok(Envelope {
            action,
            version,
            access_key_id,
            timestamp,
            nonce,
            scheme: Scheme::V1 { signature },
        })
    }

    /// Refuses a request signed too long before or after `now`.
    pub fn check_time(
        &self,
        now: DateTime<Utc>,
        max_skew: chrono::Duration,
    ) -> Result<(), ApiError> {
        let skew = (now - self.timestamp).abs();
        if skew > max_skew {
            return Err(ApiError::new(
                ErrorCode::InvalidTimeStampExpired,
                format!(
                    "Specified time stamp or date value is expired: the request time {} is more than {} seconds from the server time.",
                    self.timestamp.format("%Y-%m-%dT%H:%M:%SZ"),
                    max_skew.num_seconds()
                ),
            ));
        }
        Ok(())
    }

    /// Checks the signature under `secret` (the authenticate step).
    pub fn verify(&self, parts: &SignedParts<'_>, secret: &str) -> Result<(), ApiError> {
        match &self.scheme {
            Scheme::V1 { signature } => {
                let signed: Vec<(&str, &str)> = parts
                    .params
                    .all()
                    .filter(|(k, _)| *k != "Signature")
                    .collect();
                let sts = v1::string_to_sign(parts.method, &signed);
                if signing::signatures_equal(&v1::sign(secret, &sts), signature) {
                    return Ok(());
                }
                // The legacy SDK compares its own string to sign with the text after the
                // colon, to tell a wrong secret from a wrongly built request.
                Err(ApiError::new(
                    ErrorCode::SignatureDoesNotMatch,
                    format!(
                        "Specified signature does not match our calculation. server string to sign is:{sts}"
                    ),
                ))
            }
            Scheme::V3(auth) => {
                let payload_hash = signing::sha256_hex(parts.body);
                let claimed = header(parts.headers, "x-acs-content-sha256")?.unwrap_or_default();
                if !claimed.eq_ignore_ascii_case(&payload_hash) {
                    return Err(ApiError::new(
                        ErrorCode::SignatureDoesNotMatch,
                        "The x-acs-content-sha256 header does not match the request body.",
                    ));
                }
                let mut values = Vec::with_capacity(auth.signed_headers.len());
                for name in &auth.signed_headers {
                    let mut joined = Vec::new();
                    for value in parts.headers.get_all(name.as_str()) {
                        let text = value.to_str().map_err(|_| {
                            ApiError::new(
                                ErrorCode::IncompleteSignature,
                                format!("The {name} header is not valid text."),
                            )
                        })?;
                        joined.push(text.trim());
                    }
                    if joined.is_empty() {
                        return Err(ApiError::new(
                            ErrorCode::IncompleteSignature,
                            format!("The signed header {name} is missing from the request."),
                        ));
                    }
                    joined.sort_unstable();
                    values.push((name.as_str(), joined.join(",")));
                }
                let headers: Vec<(&str, &str)> =
                    values.iter().map(|(n, v)| (*n, v.as_str())).collect();
                let query: Vec<(&str, &str)> = parts.params.query().collect();
                let creq = v3::canonical_request(
                    parts.method,
                    &v3::canonical_query(&query),
                    &headers,
                    &payload_hash,
                );
                let sts = v3::string_to_sign(&creq);
                if signing::signatures_equal(&v3::sign(secret, &sts), &auth.signature) {
                    return Ok(());
                }
                // The string to sign only: the canonical request would echo the values of any
                // header the caller names in SignedHeaders, a fronting proxy's included.
                Err(ApiError::new(
                    ErrorCode::SignatureDoesNotMatch,
                    format!(
                        "Specified signature does not match our calculation. server StringToSign is [{sts}]"
                    ),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests;
