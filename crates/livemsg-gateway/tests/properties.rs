//! Properties of request parsing, authentication and policy evaluation, over generated inputs:
//! nothing panics on any input, parameters survive encoding, no tampering with a signed
//! request ever verifies (and it fails for the reason it should), and policies combine as the
//! RAM rules say. 2,000 cases a property in the suite; more with `PROPTEST_CASES` (the README
//! gives the long run's command).

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use livemsg_domain::policy::{evaluate, Policy, RequestContext, Verdict};
use livemsg_domain::ErrorCode;
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

/// Parses and verifies a request as the gateway does; the error code of the first check that
/// refuses it.
fn verify(query: &[(String, String)], body: &[u8], headers: &HeaderMap) -> Result<(), ErrorCode> {
    let form = if headers.contains_key("content-type") {
        decode_pairs(body, "body").map_err(|e| e.code)?
    } else {
        Vec::new()
    };
    let params = Params::new(query.to_vec(), form).map_err(|e| e.code)?;
    let parts = SignedParts {
        method: "POST",
        headers,
        params: &params,
        body,
    };
    let envelope = Envelope::read(&parts).map_err(|e| e.code)?;
    // As the gateway does: the secret is the one of the key the request names.
    let secret = if envelope.access_key_id == "LTAIkey" {
        SECRET
    } else {
        "the-secret-of-some-other-key"
    };
    envelope.verify(&parts, secret).map_err(|e| e.code)
}

/// How many cases each property runs: 2,000 in the suite, or `PROPTEST_CASES` for a longer run.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

fn query_strategy() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::btree_map("[A-Za-z]{1,12}", "\\PC{0,20}", 1..6)
        .prop_map(|m| m.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

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
        prop_assert_eq!(verify(&query, b"", &headers), Ok(()));
        let mut tampered = query.clone();
        let i = pick.index(tampered.len());
        tampered[i].1.push_str(&extra);
        prop_assert_eq!(verify(&tampered, b"", &headers), Err(ErrorCode::SignatureDoesNotMatch));
        let mut added = query.clone();
        added.push(("Zz".to_owned() + &extra, "1".to_owned()));
        prop_assert_eq!(verify(&added, b"", &headers), Err(ErrorCode::SignatureDoesNotMatch));
    }

    #[test]
    fn any_changed_signed_header_or_signature_does_not_verify(
        query in query_strategy(),
        pick in any::<prop::sample::Index>(),
        flip in 0u8..=255,
    ) {
        let body = b"GroupId=g1".to_vec();
        let pairs = signed_v3(&query, &body);
        prop_assert_eq!(verify(&query, &body, &headers_of(&pairs)), Ok(()));
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
        let refused = verify(&query, &body, &headers_of(&tampered));
        // A changed value fails the signature; a changed Authorization may no longer parse or
        // name another algorithm, and a changed date may no longer be a date.
        let allowed: &[ErrorCode] = match changed.as_str() {
            "authorization" => &[
                ErrorCode::SignatureDoesNotMatch,
                ErrorCode::IncompleteSignature,
                ErrorCode::InvalidSignatureMethod,
            ],
            "x-acs-date" => &[ErrorCode::SignatureDoesNotMatch, ErrorCode::InvalidTimeStampFormat],
            _ => &[ErrorCode::SignatureDoesNotMatch],
        };
        prop_assert!(
            refused.is_err_and(|code| allowed.contains(&code)),
            "changing {} gave {:?}", changed, refused
        );
        let mut other_body = body.clone();
        other_body.push(b'2');
        prop_assert_eq!(
            verify(&query, &other_body, &headers_of(&pairs)),
            Err(ErrorCode::SignatureDoesNotMatch)
        );
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
        prop_assert_eq!(verify(&raw(&with_signature), b"", &HeaderMap::new()), Ok(()));
        let mut tampered = with_signature.clone();
        let i = pick.index(tampered.len());
        tampered[i].1.push('x');
        let changed = tampered[i].0.clone();
        let refused = verify(&raw(&tampered), b"", &HeaderMap::new());
        // Most changes fail the signature; a few change what the envelope says first.
        let allowed: &[ErrorCode] = match changed.as_str() {
            "SignatureMethod" => &[ErrorCode::InvalidSignatureMethod],
            "SignatureVersion" => &[ErrorCode::InvalidSignatureMethod, ErrorCode::SignatureDoesNotMatch],
            "Timestamp" => &[ErrorCode::InvalidTimeStampFormat],
            _ => &[ErrorCode::SignatureDoesNotMatch],
        };
        prop_assert!(
            refused.is_err_and(|code| allowed.contains(&code)),
            "changing {} gave {:?}", changed, refused
        );
    }

    #[test]
    fn parameters_survive_encoding_as_the_sdks_send_them(
        pairs in proptest::collection::btree_map("[A-Za-z.]{1,12}", "\\PC{0,24}", 0..8),
    ) {
        let pairs: Vec<(String, String)> = pairs.into_iter().collect();
        let text: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
            .collect();
        let decoded = decode_pairs(text.join("&").as_bytes(), "q").unwrap();
        prop_assert_eq!(&decoded, &pairs);
        // A space travels as `+` from the current SDK, as `%20` from the legacy one.
        let plus = text.join("&").replace("%20", "+");
        prop_assert_eq!(decode_pairs(plus.as_bytes(), "q").unwrap(), pairs);
    }

    #[test]
    fn a_deny_added_never_allows_more_and_an_allow_added_never_denies_more(
        statements in proptest::collection::vec(statement_strategy(), 1..5),
        extra in statement_strategy(),
        action in "(List|Describe|Create)(Groups|Users|App)",
        app in "[ab][0-9]",
    ) {
        let context = RequestContext {
            action: format!("live:{action}"),
            resource: format!("acs:live::123:rtc/{app}"),
            source_ip: Some("203.0.113.9".parse().unwrap()),
            current_time: chrono::DateTime::parse_from_rfc3339("2026-11-26T12:00:00+08:00").unwrap(),
            secure_transport: false,
            other_keys: Vec::new(),
        };
        let document = |list: &[String]| {
            Policy::parse(&format!(r#"{{"Version":"1","Statement":[{}]}}"#, list.join(",")))
                .unwrap()
        };
        let before = evaluate([&document(&statements)], &context);
        let mut more = statements.clone();
        more.push(extra.clone());
        let after = evaluate([&document(&more)], &context);
        if extra.contains("\"Deny\"") {
            prop_assert!(!(before != Verdict::Allow && after == Verdict::Allow));
            if extra_matches(&extra, &context) {
                prop_assert_eq!(after, Verdict::ExplicitDeny, "a matching Deny wins");
            }
        } else {
            prop_assert!(!(before == Verdict::Allow && after != Verdict::Allow));
            prop_assert!(!(before == Verdict::ExplicitDeny && after != Verdict::ExplicitDeny));
        }
        // Split over two policies, the statements decide the same.
        let (first, second) = more.split_at(more.len() / 2);
        if !first.is_empty() && !second.is_empty() {
            prop_assert_eq!(evaluate([&document(first), &document(second)], &context), after);
        }
    }
}

/// A statement of a small alphabet: Allow or Deny, an action and a resource pattern, sometimes
/// negated, sometimes a condition on the source address.
fn statement_strategy() -> impl Strategy<Value = String> {
    (
        prop::bool::ANY,
        prop::sample::select(vec!["live:*", "live:List*", "live:Describe?pp", "*", "live:CreateApp"]),
        prop::bool::ANY,
        prop::sample::select(vec!["*", "acs:live::123:rtc/a?", "acs:live::123:rtc/*", "acs:live::123:rtc/b1"]),
        prop::bool::ANY,
        prop::sample::select(vec!["", "203.0.113.0/24", "10.0.0.0/8"]),
    )
        .prop_map(|(deny, action, not_action, resource, not_resource, cidr)| {
            let effect = if deny { "Deny" } else { "Allow" };
            let action_key = if not_action { "NotAction" } else { "Action" };
            let resource_key = if not_resource { "NotResource" } else { "Resource" };
            let condition = if cidr.is_empty() {
                String::new()
            } else {
                format!(r#","Condition":{{"IpAddress":{{"acs:SourceIp":"{cidr}"}}}}"#)
            };
            format!(
                r#"{{"Effect":"{effect}","{action_key}":"{action}","{resource_key}":"{resource}"{condition}}}"#
            )
        })
}

/// Whether a generated statement applies to `context` on its own.
fn extra_matches(statement: &str, context: &RequestContext) -> bool {
    let allow = statement.replace("\"Deny\"", "\"Allow\"");
    let policy = Policy::parse(&format!(r#"{{"Version":"1","Statement":[{allow}]}}"#)).unwrap();
    evaluate([&policy], context) == Verdict::Allow
}
