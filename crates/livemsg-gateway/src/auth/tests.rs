//! Envelopes as the SDKs send them, and the ways a request is refused before or at
//! verification.

use super::*;
use crate::params::decode_pairs;
use axum::http::HeaderValue;

fn params(query: &str) -> Params {
    Params::new(decode_pairs(query.as_bytes(), "q").unwrap(), vec![]).unwrap()
}

const VECTOR_B: &str = "Action=ListLiveMessageGroupUsers&Format=json&Version=2016-11-01&Timestamp=2025-01-15T08%3A00%3A00Z&SignatureNonce=3156853299f313e23d1673dc12e1703d&AppId=demoApp&DataCenter=cn-shanghai&GroupId=group+1&PageSize=20&SortType=0&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&AccessKeyId=testAccessKeyId&Signature=G7ezLzsJvxO6Fcfz3eYHYUc9sS4%3D";

/// Vector (b) of `signing/tests.rs`: a captured call of `alibabacloud_live20161101` 3.0.2 with
/// signature_algorithm='v2' (alibaba-protocol.md, section 1.1 (b)).
#[test]
fn a_captured_v1_request_verifies_and_a_tampered_one_does_not() {
    let headers = HeaderMap::new();
    let p = params(VECTOR_B);
    let parts = SignedParts {
        method: "POST",
        headers: &headers,
        params: &p,
        body: b"",
    };
    let envelope = Envelope::read(&parts).unwrap();
    assert_eq!(envelope.action, "ListLiveMessageGroupUsers");
    assert_eq!(envelope.access_key_id, "testAccessKeyId");
    envelope.verify(&parts, "testAccessKeySecret").unwrap();

    let wrong = envelope.verify(&parts, "otherSecret").unwrap_err();
    assert_eq!(wrong.code, ErrorCode::SignatureDoesNotMatch);
    let (_, sts) = wrong.message.split_once(':').unwrap();
    assert!(sts.starts_with("POST&%2F&AccessKeyId"));

    let tampered = params(&VECTOR_B.replace("PageSize=20", "PageSize=50"));
    let parts = SignedParts {
        params: &tampered,
        ..parts
    };
    assert_eq!(
        Envelope::read(&parts)
            .unwrap()
            .verify(&parts, "testAccessKeySecret")
            .unwrap_err()
            .code,
        ErrorCode::SignatureDoesNotMatch
    );
}

#[test]
fn v1_envelopes_name_what_is_missing_or_unsupported() {
    let headers = HeaderMap::new();
    let read = |q: &str| {
        let p = params(q);
        Envelope::read(&SignedParts {
            method: "POST",
            headers: &headers,
            params: &p,
            body: b"",
        })
    };
    assert_eq!(read("").unwrap_err().code_string(), "MissingAction");
    assert_eq!(
        read("Action=A&Version=V").unwrap_err().code_string(),
        "MissingSignature"
    );
    let base = "Action=A&Version=V&Signature=s&AccessKeyId=k&SignatureVersion=1.0&Timestamp=2025-01-15T08:00:00Z&SignatureNonce=n";
    assert_eq!(
        read(&format!("{base}&SignatureMethod=HMAC-SHA256"))
            .unwrap_err()
            .code,
        ErrorCode::InvalidSignatureMethod
    );
    assert_eq!(
        read(&(base.replace("2025-01-15T08:00:00Z", "yesterday") + "&SignatureMethod=HMAC-SHA1"))
            .unwrap_err()
            .code,
        ErrorCode::InvalidTimeStampFormat
    );
    assert!(read(&format!("{base}&SignatureMethod=HMAC-SHA1")).is_ok());
}

/// The headers of vector (f) of `signing/tests.rs`: a captured ListLiveMessageGroupUsers call
/// of `alibabacloud_live20161101` 3.0.2 (alibaba-protocol.md, section 1.2 (f)).
fn vector_f_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in [
        ("host", "live.aliyuncs.com"),
        ("x-acs-version", "2016-11-01"),
        ("x-acs-action", "ListLiveMessageGroupUsers"),
        ("user-agent", "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2"),
        ("x-acs-date", "2025-01-15T08:00:00Z"),
        ("x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"),
        ("accept", "application/json"),
        ("x-acs-content-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("x-acs-credentials-provider", "static_ak"),
        ("authorization", "ACS3-HMAC-SHA256 Credential=testAccessKeyId,SignedHeaders=accept;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=eac25f0a1501f68294480d544dbe953717081ded096815ee0bf30991f47f53d2"),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    h
}

#[test]
fn a_captured_v3_request_verifies_and_its_time_is_checked() {
    let headers = vector_f_headers();
    let p = params("AppId=demoApp&DataCenter=cn-shanghai&GroupId=group+1&PageSize=20&SortType=0");
    let parts = SignedParts {
        method: "POST",
        headers: &headers,
        params: &p,
        body: b"",
    };
    let envelope = Envelope::read(&parts).unwrap();
    assert_eq!(envelope.action, "ListLiveMessageGroupUsers");
    assert_eq!(envelope.version, "2016-11-01");
    envelope.verify(&parts, "testAccessKeySecret").unwrap();
    assert_eq!(
        envelope.verify(&parts, "x").unwrap_err().code,
        ErrorCode::SignatureDoesNotMatch
    );

    let signed_at = parse_timestamp("2025-01-15T08:00:00Z").unwrap();
    let fifteen = chrono::Duration::minutes(15);
    envelope.check_time(signed_at + fifteen, fifteen).unwrap();
    envelope.check_time(signed_at - fifteen, fifteen).unwrap();
    let late = envelope
        .check_time(signed_at + fifteen + chrono::Duration::seconds(1), fifteen)
        .unwrap_err();
    assert_eq!(late.code, ErrorCode::InvalidTimeStampExpired);
}

#[test]
fn v3_refuses_unsigned_essentials_and_a_disagreeing_action() {
    let p = params("AppId=demoApp&DataCenter=cn-shanghai&GroupId=group+1&PageSize=20&SortType=0");
    let read = |headers: &HeaderMap, p: &Params| {
        Envelope::read(&SignedParts {
            method: "POST",
            headers,
            params: p,
            body: b"",
        })
    };
    let mut unsigned_action = vector_f_headers();
    unsigned_action.insert(
        "authorization",
        HeaderValue::from_static("ACS3-HMAC-SHA256 Credential=k,SignedHeaders=host;x-acs-version;x-acs-date;x-acs-signature-nonce;x-acs-content-sha256,Signature=00"),
    );
    let err = read(&unsigned_action, &p).unwrap_err();
    assert_eq!(err.code, ErrorCode::IncompleteSignature);
    assert!(err.message.contains("x-acs-action"));

    let mut sm3 = vector_f_headers();
    sm3.insert(
        "authorization",
        HeaderValue::from_static("ACS3-HMAC-SM3 Credential=k,SignedHeaders=host,Signature=00"),
    );
    assert_eq!(
        read(&sm3, &p).unwrap_err().code,
        ErrorCode::InvalidSignatureMethod
    );

    let headers = vector_f_headers();
    let other_action = params("Action=CreateLiveMessageApp&AppId=demoApp");
    let err = read(&headers, &other_action).unwrap_err();
    assert_eq!(err.code, ErrorCode::InputInvalid);
    assert!(err.message.contains("x-acs-action"));
}

#[test]
fn v3_refuses_a_body_that_does_not_match_its_hash() {
    let headers = vector_f_headers();
    let p = params("AppId=demoApp&DataCenter=cn-shanghai&GroupId=group+1&PageSize=20&SortType=0");
    let parts = SignedParts {
        method: "POST",
        headers: &headers,
        params: &p,
        body: b"smuggled=1",
    };
    let envelope = Envelope::read(&parts).unwrap();
    let err = envelope.verify(&parts, "testAccessKeySecret").unwrap_err();
    assert_eq!(err.code, ErrorCode::SignatureDoesNotMatch);
    assert!(err.message.contains("x-acs-content-sha256"));
}

#[test]
fn envelope_headers_given_twice_are_refused_before_anything_is_read() {
    use axum::http::{HeaderMap, HeaderValue};
    let params = Params::default();
    for name in [
        "x-acs-signature-nonce",
        "x-acs-date",
        "x-acs-action",
        "content-type",
        "authorization",
        "host",
    ] {
        let mut headers = HeaderMap::new();
        headers.append(name, HeaderValue::from_static("one"));
        headers.append(name, HeaderValue::from_static("two"));
        let parts = SignedParts {
            method: "POST",
            headers: &headers,
            params: &params,
            body: b"",
        };
        let err = Envelope::read(&parts).unwrap_err();
        assert_eq!(err.code, ErrorCode::IncompleteSignature, "{name}");
        assert_eq!(
            err.message,
            format!("The {name} header is given more than once.")
        );
    }
}
