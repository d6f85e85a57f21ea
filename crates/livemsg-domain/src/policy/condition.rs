//! The condition operators of the RAM grammar, their operands, and what a request offers them.

use std::net::IpAddr;

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use super::pattern::wildcard_match;
use super::{fault, PolicyError};

/// The condition operators of the RAM grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Operator {
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
pub(super) enum Operand {
    Text(String),
    Number(f64),
    Date(DateTime<FixedOffset>),
    Bool(bool),
    Net(ipnet::IpNet),
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Condition {
    operator: Operator,
    /// Lowercase: condition keys compare without regard to case.
    key: String,
    values: Vec<Operand>,
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

pub(super) fn parse_date(text: &str) -> Option<DateTime<FixedOffset>> {
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

pub(super) fn conditions(
    value: &Value,
    path: &str,
    known_keys: &[&str],
) -> Result<Vec<Condition>, PolicyError> {
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
            if !known_keys.iter().any(|k| k.eq_ignore_ascii_case(key)) {
                return Err(fault(
                    key_path,
                    format!(
                        "is not a condition key livemsg evaluates ({})",
                        known_keys.join(", ")
                    ),
                ));
            }
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

pub(super) fn condition_holds(condition: &Condition, context: &RequestContext) -> bool {
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
