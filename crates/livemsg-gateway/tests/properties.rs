//! Properties of request parsing and authentication, over generated inputs: nothing panics on
//! any input, and no tampering with a signed request ever verifies.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use livemsg_domain::policy::Policy;
use livemsg_gateway::auth::{Envelope, SignedParts};
use livemsg_gateway::params::{decode_pairs, Params};
use livemsg_gateway::signing::client::{v3_headers, V3Request};
use livemsg_gateway::signing::{percent_encode, v1, v3};
use proptest::prelude::*;

const SECRET: &str = "testAccessKeySecret";

fn headers_of(pairs: &[(String, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

/// A correctly signed V3 request: (query pairs, body, headers).
fn signed_v3(query: &[(String, String)], body: &[u8]) -> Vec<(String, String)> {
    let q: Vec<(&str, &str)> = query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    v3_headers(
        &V3Request {
            method: "POST",
            host: "127.0.0.1:8080",
            action: "ListLiveMessageGroupUsers",
            query: &q,
            body,
            date: "2026-11-26T04:00:00Z",
            nonce: "0123456789abcdef",
        },
        "LTAIkey",
        SECRET,
    )
}

fn verify(query: &[(String, String)], body: &[u8], headers: &HeaderMap) -> bool {
    let form = if headers.contains_key("content-type") {
        match decode_pairs(body, "body") {
            Ok(f) => f,
            Err(_) => return false,
        }
    } else {
        Vec::new()
    };
    let Ok(params) = Params::new(query.to_vec(), form) else {
        return false;
    };
    let parts = SignedParts {
        method: "POST",
        headers,
        params: &params,
        body,
    };
    match Envelope::read(&parts) {
        // As the gateway does: the secret is the one of the key the request names.
        Ok(envelope) => {
            let secret = if envelope.access_key_id == "LTAIkey" {
                SECRET
            } else {
                "the-secret-of-some-other-key"
            };
            envelope.verify(&parts, secret).is_ok()
        }
        Err(_) => false,
    }
}

fn query_strategy() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::btree_map("[A-Za-z]{1,12}", "\\PC{0,20}", 1..6)
        .prop_map(|m| m.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_pairs(&bytes, "q").and_then(|pairs| Params::new(pairs, Vec::new()));
    }

    #[test]
    fn authorization_headers_of_any_shape_never_panic(text in "\\PC{0,200}") {
        let _ = v3::Authorization::parse(&text);
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(&format!("ACS3-HMAC-SHA256 {text}")) {
            headers.insert("authorization", value);
        }
        let params = Params::default();
        let _ = Envelope::read(&SignedParts { method: "POST", headers: &headers, params: &params, body: b"" });
    }

    #[test]
    fn policy_documents_of_any_shape_never_panic(text in "\\PC{0,300}") {
        let _ = Policy::parse(&text);
        let _ = Policy::parse(&format!(r#"{{"Version":"1","Statement":[{text}]}}"#));
    }

    #[test]
    fn a_signed_request_verifies_and_any_changed_query_value_does_not(
        query in query_strategy(),
        pick in any::<prop::sample::Index>(),
        extra in "[a-z0-9]{1,4}",
    ) {
        let headers = headers_of(&signed_v3(&query, b""));
        prop_assert!(verify(&query, b"", &headers));
        let mut tampered = query.clone();
        let i = pick.index(tampered.len());
        tampered[i].1.push_str(&extra);
        prop_assert!(!verify(&tampered, b"", &headers));
        let mut added = query.clone();
        added.push(("Zz".to_owned() + &extra, "1".to_owned()));
        prop_assert!(!verify(&added, b"", &headers));
    }

    #[test]
    fn any_changed_signed_header_or_signature_does_not_verify(
        query in query_strategy(),
        pick in any::<prop::sample::Index>(),
        flip in 0u8..=255,
    ) {
        let body = b"GroupId=g1".to_vec();
        let pairs = signed_v3(&query, &body);
        prop_assert!(verify(&query, &body, &headers_of(&pairs)));
        let mut tampered = pairs.clone();
        let i = pick.index(tampered.len());
        let (name, value) = &mut tampered[i];
        // Change one printable character of the value.
        let mut bytes = value.clone().into_bytes();
        let at = (flip as usize) % bytes.len().max(1);
        let replacement = if bytes.get(at) == Some(&b'a') { b'b' } else { b'a' };
        if bytes.is_empty() { bytes.push(replacement) } else { bytes[at] = replacement }
        *value = String::from_utf8(bytes).unwrap();
        let changed = name.clone();
        prop_assert!(!verify(&query, &body, &headers_of(&tampered)), "changing {changed} verified");
        let mut other_body = body.clone();
        other_body.push(b'2');
        prop_assert!(!verify(&query, &other_body, &headers_of(&pairs)));
    }

    #[test]
    fn a_v1_signature_covers_every_parameter(
        query in query_strategy(),
        pick in any::<prop::sample::Index>(),
    ) {
        let mut params: Vec<(String, String)> = query.clone();
        for (k, v) in [
            ("Action", "ListLiveMessageGroupUsers"), ("Version", "2016-11-01"),
            ("SignatureMethod", "HMAC-SHA1"), ("SignatureVersion", "1.0"),
            ("SignatureNonce", "n"), ("Timestamp", "2026-11-26T04:00:00Z"), ("AccessKeyId", "LTAIkey"),
        ] {
            params.retain(|(name, _)| name != k);
            params.push((k.to_owned(), v.to_owned()));
        }
        let signed: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let signature = v1::sign(SECRET, &v1::string_to_sign("POST", &signed));
        let mut with_signature = params.clone();
        with_signature.push(("Signature".to_owned(), signature));
        let raw = |pairs: &[(String, String)]| -> Vec<(String, String)> {
            let text: Vec<String> = pairs.iter().map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v))).collect();
            decode_pairs(text.join("&").as_bytes(), "q").unwrap()
        };
        prop_assert!(verify(&raw(&with_signature), b"", &HeaderMap::new()));
        let mut tampered = with_signature.clone();
        let i = pick.index(tampered.len());
        tampered[i].1.push('x');
        prop_assert!(!verify(&raw(&tampered), b"", &HeaderMap::new()));
    }
}
