//! Parsing and checking a policy document, with errors that name the place of the fault.

use serde_json::Value;

use super::condition::conditions;
use super::pattern::{Matcher, Pattern};
use super::CONDITION_KEYS;
use super::{fault, Effect, Policy, PolicyError, Statement};

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

impl Policy {
    /// Parses and checks a policy document.
    pub fn parse(document: &str) -> Result<Policy, PolicyError> {
        Self::parse_with_keys(document, &CONDITION_KEYS)
    }

    /// Parses and checks a policy document whose conditions may name `keys` (compared without
    /// regard to case); any other key is refused, so a typo cannot quietly disable a Deny.
    pub fn parse_with_keys(document: &str, keys: &[&str]) -> Result<Policy, PolicyError> {
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
                    Some(block) => conditions(block, &format!("{path}.Condition"), keys)?,
                    None => Vec::new(),
                },
            });
        }
        Ok(Policy { statements: parsed })
    }
}
