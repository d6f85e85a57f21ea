//! Alibaba Cloud request signatures, both schemes the official SDKs send.
//!
//! * **V1** (`SignatureMethod=HMAC-SHA1`, `SignatureVersion=1.0`): every parameter but
//!   `Signature`, sorted by name, percent-encoded (RFC 3986), joined into a query string; the
//!   string to sign is `METHOD&%2F&` + the encoded query string; the signature is Base64 of
//!   HMAC-SHA1 keyed with `secret + "&"`.
//! * **V3** (`ACS3-HMAC-SHA256`): a canonical request of method, path, canonical query,
//!   the signed headers and the SHA-256 of the body; the string to sign is the algorithm name
//!   and the hex SHA-256 of that; the signature is hex HMAC-SHA256 keyed with the secret.
//!
//! The same functions serve the gateway (verification) and clients in tests and benchmarks
//! (signing), so both sides can only agree by following the reference.

use base64::Engine;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Everything but RFC 3986's unreserved characters `A-Z a-z 0-9 - _ . ~` is encoded.
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes `value` as both schemes require: UTF-8 bytes, uppercase hex, space as
/// `%20`, only `A-Z a-z 0-9 - _ . ~` left as they are.
pub fn percent_encode(value: &str) -> String {
    utf8_percent_encode(value, RFC3986).to_string()
}

/// Compares two signatures in constant time.
pub fn signatures_equal(expected: &str, given: &str) -> bool {
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}

/// The hex SHA-256 of `bytes`, as the V3 payload hash.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Signature V1 (RPC, HMAC-SHA1).
pub mod v1 {
    use super::*;

    /// The string to sign for `method` and the decoded parameters (without `Signature`).
    pub fn string_to_sign(method: &str, params: &[(&str, &str)]) -> String {
        let mut encoded: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (percent_encode(k), percent_encode(v)))
            .collect();
        encoded.sort();
        let query: Vec<String> = encoded.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!(
            "{}&{}&{}",
            method.to_ascii_uppercase(),
            percent_encode("/"),
            percent_encode(&query.join("&"))
        )
    }

    /// The Base64 signature of `string_to_sign` under `secret`.
    pub fn sign(secret: &str, string_to_sign: &str) -> String {
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(format!("{secret}&").as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(string_to_sign.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }
}

/// Signature V3 (`ACS3-HMAC-SHA256`).
pub mod v3 {
    use super::*;

    /// The only V3 algorithm livemsg accepts.
    pub const ALGORITHM: &str = "ACS3-HMAC-SHA256";

    /// The parts of an `Authorization: ACS3-HMAC-SHA256 ...` header.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Authorization {
        /// `Credential=`: the AccessKeyId.
        pub access_key_id: String,
        /// `SignedHeaders=`: lowercase header names, `;`-separated, in signing order.
        pub signed_headers: Vec<String>,
        /// `Signature=`: lowercase hex.
        pub signature: String,
    }

    impl Authorization {
        /// Parses the value after the algorithm name:
        /// `Credential=AK,SignedHeaders=a;b,Signature=hex`. Returns `None` when a part is
        /// missing, repeated, empty or malformed.
        pub fn parse(fields: &str) -> Option<Authorization> {
            let (mut credential, mut signed, mut signature) = (None, None, None);
            for part in fields.split(',') {
                let (name, value) = part.trim().split_once('=')?;
                let slot = match name {
                    "Credential" => &mut credential,
                    "SignedHeaders" => &mut signed,
                    "Signature" => &mut signature,
                    _ => return None,
                };
                if slot.is_some() || value.is_empty() {
                    return None;
                }
                *slot = Some(value);
            }
            let signed_headers: Vec<String> = signed?
                .split(';')
                .map(|h| h.trim().to_ascii_lowercase())
                .collect();
            if signed_headers.iter().any(String::is_empty) {
                return None;
            }
            let signature = signature?;
            if !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            Some(Authorization {
                access_key_id: credential?.to_owned(),
                signed_headers,
                signature: signature.to_ascii_lowercase(),
            })
        }

        /// The header value a client sends.
        pub fn header_value(&self) -> String {
            format!(
                "{ALGORITHM} Credential={},SignedHeaders={},Signature={}",
                self.access_key_id,
                self.signed_headers.join(";"),
                self.signature
            )
        }
    }

    /// The canonical query string of decoded query parameters.
    pub fn canonical_query(params: &[(&str, &str)]) -> String {
        let mut encoded: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (percent_encode(k), percent_encode(v)))
            .collect();
        encoded.sort();
        let pairs: Vec<String> = encoded.iter().map(|(k, v)| format!("{k}={v}")).collect();
        pairs.join("&")
    }

    /// The canonical request. `headers` are `(lowercase name, value)` in `SignedHeaders`
    /// order; values are trimmed here.
    pub fn canonical_request(
        method: &str,
        canonical_query: &str,
        headers: &[(&str, &str)],
        payload_hash: &str,
    ) -> String {
        let mut out = String::with_capacity(512);
        out.push_str(&method.to_ascii_uppercase());
        out.push_str("\n/\n");
        out.push_str(canonical_query);
        out.push('\n');
        for (name, value) in headers {
            out.push_str(name);
            out.push(':');
            out.push_str(value.trim());
            out.push('\n');
        }
        out.push('\n');
        let names: Vec<&str> = headers.iter().map(|(n, _)| *n).collect();
        out.push_str(&names.join(";"));
        out.push('\n');
        out.push_str(payload_hash);
        out
    }

    /// The string to sign for a canonical request.
    pub fn string_to_sign(canonical_request: &str) -> String {
        format!("{ALGORITHM}\n{}", sha256_hex(canonical_request.as_bytes()))
    }

    /// The hex signature of `string_to_sign` under `secret`.
    pub fn sign(secret: &str, string_to_sign: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(string_to_sign.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// Signing on the client side, as the official SDKs do it: for tests and load generators.
pub mod client {
    use super::*;

    /// A request to sign with V3: the SDK's default.
    #[derive(Debug, Clone)]
    pub struct V3Request<'a> {
        /// The HTTP method.
        pub method: &'a str,
        /// The `host` header value (`127.0.0.1:8080`).
        pub host: &'a str,
        /// The action.
        pub action: &'a str,
        /// Decoded query parameters.
        pub query: &'a [(&'a str, &'a str)],
        /// The raw body (form-encoded, or empty).
        pub body: &'a [u8],
        /// `x-acs-date`.
        pub date: &'a str,
        /// `x-acs-signature-nonce`.
        pub nonce: &'a str,
    }

    /// The headers a V3 request carries, `authorization` included, for `access_key_id` and
    /// `secret`. Signs exactly the header set the Python SDK signs (less `user-agent`).
    pub fn v3_headers(
        req: &V3Request<'_>,
        access_key_id: &str,
        secret: &str,
    ) -> Vec<(String, String)> {
        let payload = sha256_hex(req.body);
        let mut headers: Vec<(String, String)> = vec![
            ("accept".into(), "application/json".into()),
            ("host".into(), req.host.into()),
            ("x-acs-action".into(), req.action.into()),
            ("x-acs-content-sha256".into(), payload.clone()),
            ("x-acs-date".into(), req.date.into()),
            ("x-acs-signature-nonce".into(), req.nonce.into()),
            ("x-acs-version".into(), crate::actions::API_VERSION.into()),
        ];
        if !req.body.is_empty() {
            headers.push((
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            ));
        }
        headers.sort();
        let signed: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let creq = v3::canonical_request(
            req.method,
            &v3::canonical_query(req.query),
            &signed,
            &payload,
        );
        let auth = v3::Authorization {
            access_key_id: access_key_id.to_owned(),
            signed_headers: headers.iter().map(|(n, _)| n.clone()).collect(),
            signature: v3::sign(secret, &v3::string_to_sign(&creq)),
        };
        headers.push(("authorization".into(), auth.header_value()));
        headers
    }

    /// The encoded query string of a V1 request, `Signature` appended, for `params` (the
    /// operation's and the envelope's: `Action`, `Version`, `Timestamp`, ...).
    pub fn v1_query(method: &str, params: &[(&str, &str)], secret: &str) -> String {
        let signature = v1::sign(secret, &v1::string_to_sign(method, params));
        let mut pairs: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
            .collect();
        pairs.push(format!("Signature={}", percent_encode(&signature)));
        pairs.join("&")
    }
}

#[cfg(test)]
mod tests;
