//! RAM-style policies: the document grammar, its validation and its evaluation.
//!
//! A policy is `{"Version": "1", "Statement": [...]}`; each statement has an `Effect` (`Allow`
//! or `Deny`), `Action` or `NotAction`, `Resource` or `NotResource` (a string or a list of
//! patterns with `*` and `?` wildcards; actions compare without regard to case) and an optional
//! `Condition` block. Evaluation denies by default, and any matching `Deny` wins over every
//! `Allow`. In a condition block every operator must hold, every key under an operator must
//! hold, and one of a key's values suffices (for the negated operators: none may match); a key
//! the request does not carry fails a positive operator and satisfies a negated one.
//!
//! Documents are checked when they are created, so evaluation never meets a malformed one; a
//! refused document's error names the place of the fault, e.g.
//! `Statement[0].Condition.IpAddress.acs:SourceIp[1]`.

use std::net::IpAddr;

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

/// Why a policy document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct PolicyError {
    /// Where in the document: `Statement[1].Action`.
    pub path: String,
    /// What is wrong there.
    pub message: String,
}

fn fault(path: impl Into<String>, message: impl Into<String>) -> PolicyError {
    PolicyError {
        path: path.into(),
        message: message.into(),
    }
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Grants, unless a Deny matches.
    Allow,
    /// Refuses, whatever else allows.
    Deny,
}

/// The outcome of evaluating policies for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// An Allow matched and no Deny did.
    Allow,
    /// Nothing matched: denied by default.
    ImplicitDeny,
    /// A Deny matched.
    ExplicitDeny,
}

/// A `*`/`?` wildcard pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    text: String,
    ignore_case: bool,
}

impl Pattern {
    fn new(text: &str, ignore_case: bool) -> Pattern {
        Pattern {
            text: if ignore_case {
                text.to_lowercase()
            } else {
                text.to_owned()
            },
            ignore_case,
        }
    }

    fn matches(&self, value: &str) -> bool {
        if self.ignore_case {
            wildcard_match(&self.text, &value.to_lowercase())
        } else {
            wildcard_match(&self.text, value)
        }
    }
}

/// Matches `value` against `pattern`, where `*` is any sequence (empty too) and `?` exactly one
/// character. Iterative, linear in practice, no recursion to blow up on hostile patterns.
pub fn wildcard_match(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    let (mut pi, mut vi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, vi));
            pi += 1;
        } else if let Some((sp, sv)) = star {
            pi = sp + 1;
            vi = sv + 1;
            star = Some((sp, sv + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// `Action`/`Resource` (match any) or `NotAction`/`NotResource` (match none).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Matcher {
    Any(Vec<Pattern>),
    NoneOf(Vec<Pattern>),
}

impl Matcher {
    fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Any(patterns) => patterns.iter().any(|p| p.matches(value)),
            Matcher::NoneOf(patterns) => !patterns.iter().any(|p| p.matches(value)),
        }
    }
}

/// The condition operators of the RAM grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    IpAddress,
    NotIpAddress,
}

impl Operator {
    fn parse(name: &str) -> Option<Operator> {
        use Operator::*;
        Some(match name {
            "StringEquals" => StringEquals,
            "StringNotEquals" => StringNotEquals,
            "StringEqualsIgnoreCase" => StringEqualsIgnoreCase,
            "StringNotEqualsIgnoreCase" => StringNotEqualsIgnoreCase,
            "StringLike" => StringLike,
            "StringNotLike" => StringNotLike,
            "NumericEquals" => NumericEquals,
            "NumericNotEquals" => NumericNotEquals,
            "NumericLessThan" => NumericLessThan,
            "NumericLessThanEquals" => NumericLessThanEquals,
            "NumericGreaterThan" => NumericGreaterThan,
            "NumericGreaterThanEquals" => NumericGreaterThanEquals,
            "DateEquals" => DateEquals,
            "DateNotEquals" => DateNotEquals,
            "DateLessThan" => DateLessThan,
            "DateLessThanEquals" => DateLessThanEquals,
            "DateGreaterThan" => DateGreaterThan,
            "DateGreaterThanEquals" => DateGreaterThanEquals,
            "Bool" => Bool,
            "IpAddress" => IpAddress,
            "NotIpAddress" => NotIpAddress,
            _ => return None,
        })
    }

    /// Negated operators hold when no value matches (and when the key is absent).
    fn negated(self) -> bool {
        use Operator::*;
        matches!(
            self,
            StringNotEquals
                | StringNotEqualsIgnoreCase
                | StringNotLike
                | NumericNotEquals
                | DateNotEquals
                | NotIpAddress
        )
    }
}

/// A condition value, parsed once when the document is checked.
#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Text(String),
    Number(f64),
    Date(DateTime<FixedOffset>),
    Bool(bool),
    Net(ipnet::IpNet),
}

#[derive(Debug, Clone, PartialEq)]
struct Condition {
    operator: Operator,
    /// Lowercase: condition keys compare without regard to case.
    key: String,
    values: Vec<Operand>,
}

#[derive(Debug, Clone, PartialEq)]
struct Statement {
    effect: Effect,
    actions: Matcher,
    resources: Matcher,
    conditions: Vec<Condition>,
}

/// A checked policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    statements: Vec<Statement>,
}

/// What a request offers to conditions: `acs:SourceIp`, `acs:CurrentTime` and
/// `acs:SecureTransport`.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// `live:<Action>`.
    pub action: String,
    /// `acs:live::<account>:rtc/<AppId>`, or `*` for account-wide actions.
    pub resource: String,
    /// The caller's address.
    pub source_ip: Option<IpAddr>,
    /// The time of the request.
    pub current_time: DateTime<FixedOffset>,
    /// Whether the request arrived over TLS.
    pub secure_transport: bool,
    /// Further condition keys (lowercase name, value), for service-specific conditions.
    pub other_keys: Vec<(String, String)>,
}

impl RequestContext {
    fn value(&self, key: &str) -> Option<String> {
        match key {
            "acs:sourceip" => self.source_ip.map(|ip| ip.to_string()),
            "acs:currenttime" => Some(self.current_time.to_rfc3339()),
            "acs:securetransport" => Some(self.secure_transport.to_string()),
            other => self
                .other_keys
                .iter()
                .find(|(k, _)| k == other)
                .map(|(_, v)| v.clone()),
        }
    }
}

fn string_or_list<'v>(value: &'v Value, path: &str) -> Result<Vec<(String, &'v str)>, PolicyError> {
    match value {
        Value::String(s) => Ok(vec![(path.to_owned(), s.as_str())]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let at = format!("{path}[{i}]");
                item.as_str()
                    .map(|s| (at.clone(), s))
                    .ok_or_else(|| fault(at, "must be a string"))
            })
            .collect(),
        Value::Array(_) => Err(fault(path, "must not be an empty list")),
        _ => Err(fault(path, "must be a string or a list of strings")),
    }
}

fn check_action(path: &str, action: &str) -> Result<(), PolicyError> {
    if action == "*" {
        return Ok(());
    }
    match action.split_once(':') {
        Some((service, name)) if !service.is_empty() && !name.is_empty() => Ok(()),
        _ => Err(fault(
            path,
            format!("\"{action}\" is not an action: use service:Action, e.g. live:ListLiveMessageGroupUsers"),
        )),
    }
}

fn check_resource(path: &str, resource: &str) -> Result<(), PolicyError> {
    if resource == "*" || (resource.starts_with("acs:") && resource.split(':').count() >= 5) {
        return Ok(());
    }
    Err(fault(
        path,
        format!(
            "\"{resource}\" is not a resource: use * or acs:service:region:account:relative-id"
        ),
    ))
}

fn matcher(
    statement: &serde_json::Map<String, Value>,
    path: &str,
    positive: &str,
    negative: &str,
    ignore_case: bool,
    check: fn(&str, &str) -> Result<(), PolicyError>,
) -> Result<Matcher, PolicyError> {
    let (key, value) = match (statement.get(positive), statement.get(negative)) {
        (Some(_), Some(_)) => {
            return Err(fault(path, format!("has both {positive} and {negative}")))
        }
        (Some(v), None) => (positive, v),
        (None, Some(v)) => (negative, v),
        (None, None) => return Err(fault(path, format!("needs {positive} or {negative}"))),
    };
    let at = format!("{path}.{key}");
    let mut patterns = Vec::new();
    for (item_path, item) in string_or_list(value, &at)? {
        check(&item_path, item)?;
        patterns.push(Pattern::new(item, ignore_case));
    }
    Ok(if key == positive {
        Matcher::Any(patterns)
    } else {
        Matcher::NoneOf(patterns)
    })
}

fn parse_date(text: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(text).ok()
}

fn operand(operator: Operator, path: &str, value: &Value) -> Result<Operand, PolicyError> {
    use Operator::*;
    // Numbers and booleans may be written as JSON scalars or as strings.
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return Err(fault(path, "must be a string, a number or a boolean")),
    };
    match operator {
        NumericEquals
        | NumericNotEquals
        | NumericLessThan
        | NumericLessThanEquals
        | NumericGreaterThan
        | NumericGreaterThanEquals => text
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(Operand::Number)
            .ok_or_else(|| fault(path, format!("\"{text}\" is not a number"))),
        DateEquals
        | DateNotEquals
        | DateLessThan
        | DateLessThanEquals
        | DateGreaterThan
        | DateGreaterThanEquals => parse_date(&text).map(Operand::Date).ok_or_else(|| {
            fault(
                path,
                format!("\"{text}\" is not an ISO 8601 time such as 2019-08-12T17:00:00+08:00"),
            )
        }),
        Bool => match text.to_ascii_lowercase().as_str() {
            "true" => Ok(Operand::Bool(true)),
            "false" => Ok(Operand::Bool(false)),
            _ => Err(fault(path, format!("\"{text}\" is not true or false"))),
        },
        IpAddress | NotIpAddress => text
            .parse::<ipnet::IpNet>()
            .or_else(|_| text.parse::<IpAddr>().map(ipnet::IpNet::from))
            .map(Operand::Net)
            .map_err(|_| {
                fault(
                    path,
                    format!("\"{text}\" is not an IP address or CIDR block"),
                )
            }),
        _ => Ok(Operand::Text(text)),
    }
}

fn conditions(value: &Value, path: &str) -> Result<Vec<Condition>, PolicyError> {
    let block = value
        .as_object()
        .ok_or_else(|| fault(path, "must be an object of operators"))?;
    let mut out = Vec::new();
    for (op_name, keys) in block {
        let op_path = format!("{path}.{op_name}");
        let operator = Operator::parse(op_name)
            .ok_or_else(|| fault(&op_path, "is not a condition operator"))?;
        let keys = keys
            .as_object()
            .filter(|k| !k.is_empty())
            .ok_or_else(|| fault(&op_path, "must be an object of condition keys"))?;
        for (key, values) in keys {
            let key_path = format!("{op_path}.{key}");
            let list: Vec<(String, &Value)> = match values {
                Value::Array(items) if !items.is_empty() => items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (format!("{key_path}[{i}]"), v))
                    .collect(),
                Value::Array(_) => return Err(fault(key_path, "must not be an empty list")),
                other => vec![(key_path.clone(), other)],
            };
            let mut parsed = Vec::new();
            for (value_path, v) in list {
                parsed.push(operand(operator, &value_path, v)?);
            }
            out.push(Condition {
                operator,
                key: key.to_lowercase(),
                values: parsed,
            });
        }
    }
    Ok(out)
}

impl Policy {
    /// Parses and checks a policy document.
    pub fn parse(document: &str) -> Result<Policy, PolicyError> {
        let root: Value = serde_json::from_str(document)
            .map_err(|e| fault("$", format!("is not valid JSON: {e}")))?;
        let root = root
            .as_object()
            .ok_or_else(|| fault("$", "must be a JSON object"))?;
        for key in root.keys() {
            if key != "Version" && key != "Statement" {
                return Err(fault(key, "is not a policy element (Version, Statement)"));
            }
        }
        match root.get("Version") {
            Some(Value::String(v)) if v == "1" => {}
            _ => return Err(fault("Version", "must be \"1\"")),
        }
        let statements: Vec<&Value> = match root.get("Statement") {
            Some(Value::Array(items)) if !items.is_empty() => items.iter().collect(),
            Some(Value::Object(_)) => vec![&root["Statement"]],
            _ => return Err(fault("Statement", "must be a non-empty list of statements")),
        };
        let mut parsed = Vec::with_capacity(statements.len());
        for (i, statement) in statements.into_iter().enumerate() {
            let path = format!("Statement[{i}]");
            let statement = statement
                .as_object()
                .ok_or_else(|| fault(&path, "must be an object"))?;
            for key in statement.keys() {
                if !matches!(
                    key.as_str(),
                    "Effect" | "Action" | "NotAction" | "Resource" | "NotResource" | "Condition"
                ) {
                    return Err(fault(format!("{path}.{key}"), "is not a statement element"));
                }
            }
            let effect = match statement.get("Effect").and_then(Value::as_str) {
                Some("Allow") => Effect::Allow,
                Some("Deny") => Effect::Deny,
                _ => {
                    return Err(fault(
                        format!("{path}.Effect"),
                        "must be \"Allow\" or \"Deny\"",
                    ))
                }
            };
            parsed.push(Statement {
                effect,
                actions: matcher(statement, &path, "Action", "NotAction", true, check_action)?,
                resources: matcher(
                    statement,
                    &path,
                    "Resource",
                    "NotResource",
                    false,
                    check_resource,
                )?,
                conditions: match statement.get("Condition") {
                    Some(block) => conditions(block, &format!("{path}.Condition"))?,
                    None => Vec::new(),
                },
            });
        }
        Ok(Policy { statements: parsed })
    }
}

fn condition_holds(condition: &Condition, context: &RequestContext) -> bool {
    use Operator::*;
    let Some(actual) = context.value(&condition.key) else {
        return condition.operator.negated();
    };
    let any = |f: &dyn Fn(&Operand) -> bool| condition.values.iter().any(f);
    let number = actual.parse::<f64>().ok();
    let date = parse_date(&actual);
    let held = match condition.operator {
        StringEquals | StringNotEquals => any(&|v| matches!(v, Operand::Text(t) if *t == actual)),
        StringEqualsIgnoreCase | StringNotEqualsIgnoreCase => {
            any(&|v| matches!(v, Operand::Text(t) if t.to_lowercase() == actual.to_lowercase()))
        }
        StringLike | StringNotLike => {
            any(&|v| matches!(v, Operand::Text(t) if wildcard_match(t, &actual)))
        }
        NumericEquals | NumericNotEquals => {
            any(&|v| matches!((v, number), (Operand::Number(n), Some(a)) if a == *n))
        }
        NumericLessThan => any(&|v| matches!((v, number), (Operand::Number(n), Some(a)) if a < *n)),
        NumericLessThanEquals => {
            any(&|v| matches!((v, number), (Operand::Number(n), Some(a)) if a <= *n))
        }
        NumericGreaterThan => {
            any(&|v| matches!((v, number), (Operand::Number(n), Some(a)) if a > *n))
        }
        NumericGreaterThanEquals => {
            any(&|v| matches!((v, number), (Operand::Number(n), Some(a)) if a >= *n))
        }
        DateEquals | DateNotEquals => {
            any(&|v| matches!((v, date), (Operand::Date(d), Some(a)) if a == *d))
        }
        DateLessThan => any(&|v| matches!((v, date), (Operand::Date(d), Some(a)) if a < *d)),
        DateLessThanEquals => any(&|v| matches!((v, date), (Operand::Date(d), Some(a)) if a <= *d)),
        DateGreaterThan => any(&|v| matches!((v, date), (Operand::Date(d), Some(a)) if a > *d)),
        DateGreaterThanEquals => {
            any(&|v| matches!((v, date), (Operand::Date(d), Some(a)) if a >= *d))
        }
        Bool => any(&|v| matches!(v, Operand::Bool(b) if b.to_string() == actual)),
        IpAddress | NotIpAddress => match actual.parse::<IpAddr>() {
            Ok(ip) => any(&|v| matches!(v, Operand::Net(net) if net.contains(&ip))),
            Err(_) => false,
        },
    };
    held != condition.operator.negated()
}

/// Evaluates `policies` for `context`: an explicit Deny wins, then any Allow, else an implicit
/// deny.
pub fn evaluate<'p>(
    policies: impl IntoIterator<Item = &'p Policy>,
    context: &RequestContext,
) -> Verdict {
    let mut allowed = false;
    for policy in policies {
        for statement in &policy.statements {
            if statement.actions.matches(&context.action)
                && statement.resources.matches(&context.resource)
                && statement
                    .conditions
                    .iter()
                    .all(|c| condition_holds(c, context))
            {
                match statement.effect {
                    Effect::Deny => return Verdict::ExplicitDeny,
                    Effect::Allow => allowed = true,
                }
            }
        }
    }
    if allowed {
        Verdict::Allow
    } else {
        Verdict::ImplicitDeny
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn policy(statements: &str) -> Policy {
        Policy::parse(&format!(r#"{{"Version":"1","Statement":[{statements}]}}"#))
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
                r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericLessThan":{"n":"many"}}}]}"#,
                "Statement[0].Condition.NumericLessThan.n",
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
        let p = Policy::parse(r#"{"Version":"1","Statement":{"Effect":"Allow","Action":"live:List*","Resource":"*"}}"#).unwrap();
        assert_eq!(
            evaluate([&p], &ctx("ListLiveMessageGroupUsers", "x")),
            Verdict::Allow
        );
    }
}
