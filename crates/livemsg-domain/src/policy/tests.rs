//! Table-driven tests of policy parsing and evaluation.

use super::*;
use chrono::DateTime;

const ACCOUNT: &str = "1234567890123456";

fn ctx(action: &str, app: &str) -> RequestContext {
    RequestContext {
        action: format!("live:{action}"),
        resource: format!("acs:live::{ACCOUNT}:rtc/{app}"),
        source_ip: Some("203.0.113.7".parse().unwrap()),
        current_time: DateTime::parse_from_rfc3339("2026-11-26T12:00:00+08:00").unwrap(),
        secure_transport: false,
        other_keys: vec![("live:viewers".into(), "42".into())],
    }
}

/// The keys a request offers, and two more the tests' contexts carry or lack, to exercise every
/// operator (livemsg's requests offer only the first three; see `CONDITION_KEYS`).
const TEST_KEYS: [&str; 5] = [
    "acs:SourceIp",
    "acs:CurrentTime",
    "acs:SecureTransport",
    "live:viewers",
    "acs:MFAPresent",
];

fn policy(statements: &str) -> Policy {
    Policy::parse_with_keys(
        &format!(r#"{{"Version":"1","Statement":[{statements}]}}"#),
        &TEST_KEYS,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn allow(action: &str, resource: &str) -> String {
    format!(r#"{{"Effect":"Allow","Action":{action},"Resource":{resource}}}"#)
}

#[test]
fn wildcards_match_any_run_and_single_characters() {
    for (pattern, value, expected) in [
        ("*", "", true),
        ("*", "anything", true),
        ("live:List*", "live:ListLiveMessageGroupUsers", true),
        ("live:List*Users", "live:ListLiveMessageGroupUsers", true),
        ("live:List*Apps", "live:ListLiveMessageGroupUsers", false),
        ("rtc/app?", "rtc/app1", true),
        ("rtc/app?", "rtc/app12", false),
        ("rtc/app?", "rtc/app", false),
        ("a*b*c", "aXXbYYc", true),
        ("a*b*c", "aXXbYY", false),
        ("**a", "a", true),
        ("abc", "abc", true),
        ("abc", "abcd", false),
    ] {
        assert_eq!(
            wildcard_match(pattern, value),
            expected,
            "{pattern} ~ {value}"
        );
    }
}

#[test]
fn actions_and_resources_select_what_is_allowed() {
    let cases: &[(&str, &str, &str, Verdict)] = &[
        // (statement, action, app, verdict)
        (
            &allow(
                r#""live:ListLiveMessageGroupUsers""#,
                r#""acs:live::*:rtc/demo""#,
            ),
            "ListLiveMessageGroupUsers",
            "demo",
            Verdict::Allow,
        ),
        (
            &allow(
                r#""live:ListLiveMessageGroupUsers""#,
                r#""acs:live::*:rtc/demo""#,
            ),
            "ListLiveMessageGroupUsers",
            "other",
            Verdict::ImplicitDeny,
        ),
        (
            &allow(
                r#""live:ListLiveMessageGroupUsers""#,
                r#""acs:live::*:rtc/demo""#,
            ),
            "DescribeLiveMessageGroup",
            "demo",
            Verdict::ImplicitDeny,
        ),
        // Actions compare without regard to case; resources do not.
        (
            &allow(r#""LIVE:listlivemessagegroupusers""#, r#""*""#),
            "ListLiveMessageGroupUsers",
            "demo",
            Verdict::Allow,
        ),
        (
            &allow(r#""live:*""#, r#""acs:live::*:rtc/DEMO""#),
            "ListLiveMessageGroupUsers",
            "demo",
            Verdict::ImplicitDeny,
        ),
        (
            &allow(
                r#"["live:Describe*","live:List*"]"#,
                r#"["acs:live::*:rtc/a?","acs:live::*:rtc/demo"]"#,
            ),
            "ListLiveMessageGroupUsers",
            "demo",
            Verdict::Allow,
        ),
        (
            &allow(r#""*""#, r#""*""#),
            "CreateLiveMessageApp",
            "x",
            Verdict::Allow,
        ),
        // NotAction: everything but the listed actions.
        (
            r#"{"Effect":"Allow","NotAction":"live:Create*","Resource":"*"}"#,
            "ListLiveMessageGroupUsers",
            "demo",
            Verdict::Allow,
        ),
        (
            r#"{"Effect":"Allow","NotAction":"live:Create*","Resource":"*"}"#,
            "CreateLiveMessageGroup",
            "demo",
            Verdict::ImplicitDeny,
        ),
        // NotResource: everywhere but the listed resources.
        (
            r#"{"Effect":"Allow","Action":"live:*","NotResource":"acs:live::*:rtc/secret"}"#,
            "ListLiveMessageGroupUsers",
            "demo",
            Verdict::Allow,
        ),
        (
            r#"{"Effect":"Allow","Action":"live:*","NotResource":"acs:live::*:rtc/secret"}"#,
            "ListLiveMessageGroupUsers",
            "secret",
            Verdict::ImplicitDeny,
        ),
    ];
    for (statement, action, app, verdict) in cases {
        let p = policy(statement);
        assert_eq!(
            evaluate([&p], &ctx(action, app)),
            *verdict,
            "{statement} for {action} on {app}"
        );
    }
}

#[test]
fn an_explicit_deny_wins_over_any_allow_in_any_policy() {
    let grants = policy(&allow(r#""live:*""#, r#""*""#));
    let denies = policy(
        r#"{"Effect":"Deny","Action":"live:ListLiveMessageGroupUsers","Resource":"acs:live::*:rtc/vip"}"#,
    );
    assert_eq!(
        evaluate([&grants, &denies], &ctx("ListLiveMessageGroupUsers", "vip")),
        Verdict::ExplicitDeny
    );
    assert_eq!(
        evaluate([&denies, &grants], &ctx("ListLiveMessageGroupUsers", "vip")),
        Verdict::ExplicitDeny
    );
    assert_eq!(
        evaluate(
            [&grants, &denies],
            &ctx("ListLiveMessageGroupUsers", "demo")
        ),
        Verdict::Allow
    );
    assert_eq!(
        evaluate([&denies], &ctx("ListLiveMessageGroupUsers", "demo")),
        Verdict::ImplicitDeny
    );
    assert_eq!(
        evaluate(
            std::iter::empty(),
            &ctx("ListLiveMessageGroupUsers", "demo")
        ),
        Verdict::ImplicitDeny
    );
}

fn with_condition(condition: &str) -> Policy {
    policy(&format!(
        r#"{{"Effect":"Allow","Action":"live:*","Resource":"*","Condition":{condition}}}"#
    ))
}

#[test]
fn every_condition_operator_decides_as_documented() {
    // The context: source 203.0.113.7, time 2026-11-26T12:00:00+08:00, no TLS.
    let cases: &[(&str, bool)] = &[
        (r#"{"StringEquals":{"acs:SourceIp":"203.0.113.7"}}"#, true),
        (
            r#"{"StringEquals":{"acs:SourceIp":["10.0.0.1","203.0.113.7"]}}"#,
            true,
        ),
        (r#"{"StringEquals":{"acs:SourceIp":"203.0.113.8"}}"#, false),
        (
            r#"{"StringNotEquals":{"acs:SourceIp":"203.0.113.8"}}"#,
            true,
        ),
        (
            r#"{"StringNotEquals":{"acs:SourceIp":["203.0.113.8","203.0.113.7"]}}"#,
            false,
        ),
        (
            r#"{"StringEqualsIgnoreCase":{"acs:SecureTransport":"FALSE"}}"#,
            true,
        ),
        (
            r#"{"StringNotEqualsIgnoreCase":{"acs:SecureTransport":"FALSE"}}"#,
            false,
        ),
        (r#"{"StringLike":{"acs:SourceIp":"203.0.113.*"}}"#, true),
        (r#"{"StringLike":{"acs:SourceIp":"198.51.*"}}"#, false),
        (r#"{"StringNotLike":{"acs:SourceIp":"198.51.*"}}"#, true),
        (r#"{"IpAddress":{"acs:SourceIp":"203.0.113.0/24"}}"#, true),
        (
            r#"{"IpAddress":{"acs:SourceIp":["10.0.0.0/8","203.0.113.7"]}}"#,
            true,
        ),
        (r#"{"IpAddress":{"acs:SourceIp":"198.51.100.0/24"}}"#, false),
        (
            r#"{"NotIpAddress":{"acs:SourceIp":"198.51.100.0/24"}}"#,
            true,
        ),
        (r#"{"NotIpAddress":{"acs:SourceIp":"203.0.0.0/16"}}"#, false),
        (
            r#"{"DateLessThan":{"acs:CurrentTime":"2026-11-26T12:00:01+08:00"}}"#,
            true,
        ),
        (
            r#"{"DateLessThan":{"acs:CurrentTime":"2026-11-26T04:00:00Z"}}"#,
            false,
        ),
        (
            r#"{"DateLessThanEquals":{"acs:CurrentTime":"2026-11-26T04:00:00Z"}}"#,
            true,
        ),
        (
            r#"{"DateGreaterThan":{"acs:CurrentTime":"2026-01-01T00:00:00Z"}}"#,
            true,
        ),
        (
            r#"{"DateGreaterThanEquals":{"acs:CurrentTime":"2027-01-01T00:00:00Z"}}"#,
            false,
        ),
        (
            r#"{"DateEquals":{"acs:CurrentTime":"2026-11-26T04:00:00Z"}}"#,
            true,
        ),
        (
            r#"{"DateNotEquals":{"acs:CurrentTime":"2026-11-26T04:00:00Z"}}"#,
            false,
        ),
        (r#"{"Bool":{"acs:SecureTransport":"false"}}"#, true),
        (r#"{"Bool":{"acs:SecureTransport":true}}"#, false),
        // Numeric operators read the context value as a number: the source address is not
        // one, so positive ones fail and negated ones hold.
        (r#"{"NumericEquals":{"acs:SourceIp":1}}"#, false),
        (r#"{"NumericNotEquals":{"acs:SourceIp":1}}"#, true),
        (r#"{"NumericLessThan":{"acs:SourceIp":1}}"#, false),
        (r#"{"NumericLessThanEquals":{"acs:SourceIp":1}}"#, false),
        (r#"{"NumericGreaterThan":{"acs:SourceIp":1}}"#, false),
        (r#"{"NumericGreaterThanEquals":{"acs:SourceIp":1}}"#, false),
        // A key the request does not carry: positive operators fail, negated ones hold.
        (r#"{"StringEquals":{"acs:MFAPresent":"true"}}"#, false),
        (r#"{"StringNotEquals":{"acs:MFAPresent":"true"}}"#, true),
        // Keys compare without regard to case.
        (r#"{"IpAddress":{"ACS:SOURCEIP":"203.0.113.0/24"}}"#, true),
        // Every operator and every key must hold.
        (
            r#"{"IpAddress":{"acs:SourceIp":"203.0.113.0/24"},"Bool":{"acs:SecureTransport":"true"}}"#,
            false,
        ),
        (
            r#"{"IpAddress":{"acs:SourceIp":"203.0.113.0/24"},"DateLessThan":{"acs:CurrentTime":"2030-01-01T00:00:00Z"}}"#,
            true,
        ),
    ];
    for (condition, allowed) in cases {
        let verdict = evaluate(
            [&with_condition(condition)],
            &ctx("ListLiveMessageGroupUsers", "demo"),
        );
        assert_eq!(verdict == Verdict::Allow, *allowed, "{condition}");
    }
}

#[test]
fn numeric_operators_compare_numbers() {
    // The context carries live:viewers = 42.
    for (condition, allowed) in [
        (r#"{"NumericEquals":{"live:viewers":42}}"#, true),
        (r#"{"NumericEquals":{"live:viewers":"42.0"}}"#, true),
        (r#"{"NumericNotEquals":{"live:viewers":42}}"#, false),
        (r#"{"NumericLessThan":{"live:viewers":43}}"#, true),
        (r#"{"NumericLessThan":{"live:viewers":42}}"#, false),
        (r#"{"NumericLessThanEquals":{"live:viewers":42}}"#, true),
        (r#"{"NumericGreaterThan":{"live:viewers":41.5}}"#, true),
        (r#"{"NumericGreaterThan":{"live:viewers":42}}"#, false),
        (
            r#"{"NumericGreaterThanEquals":{"live:viewers":[100,42]}}"#,
            true,
        ),
    ] {
        let verdict = evaluate(
            [&with_condition(condition)],
            &ctx("ListLiveMessageGroupUsers", "demo"),
        );
        assert_eq!(verdict == Verdict::Allow, allowed, "{condition}");
    }
}

#[test]
fn malformed_documents_are_refused_with_the_place_of_the_fault() {
    let cases: &[(&str, &str)] = &[
        ("not json", "$"),
        (r#"[]"#, "$"),
        (r#"{"Version":"2","Statement":[]}"#, "Version"),
        (r#"{"Version":"1"}"#, "Statement"),
        (r#"{"Version":"1","Statement":[],"Extra":1}"#, "Extra"),
        (
            r#"{"Version":"1","Statement":[{"Effect":"Maybe","Action":"*","Resource":"*"}]}"#,
            "Statement[0].Effect",
        ),
        (
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Resource":"*"}]}"#,
            "Statement[0]",
        ),
        (
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","NotAction":"*","Resource":"*"}]}"#,
            "Statement[0]",
        ),
        (
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*"}]}"#,
            "Statement[0]",
        ),
        (
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":["live:A",3],"Resource":"*"}]}"#,
            "Statement[0].Action[1]",
        ),
        (
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"ListUsers","Resource":"*"}]}"#,
            "Statement[0].Action",
        ),
        (
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"rtc/demo"}]}"#,
            "Statement[0].Resource",
        ),
        (
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Sid":"x"}]}"#,
            "Statement[0].Sid",
        ),
        (
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpRange":{"acs:SourceIp":"1.2.3.4"}}}]}"#,
            "Statement[0].Condition.IpRange",
        ),
        (
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"acs:SourceIp":["1.2.3.4","nope"]}}}]}"#,
            "Statement[0].Condition.IpAddress.acs:SourceIp[1]",
        ),
        (
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateLessThan":{"acs:CurrentTime":"tomorrow"}}}]}"#,
            "Statement[0].Condition.DateLessThan.acs:CurrentTime",
        ),
        (
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericLessThan":{"acs:SourceIp":"many"}}}]}"#,
            "Statement[0].Condition.NumericLessThan.acs:SourceIp",
        ),
        (
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"acs:SecureTransport":"yes"}}}]}"#,
            "Statement[0].Condition.Bool.acs:SecureTransport",
        ),
    ];
    for (document, path) in cases {
        let err = Policy::parse(document).unwrap_err();
        assert_eq!(err.path, *path, "{document}: {err}");
        assert!(!err.message.is_empty());
    }
}

#[test]
fn a_single_statement_object_and_single_strings_are_accepted() {
    let p = Policy::parse(
        r#"{"Version":"1","Statement":{"Effect":"Allow","Action":"live:List*","Resource":"*"}}"#,
    )
    .unwrap();
    assert_eq!(
        evaluate([&p], &ctx("ListLiveMessageGroupUsers", "x")),
        Verdict::Allow
    );
}

#[test]
fn condition_keys_livemsg_does_not_evaluate_are_refused() {
    for (key, path) in [
        (
            "acs:SecureTransprt",
            "Statement[0].Condition.Bool.acs:SecureTransprt",
        ),
        (
            "acs:MFAPresent",
            "Statement[0].Condition.Bool.acs:MFAPresent",
        ),
    ] {
        let document = format!(
            r#"{{"Version":"1","Statement":[{{"Effect":"Deny","Action":"*","Resource":"*","Condition":{{"Bool":{{"{key}":"false"}}}}}}]}}"#
        );
        let err = Policy::parse(&document).unwrap_err();
        assert_eq!(err.path, path);
        assert_eq!(
            err.message,
            "is not a condition key livemsg evaluates (acs:SourceIp, acs:CurrentTime, acs:SecureTransport)"
        );
    }
    assert!(Policy::parse(
        r#"{"Version":"1","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"ACS:SECURETRANSPORT":"false"}}}]}"#
    )
    .is_ok());
}
